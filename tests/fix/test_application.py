"""Locates, short-sale approval, cancellations and executions over FIX (raw messages), checked against the
REST API's view of the same state."""
import threading
import time

from fixclient import Counterparty, now
from test_session import bye, logged_on


def test_quote_request_for_several_instruments_by_any_identifier(server):
    c = logged_on(server)
    c.send("R", [(131, "MULTI"), (146, 4), (55, "IBM"), (48, "US4592001014"), (22, "4"), (38, 300),
                 (55, "IBM"), (48, "459200101"), (22, "1"), (38, 200), (55, "NOSUCH"), (38, 10),
                 (55, "IBM"), (48, "US4592001014"), (22, "1"), (38, 5)])
    a, _ = c.read_until("S")
    b, _ = c.read_until("S")
    r, _ = c.read_until("AG")
    # An ISIN sent as a CUSIP (22=1) names nothing.
    wrong_kind, _ = c.read_until("AG")
    assert wrong_kind.get(658) == b"1" and b"no known cusip" in wrong_kind.get(58), wrong_kind
    assert a.get(131) == b"MULTI" and a.get(135) == b"300" and a.get(48) == b"US4592001014"
    assert b.get(135) == b"200" and a.get(117) != b.get(117)
    assert r.get(658) == b"1" and b"UNKNOWN_SECURITY" in r.get(58)
    # The same locates over REST, by the QuoteReqID and its position.
    status, first = server.request("GET", "/api/v1/locates/" + a.get(117).decode(), key="C1")
    assert status == 200 and first["requestId"] == "MULTI#1" and first["approvedQuantity"] == 300
    assert "via FIX IMS-OMS" in first["requestedBy"]
    bye(c)


def test_pending_locate_is_answered_when_the_desk_decides(server):
    c = logged_on(server)
    # Threshold-list security: PENDING for an operator.
    c.send("R", [(131, "PEND"), (146, 1), (55, "HTB1"), (38, 500)])
    st, _ = c.read_until("AI")
    assert st.get(297) == b"10", st
    locate_id = st.get(117).decode()
    status, body = server.request("POST", "/api/v1/locates/%s/decision" % locate_id, {"action": "APPROVE", "quantity": 400})
    assert status == 200, body
    q, _ = c.read_until("S", timeout=10)
    assert q.get(117) == st.get(117) and q.get(135) == b"400" and q.get(131) == b"PEND"
    bye(c)


def test_short_sale_approved_rejected_filled_and_cancelled(server):
    c = logged_on(server, comp="OMS2", client="C2")
    c.send("R", [(131, "LOC-C2"), (146, 1), (55, "IBM"), (38, 1000)])
    c.read_until("S")
    c.send("D", [(11, "SS1"), (1, "C2-FREE"), (55, "IBM"), (54, 5), (60, now()), (38, 600), (40, 2), (44, "150"), (114, "N"), (5700, "PB")])
    ok, _ = c.read_until("8")
    assert ok.get(39) == b"0" and ok.get(150) == b"0" and ok.get(37) == b"SS1" and ok.get(151) == b"600", ok
    assert b"CLIENT_SHORT_SELL_LIMIT" in ok.get(58)
    # Beyond what is left of the locate: rejected with every failed check.
    c.send("D", [(11, "SS2"), (1, "C2-FREE"), (55, "IBM"), (54, 5), (60, now()), (38, 90000), (40, 2), (44, "150")])
    bad, _ = c.read_until("8")
    assert bad.get(39) == b"8" and b"failed" in bad.get(58), bad
    # Not the client's book: refused naming it.
    c.send("D", [(11, "SS3"), (1, "C1-FREE"), (55, "IBM"), (54, 5), (60, now()), (38, 1), (40, 2), (44, "150")])
    other, _ = c.read_until("8")
    assert other.get(39) == b"8", other
    # 200 of SS1 execute; then the rest is cancelled.
    c.send("8", [(37, "X"), (11, "SS1"), (17, "E-1"), (150, "F"), (39, "1"), (1, "C2-FREE"), (55, "IBM"), (54, 5),
                 (32, 200), (31, "150.5"), (151, 400), (14, 200), (6, "150.5")])
    c.send("F", [(11, "CX1"), (41, "SS1"), (55, "IBM"), (54, 5), (60, now()), (38, 600)])
    cx, _ = c.read_until("8")
    assert cx.get(39) == b"4" and cx.get(14) == b"200" and b"400 given back" in cx.get(58), cx
    status, order = server.request("GET", "/api/v1/orders/SS1?clientId=C2")
    assert order["filledQuantity"] == 200 and order["cancellation"]["quantity"] == 400
    # Cancelling again: OrderCancelReject, too late.
    c.send("F", [(11, "CX2"), (41, "SS1"), (55, "IBM"), (54, 5), (60, now()), (38, 600)])
    rj, _ = c.read_until("9")
    assert rj.get(102) == b"0"
    # A buy is not validated.
    c.send("D", [(11, "B1"), (1, "C2-FREE"), (55, "IBM"), (54, 1), (60, now()), (38, 1), (40, 1)])
    buy, _ = c.read_until("8")
    assert buy.get(39) == b"8" and b"sales only" in buy.get(58)
    bye(c)


def test_order_status_request_tells_where_an_order_stands(server):
    """OrderStatusRequest (35=H): the order as it stands (150=I), through its fills and cancellation; another
    client's order id, or one never sent, is unknown (39=8, 103=5); OrdStatusReqID is echoed."""
    c = logged_on(server, comp="OMS4", client="C4")
    c.send("R", [(131, "LOC-C4"), (146, 1), (55, "IBM"), (38, 500)])
    c.read_until("S")
    c.send("D", [(11, "ST1"), (1, "C4-FREE"), (55, "IBM"), (54, 5), (60, now()), (38, 300), (40, 2), (44, "150")])
    ok, _ = c.read_until("8")
    assert ok.get(39) == b"0", ok

    def status(cl_ord_id, req_id):
        c.send("H", [(11, cl_ord_id), (790, req_id), (55, "IBM"), (54, 5)])
        m, _ = c.read_until("8")
        assert m.get(150) == b"I" and m.get(11) == cl_ord_id.encode() and m.get(790) == req_id.encode(), m
        return m

    new = status("ST1", "Q1")
    assert new.get(39) == b"0" and new.get(151) == b"300" and new.get(14) == b"0" and new.get(1) == b"C4-FREE", new
    c.send("8", [(37, "X"), (11, "ST1"), (17, "E-ST1"), (150, "F"), (39, "1"), (1, "C4-FREE"), (55, "IBM"), (54, 5),
                 (32, 100), (31, "150"), (151, 200), (14, 100), (6, "150")])
    # The execution is a trade: once the desk's view shows it, so does the status.
    deadline = time.time() + 10
    while time.time() < deadline and server.request("GET", "/api/v1/orders/ST1?clientId=C4")[1]["filledQuantity"] != 100:
        time.sleep(0.05)
    part = status("ST1", "Q2")
    assert part.get(39) == b"1" and part.get(14) == b"100" and part.get(151) == b"200", part
    c.send("F", [(11, "STX"), (41, "ST1"), (55, "IBM"), (54, 5), (60, now()), (38, 300)])
    c.read_until("8")
    done = status("ST1", "Q3")
    assert done.get(39) == b"4" and done.get(151) == b"0" and b"cancelled" in done.get(58), done
    # Never sent by this client: SS1 is C2's order in another test, NOPE nobody's.
    for other in ("SS1", "NOPE"):
        unknown = status(other, "Q-" + other)
        assert unknown.get(39) == b"8" and unknown.get(103) == b"5" and unknown.get(37) == b"NONE", unknown
    # No ClOrdID: a session-level reject naming it.
    c.send("H", [(790, "Q9"), (55, "IBM"), (54, 5)])
    r, _ = c.read_until("3")
    assert r.get(371) == b"11", r
    bye(c)


def test_a_locate_is_declined_with_order_cancel_request(server):
    c = logged_on(server, comp="OMS3", client="C3")
    c.send("R", [(131, "DECLINE"), (146, 1), (55, "IBM"), (38, 700)])
    q, _ = c.read_until("S")
    c.send("F", [(11, "D1"), (41, "DECLINE"), (117, q.get(117).decode()), (55, "IBM"), (54, 5), (60, now()), (38, 700)])
    cx, _ = c.read_until("8")
    assert cx.get(39) == b"4" and cx.get(37) == q.get(117)
    status, loc = server.request("GET", "/api/v1/locates/" + q.get(117).decode())
    assert loc["status"] == "CANCELLED"
    bye(c)


def test_a_session_cannot_touch_another_clients_locate(server):
    c = logged_on(server, comp="OMS3", client="C3")
    status, loc = server.request("POST", "/api/v1/locates", {"requestId": "c1-own", "clientId": "C1", "securityId": "IBM", "quantity": 10, "side": "SHORT"}, key="C1")
    assert status in (200, 201), loc
    c.send("F", [(11, "X1"), (41, "c1-own"), (117, loc["locateId"]), (55, "IBM"), (54, 5), (60, now()), (38, 10)])
    rj, _ = c.read_until("9")
    assert rj.get(102) == b"1"
    status, again = server.request("GET", "/api/v1/locates/" + loc["locateId"])
    assert again["status"] == "APPROVED"
    bye(c)


def test_concurrent_locates_over_four_sessions_and_rest_never_exceed_the_pool(server):
    """200 requests of 300 for POOL (10,000 available): 40 on each of four FIX sessions, 40 over REST, all at
    once. What is approved never exceeds the pool, and the pool is used."""
    status, inv = server.request("GET", "/api/v1/inventory/POOL")
    pool = inv["calculations"]["locateAvailable"]
    assert pool == 10000, inv
    approved = []
    lock = threading.Lock()
    errors = []

    def fix_client(comp, client):
        try:
            c = logged_on(server, comp=comp, client=client)
            for i in range(40):
                c.send("R", [(131, "%s-%d" % (comp, i)), (146, 1), (55, "POOL"), (38, 300)])
            got = 0
            while got < 40:
                m = c.read(timeout=30)
                t = m.get(35)
                if t == b"S":
                    with lock:
                        approved.append(int(m.get(135)))
                    got += 1
                elif t in (b"AG", b"AI"):
                    got += 1
            bye(c)
        except Exception as e:  # reported below
            errors.append(repr(e))

    def rest_client():
        try:
            for i in range(40):
                status, body = server.request(
                    "POST", "/api/v1/locates", {"requestId": "rest-%d" % i, "clientId": "C5", "securityId": "POOL", "quantity": 300, "side": "SHORT"}, key="C5")
                if body.get("status") in ("APPROVED", "PARTIAL"):
                    with lock:
                        approved.append(body["approvedQuantity"])
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=fix_client, args=(comp, client)) for comp, client in
               [("OMS", "C1"), ("OMS2", "C2"), ("OMS3", "C3"), ("OMS4", "C4")]] + [threading.Thread(target=rest_client)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sum(approved) <= pool, (sum(approved), pool)
    assert sum(approved) == pool, "the pool is handed out in full: %d of %d" % (sum(approved), pool)
    status, inv = server.request("GET", "/api/v1/inventory/POOL")
    assert inv["calculations"]["locateAvailable"] == 0


def test_logons_refusals_and_ends_are_on_the_audit_trail(server):
    bad = Counterparty(server.fix_port, sender="OMS3")
    bad.logon(password=server.keys["C1"], reset=True)
    assert bad.closed()
    c = logged_on(server, comp="OMS3", client="C3")
    c.send("D", [(11, "AUDIT-BUY"), (1, "C3-FREE"), (55, "IBM"), (54, 1), (60, now()), (38, 1), (40, 1)])
    c.read_until("8")
    bye(c)

    def entries(action):
        for _ in range(50):
            status, body = server.request("GET", "/api/v1/audit?action=%s&limit=1000" % action)
            assert status == 200, body
            found = [e for e in body["items"] if "IMS-OMS3" in e["subject"] or "AUDIT-BUY" in e["subject"]]
            if found:
                return found
            time.sleep(0.1)
        return []

    refused = entries("FIX_LOGON_REFUSED")
    assert refused and "not the session's API key" in refused[0]["detail"], refused
    logon = entries("FIX_LOGON")
    assert logon and "via FIX IMS-OMS3" in logon[0]["user"], logon
    buy = entries("FIX_REFUSED")
    assert buy and buy[0]["subject"] == "35=D AUDIT-BUY" and "sales only" in buy[0]["detail"], buy
    ended = entries("FIX_LOGOUT")
    assert ended and "Logout" in ended[0]["detail"], ended


def test_a_quote_is_accepted_with_new_order_single_carrying_its_quote_id(server):
    c = logged_on(server, comp="OMS2", client="C2")
    c.send("R", [(131, "ACCEPT-ME"), (146, 1), (55, "IBM"), (38, 77)])
    q, _ = c.read_until("S")
    quote_id = q.get(117).decode()
    c.send("D", [(11, "ACC-1"), (117, quote_id), (55, "IBM"), (54, 5), (60, now()), (38, 77), (40, "D")])
    er, _ = c.read_until("8")
    assert er.get(150) == b"F" and er.get(39) == b"2" and er.get(37) == q.get(117), er
    assert er.get(32) == b"77" and er.get(14) == b"77" and er.get(151) == b"0"
    # Declined afterwards, it can no longer be accepted.
    c.send("F", [(11, "ACC-X"), (41, "ACCEPT-ME"), (117, quote_id), (55, "IBM"), (54, 5), (60, now()), (38, 77)])
    c.read_until("8")
    c.send("D", [(11, "ACC-2"), (117, quote_id), (55, "IBM"), (54, 5), (60, now()), (38, 77), (40, "D")])
    late, _ = c.read_until("8")
    assert late.get(39) == b"8" and b"CANCELLED" in late.get(58), late
    # Another client's quote is unknown to this session.
    status, other = server.request("POST", "/api/v1/locates", {"requestId": "c1-accept", "clientId": "C1", "securityId": "IBM", "quantity": 5, "side": "SHORT"}, key="C1")
    c.send("D", [(11, "ACC-3"), (117, other["locateId"]), (55, "IBM"), (54, 5), (60, now()), (38, 5), (40, "D")])
    foreign, _ = c.read_until("8")
    assert foreign.get(39) == b"8" and b"names no locate of this client" in foreign.get(58)
    bye(c)
    for _ in range(50):
        status, body = server.request("GET", "/api/v1/audit?action=FIX_QUOTE_ACCEPTED&limit=1000")
        if any(e["subject"] == "locate " + quote_id for e in body["items"]):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("no FIX_QUOTE_ACCEPTED entry for %s" % quote_id)


def test_a_ticker_in_several_markets_needs_its_exchange(server):
    c = logged_on(server, comp="OMS3", client="C3")
    c.send("R", [(131, "DUP-1"), (146, 3), (55, "DUP"), (38, 1), (55, "DUP"), (207, "XLON"), (38, 2), (55, "DUP"), (207, "US"), (38, 3)])
    ambiguous, _ = c.read_until("AG")
    assert b"names 2 securities" in ambiguous.get(58) and b"SecurityExchange (207)" in ambiguous.get(58), ambiguous
    uk, _ = c.read_until("AG")  # no inventory in DUP-UK: refused by the engine, on the record, for that security
    us, _ = c.read_until("AG")
    for answer, expected in [(uk, "DUP-UK"), (us, "DUP-US")]:
        status, loc = server.request("GET", "/api/v1/locates/" + answer.get(58).decode().split()[1])
        assert status == 200 and loc["securityId"] == expected, (answer, loc)
    bye(c)
