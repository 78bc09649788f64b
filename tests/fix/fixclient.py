"""A raw FIX 4.4 counterparty for IMS's acceptor tests, built on simplefix: it writes messages exactly as
told (sequence numbers, PossDup, broken checksums…) and reads what IMS answers."""
import socket
import time
import datetime

import simplefix


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


class Counterparty:
    def __init__(self, port, sender="OMS", target="IMS", host="127.0.0.1", timeout=10.0, ssl_context=None, rcvbuf=None):
        """`rcvbuf`: a receive buffer this small (set before connecting, so the window stays small), for a
        counterparty that reads nothing."""
        if rcvbuf is None:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
        if ssl_context is not None:
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname=host)
        self.sock.settimeout(timeout)
        self.parser = simplefix.FixParser()
        self.sender, self.target = sender, target
        self.seq = 1
        self.received = []

    def message(self, msg_type, fields=(), seq=None, poss_dup=False, orig_sending_time=None, sending_time=None,
                sender=None, target=None):
        m = simplefix.FixMessage()
        m.append_pair(8, "FIX.4.4")
        m.append_pair(35, msg_type)
        m.append_pair(49, sender or self.sender)
        m.append_pair(56, target or self.target)
        m.append_pair(34, seq if seq is not None else self.seq)
        if poss_dup:
            m.append_pair(43, "Y")
        m.append_pair(52, sending_time or now())
        if orig_sending_time:
            m.append_pair(122, orig_sending_time)
        for tag, value in fields:
            m.append_pair(tag, value)
        if seq is None:
            self.seq += 1
        return m

    def send(self, msg_type, fields=(), **kw):
        m = self.message(msg_type, fields, **kw)
        self.sock.sendall(m.encode())
        return m

    def send_raw(self, data):
        self.sock.sendall(data)

    def logon(self, password=None, reset=False, heartbeat=30, seq=None):
        fields = [(98, 0), (108, heartbeat)]
        if reset:
            fields.append((141, "Y"))
        if password:
            fields.append((554, password))
        return self.send("A", fields, seq=seq)

    def read(self, timeout=10.0):
        """The next message IMS sends (None when the connection closes)."""
        deadline = time.time() + timeout
        while True:
            m = self.parser.get_message()
            if m is not None:
                self.received.append(m)
                return m
            remaining = deadline - time.time()
            if remaining <= 0:
                raise TimeoutError("no message from IMS within %.1f s" % timeout)
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                return None
            self.parser.append_buffer(data)

    def read_until(self, msg_type, timeout=10.0):
        """Messages up to and including the next of `msg_type` (bytes), skipping heartbeats."""
        seen = []
        while True:
            m = self.read(timeout)
            if m is None:
                raise ConnectionError("closed before 35=%s; saw %s" % (msg_type, [x.get(35) for x in seen]))
            seen.append(m)
            if m.get(35) == msg_type.encode() if isinstance(msg_type, str) else m.get(35) == msg_type:
                return m, seen

    def closed(self, timeout=10.0):
        """True once IMS closes the connection (messages before that are kept in `received`)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.read(deadline - time.time()) is None:
                    return True
            except (TimeoutError, socket.timeout):
                return False
            except ConnectionResetError:
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
