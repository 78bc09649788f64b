#!/usr/bin/env python3
"""Generate data/securities.csv, the demo's universe of real listed equities.

Source: pytickersymbols (PyPI), the index constituents it ships with their
names, Yahoo symbols and ISINs. CUSIPs (US) and SEDOLs (GB) are the national
numbers embedded in those ISINs; RICs and Bloomberg tickers are derived from
the ticker and the exchange by the usual suffix conventions and are marked as
derived in docs/data.md. Run:  python3 scripts/generate_securities.py
Requires: pip install pytickersymbols
"""
import csv
import os

from pytickersymbols import PyTickerSymbols, __version__ as PTS_VERSION

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# index -> (marketId, Yahoo suffix, RIC suffix, Bloomberg exchange code, currency)
INDICES = {
    "S&P 500": ("US", "", ".N", "US", "USD"),
    "NASDAQ 100": ("US", "", ".O", "US", "USD"),
    "DOW JONES": ("US", "", ".N", "US", "USD"),
    "S&P 600": ("US", "", ".N", "US", "USD"),
    "FTSE 100": ("UK", ".L", ".L", "LN", "GBP"),
    "DAX": ("DE", ".DE", ".DE", "GY", "EUR"),
    "MDAX": ("DE", ".DE", ".DE", "GY", "EUR"),
    "TecDAX": ("DE", ".DE", ".DE", "GY", "EUR"),
    "SDAX": ("DE", ".DE", ".DE", "GY", "EUR"),
    "CAC 40": ("FR", ".PA", ".PA", "FP", "EUR"),
    "CAC_40": ("FR", ".PA", ".PA", "FP", "EUR"),
    "CAC Mid 60": ("FR", ".PA", ".PA", "FP", "EUR"),
    "AEX": ("NL", ".AS", ".AS", "NA", "EUR"),
    "Switzerland 20": ("CH", ".SW", ".S", "SW", "CHF"),
    "NIKKEI 225": ("JP", ".T", ".T", "JT", "JPY"),
    "IBEX 35": ("ES", ".MC", ".MC", "SM", "EUR"),
    "BEL 20": ("BE", ".BR", ".BR", "BB", "EUR"),
    "OMX Stockholm 30": ("SE", ".ST", ".ST", "SS", "SEK"),
    "OMX Helsinki 25": ("FI", ".HE", ".HE", "FH", "EUR"),
}
ISIN_PREFIX = {"US": ("US",), "UK": ("GB", "JE", "IE", "GG", "IM"), "DE": ("DE",), "FR": ("FR",),
               "NL": ("NL",), "CH": ("CH",), "JP": ("JP",), "ES": ("ES",), "BE": ("BE",),
               "SE": ("SE",), "FI": ("FI",)}


def pick_symbol(stock, suffix):
    for s in stock.get("symbols", []):
        y = s.get("yahoo") or ""
        if suffix and y.endswith(suffix):
            return y[: -len(suffix)]
        if not suffix and "." not in y and s.get("currency") == "USD":
            return y
    sym = stock.get("symbol") or ""
    if suffix and sym.endswith(suffix):
        return sym[: -len(suffix)]
    return sym if not suffix else None


def main():
    pts = PyTickerSymbols()
    rows, seen = [], set()
    for index, (market, ysuf, ricsuf, bbg, ccy) in INDICES.items():
        try:
            stocks = list(pts.get_stocks_by_index(index))
        except Exception:
            continue
        for st in stocks:
            isins = [i for i in st.get("isins", []) if len(i) == 12 and i.isalnum()]
            isins = [i for i in isins if i[:2] in ISIN_PREFIX[market]] or isins
            ticker = pick_symbol(st, ysuf)
            if not isins or not ticker or isins[0] in seen:
                continue
            isin = isins[0]
            seen.add(isin)
            rows.append({
                "securityId": "S-" + isin,
                "isin": isin,
                "cusip": isin[2:11] if isin.startswith("US") else "",
                "sedol": isin[4:11] if isin.startswith("GB00") else "",
                "ticker": ticker,
                "ric": ticker.replace("-", ".") + ricsuf,
                "bloombergId": "%s %s Equity" % (ticker, bbg),
                "name": st["name"].strip(),
                "marketId": market,
                "currency": ccy,
                "assetType": "EQUITY",
                "index": index,
            })
    rows.sort(key=lambda r: (r["marketId"], r["ticker"]))
    path = os.path.join(ROOT, "data", "securities.csv")
    with open(path, "w", newline="") as f:
        f.write("# source: pytickersymbols %s index constituents; cusip/sedol from ISIN, ric/bloombergId derived\n" % PTS_VERSION)
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    by = {}
    for r in rows:
        by[r["marketId"]] = by.get(r["marketId"], 0) + 1
    print(len(rows), "securities", by)


if __name__ == "__main__":
    main()
