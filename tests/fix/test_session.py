"""The session layer, driven by raw messages (simplefix): the scenarios a FIX 4.4 acceptor must pass, written
from the FIX specification's session protocol."""
import os
import socket
import subprocess
import time

from fixclient import Counterparty, now


def logged_on(server, comp="OMS", client="C1", heartbeat=30):
    c = Counterparty(server.fix_port, sender=comp)
    c.logon(password=server.keys[client], reset=True, heartbeat=heartbeat)
    a = c.read()
    assert a.get(35) == b"A", a
    assert a.get(141) == b"Y" and a.get(34) == b"1"
    return c


def bye(c):
    c.send("5")
    m, _ = c.read_until("5")
    assert c.closed()
    c.close()


def quote_request(c, req_id, qty=100, symbol="IBM", seq=None, **kw):
    return c.send("R", [(131, req_id), (146, 1), (55, symbol), (38, qty)], seq=seq, **kw)


def test_logon_without_a_key_is_refused(server):
    c = Counterparty(server.fix_port)
    c.logon(reset=True)
    m = c.read()
    assert m.get(35) == b"5" and b"554" in m.get(58), m
    assert c.closed()


def test_logon_with_another_sessions_key_is_refused(server):
    c = Counterparty(server.fix_port)
    c.logon(password=server.keys["C2"], reset=True)
    m = c.read()
    assert m.get(35) == b"5" and b"not the session's API key" in m.get(58), m
    assert c.closed()


def test_unknown_comp_id_is_closed_without_an_answer(server):
    c = Counterparty(server.fix_port, sender="NOBODY")
    c.logon(password=server.keys["C1"], reset=True)
    assert c.closed()
    assert c.received == []


def test_first_message_must_be_a_logon(server):
    c = Counterparty(server.fix_port)
    quote_request(c, "X")
    assert c.closed()


def test_a_second_connection_to_a_logged_on_session_is_refused(server):
    c = logged_on(server)
    d = Counterparty(server.fix_port)
    d.logon(password=server.keys["C1"], reset=True)
    assert d.closed()
    # The first one is untouched.
    c.send("1", [(112, "still")])
    m, _ = c.read_until("0")
    assert m.get(112) == b"still"
    bye(c)


def test_heartbeats_test_request_then_timeout(server):
    c = logged_on(server, heartbeat=1)
    started = time.time()
    types = []
    while True:
        m = c.read(timeout=10)
        if m is None:
            break
        types.append(m.get(35))
    elapsed = time.time() - started
    # Heartbeats while silent, a TestRequest after 1.2 s without a message from us, closed after 2.4 s.
    assert b"0" in types and b"1" in types, types
    assert 2.0 <= elapsed <= 8.0, elapsed


def test_test_request_is_answered_with_its_id(server):
    c = logged_on(server)
    c.send("1", [(112, "ping-7")])
    m, _ = c.read_until("0")
    assert m.get(112) == b"ping-7"
    bye(c)


def test_sequence_gap_is_resent_and_held_messages_processed(server):
    c = logged_on(server)
    quote_request(c, "G2")  # seq 2
    m, _ = c.read_until("S")
    assert m.get(131) == b"G2"
    quote_request(c, "G4", seq=4)  # 3 is lost
    rr, _ = c.read_until("2")
    assert rr.get(7) == b"3" and rr.get(16) == b"0"
    # 4 is held: nothing answered for it yet. Fill 3 with a gap fill to 4.
    c.send("4", [(123, "Y"), (36, 4)], seq=3, poss_dup=True, orig_sending_time=now())
    m, _ = c.read_until("S")
    assert m.get(131) == b"G4"
    c.seq = 5
    quote_request(c, "G5")
    m, _ = c.read_until("S")
    assert m.get(131) == b"G5"
    bye(c)


def test_resend_request_resends_application_messages_and_gap_fills_the_rest(server):
    c = logged_on(server)
    quote_request(c, "R2")
    q, _ = c.read_until("S")
    c.send("2", [(7, 1), (16, 0)])
    fill, _ = c.read_until("4")
    assert fill.get(34) == b"1" and fill.get(123) == b"Y" and fill.get(36) == b"2" and fill.get(43) == b"Y"
    again, _ = c.read_until("S")
    assert again.get(34) == q.get(34) and again.get(43) == b"Y" and again.get(122) == q.get(52)
    assert again.get(117) == q.get(117)
    bye(c)


def test_poss_dup_below_the_expected_number_is_ignored(server):
    c = logged_on(server)
    first_time = now()
    quote_request(c, "P2", sending_time=first_time)
    c.read_until("S")
    quote_request(c, "P2", seq=2, poss_dup=True, orig_sending_time=first_time)
    c.send("1", [(112, "after")])
    m, seen = c.read_until("0")
    assert m.get(112) == b"after"
    assert [x.get(35) for x in seen] == [b"0"], "the duplicate was answered"
    bye(c)


def test_poss_dup_without_orig_sending_time_is_rejected(server):
    c = logged_on(server)
    quote_request(c, "Q2")
    c.read_until("S")
    quote_request(c, "Q2", seq=2, poss_dup=True)
    r, _ = c.read_until("3")
    assert r.get(373) == b"1" and r.get(371) == b"122"
    bye(c)


def test_too_low_without_poss_dup_logs_out(server):
    c = logged_on(server)
    quote_request(c, "L2")
    c.read_until("S")
    quote_request(c, "L2", seq=2)
    m, _ = c.read_until("5")
    assert m.get(58) == b"MsgSeqNum too low, expecting 3 but received 2"
    assert c.closed()


def garble(data, how):
    text = data.decode("latin-1")
    if how == "checksum":
        body, tail = text[:-4], text[-4:]
        cs = int(tail[:3])
        return (body + "%03d\x01" % ((cs + 1) % 256)).encode("latin-1")
    if how == "length":
        start = text.index("\x019=") + 3
        end = text.index("\x01", start)
        return (text[:start] + str(int(text[start:end]) + 5) + text[end:]).encode("latin-1")
    raise ValueError(how)


def test_garbled_messages_are_ignored_without_counting(server):
    for how in ["checksum", "length"]:
        c = logged_on(server)
        bad = c.message("R", [(131, "BAD"), (146, 1), (55, "IBM"), (38, 1)], seq=2).encode()
        c.send_raw(garble(bad, how))
        # The same number again, intact: taken, as the garbled one never counted.
        quote_request(c, "GOOD", seq=2)
        c.seq = 3
        m, seen = c.read_until("S")
        assert m.get(131) == b"GOOD", how
        assert all(x.get(131) != b"BAD" for x in seen), how
        bye(c)


def test_wrong_comp_id_is_rejected_and_logged_out(server):
    c = logged_on(server)
    c.send("0", sender="SOMEONE")
    r, _ = c.read_until("3")
    assert r.get(373) == b"9"
    m, _ = c.read_until("5")
    assert c.closed()


def test_sending_time_far_off_is_rejected_and_logged_out(server):
    c = logged_on(server)
    c.send("0", sending_time="20200101-00:00:00.000")
    r, _ = c.read_until("3")
    assert r.get(373) == b"10"
    c.read_until("5")
    assert c.closed()


def test_missing_required_field_is_rejected_naming_it(server):
    c = logged_on(server)
    c.send("R", [(146, 1), (55, "IBM"), (38, 1)])
    r, _ = c.read_until("3")
    assert r.get(373) == b"1" and r.get(371) == b"131", r
    # The session goes on.
    quote_request(c, "after-reject")
    m, _ = c.read_until("S")
    assert m.get(131) == b"after-reject"
    bye(c)


def test_unsupported_message_type_gets_a_business_reject(server):
    c = logged_on(server)
    c.send("V", [(262, "md1")])
    r, _ = c.read_until("j")
    assert r.get(380) == b"3" and r.get(372) == b"V"
    bye(c)


def test_logout_is_answered(server):
    c = logged_on(server)
    c.send("5", [(58, "done")])
    m, _ = c.read_until("5")
    assert c.closed()


def test_restart_mid_session_resumes_the_numbers_and_resends(server):
    c = logged_on(server, comp="OMS4", client="C4")
    quote_request(c, "before-restart")
    q, _ = c.read_until("S")
    ours = int(q.get(34))
    server.restart()
    try:
        c.read(timeout=2)
    except (TimeoutError, socket.timeout, ConnectionResetError):
        pass
    c.close()
    # Log on again without a reset: IMS expects 3 and numbers its Logon after what it sent.
    d = Counterparty(server.fix_port, sender="OMS4")
    d.seq = 3
    d.logon(password=server.keys["C4"])
    a = d.read()
    assert a.get(35) == b"A" and int(a.get(34)) == ours + 1, a
    # What it sent before the crash is still there to resend.
    d.send("2", [(7, ours), (16, ours)])
    again, _ = d.read_until("S")
    assert again.get(43) == b"Y" and again.get(117) == q.get(117)
    # And a re-sent request (the same QuoteReqID) gets the same locate, not a second one.
    quote_request(d, "before-restart")
    same, _ = d.read_until("S")
    assert same.get(117) == q.get(117)
    bye(d)


def test_a_request_in_flight_when_the_server_is_killed_is_answered_after_the_restart(server):
    """The request reaches IMS, IMS is killed at once (before or after its answer was written): after the
    restart the request is answered, fresh or from IMS's resend, never lost."""
    c = logged_on(server, comp="OMS4", client="C4")
    quote_request(c, "in-flight", qty=123)  # seq 2
    server.restart()
    c.close()
    d = Counterparty(server.fix_port, sender="OMS4")
    d.seq = 3
    d.logon(password=server.keys["C4"])
    a = d.read()
    assert a.get(35) == b"A", a
    quotes = []

    def collect(seconds):
        """Messages for `seconds`: IMS's ResendRequests answered as an OMS's engine would, Quotes kept."""
        deadline = time.time() + seconds
        while time.time() < deadline and not any(q.get(131) == b"in-flight" for q in quotes):
            try:
                m = d.read(timeout=max(0.1, deadline - time.time()))
            except (TimeoutError, socket.timeout):
                return
            if m.get(35) == b"2":
                assert int(m.get(7)) == 2, m
                quote_request(d, "in-flight", qty=123, seq=2, poss_dup=True, orig_sending_time=now())
                # 3 was our Logon: a session message, filled.
                d.send("4", [(123, "Y"), (36, 4)], seq=3, poss_dup=True, orig_sending_time=now())
            elif m.get(35) == b"S":
                quotes.append(m)

    # IMS asks again for what it had not answered, and answers it.
    collect(5)
    if not quotes:
        # It had answered before it was killed: its resend has the answer.
        d.send("2", [(7, 1), (16, 0)])
        collect(5)
    assert any(q.get(131) == b"in-flight" for q in quotes), [str(m) for m in d.received]
    # One locate, however many times it was answered.
    assert len({q.get(117) for q in quotes if q.get(131) == b"in-flight"}) == 1
    bye(d)


def test_requests_taken_but_not_answered_when_the_server_is_killed_are_asked_for_again(server):
    """Many requests in one write, the server killed while it works through them: after the restart every
    request has its answer (IMS asks again for those it took and had not answered; a counterparty asks for
    the answers it missed)."""
    n = 4000
    c = logged_on(server, comp="OMS4", client="C4")
    ids = ["burst-%d" % i for i in range(n)]
    c.send_raw(b"".join(c.message("R", [(131, ids[i]), (146, 1), (55, "IBM"), (38, 1)]).encode() for i in range(n)))
    time.sleep(0.05)
    server.restart()
    c.close()
    d = Counterparty(server.fix_port, sender="OMS4")
    d.seq = n + 2
    d.logon(password=server.keys["C4"])
    assert d.read().get(35) == b"A"
    answered = set()

    def take(m):
        if m.get(35) in (b"S", b"AG", b"AI"):
            answered.add(m.get(131).decode())
        elif m.get(35) == b"2":
            begin, end = int(m.get(7)), int(m.get(16)) or n + 2
            for seq in range(begin, min(end, n + 1) + 1):
                if seq >= 2:
                    d.send_raw(d.message("R", [(131, ids[seq - 2]), (146, 1), (55, "IBM"), (38, 1)], seq=seq, poss_dup=True, orig_sending_time=now()).encode())
            if end >= n + 2:
                d.send("4", [(123, "Y"), (36, n + 3)], seq=n + 2, poss_dup=True, orig_sending_time=now())

    def drain(seconds):
        deadline = time.time() + seconds
        while time.time() < deadline and len(answered) < n:
            try:
                take(d.read(timeout=max(0.1, deadline - time.time())))
            except (TimeoutError, socket.timeout):
                return

    drain(4)
    # The answers IMS sent before it was killed, from its resend.
    d.send("2", [(7, 1), (16, 0)])
    drain(20)
    missing = [i for i in ids if i not in answered]
    assert not missing, "%d of %d unanswered, e.g. %s" % (len(missing), n, missing[:5])
    bye(d)


def test_a_key_revoked_while_logged_on_ends_the_session(server):
    c = logged_on(server, comp="REV", client="C5-fix")
    quote_request(c, "before-revoke")
    c.read_until("S")
    subprocess.run([server.binary, "keys", "revoke", "--file", server.keys_file, server.key_ids["C5-fix"]], check=True, capture_output=True)
    time.sleep(1.5)  # the server re-reads the keys file within a second
    quote_request(c, "after-revoke")
    r, _ = c.read_until("j")
    assert b"revoked" in r.get(58), r
    m, _ = c.read_until("5")
    assert b"revoked" in m.get(58)
    c.send("5")
    assert c.closed()
    # And it cannot log on again.
    d = Counterparty(server.fix_port, sender="REV")
    d.logon(password=server.keys["C5-fix"], reset=True)
    assert d.read().get(35) == b"5"


def test_a_flood_is_read_no_faster_than_it_is_answered(server):
    """A session with maxUnanswered 5 sends 300 requests in one write: IMS pauses reading its socket at 5
    unanswered (the log says so), resumes as answers leave, and answers every one."""
    c = logged_on(server, comp="SMALL", client="C3")
    n = 300
    c.send_raw(b"".join(c.message("R", [(131, "flood-%d" % i), (146, 1), (55, "IBM"), (38, 1)]).encode() for i in range(n)))
    answered = set()
    while len(answered) < n:
        m = c.read(timeout=20)
        if m.get(35) in (b"S", b"AG"):
            answered.add(m.get(131))
    bye(c)
    with open(os.path.join(server.dir, "server.log")) as f:
        assert "FIX IMS-SMALL: 5 messages unanswered: reading paused" in f.read()


def test_a_counterparty_that_reads_nothing_is_closed_after_the_write_stall():
    """A counterparty floods TestRequests and reads none of the Heartbeats that answer them: once a megabyte waits
    for it, IMS closes it after `writeStallMs` (1.5 s here) rather than hold its answers, says so in the log, and
    the session logs on again afterwards."""
    from conftest import Server
    s = Server(os.environ["IMS_BINARY"], extra=["--write-stall-ms", "1500"])
    try:
        c = Counterparty(s.fix_port, sender="OMS4", rcvbuf=4096)
        c.logon(password=s.keys["C4"], reset=True)
        assert c.read().get(35) == b"A"
        n = 60000
        sent = 0
        started = time.time()
        try:
            for chunk in range(0, n, 2000):
                c.send_raw(b"".join(c.message("1", [(112, "stall-%d" % i)]).encode() for i in range(chunk, chunk + 2000)))
                sent += 2000
        except (socket.timeout, BrokenPipeError, ConnectionResetError):
            pass  # IMS stopped reading, or closed the connection: either way nothing more goes in
        log = os.path.join(s.dir, "server.log")
        deadline = time.time() + 20
        closed = False
        while time.time() < deadline and not closed:
            with open(log) as f:
                closed = "FIX IMS-OMS4: the counterparty read nothing for 1500 ms: closed" in f.read()
            time.sleep(0.2)
        assert closed, "no write-stall close in the log after %d TestRequests" % sent
        assert time.time() - started >= 1.5
        # What was written before the close arrives, then the end of the connection: fewer answers than asked.
        answers = 0
        c.sock.settimeout(10)
        while True:
            try:
                m = c.read(timeout=10)
            except (ConnectionResetError, TimeoutError):
                m = None
            if m is None:
                break
            if m.get(35) == b"0" and (m.get(112) or b"").startswith(b"stall-"):
                answers += 1
        assert answers < sent, "every TestRequest was answered: the connection was not cut short"
        c.close()
        # The session is free again.
        d = Counterparty(s.fix_port, sender="OMS4")
        d.logon(password=s.keys["C4"], reset=True)
        assert d.read().get(35) == b"A"
        bye(d)
    finally:
        s.stop()


def test_a_session_logs_out_at_the_end_of_its_schedule_and_refuses_logons_until_it_opens():
    """A session whose daily window (UTC) ends a few seconds from now: logged on inside it, IMS logs it out at
    the end, and a Logon after the end is refused as outside the schedule (on the audit trail's reason)."""
    import datetime
    from conftest import Server
    utc = datetime.datetime.now(datetime.timezone.utc)
    start = (utc - datetime.timedelta(minutes=5)).strftime("%H:%M:%S")
    end_at = (utc + datetime.timedelta(seconds=15)).replace(microsecond=0)
    schedule = "\n    start: \"%s\"\n    end: \"%s\"" % (start, end_at.strftime("%H:%M:%S"))
    s = Server(os.environ["IMS_BINARY"], session_settings={"OMS3": schedule})
    try:
        assert datetime.datetime.now(datetime.timezone.utc) < end_at - datetime.timedelta(seconds=2), "the server took too long to start"
        c = logged_on(s, comp="OMS3", client="C3")
        # At the end of the window IMS logs the session out (it ticks each second).
        wait = (end_at - datetime.datetime.now(datetime.timezone.utc)).total_seconds() + 5
        out, _ = c.read_until("5", timeout=wait)
        assert datetime.datetime.now(datetime.timezone.utc) >= end_at, "logged out before the window's end: %s" % out
        c.send("5")
        c.close()
        late = Counterparty(s.fix_port, sender="OMS3")
        late.logon(password=s.keys["C3"], reset=True)
        refused = late.read()
        assert refused.get(35) == b"5" and b"outside the session's schedule" in refused.get(58), refused
        late.close()
    finally:
        s.stop()
