"""IMS as a FIX acceptor, for the tests in this folder: `ims serve` with API keys and five sessions in a
temporary data folder, seeded over the REST API. Needs IMS_BINARY."""
import json
import os
import re
import shutil
import ssl
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

SEED = """
{"type":"marketDayRoll","marketId":"US","businessDate":"%(today)s"}
{"type":"security","securityId":"IBM","isin":"US4592001014","cusip":"459200101","ticker":"IBM","marketId":"US","currency":"USD"}
{"type":"security","securityId":"POOL","ticker":"POOL","marketId":"US","currency":"USD"}
{"type":"security","securityId":"HTB1","ticker":"HTB1","marketId":"US","currency":"USD","thresholdList":true}
{"type":"marketDayRoll","marketId":"UK","businessDate":"%(today)s"}
{"type":"security","securityId":"DUP-US","ticker":"DUP","marketId":"US","currency":"USD"}
{"type":"security","securityId":"DUP-UK","ticker":"DUP","marketId":"UK","currency":"GBP"}
{"type":"aggregationUnit","aggregationUnitId":"AU-US","name":"US","marketId":"US","legalEntity":"PB-US","unitType":"NET","isDefault":true}
{"type":"book","bookId":"FIRM","legalEntity":"PB-US","positionType":"FIRM"}
{"type":"counterparty","counterpartyId":"L1","name":"Lender","kind":"LENDER"}
{"type":"sodPosition","businessDate":"%(today)s","bookId":"FIRM","securityId":"IBM","contractualQty":100000,"settledQty":100000}
{"type":"availability","sourceId":"L1","securityId":"IBM","quantity":50000,"availabilityType":"FIRM","rateBps":"35","effectiveDate":"%(today)s"}
{"type":"sodPosition","businessDate":"%(today)s","bookId":"FIRM","securityId":"POOL","contractualQty":10000,"settledQty":10000}
{"type":"sodPosition","businessDate":"%(today)s","bookId":"FIRM","securityId":"HTB1","contractualQty":10000,"settledQty":10000}
"""

CLIENTS = ["C1", "C2", "C3", "C4", "C5"]
# Session (the counterparty's CompID) → the name of the key it logs on with.
SESSIONS = {"OMS": "C1", "OMS2": "C2", "OMS3": "C3", "OMS4": "C4", "QF": "C1", "REV": "C5-fix", "SMALL": "C3"}
# Sessions' other settings.
SESSION_SETTINGS = {"SMALL": "\n    maxUnanswered: 5"}


class Server:
    def __init__(self, binary, tls=False, extra=(), share=None, seed=True, session_settings=None):
        """`extra`: more arguments of `ims serve`; `share`: another Server whose keys and sessions this one uses
        (a second node of a replicated journal); `seed`: write the reference data once it is ready;
        `session_settings`: sessions' settings beside SESSION_SETTINGS's (YAML lines by CompID)."""
        self.binary = binary
        self.session_settings = dict(SESSION_SETTINGS, **(session_settings or {}))
        self.dir = tempfile.mkdtemp(prefix="ims-fix-")
        self.extra = list(extra)
        self.tls_args = []
        self.ssl = None
        if tls:
            # A self-signed certificate for 127.0.0.1, made here: the FIX port serves TLS with the server's files.
            self.cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                            "-out", self.cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)
            self.tls_args = ["--tls-certificate-file", self.cert, "--tls-key-file", key]
            self.ssl = ssl.create_default_context(cafile=self.cert)
        self.data = os.path.join(self.dir, "data")
        if share is not None:
            self.keys, self.key_ids = share.keys, share.key_ids
            self.keys_file, self.sessions_file = share.keys_file, share.sessions_file
        else:
            self.make_keys_and_sessions()
        self.proc = None
        self.start()
        if seed:
            self.seed()

    def make_keys_and_sessions(self):
        self.keys_file = os.path.join(self.dir, "keys.json")
        self.keys = {}
        self.key_ids = {}
        for name, roles, client in [("desk", ["admin", "operator", "feed"], None)] + [(c, ["client"], c) for c in CLIENTS] + [("C5-fix", ["client"], "C5")]:
            args = [self.binary, "keys", "create", "--file", self.keys_file, "--name", name]
            for r in roles:
                args += ["--role", r]
            if client:
                args += ["--client-id", client]
            out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
            key = re.search(r"(ims_[A-Za-z0-9]+_[A-Za-z0-9]+)", out).group(1)
            self.keys[name] = key
            self.key_ids[name] = key.split("_")[1]
        sessions = "\n".join(
            "  - targetCompId: %s\n    keyId: %s%s" % (comp, self.key_ids[client], self.session_settings.get(comp, "")) for comp, client in SESSIONS.items())
        self.sessions_file = os.path.join(self.dir, "sessions.yaml")
        with open(self.sessions_file, "w") as f:
            f.write("sessions:\n" + sessions + "\n")

    def start(self):
        log = open(os.path.join(self.dir, "server.log"), "a")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--port", "0", "--fix-port", "0", "--fix-sessions", self.sessions_file,
             "--api-keys", self.keys_file, "--data-dir", self.data, "--log-level", "info", "--log-format", "text"] + self.tls_args + self.extra,
            stdout=subprocess.PIPE, stderr=log, text=True)
        self.http_port = self.fix_port = None
        deadline = time.time() + 60
        while time.time() < deadline and (self.http_port is None or self.fix_port is None):
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("ims serve exited; see %s" % os.path.join(self.dir, "server.log"))
            m = re.search(r"ims serving on https?://127.0.0.1:(\d+)", line)
            if m:
                self.http_port = int(m.group(1))
            m = re.search(r"FIX acceptor on 127.0.0.1:(\d+)", line)
            if m:
                self.fix_port = int(m.group(1))
        self.wait_ready()

    def wait_ready(self):
        for _ in range(600):
            try:
                with urllib.request.urlopen(self.url("/health/ready"), timeout=2, context=self.ssl) as r:
                    if r.status == 200:
                        return
            except Exception:
                pass
            time.sleep(0.1)
        raise RuntimeError("not ready")

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % ("https" if self.ssl else "http", self.http_port, path)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def restart(self):
        self.kill()
        self.start()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def request(self, method, path, body=None, key="desk"):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.url(path), data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.keys[key])
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ssl) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def seed(self):
        today = time.strftime("%Y-%m-%d", time.gmtime())
        status, body = self.request("POST", "/api/v1/events", (SEED % {"today": today}).strip().encode())
        assert status == 200, body
        lines = []
        for c in CLIENTS:
            lines.append('{"type":"book","bookId":"%s-FREE","legalEntity":"PB-US","positionType":"CLIENT_FREE","clientId":"%s"}' % (c, c))
            lines.append('{"type":"sodPosition","businessDate":"%s","bookId":"%s-FREE","securityId":"IBM","contractualQty":2000,"settledQty":2000}' % (today, c))
        status, body = self.request("POST", "/api/v1/events", "\n".join(lines).encode())
        assert status == 200, body


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("IMS_BINARY")
    assert binary, "set IMS_BINARY to the ims binary"
    s = Server(binary)
    yield s
    s.stop()
    shutil.rmtree(s.dir, ignore_errors=True)
