"""A real FIX engine as the counterparty: QuickFIX (PyPI quickfix-ssl) logs on to IMS, validating every message
IMS sends against its FIX 4.4 data dictionary, then asks for locates, sends short sales and cancels."""
import os
import queue
import sys
import tempfile
import threading
import time

import quickfix as fix
import quickfix44 as fix44


class OMS(fix.Application):
    def __init__(self, key):
        super().__init__()
        self.key = key
        self.logged_on = threading.Event()
        self.app = queue.Queue()
        self.rejects = queue.Queue()
        self.session = None

    def onCreate(self, sessionID):
        self.session = sessionID

    def onLogon(self, sessionID):
        self.logged_on.set()

    def onLogout(self, sessionID):
        self.logged_on.clear()

    def toAdmin(self, message, sessionID):
        t = fix.MsgType()
        message.getHeader().getField(t)
        if t.getValue() == fix.MsgType_Logon:
            message.setField(fix.Password(self.key))

    def fromAdmin(self, message, sessionID):
        t = fix.MsgType()
        message.getHeader().getField(t)
        if t.getValue() == fix.MsgType_Reject:
            self.rejects.put(message.toString())

    def toApp(self, message, sessionID):
        pass

    def fromApp(self, message, sessionID):
        # QuickFIX frees the message when this returns: keep its text.
        self.app.put(message.toString())

    def next(self, msg_type, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                text = self.app.get(timeout=0.2)
            except queue.Empty:
                continue
            fields = {}
            for pair in text.split("\x01"):
                if "=" in pair:
                    tag, value = pair.split("=", 1)
                    fields.setdefault(int(tag), value)
            fields["text"] = text
            if fields.get(35) == msg_type:
                return fields
        raise TimeoutError("no 35=%s from IMS" % msg_type)


def field(message, tag):
    return message[tag]


def build(message, *fields):
    """`message` with `fields` set, in order."""
    for f in fields:
        message.setField(f)
    return message


def test_quickfix_logs_on_and_trades_locates_and_short_sales(server):
    folder = tempfile.mkdtemp(prefix="qf-")
    dictionary = os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml")
    assert os.path.exists(dictionary), dictionary
    config = os.path.join(folder, "initiator.cfg")
    with open(config, "w") as f:
        f.write("""[DEFAULT]
ConnectionType=initiator
ReconnectInterval=1
FileStorePath=%(folder)s/store
FileLogPath=%(folder)s/log
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary=%(dictionary)s
ValidateUserDefinedFields=N
ResetOnLogon=Y
HeartBtInt=5

[SESSION]
BeginString=FIX.4.4
SenderCompID=QF
TargetCompID=IMS
SocketConnectHost=127.0.0.1
SocketConnectPort=%(port)d
""" % {"folder": folder, "dictionary": dictionary, "port": server.fix_port})
    app = OMS(server.keys["C1"])
    settings = fix.SessionSettings(config)
    initiator = fix.SocketInitiator(app, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings))
    initiator.start()
    try:
        assert app.logged_on.wait(15), "QuickFIX did not log on; see %s/log" % folder

        request = fix44.QuoteRequest()
        request.setField(fix.QuoteReqID("QF-1"))
        for symbol, qty in [("IBM", 250), ("POOL", 1)]:
            group = fix44.QuoteRequest.NoRelatedSym()
            group.setField(fix.Symbol(symbol))
            group.setField(fix.OrderQty(qty))
            request.addGroup(group)
        fix.Session.sendToTarget(request, app.session)
        quote = app.next(fix.MsgType_Quote)
        assert field(quote, 131) == "QF-1" and field(quote, 55) == "IBM" and field(quote, 135) == "250"
        locate_id = field(quote, 117)
        # POOL's answer (a Quote, or a reject once the over-allocation test has taken the pool) is valid FIX too.

        # The quote accepted: NewOrderSingle with its QuoteID, confirmed filled for the approved quantity.
        accept = build(
            fix44.NewOrderSingle(), fix.ClOrdID("QF-ACCEPT-1"), fix.StringField(117, locate_id), fix.Symbol("IBM"),
            fix.Side(fix.Side_SELL_SHORT), fix.TransactTime(), fix.OrderQty(250), fix.OrdType(fix.OrdType_PREVIOUSLY_QUOTED))
        fix.Session.sendToTarget(accept, app.session)
        accepted = app.next(fix.MsgType_ExecutionReport)
        assert field(accepted, 39) == "2" and field(accepted, 37) == locate_id and field(accepted, 32) == "250", accepted["text"]

        order = build(
            fix44.NewOrderSingle(), fix.ClOrdID("QF-SS-1"), fix.Account("C1-FREE"), fix.Symbol("IBM"),
            fix.Side(fix.Side_SELL_SHORT), fix.TransactTime(), fix.OrderQty(100), fix.OrdType(fix.OrdType_LIMIT), fix.Price(120.5))
        fix.Session.sendToTarget(order, app.session)
        report = app.next(fix.MsgType_ExecutionReport)
        assert field(report, 11) == "QF-SS-1" and field(report, 39) == "0", report["text"]

        cancel = build(
            fix44.OrderCancelRequest(), fix.OrigClOrdID("QF-SS-1"), fix.ClOrdID("QF-CX-1"), fix.Symbol("IBM"),
            fix.Side(fix.Side_SELL_SHORT), fix.TransactTime(), fix.OrderQty(100))
        fix.Session.sendToTarget(cancel, app.session)
        cancelled = app.next(fix.MsgType_ExecutionReport)
        assert field(cancelled, 39) == "4" and field(cancelled, 41) == "QF-SS-1"

        decline = build(
            fix44.OrderCancelRequest(), fix.OrigClOrdID("QF-1"), fix.ClOrdID("QF-CX-2"), fix.StringField(117, locate_id),
            fix.Symbol("IBM"), fix.Side(fix.Side_SELL_SHORT), fix.TransactTime(), fix.OrderQty(250))
        fix.Session.sendToTarget(decline, app.session)
        declined = app.next(fix.MsgType_ExecutionReport)
        assert field(declined, 39) == "4" and field(declined, 37) == locate_id
        status, loc = server.request("GET", "/api/v1/locates/" + locate_id)
        assert loc["status"] == "CANCELLED"

        # QuickFIX found nothing to reject in what IMS sent.
        assert app.rejects.empty(), app.rejects.get()
        with open(os.path.join(folder, "log", "FIX.4.4-QF-IMS.event.current.log")) as f:
            events = f.read()
        assert "Rejected" not in events and "rejected" not in events, events
    finally:
        initiator.stop()
