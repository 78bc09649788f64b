"""FIX sessions across a failover (`--journal kafka`, a real broker from IMS_KAFKA_BROKERS): the standby
refuses Logons; once the leader is killed it takes over every session where the leader left it: the numbers
go on (skipping ahead), what the leader sent is there to resend, requests already decided keep their answers."""
import os
import shutil
import time
import urllib.request

import pytest

from conftest import Server
from fixclient import Counterparty
from test_session import bye


def leader(node, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(node.url("/health/leader"), timeout=2) as r:
                if r.status == 200:
                    return True
        except Exception:
            pass
        time.sleep(0.1)
    return False


@pytest.fixture()
def cluster():
    brokers = os.environ.get("IMS_KAFKA_BROKERS")
    assert brokers, "IMS_KAFKA_BROKERS must name a Kafka broker (scripts/fix-tests.sh starts one)"
    topic = "ims-fix-failover-%d-%d" % (os.getpid(), int(time.time() * 1000))

    def args(node):
        return ["--journal", "kafka", "--kafka-brokers", brokers, "--kafka-topic", topic, "--kafka-node", node,
                "--kafka-lease-ms", "1000", "--kafka-heartbeat-ms", "100"]

    binary = os.environ["IMS_BINARY"]
    a = Server(binary, extra=args("A"), seed=False)
    assert leader(a), "node A did not lead"
    a.seed()
    b = Server(binary, extra=args("B"), share=a, seed=False)
    yield a, b
    for n in (a, b):
        n.stop()
        shutil.rmtree(n.dir, ignore_errors=True)


def logon_when_accepted(node, seq, seconds=30):
    """Logs on to `node` once it takes Logons (a new leader first catches up): the connection and its Logon."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        c = Counterparty(node.fix_port, sender="OMS")
        c.seq = seq
        c.logon(password=node.keys["C1"])
        m = c.read()
        if m is not None and m.get(35) == b"A":
            return c, m
        c.close()
        time.sleep(0.2)
    raise AssertionError("no Logon accepted within %d s" % seconds)


def test_the_standby_takes_the_sessions_over_where_the_leader_left_them(cluster):
    a, b = cluster
    # The standby takes no Logon.
    s = Counterparty(b.fix_port)
    s.logon(password=b.keys["C1"], reset=True)
    refused = s.read()
    assert refused.get(35) == b"5" and b"standby" in refused.get(58), refused
    # Three locates through the leader.
    c = Counterparty(a.fix_port)
    c.logon(password=a.keys["C1"], reset=True)
    assert c.read().get(35) == b"A"
    quotes = {}
    for i in range(3):
        c.send("R", [(131, "F-%d" % i), (146, 1), (55, "IBM"), (38, 10 + i)])
        q, _ = c.read_until("S")
        quotes[q.get(34)] = q
    # One left PENDING for the desk.
    c.send("R", [(131, "F-PEND"), (146, 1), (55, "HTB1"), (38, 40)])
    pend, _ = c.read_until("AI")
    time.sleep(1.0)  # the store's changes reach the topic
    a.kill()
    assert leader(b), "node B did not take over"
    d, logon = logon_when_accepted(b, seq=c.seq)
    # Its numbers skip ahead of anything the old leader may have sent unreplicated.
    assert int(logon.get(34)) > 100000, logon
    # What the old leader sent is in the new leader's store: resent with PossDup.
    d.send("2", [(7, 2), (16, 4)])
    for _ in range(3):
        again, _ = d.read_until("S")
        assert again.get(43) == b"Y"
        assert again.get(117) == quotes[again.get(34)].get(117)
    # A request already decided keeps its answer; a new one is decided.
    d.send("R", [(131, "F-0"), (146, 1), (55, "IBM"), (38, 10)])
    same, _ = d.read_until("S")
    assert same.get(117) == quotes[b"2"].get(117)
    d.send("R", [(131, "F-new"), (146, 1), (55, "IBM"), (38, 5)])
    fresh, _ = d.read_until("S")
    assert fresh.get(135) == b"5" and fresh.get(117) not in {q.get(117) for q in quotes.values()}
    # The desk decides the pending one on the new leader: its Quote reaches the session there.
    status, body = b.request("POST", "/api/v1/locates/%s/decision" % pend.get(117).decode(), {"action": "APPROVE", "quantity": 30})
    assert status == 200, body
    late, _ = d.read_until("S", timeout=15)
    while late.get(117) != pend.get(117):
        late, _ = d.read_until("S", timeout=15)
    assert late.get(135) == b"30" and late.get(131) == b"F-PEND" and late.get(55) == b"HTB1"
    bye(d)
