"""FIX over TLS with the server's certificate settings (tlsCertificateFile, tlsKeyFile)."""
import os
import shutil
import ssl

import pytest

from conftest import Server
from fixclient import Counterparty


@pytest.fixture(scope="module")
def tls_server():
    s = Server(os.environ["IMS_BINARY"], tls=True)
    yield s
    s.stop()
    shutil.rmtree(s.dir, ignore_errors=True)


def test_a_session_over_tls_verified_against_the_servers_certificate(tls_server):
    c = Counterparty(tls_server.fix_port, ssl_context=tls_server.ssl)
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    c.logon(password=tls_server.keys["C1"], reset=True)
    assert c.read().get(35) == b"A"
    c.send("R", [(131, "TLS-1"), (146, 1), (55, "IBM"), (38, 10)])
    q, _ = c.read_until("S")
    assert q.get(135) == b"10"
    c.send("5")
    c.read_until("5")


def test_plain_tcp_to_the_tls_port_gets_no_session(tls_server):
    c = Counterparty(tls_server.fix_port)
    c.logon(password=tls_server.keys["C1"], reset=True)
    assert c.closed()
    assert c.received == []


def test_a_client_that_does_not_trust_the_certificate_cannot_connect(tls_server):
    with pytest.raises(ssl.SSLError):
        Counterparty(tls_server.fix_port, ssl_context=ssl.create_default_context())
