#!/usr/bin/env python3
"""Generate IMS market definitions and trading/settlement calendars.

Sources (facts only, generated, not copied code):
  - exchange_calendars (PyPI) for exchange trading sessions 2020-2030;
  - holidays (PyPI) for settlement-system closures: the US Federal Reserve
    (XFED: Columbus Day, Veterans Day are Fed holidays but NYSE trading days)
    and TARGET2/T2S (ECB) for euro-area securities settlement, and for the
    public holidays of markets whose exchange calendar is published only a
    few years ahead (marked as estimated).

Writes data/markets.json, data/calendars/<MARKET>.json and the embedded copy
Sources/IMSDomain/Generated/EmbeddedMarketData.swift (so the binary needs no
files at run time). Run:  python3 scripts/generate_market_data.py
Requires: pip install exchange_calendars holidays

`python3 scripts/generate_market_data.py --regimes` rewrites only the markets'
short-sale regimes (SHORT_SALE below) into data/markets.json and the embedded
copy, keeping the calendars in data/ as they are (no PyPI packages needed).
"""
import datetime as dt
import json
import os
import sys
import warnings

if "--regimes" not in sys.argv:
    import exchange_calendars as xc
    import holidays
    import pandas as pd

warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRST, LAST = dt.date(2020, 1, 1), dt.date(2030, 12, 31)
EU_T1 = "2027-10-11"  # UK, EU and CH move from T+2 to T+1 on this date

# marketId: (name, exchange_calendars code, MICs, country, currency,
#            settlement cycles, settlement calendar source)
MARKETS = {
    "US": ("United States", "XNYS", ["XNYS", "XNAS", "ARCX", "BATS"], "US", "USD", [("2020-01-01", 2), ("2024-05-28", 1)], "XFED"),
    "CA": ("Canada", "XTSE", ["XTSE", "XTSX"], "CA", "CAD", [("2020-01-01", 2), ("2024-05-27", 1)], None),
    "UK": ("United Kingdom", "XLON", ["XLON"], "GB", "GBP", [("2020-01-01", 2), (EU_T1, 1)], None),
    "DE": ("Germany", "XETR", ["XETR", "XFRA"], "DE", "EUR", [("2020-01-01", 2), (EU_T1, 1)], "ECB"),
    "FR": ("France", "XPAR", ["XPAR"], "FR", "EUR", [("2020-01-01", 2), (EU_T1, 1)], "ECB"),
    "NL": ("Netherlands", "XAMS", ["XAMS"], "NL", "EUR", [("2020-01-01", 2), (EU_T1, 1)], "ECB"),
    "CH": ("Switzerland", "XSWX", ["XSWX"], "CH", "CHF", [("2020-01-01", 2), (EU_T1, 1)], None),
    "HK": ("Hong Kong", "XHKG", ["XHKG"], "HK", "HKD", [("2020-01-01", 2)], None),
    "JP": ("Japan", "XTKS", ["XTKS", "XJPX"], "JP", "JPY", [("2020-01-01", 2)], None),
    "KR": ("South Korea", "XKRX", ["XKRX", "XKOS"], "KR", "KRW", [("2020-01-01", 2)], None),
    "TW": ("Taiwan", "XTAI", ["XTAI"], "TW", "TWD", [("2020-01-01", 2)], None),
    "AU": ("Australia", "XASX", ["XASX"], "AU", "AUD", [("2020-01-01", 2)], None),
    "SG": ("Singapore", "XSES", ["XSES"], "SG", "SGD", [("2020-01-01", 2)], None),
    "IN": ("India", "XBOM", ["XBOM", "XNSE"], "IN", "INR", [("2020-01-01", 2), ("2023-01-27", 1)], None),
    "ES": ("Spain", "XMAD", ["XMAD"], "ES", "EUR", [("2020-01-01", 2), (EU_T1, 1)], "ECB"),
    "BE": ("Belgium", "XBRU", ["XBRU"], "BE", "EUR", [("2020-01-01", 2), (EU_T1, 1)], "ECB"),
    "SE": ("Sweden", "XSTO", ["XSTO"], "SE", "SEK", [("2020-01-01", 2), (EU_T1, 1)], None),
    "FI": ("Finland", "XHEL", ["XHEL"], "FI", "EUR", [("2020-01-01", 2), (EU_T1, 1)], "ECB"),
}
# Each market's short-sale regime (SPEC 4.3; ShortSaleRegime in Sources/IMSDomain/Markets/Market.swift):
# what a short sale needs first, a standing price floor, and the price test a fall triggers.
LOCATE = ["US", "UK", "DE", "FR", "NL", "JP", "HK", "CA", "AU", "SG", "IN"]
PRE_BORROW = ["KR", "TW"]
PRICE_FLOOR = {"HK": "NOT_BELOW_ASK", "TW": "NOT_BELOW_PREVIOUS_CLOSE"}
PRICE_TEST = {"US": "ABOVE_BID", "JP": "ABOVE_LAST_OR_AT_UPTICK"}
DESIGNATED_LIST = ["HK", "IN"]


def short_sale(mid):
    return {
        "requirement": "LOCATE" if mid in LOCATE else "PRE_BORROW" if mid in PRE_BORROW else "NONE",
        "priceFloor": PRICE_FLOOR.get(mid, "NONE"),
        "priceTest": PRICE_TEST.get(mid, "NONE"),
        "priceTestTriggerPercent": 10,
        "designatedList": mid in DESIGNATED_LIST,
    }


# Public-holiday calendars used to estimate years the exchange has not published.
ESTIMATE_WITH = {"XSES": "XSES", "XBOM": "XBOM"}


def weekdays(a, b):
    return [d.date() for d in pd.bdate_range(a, b)]


def trading_holidays(code):
    """Weekday non-sessions from exchange_calendars, and the last year it knows."""
    end = LAST
    while True:
        try:
            cal = xc.get_calendar(code, start=FIRST.isoformat(), end=end.isoformat())
            break
        except Exception:  # calendar published only up to an earlier year
            end = dt.date(end.year - 1, 12, 31)
    sessions = {d.date() for d in cal.sessions}
    known = [d for d in weekdays(FIRST, end) if d not in sessions]
    estimated = []
    if end < LAST:
        fin = holidays.financial_holidays(ESTIMATE_WITH[code], years=range(end.year + 1, LAST.year + 1))
        estimated = sorted(d for d in fin if d.weekday() < 5 and end < d <= LAST)
    return cal, known, estimated, end


def settlement_extra(source):
    if source is None:
        return set(), None
    fin = holidays.financial_holidays(source, years=range(FIRST.year, LAST.year + 1))
    days = {d for d in fin if d.weekday() < 5 and FIRST <= d <= LAST}
    label = {"XFED": "holidays %s financial XFED (US Federal Reserve)" % holidays.__version__,
             "ECB": "holidays %s financial ECB (TARGET2/T2S)" % holidays.__version__}[source]
    return days, label


def main():
    os.makedirs(os.path.join(ROOT, "data", "calendars"), exist_ok=True)
    markets, calendars = [], {}
    for mid, (name, code, mics, country, ccy, cycles, settle_src) in MARKETS.items():
        cal, known, estimated, known_through = trading_holidays(code)
        trading = sorted(set(known) | set(estimated))
        extra, extra_label = settlement_extra(settle_src)
        if settle_src == "ECB":
            # Euro-area settlement (T2S) follows TARGET2 closing days, not the exchange's.
            settlement = sorted(extra)
        else:
            settlement = sorted(set(trading) | extra)
        source = "exchange_calendars %s %s" % (xc.__version__, code)
        if extra_label:
            source += "; settlement: " + extra_label
        if estimated:
            source += "; %s-%s estimated from holidays %s financial %s" % (
                known_through.year + 1, LAST.year, holidays.__version__, ESTIMATE_WITH[code])
        entry = {
            "marketId": mid,
            "source": source,
            "from": FIRST.isoformat(),
            "to": LAST.isoformat(),
            "holidaysPublishedThrough": known_through.isoformat(),
            "tradingHolidays": [d.isoformat() for d in trading],
            "settlementHolidays": [d.isoformat() for d in settlement],
        }
        if estimated:
            entry["estimatedHolidays"] = [d.isoformat() for d in estimated]
        calendars[mid] = entry
        markets.append({
            "marketId": mid,
            "name": name,
            "mics": mics,
            "country": country,
            "timeZone": str(cal.tz),
            "currency": ccy,
            "settlementCycles": [{"effectiveFrom": f, "days": n} for f, n in cycles],
            "calendarSource": code,
            "shortSale": short_sale(mid),
        })
        with open(os.path.join(ROOT, "data", "calendars", mid + ".json"), "w") as f:
            json.dump(entry, f, indent=1)
            f.write("\n")
    with open(os.path.join(ROOT, "data", "markets.json"), "w") as f:
        json.dump(markets, f, indent=1)
        f.write("\n")
    write_embedded(markets, calendars)


def write_embedded(markets, calendars):
    out = os.path.join(ROOT, "Sources", "IMSDomain", "Generated")
    os.makedirs(out, exist_ok=True)
    lines = [
        "// swift-format-ignore-file",
        "// Generated by scripts/generate_market_data.py from data/; do not edit.",
        "// Sources: exchange_calendars and holidays (PyPI), see data/calendars/*.json.",
        "",
        "/// The market definitions and calendars shipped in `data/`, embedded so the binary needs no files.",
        "public enum EmbeddedMarketData {",
        "    /// The contents of `data/markets.json`.",
        '    public static let markets = #"""',
        json.dumps(markets, indent=1),
        '"""#',
        "",
        "    /// The contents of `data/calendars/<MARKET>.json`, by market id.",
        "    public static let calendars: [String: String] = [",
    ]
    for mid, entry in calendars.items():
        lines.append('        "%s": #"%s"#,' % (mid, json.dumps(entry, separators=(",", ":"))))
    lines += ["    ]", "}", ""]
    with open(os.path.join(out, "EmbeddedMarketData.swift"), "w") as f:
        f.write("\n".join(lines))


def regimes_only():
    with open(os.path.join(ROOT, "data", "markets.json")) as f:
        markets = json.load(f)
    for m in markets:
        m["shortSale"] = short_sale(m["marketId"])
    calendars = {}
    for m in markets:
        with open(os.path.join(ROOT, "data", "calendars", m["marketId"] + ".json")) as f:
            calendars[m["marketId"]] = json.load(f)
    with open(os.path.join(ROOT, "data", "markets.json"), "w") as f:
        json.dump(markets, f, indent=1)
    write_embedded(markets, calendars)


if __name__ == "__main__":
    regimes_only() if "--regimes" in sys.argv else main()
