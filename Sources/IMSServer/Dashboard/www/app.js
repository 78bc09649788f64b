// The desk's dashboard: sign in with an API key or token, then live views over the REST API and the
// WebSocket streams. No build step, no third-party code: plain modules the server embeds.
import { VirtualGrid } from "/dashboard/grid.js";
import { barChart, lineChart } from "/dashboard/chart.js";

const state = { key: sessionStorage.getItem("ims.key"), who: sessionStorage.getItem("ims.who"), sockets: [], retry: 0, shown: 0 };

/// Closes the view's streams (a view may hold several: the inventory follows inventory and market data).
function closeStreams() {
  for (const socket of state.sockets) { socket.onclose = null; socket.close(); }
  state.sockets = [];
}

/// Views load asynchronously; one left (another view, or signed out) before its data came must not draw.
/// Each view takes a number when shown and checks it is still the one shown after every wait.
function stillShown(number) { return number === state.shown; }

/// `draw`, at most once per `ms` milliseconds (once per animation frame with 0), however many updates ask
/// for it; never once the view shown as `shown` was left (a stream message may already be on its way).
function throttled(shown, ms, draw) {
  let pending = false;
  const run = () => { pending = false; if (stillShown(shown)) draw(); };
  return () => {
    if (pending) return;
    pending = true;
    if (ms) setTimeout(run, ms); else requestAnimationFrame(run);
  };
}
const view = document.getElementById("view");
const status = document.getElementById("status");

/// Writes the status line; `hold` keeps an action's answer there for five seconds against "Live".
function say(text, kind = "", hold = false) {
  status.textContent = text;
  status.className = "status " + kind;
  status.dataset.holdUntil = String(hold ? Date.now() + 5_000 : 0);
}

/// "Live", unless an action's answer is held on the status line: a stream that (re)subscribes must not wipe
/// "2 rejected" before the desk has read it.
function sayLive() {
  if (Date.now() < Number(status.dataset.holdUntil ?? 0)) return;
  say("Live", "live");
}

/// A call to the API with the session's key; a 401 ends the session and asks to sign in again.
async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${state.key}` } });
  } catch {
    say("The server is unreachable; retrying…", "error");
    throw new Error("unreachable");
  }
  if (response.status === 401) {
    signOut("Your session has expired or the key was revoked: sign in again.");
    throw new Error("unauthorized");
  }
  return response;
}

function signOut(message) {
  state.shown++;
  sessionStorage.removeItem("ims.key");
  sessionStorage.removeItem("ims.who");
  state.key = null;
  state.me = null;
  closeStreams();
  showSignIn(message);
}

function showSignIn(message = "") {
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("who").textContent = "";
  say("");
  view.innerHTML = `
    <form class="signin" id="signin">
      <h2>Sign in</h2>
      <label for="key">API key or bearer token</label>
      <input id="key" name="key" type="password" autocomplete="off" required autofocus>
      <p class="error" id="signin-error" role="alert"></p>
      <button type="submit">Sign in</button>
      <p class="muted">ims demo prints a key per role; ims keys create makes one.</p>
    </form>`;
  document.getElementById("signin-error").textContent = message;
  document.getElementById("signin").addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = document.getElementById("key").value.trim();
    let response;
    try {
      response = await fetch("/api/v1/markets", { headers: { Authorization: `Bearer ${key}` } });
    } catch {
      document.getElementById("signin-error").textContent = "The server is unreachable.";
      return;
    }
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      document.getElementById("signin-error").textContent = body.error || `Refused (${response.status}).`;
      return;
    }
    state.key = key;
    state.who = key.startsWith("ims_") ? `key ${key.split("_")[1]}` : "token";
    sessionStorage.setItem("ims.key", key);
    sessionStorage.setItem("ims.who", state.who);
    route();
  });
}

// MARK: Roles

/// The views each role may open, and the first one it lands on. A client sees its own locates and its order
/// checks, nothing of the firm's; a view is offered only to roles whose requests the server accepts.
const STAFF = ["operator", "approver", "admin"];
const VIEW_ROLES = {
  inventory: STAFF, constrained: STAFF, positions: ["client"], locates: ["client", ...STAFF], limits: ["client", ...STAFF],
  orders: ["client", ...STAFF], rules: STAFF, exceptions: STAFF, operations: STAFF,
};
const can = (role) => (state.me?.roles ?? []).includes(role);
const mayOpen = (name) => (VIEW_ROLES[name] ?? STAFF).some(can);
const isClient = () => can("client") && !STAFF.some(can);

/// Asks the server who the key is (`GET /api/v1/me`): roles and client.
async function whoAmI() {
  const response = await api("/api/v1/me");
  state.me = await response.json();
  return state.me;
}

// MARK: Inventory

const number = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const price = new Intl.NumberFormat("en-US", { maximumFractionDigits: 4 });
const calc = (name) => (r) => r.calculations?.[name] ?? 0;
/// A calculation's USD value as the server computes it (InventoryRow.usdValues): quantity × (price × rate),
/// the rate as its 8-decimal units, rounded to cents half away from zero; null without a price or rate (the
/// API then leaves usdValues out). Derived on every update, never kept from an older row: a live update
/// changes the quantity, a price tick the price, an FX tick the rate.
const usdOf = (quantity, r) => {
  if (r.lastPrice == null || r.usdRate == null) return null;
  const value = quantity * ((r.lastPrice * Math.round(r.usdRate * 1e8)) / 1e8);
  return (Math.sign(value) * Math.round(Math.abs(value * 100))) / 100;
};
const usd = (name) => (r) => usdOf(r.calculations?.[name] ?? 0, r);
const money = (v) => (v == null ? "" : number.format(v));
const COLUMNS = [
  { id: "securityId", title: "Security", value: (r) => r.securityId, width: "9.5rem", pinned: true },
  { id: "ticker", title: "Ticker", value: (r) => r.ticker ?? "", width: "5.5rem", pinned: true },
  { id: "name", title: "Name", value: (r) => r.name ?? "", width: "minmax(10rem, 1.6fr)" },
  { id: "marketId", title: "Market", value: (r) => r.marketId, width: "5rem" },
  { id: "currency", title: "Ccy", value: (r) => r.currency ?? "", width: "3.5rem" },
  { id: "temperature", title: "Temp", value: (r) => r.temperature ?? "", width: "4.5rem" },
  { id: "lastPrice", title: "Last", value: (r) => r.lastPrice ?? null, numeric: true, format: (v) => (v == null ? "" : price.format(v)) },
  { id: "forLoan", title: "For loan", value: calc("forLoan"), numeric: true, total: true, format: (v) => number.format(v), width: "minmax(7rem, 1fr)" },
  { id: "forPledge", title: "For pledge", value: calc("forPledge"), numeric: true, total: true, format: (v) => number.format(v), width: "minmax(7rem, 1fr)" },
  { id: "locateAvailable", title: "Locate avail.", value: calc("locateAvailable"), numeric: true, total: true, format: (v) => number.format(v), width: "minmax(7.5rem, 1fr)" },
  { id: "overborrow", title: "Overborrow", value: calc("overborrow"), numeric: true, total: true, format: (v) => number.format(v), width: "minmax(7rem, 1fr)" },
  { id: "shortQuantity", title: "Short", value: (r) => r.shortQuantity ?? 0, numeric: true, total: true, format: (v) => number.format(v), width: "minmax(7rem, 1fr)" },
  { id: "usdForLoan", title: "For loan USD", value: usd("forLoan"), numeric: true, total: true, format: money, width: "minmax(8rem, 1.2fr)" },
  { id: "usdLocate", title: "Locate USD", value: usd("locateAvailable"), numeric: true, total: true, format: money, width: "minmax(8rem, 1.2fr)" },
];

function chosenColumns(layout) {
  const saved = layout.columns;
  return saved ? COLUMNS.filter((c) => saved.includes(c.id) || c.id === "securityId") : COLUMNS;
}

/// The inventory's layout (columns, sort, column filters, search, filters, group), kept per user in this
/// browser and restored when the view is shown again (after a drill-down, or another day). Named layouts
/// are kept beside it.
const layoutKey = () => `ims.layout.${state.who}`;
const namedLayoutsKey = () => `ims.layouts.${state.who}`;
function loadLayout() {
  const saved = JSON.parse(localStorage.getItem(layoutKey()) || "null");
  if (saved) return saved;
  // An older browser's column choice.
  const columns = JSON.parse(localStorage.getItem(`ims.columns.${state.who}`) || "null");
  return columns ? { columns } : {};
}
function saveLayout(layout) { localStorage.setItem(layoutKey(), JSON.stringify(layout)); }
function namedLayouts() { return JSON.parse(localStorage.getItem(namedLayoutsKey()) || "{}"); }

/// A CSV field: quoted when it holds a comma, a quote or a line break; a leading =, +, - or @ of text is
/// kept from being read as a formula by a spreadsheet.
function csvField(v) {
  if (v == null) return "";
  let text = String(v);
  if (typeof v !== "number" && /^[=+\-@]/.test(text)) text = "'" + text;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/// Downloads rows as CSV: a header of the columns' titles, then each row's values as numbers (not formatted).
function downloadCSV(name, columns, rows) {
  const lines = [columns.map((c) => csvField(c.title)).join(",")];
  for (const r of rows) lines.push(columns.map((c) => csvField(c.value(r))).join(","));
  const text = lines.join("\r\n") + "\r\n";
  window.imsLastExport = { name, text, rows: rows.length };  // for the browser test
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
const stamp = () => new Date().toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "-");

/// Groupings by whose share: the grid then shows each legal entity's (or unit's) share of each security, from
/// `/ws/inventory` with `by`, one row per scope and security, grouped with subtotals.
const SCOPE_GROUPS = { legalEntity: "Legal entity", aggregationUnit: "Agg. unit" };
const FIRM_FIELDS = ["currency", "lastPrice", "usdRate", "temperature", "region"];
/// SHORT.* of every position type, as the listing's `shortQuantity`.
const shortOf = (buckets) => Object.entries(buckets || {}).reduce((sum, [name, q]) => sum + (name.startsWith("SHORT.") ? q : 0), 0);

async function showInventory() {
  const layout = loadLayout();
  const groupChoice = layout.group || "";
  const scoped = SCOPE_GROUPS[groupChoice] ? groupChoice : null;
  view.innerHTML = `
    <div class="toolbar">
      <label>Search <input id="search" type="search" placeholder="id, ticker, name, ISIN…" aria-label="Search securities"></label>
      <label>Market <select id="filter-market"><option value="">all</option></select></label>
      <label>Temp <select id="filter-temperature" aria-label="Temperature"><option value="">all</option><option>GC</option><option>WARM</option><option>HTB</option></select></label>
      <label><input type="checkbox" id="filter-short"> Short only</label>
      <label>Group by <select id="group"><option value="">none</option><option value="marketId">market</option><option value="currency">currency</option><option value="temperature">temperature</option><option value="legalEntity">legal entity</option><option value="aggregationUnit">aggregation unit</option></select></label>
      <details><summary>Columns</summary><div id="columns"></div></details>
      <details><summary>Layouts</summary><div class="layouts">
        <label>Open <select id="layout-open" aria-label="Saved layout"><option value="">choose…</option></select></label>
        <label>Save as <input id="layout-name" size="10" aria-label="Layout name"></label> <button type="button" id="layout-save">Save</button>
        <button type="button" id="layout-reset">Reset</button></div></details>
      <button type="button" id="export-csv">Export CSV</button>
      <label><input type="checkbox" id="flash"> Flash changes</label>
      <span class="count" id="count" aria-live="polite"></span>
    </div>
    <div id="inventory-grid"></div>`;
  const group = document.getElementById("group");
  group.value = groupChoice;
  let columns = chosenColumns(layout);
  if (scoped) {
    // The scope's column right after the pinned ones.
    const at = columns.filter((c) => c.pinned).length;
    columns = [...columns.slice(0, at), { id: "scope", title: SCOPE_GROUPS[scoped], value: (r) => r.scope, width: "minmax(8rem, 1fr)" }, ...columns.slice(at)];
  }
  const remember = (change) => { Object.assign(layout, change); saveLayout(layout); };
  const chooser = document.getElementById("columns");
  for (const c of COLUMNS) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" ${columns.includes(c) ? "checked" : ""} ${c.id === "securityId" ? "disabled" : ""}> ${c.title}`;
    label.firstChild.addEventListener("change", () => {
      remember({ columns: [...chooser.querySelectorAll("input")].map((box, i) => (box.checked ? COLUMNS[i].id : null)).filter(Boolean) });
      showInventory();
    });
    chooser.append(label, document.createElement("br"));
  }
  const opener = document.getElementById("layout-open");
  for (const name of Object.keys(namedLayouts()).sort()) opener.add(new Option(name, name));
  opener.addEventListener("change", () => {
    const chosen = namedLayouts()[opener.value];
    if (chosen) { saveLayout(chosen); route(); }
  });
  document.getElementById("layout-save").addEventListener("click", () => {
    const name = document.getElementById("layout-name").value.trim();
    if (!name) { say("Name the layout first.", "error"); return; }
    localStorage.setItem(namedLayoutsKey(), JSON.stringify({ ...namedLayouts(), [name]: layout }));
    if (![...opener.options].some((o) => o.value === name)) opener.add(new Option(name, name));
    say(`Layout "${name}" saved.`, "live");
  });
  document.getElementById("layout-reset").addEventListener("click", () => { saveLayout({}); route(); });
  const rows = new Map();    // firm-wide, by security id
  const shares = new Map();  // scoped: by "scope|security"
  const listed = scoped ? shares : rows;
  const sharesOf = new Map();  // scoped: security id → its share keys, for price and FX ticks
  // Prices and FX rates, live: each tick moves the Last column and every USD figure it prices.
  const followMarketData = () => stream("/ws/market-data", {}, (message) => {
    if (message.type !== "delta" && message.type !== "snapshot") return;
    const d = message.data;
    const touched = [];
    if (d.kind === "price" && d.last != null) {
      const r = rows.get(d.securityId);
      if (!r) return;
      touched.push([d.securityId, r]);
      for (const key of sharesOf.get(d.securityId) || []) touched.push([key, shares.get(key)]);
      for (const [key, row] of touched) {
        if (!row) continue;
        const before = { ...row };
        row.lastPrice = d.last;
        if (d.currency) row.currency = d.currency;
        if (d.currency === "USD") row.usdRate = 1;
        changed(key, before, row);
      }
    } else if (d.kind === "fxRate" && d.currency && d.usdRate != null) {
      // The firm's rows, and with a grouping by whose share the shares too (new shares copy the firm's).
      for (const map of scoped ? [rows, shares] : [rows]) {
        for (const [key, row] of map) if (row.currency === d.currency && row.usdRate !== d.usdRate) { row.usdRate = d.usdRate; touched.push(key); }
      }
      if (!touched.length) return;
    } else {
      return;
    }
    grid.refresh();
  });
  const grid = new VirtualGrid(document.getElementById("inventory-grid"), columns, {
    key: scoped ? (r) => r.key : (r) => r.securityId,
    label: scoped ? `Inventory by ${SCOPE_GROUPS[scoped].toLowerCase()}` : "Inventory",
    onRender: () => count(),
    onSort: (sort) => remember({ sort }),
    onFilterChange: (filters) => { remember({ columnFilters: { ...filters } }); count(); },
    onOpen: (key) => {
      const r = listed.get(key);
      if (!r) return;
      // Coming back from the drill-down returns to this row, scrolled as it was.
      sessionStorage.setItem("ims.inventory.position", JSON.stringify({ ...grid.position(), key }));
      location.hash = `#/security/${encodeURIComponent(r.securityId)}`;
    } });
  document.getElementById("export-csv").addEventListener("click", () => {
    const rows = grid.visibleRows();
    downloadCSV(`ims-inventory-${stamp()}.csv`, columns, rows);
    say(`Exported ${number.format(rows.length)} rows as shown (filters and sort applied).`, "live");
  });
  // Flashing changed cells: on unless the user turned it off (kept per browser) or asks for reduced motion.
  const flash = document.getElementById("flash");
  const reduced = window.matchMedia?.("(prefers-reduced-motion: reduce)").matches;
  flash.checked = (localStorage.getItem("ims.flash") ?? (reduced ? "off" : "on")) === "on";
  grid.flashing = flash.checked;
  flash.addEventListener("change", () => { grid.flashing = flash.checked; localStorage.setItem("ims.flash", flash.checked ? "on" : "off"); });
  const count = () => {
    document.getElementById("count").textContent = scoped
      ? `${number.format(grid.visibleCount)} of ${number.format(shares.size)} shares (${SCOPE_GROUPS[scoped].toLowerCase()} × security)`
      : `${number.format(grid.visibleCount)} of ${number.format(rows.size)} securities`;
  };
  let matching = null;  // security ids an identifier search found
  let searches = 0;     // the latest search: an older lookup answering late is ignored
  let text = "";
  const market = document.getElementById("filter-market"), temperature = document.getElementById("filter-temperature");
  const shortOnly = document.getElementById("filter-short");
  // The search and the filters together: every one that is set must hold.
  const applyFilter = () => {
    const m = market.value, t = temperature.value, s = shortOnly.checked;
    remember({ search: document.getElementById("search").value, market: m, temperature: t, shortOnly: s });
    const tests = [];
    // Id, ticker, name or scope in any case, or any identifier the server resolved.
    if (text) tests.push((r) => r.securityId.toUpperCase().includes(text) || (r.ticker ?? "").toUpperCase().includes(text)
      || (r.name ?? "").toUpperCase().includes(text) || (r.scope ?? "").toUpperCase().includes(text) || (matching?.has(r.securityId) ?? false));
    if (m) tests.push((r) => r.marketId === m);
    if (t) tests.push((r) => r.temperature === t);
    if (s) tests.push((r) => (r.shortQuantity ?? 0) > 0);
    grid.setFilter(tests.length ? (r) => tests.every((test) => test(r)) : null);
    count();
  };
  for (const control of [market, temperature, shortOnly]) control.addEventListener("change", applyFilter);
  const search = async (value) => {
    text = value.trim().toUpperCase();
    const search = ++searches;
    matching = null;
    if (text.length >= 4) {
      // Any identifier (ISIN, CUSIP, SEDOL, ticker, RIC…): the server resolves it.
      const found = await api(`/api/v1/securities?identifier=${encodeURIComponent(text)}`).then((r) => (r.ok ? r.json() : null)).catch(() => null);
      if (search !== searches) return;
      const items = Array.isArray(found) ? found : found?.items;
      if (items?.length) matching = new Set(items.map((s) => s.securityId ?? s.security?.securityId));
    }
    applyFilter();
  };
  document.getElementById("search").addEventListener("input", (e) => search(e.target.value));
  group.addEventListener("change", () => {
    const next = group.value;
    remember({ group: next });
    // A grouping by whose share needs other rows (each scope's share): the view is built again.
    if (SCOPE_GROUPS[next] || scoped) { route(); return; }
    grid.setGroupBy(next);
    count();
  });

  const shown = state.shown;
  const started = performance.now();
  await loadListing(rows);
  if (!stillShown(shown)) return;
  for (const m of [...new Set([...rows.values()].map((r) => r.marketId))].sort()) market.add(new Option(m, m));
  grid.setSource(() => [...listed.values()]);
  if (scoped) grid.setGroupBy("scope"); else if (groupChoice) grid.setGroupBy(groupChoice);
  // The layout as it was left: sort, column filters, search and filters.
  grid.setSort(layout.sort);
  grid.setColumnFilters(layout.columnFilters);
  market.value = layout.market ?? "";
  temperature.value = layout.temperature ?? "";
  shortOnly.checked = !!layout.shortOnly;
  document.getElementById("search").value = layout.search ?? "";
  await search(layout.search ?? "");
  if (!stillShown(shown)) return;
  const back = JSON.parse(sessionStorage.getItem("ims.inventory.position") || "null");
  sessionStorage.removeItem("ims.inventory.position");
  requestAnimationFrame(() => {
    if (back) grid.restore(back);
    // First render, measured in the page: from navigation start, and from the data request.
    window.imsFirstRender = { sinceNavigation: performance.now(), sinceRequest: performance.now() - started, rows: rows.size };
    performance.mark("ims-first-render");
    count();
  });
  const changed = (key, old, next) => {
    if (!old) return;
    for (const c of columns) {
      const a = c.value(old), b = c.value(next);
      if (c.numeric && a !== b) grid.flash(key, c.id, b > a ? "up" : "down");
    }
  };
  if (scoped) {
    // Each scope's share: its buckets and calculations; price, currency and temperature are the security's.
    window.imsInventoryComplete = false;  // for the browser test: every share has arrived
    stream("/ws/inventory", { by: scoped }, (message) => {
      if (message.type === "snapshotComplete") { window.imsInventoryComplete = true; return; }
      if (message.type !== "delta" && message.type !== "snapshot") return;
      const d = message.data, scope = d[scoped === "legalEntity" ? "legalEntity" : "aggregationUnitId"];
      const key = `${scope}|${d.securityId}`, firm = rows.get(d.securityId) || {};
      const next = { ...d, scope, key };
      for (const f of FIRM_FIELDS) if (firm[f] != null) next[f] = firm[f];
      next.shortQuantity = shortOf(d.buckets);
      changed(key, shares.get(key), next);
      shares.set(key, next);
      if (!sharesOf.has(d.securityId)) sharesOf.set(d.securityId, new Set());
      sharesOf.get(d.securityId).add(key);
      grid.refresh();
    });
    followMarketData();
    return;
  }
  stream("/ws/inventory", {}, (message) => {
    if (message.type !== "delta" && message.type !== "snapshot") return;
    window.imsInventoryUpdates = (window.imsInventoryUpdates || 0) + 1;  // for the browser test's load figure
    const d = message.data, old = rows.get(d.securityId);
    // The stream's item is the inventory resource: buckets and calculations, no price; the listing's other
    // figures are derived again from it (short) or kept (price, rate: the market-data stream moves them).
    const next = { ...(old || {}), ...d, shortQuantity: shortOf(d.buckets) };
    delete next.usdValues;
    changed(d.securityId, old, next);
    rows.set(d.securityId, next);
    grid.refresh();  // re-derived and drawn once at the next frame, however many updates come before it
  });
  followMarketData();
}

/// Every security's inventory row into `rows` (by id), 10,000 a page (the API's largest): the first page
/// says how many, the rest come at once.
async function loadListing(rows) {
  const fetchPage = async (offset) => {
    const response = await api(`/api/v1/inventory?limit=10000&offset=${offset}`);
    if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error || `HTTP ${response.status}`);
    return response.json();
  };
  const first = await fetchPage(0);
  const offsets = [];
  for (let offset = 10_000; offset < first.total; offset += 10_000) offsets.push(offset);
  for (const page of [first, ...(await Promise.all(offsets.map(fetchPage)))]) {
    for (const item of page.items) rows.set(item.securityId, item);
  }
}

/// A number cell's text, empty for none.
const figure = (v) => (v == null ? "" : number.format(v));

/// A table row of texts; `numeric` the indices of number cells. The first cell may be a node (a link).
function tableRow(cells, numeric = []) {
  const tr = document.createElement("tr");
  cells.forEach((v, i) => {
    const td = document.createElement("td");
    if (v instanceof Node) td.append(v); else td.textContent = numeric.includes(i) ? figure(v) : (v ?? "");
    if (numeric.includes(i)) td.className = "num";
    tr.append(td);
  });
  return tr;
}

/// A link to a security's drill-down.
function securityLink(id) {
  const a = document.createElement("a");
  a.href = `#/security/${encodeURIComponent(id)}`;
  a.textContent = id;
  return a;
}

// MARK: Hard to borrow

/// The names that need the desk: hard-to-borrow securities that clients are short of beyond what can still be
/// located, over-lent names (negative for-loan) and overborrows, sorted by what is at stake in USD. Live from
/// the inventory stream; each row opens the security.
async function showConstrained() {
  view.innerHTML = `
    <div class="toolbar">
      <label>Market <select id="htb-market" aria-label="Market filter"><option value="">all</option></select></label>
      <label>Show <select id="htb-kind" aria-label="Which work"><option value="">all the work</option><option value="short">HTB shorts beyond locate availability</option>
        <option value="overlent">over-lent (negative for-loan)</option><option value="overborrow">overborrows</option></select></label>
      <button type="button" id="htb-export">Export CSV</button>
      <span class="count" id="htb-count" aria-live="polite"></span>
    </div>
    <p class="hint">At stake (USD, at the last price): the HTB short not covered by what can still be located, plus the
      over-lent shares, plus the overborrowed shares. Short sells approved today are the limits in use.</p>
    <div class="table-wrap"><table aria-label="Hard-to-borrow work, most at stake first"><thead><tr>
      <th>Security</th><th>Ticker</th><th>Name</th><th>Market</th><th>Temp</th><th class="num">At stake USD</th><th>Why</th>
      <th class="num">Short</th><th class="num">Locate avail.</th><th class="num">Located today</th><th class="num">Short sells approved</th>
      <th class="num">For loan</th><th class="num">Overborrow</th></tr></thead><tbody id="htb-rows"></tbody></table></div>`;
  const shown = state.shown;
  const rows = new Map();
  await loadListing(rows);
  if (!stillShown(shown)) return;
  const market = document.getElementById("htb-market"), kind = document.getElementById("htb-kind");
  for (const m of [...new Set([...rows.values()].map((r) => r.marketId))].sort()) market.add(new Option(m, m));
  const bucket = (r, name) => r.buckets?.[name] ?? null;
  const work = (r) => {
    const c = r.calculations ?? {}, short = r.shortQuantity ?? 0;
    const uncovered = r.temperature === "HTB" ? Math.max(0, short - (c.locateAvailable ?? 0)) : 0;
    const overlent = Math.max(0, -(c.forLoan ?? 0)), overborrow = Math.max(0, c.overborrow ?? 0);
    const why = [];
    if (uncovered > 0) why.push(`short ${number.format(uncovered)} beyond locate availability`);
    if (overlent > 0) why.push(`over-lent ${number.format(overlent)}`);
    if (overborrow > 0) why.push(`overborrow ${number.format(overborrow)}`);
    return { uncovered, overlent, overborrow, why, stake: usdOf(uncovered + overlent + overborrow, r) };
  };
  // "Located today": what the day's approved locates took from the pool (LOCATE_DECREMENT).
  const columns = [
    { title: "Security", value: (r) => r.securityId }, { title: "Ticker", value: (r) => r.ticker ?? "" }, { title: "Name", value: (r) => r.name ?? "" },
    { title: "Market", value: (r) => r.marketId }, { title: "Temp", value: (r) => r.temperature }, { title: "At stake USD", value: (r) => r.work.stake },
    { title: "Why", value: (r) => r.work.why.join("; ") }, { title: "Short", value: (r) => r.shortQuantity ?? 0 },
    { title: "Locate avail.", value: (r) => r.calculations?.locateAvailable ?? 0 }, { title: "Located today", value: (r) => bucket(r, "LOCATE_DECREMENT") },
    { title: "Short sells approved", value: (r) => bucket(r, "SELL_APPROVED.SHORT") }, { title: "For loan", value: (r) => r.calculations?.forLoan ?? 0 },
    { title: "Overborrow", value: (r) => r.calculations?.overborrow ?? 0 },
  ];
  const listed = () => {
    const m = market.value, k = kind.value;
    const out = [];
    for (const r of rows.values()) {
      if (m && r.marketId !== m) continue;
      const w = work(r);
      if (!(k === "short" ? w.uncovered : k === "overlent" ? w.overlent : k === "overborrow" ? w.overborrow : w.uncovered + w.overlent + w.overborrow)) continue;
      out.push({ ...r, work: w });
    }
    // Most at stake first (USD where priced, else shares), then by id.
    return out.sort((a, b) => ((b.work.stake ?? 0) - (a.work.stake ?? 0)) || (a.securityId < b.securityId ? -1 : 1));
  };
  // Redrawn at most four times a second, however fast the stream runs.
  const render = throttled(shown, 250, () => {
    const list = listed();
    const body = document.getElementById("htb-rows");
    body.replaceChildren(...list.slice(0, 500).map((r) => {
      const tr = tableRow([securityLink(r.securityId), ...columns.slice(1).map((c) => c.value(r))], [5, 7, 8, 9, 10, 11, 12]);
      tr.dataset.security = r.securityId;
      return tr;
    }));
    document.getElementById("htb-count").textContent = `${number.format(list.length)} names to work` + (list.length > 500 ? `; the first 500 shown` : "");
  });
  market.addEventListener("change", render);
  kind.addEventListener("change", render);
  document.getElementById("htb-export").addEventListener("click", () => downloadCSV(`ims-hard-to-borrow-${stamp()}.csv`, columns, listed()));
  window.imsInventoryComplete = false;
  stream("/ws/inventory", {}, (message) => {
    if (message.type === "snapshotComplete") { window.imsInventoryComplete = true; render(); return; }
    if (message.type !== "delta" && message.type !== "snapshot") return;
    const d = message.data, old = rows.get(d.securityId) || {};
    const next = { ...old, ...d, shortQuantity: shortOf(d.buckets) };
    delete next.usdValues;
    rows.set(d.securityId, next);
    render();
  });
  render();
}

// MARK: Limits

/// A client's or an aggregation unit's sell limits in each security, beside what they are made of and what
/// used them today: locates and pay-to-hold, short and long sells approved, positions (fills). The limits are
/// the API's; the parts are the scope's buckets from the inventory stream.
/// Each kind's columns after the security and market: a limit, or a part (a bucket, or a family `X.*`), in
/// the order a desk reads them: the short limit and what makes and uses it, then the long.
const LIMIT_COLUMNS = {
  clients: [["Short sell limit", "shortSellLimit"], ["Located short", "LOCATE_APPROVED.SHORT"], ["Pay to hold", "PAY_TO_HOLD"],
    ["Short sells approved", "SELL_APPROVED.SHORT"], ["Short used", "used"], ["Short position", "SHORT.*"],
    ["Long sell limit", "longSellLimit"], ["Long position", "LONG.*"], ["Located long", "LOCATE_APPROVED.LONG"], ["Long sells approved", "SELL_APPROVED.LONG"]],
  units: [["Short sell limit", "shortSellLimit"], ["Borrowed", "BORROWED"], ["Loaned", "LOANED"], ["Lender lines", "EXTERNAL.*"],
    ["Short sells approved", "SELL_APPROVED.SHORT"], ["Short used", "used"], ["Short position", "SHORT.*"],
    ["Long sell limit", "longSellLimit"], ["Long position", "LONG.*"], ["Long sells approved", "SELL_APPROVED.LONG"]],
};

async function showLimits(preset = {}) {
  const client = isClient();
  view.innerHTML = `
    <form class="order-form" id="limits-form" aria-label="Whose limits">
      <label>Whose <select name="kind" ${client ? "disabled" : ""}><option value="clients">client</option><option value="units">aggregation unit</option></select></label>
      <label>Id <input name="id" list="limit-ids" required ${client ? "readonly" : ""}></label><datalist id="limit-ids"></datalist>
      <label>Security <input name="securityId" placeholder="all"></label>
      <button type="submit">Show</button>
    </form>
    <div class="toolbar"><label><input type="checkbox" id="limits-used" checked> Only securities with a limit, a use or a position</label>
      <span class="hint" id="limits-hint"></span><span class="count" id="limits-count" aria-live="polite"></span></div>
    <div class="table-wrap"><table aria-label="Limits and their use"><thead><tr id="limits-head"></tr></thead><tbody id="limits-rows"></tbody></table></div>`;
  const form = document.getElementById("limits-form");
  const saved = JSON.parse(sessionStorage.getItem("ims.limits") || "{}");
  form.kind.value = preset.kind ?? saved.kind ?? "clients";
  form.id.value = client ? state.me.clientId ?? "" : preset.id ?? saved.id ?? "";
  form.securityId.value = preset.securityId ?? saved.securityId ?? "";
  const shown = state.shown;
  const fillIds = async () => {
    const list = document.getElementById("limit-ids");
    if (client) return;
    const path = form.kind.value === "units" ? "/api/v1/aggregation-units" : "/api/v1/counterparties?kind=CLIENT";
    const answer = await api(path).then((r) => (r.ok ? r.json() : [])).catch(() => []);
    const items = Array.isArray(answer) ? answer : answer.items ?? [];
    list.replaceChildren(...items.map((x) => new Option(x.aggregationUnitId ?? x.counterpartyId)));
  };
  form.kind.addEventListener("change", fillIds);
  await fillIds();
  const load = async () => {
    closeStreams();
    const kind = form.kind.value, id = form.id.value.trim(), securityId = form.securityId.value.trim();
    sessionStorage.setItem("ims.limits", JSON.stringify({ kind, id, securityId }));
    const columns = LIMIT_COLUMNS[kind];
    const head = document.getElementById("limits-head");
    if (!head) return;
    head.replaceChildren(...["Security", "Market", ...columns.map((c) => c[0])].map((t, i) => {
      const th = document.createElement("th");
      th.textContent = t;
      if (i >= 2) th.className = "num";
      return th;
    }));
    if (!id) return;
    const shownNow = state.shown;
    const limitsPath = `/api/v1/limits/${kind}/${encodeURIComponent(id)}` + (securityId ? `?securityId=${encodeURIComponent(securityId)}` : "");
    const buckets = new Map();
    let limits = [];
    const fetchLimits = async () => {
      const response = await api(limitsPath);
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) { say(`${answer.field ? answer.field + ": " : ""}${answer.error || response.status}`, "error"); return false; }
      limits = answer;
      return true;
    };
    if (!(await fetchLimits()) || !stillShown(shownNow)) return;
    const sum = (b, name) => (name.endsWith(".*") ? Object.entries(b ?? {}).reduce((t, [k, v]) => t + (k.startsWith(name.slice(0, -1)) ? v : 0), 0) : b?.[name] ?? 0);
    // Drawn at most four times a second, however many stream messages come (a snapshot is one per security).
    const render = throttled(shownNow, 250, () => draw());
    const draw = () => {
      const body = document.getElementById("limits-rows");
      const onlyUsed = document.getElementById("limits-used").checked;
      const rows = [];
      for (const l of limits) {
        const b = buckets.get(l.securityId);
        // Short used: the short sells approved against what allowed them (locates and pay-to-hold for a
        // client; borrowed less loaned plus lender lines for a unit).
        const base = b ? (kind === "clients" ? sum(b, "LOCATE_APPROVED.SHORT") + sum(b, "PAY_TO_HOLD") : sum(b, "BORROWED") - sum(b, "LOANED") + sum(b, "EXTERNAL.*")) : 0;
        const values = columns.map(([, name]) => name === "used" ? (b && base > 0 ? `${Math.round((100 * sum(b, "SELL_APPROVED.SHORT")) / base)}%` : "")
          : name.endsWith("Limit") ? l[name] : (b ? sum(b, name) : null));
        if (onlyUsed && values.every((v) => !v || v === "0%")) continue;
        const tr = tableRow([securityLink(l.securityId), l.marketId, ...values], columns.map((c, i) => (c[1] === "used" ? -1 : 2 + i)));
        tr.dataset.security = l.securityId;
        rows.push(tr);
      }
      body.replaceChildren(...rows);
      document.getElementById("limits-count").textContent = `${number.format(rows.length)} of ${number.format(limits.length)} securities`;
    };
    document.getElementById("limits-hint").textContent = kind === "clients"
      ? `Client ${id}: a short sale needs its located shares (or pay-to-hold) not yet used by approved short sells; a long sale its long position and long locates.`
      : `Unit ${id}: shorts up to what it borrowed and did not lend plus the lenders' lines; longs up to its net long.`;
    render();
    // Live: each change of the scope's share moves its parts at once, and its limits within a second.
    let refetch = null;
    const filter = kind === "clients" ? { clientId: id } : { aggregationUnitId: id };
    if (securityId) filter.securityId = securityId;
    stream("/ws/inventory", filter, (message) => {
      if (message.type !== "delta" && message.type !== "snapshot") return;
      buckets.set(message.data.securityId, message.data.buckets);
      render();
      if (message.type === "delta" && !refetch) {
        refetch = setTimeout(async () => { refetch = null; if (stillShown(shownNow) && (await fetchLimits())) render(); }, 1000);
      }
    });
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  document.getElementById("limits-used").addEventListener("change", () => form.requestSubmit());
  if (form.id.value) await load();
  if (!stillShown(shown)) return;
}

// MARK: A client's positions and limits

/// A client's own book: each of its positions (`GET /api/v1/positions`, narrowed by the server to its client)
/// beside what it may still sell in that security (`GET /api/v1/limits/clients/{clientId}`), and the
/// securities it has limits in without a position (its approved locates). Live: the position stream (the
/// server narrows it to the client too) moves the positions at once, and the limits are read again within
/// a second of a change.
async function showMyPositions() {
  const clientId = state.me?.clientId ?? "";
  view.innerHTML = `
    <div class="toolbar"><span class="count" id="position-count"></span></div>
    <div class="table-wrap"><table aria-label="My positions and limits">
      <thead><tr><th>Book</th><th>Security</th><th>Market</th><th class="num">Settled</th><th class="num">Contractual</th><th class="num">Projected net</th><th class="num">May sell long</th><th class="num">May sell short</th></tr></thead>
      <tbody id="position-rows"></tbody></table></div>`;
  const shown = state.shown;
  const fetchLimits = () => api(`/api/v1/limits/clients/${encodeURIComponent(clientId)}`).then((r) => (r.ok ? r.json() : [])).catch(() => []);
  const [positions, limits] = await Promise.all([
    api("/api/v1/positions?limit=10000").then((r) => (r.ok ? r.json() : Promise.reject(new Error(`positions: HTTP ${r.status}`)))),
    fetchLimits(),
  ]);
  if (!stillShown(shown)) return;
  const held = new Map((positions.items ?? []).map((p) => [`${p.bookId}|${p.securityId}`, p]));
  let bySecurity = new Map((Array.isArray(limits) ? limits : []).map((l) => [l.securityId, l]));
  const draw = () => {
    const rows = [...held.values()].map((p) => [p.bookId, p.securityId, p.marketId, p.settledQty, p.contractualQty, p.projectedNetPosition, bySecurity.get(p.securityId)]);
    const securities = new Set(rows.map((r) => r[1]));
    for (const [securityId, l] of bySecurity) if (!securities.has(securityId)) rows.push(["", securityId, l.marketId, null, null, null, l]);
    rows.sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : a[0] < b[0] ? -1 : 1));
    document.getElementById("position-rows").replaceChildren(...rows.map(([book, security, market, settled, contractual, projected, limit]) => {
      const tr = tableRow([book, security, market ?? "", settled, contractual, projected, limit?.longSellLimit, limit?.shortSellLimit], [3, 4, 5, 6, 7]);
      tr.dataset.security = security;
      return tr;
    }));
    document.getElementById("position-count").textContent = `${number.format(held.size)} positions, limits in ${number.format(bySecurity.size)} securities (client ${clientId})`;
  };
  draw();
  const redraw = throttled(shown, 250, draw);  // at most four times a second
  let refetch = null;
  stream("/ws/position", {}, (message) => {
    if ((message.type !== "delta" && message.type !== "snapshot") || !message.data?.bookId) return;
    held.set(`${message.data.bookId}|${message.data.securityId}`, message.data);
    if (!refetch && message.type === "delta") {
      refetch = setTimeout(async () => {
        const next = await fetchLimits();
        refetch = null;
        if (!stillShown(shown)) return;
        bySecurity = new Map((Array.isArray(next) ? next : []).map((l) => [l.securityId, l]));
        draw();
      }, 1000);
    }
    redraw();
  });
}

// MARK: Locate queue

const STATUS_ORDER = { PENDING: 0, PARTIAL: 1, APPROVED: 2, REJECTED: 3, CANCELLED: 4, EXPIRED: 5 };

/// How many locates the queue draws at once (the filters narrow what is beyond).
const SHOWN_LOCATES = 2_000;

/// A duration as a desk reads it: 45s, 12m, 3h 05m, 2d 4h.
function span(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

/// Fills a locate row's age and time-to-expiry cells from their timestamps, now.
function timeCells(tr) {
  const age = tr.querySelector("td.age"), expires = tr.querySelector("td.expires");
  if (age?.dataset.at) age.textContent = span(Date.now() - Date.parse(age.dataset.at));
  if (expires?.dataset.at) {
    const left = Date.parse(expires.dataset.at) - Date.now();
    // Past due by this clock (the market's day has not rolled yet): the time itself, not a countdown.
    expires.textContent = left > 0 ? span(left) : `due ${expires.dataset.at.slice(5, 16).replace("T", " ")}`;
  }
}

/// A client's bulk file: each line (NDJSON, or CSV with a header row) requested on its own with
/// `POST /api/v1/locates` (the bulk route is the desk's), answered in the bulk route's shape.
async function requestEach(text, csv) {
  const lines = text.split(/\r?\n/).map((line, i) => [i + 1, line.trim()]).filter(([, line]) => line);
  let header = null;
  const results = [];
  for (const [line, raw] of lines) {
    let body;
    if (csv) {
      const fields = raw.split(",").map((v) => v.trim());
      if (!header) { header = fields; continue; }
      body = Object.fromEntries(header.map((name, i) => [name, name === "quantity" && fields[i] !== "" ? Number(fields[i]) : fields[i]]).filter(([, v]) => v !== "" && v !== undefined));
      body = JSON.stringify(body);
    } else {
      body = raw;
    }
    const response = await api("/api/v1/locates", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    const answer = await response.json().catch(() => ({}));
    results.push(response.ok ? { line, locate: answer } : { line, field: answer.field ?? "", error: answer.error ?? `HTTP ${response.status}` });
  }
  return { accepted: results.filter((r) => r.locate).length, rejected: results.filter((r) => !r.locate).length, results };
}

async function showLocates() {
  // What this key may do here: request and cancel (client, operator), decide and bulk-request (operator).
  const decides = can("operator"), requests = can("client") || can("operator"), client = isClient(), staff = STAFF.some(can);
  const ownClient = client ? state.me.clientId ?? "" : "";
  view.innerHTML = `
    ${requests ? `<form class="order-form" id="locate-form" aria-label="Request a locate">
      <label>Client <input name="clientId" required value="${client ? "" : "CL1"}" ${client ? "readonly" : ""}></label>
      <label>Security <input name="securityId" required></label>
      <label>Side <select name="side"><option>SHORT</option><option>LONG</option></select></label>
      <label>Quantity <input name="quantity" type="number" min="1" required value="1000"></label>
      <button type="submit">Request</button>
    </form>` : ""}
    <div class="toolbar">
      <label>Status <select id="locate-status"><option value="">all</option><option>PENDING</option><option>APPROVED</option><option>PARTIAL</option><option>REJECTED</option><option>CANCELLED</option><option>EXPIRED</option></select></label>
      ${client ? "" : `<label>Client <input id="locate-client" size="8" aria-label="Client filter"></label>`}
      <label>Security <input id="locate-security" size="12" aria-label="Security filter"></label>
      <label>Market <select id="locate-market" aria-label="Market filter"><option value="">all</option></select></label>
      ${requests ? `<label>Bulk file (NDJSON or CSV) <input id="bulk" type="file" accept=".ndjson,.json,.csv,.txt"></label>` : ""}
      <span class="count" id="locate-count"></span>
    </div>
    ${decides ? `<div class="toolbar" aria-label="Decide many">
      <label><input type="checkbox" id="select-all"> Select every pending locate shown</label>
      <button type="button" id="approve-selected">Approve selected in full</button>
      <button type="button" id="reject-selected">Reject selected</button>
    </div>` : ""}
    <p class="status error" id="expiry-warning" role="alert" hidden></p>
    <div id="bulk-results"></div>
    <div id="locate-history"></div>
    <div class="table-wrap"><table class="locates" aria-label="${client ? "My locates" : "Locates, pending first"}">
      <thead><tr><th>Locate</th><th>Client</th><th>Security</th><th>Side</th><th class="num">Asked</th><th class="num">Approved</th><th>Status</th>${staff ? `<th class="num" title="The security's locate available now">Avail. now</th>` : ""}<th>${decides ? "Decide" : "Action"}</th><th>Reason</th><th>Market</th><th class="num">Rate (bps)</th><th>Age</th><th>Expires in</th></tr></thead>
      <tbody id="locate-rows"></tbody>
    </table></div>`;
  if (client) document.querySelector("#locate-form [name=clientId]").value = ownClient;
  const locates = new Map();
  const rowsById = new Map();
  const body = document.getElementById("locate-rows");
  const viewShown = state.shown;
  const render = throttled(viewShown, 0, () => {
    const only = document.getElementById("locate-status").value;
    const clientText = (document.getElementById("locate-client")?.value ?? "").trim().toUpperCase();
    const securityText = document.getElementById("locate-security").value.trim().toUpperCase();
    const market = document.getElementById("locate-market").value;
    const matching = [...locates.values()].filter((l) => (!only || l.status === only)
        && (!clientText || l.clientId.toUpperCase().includes(clientText))
        && (!securityText || l.securityId.toUpperCase().includes(securityText))
        && (!market || l.marketId === market))
      .sort((a, b) => (STATUS_ORDER[a.status] - STATUS_ORDER[b.status]) || (b.requestedAt > a.requestedAt ? 1 : -1));
    const list = matching.slice(0, SHOWN_LOCATES);
    // Rows are kept per locate and rebuilt only when the locate changed, and moved only where the order
    // changed: a row being decided keeps its inputs, and focus, while the queue updates around it.
    const wanted = list.map((l) => {
      const version = `${l.status}/${l.approvedQuantity}/${l.reason ?? ""}`;
      let tr = rowsById.get(l.locateId);
      if (!tr || tr.dataset.version !== version) {
        const fresh = locateRow(l);
        fresh.dataset.version = version;
        if (tr) tr.replaceWith(fresh);
        tr = fresh;
        rowsById.set(l.locateId, tr);
      }
      return tr;
    });
    const keep = new Set(wanted);
    for (const tr of [...body.children]) if (!keep.has(tr)) tr.remove();
    wanted.forEach((tr, i) => { if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] ?? null); });
    document.getElementById("locate-count").textContent =
      `${[...locates.values()].filter((l) => l.status === "PENDING").length} pending of ${locates.size}` +
      (matching.length > list.length ? `; the first ${number.format(list.length)} of ${number.format(matching.length)} shown (narrow the filters)` : `; ${number.format(list.length)} shown`);
    const markets = document.getElementById("locate-market");
    for (const m of new Set([...locates.values()].map((l) => l.marketId).filter(Boolean))) {
      if (![...markets.options].some((o) => o.value === m)) markets.add(new Option(m, m));
    }
    warnExpiry();
  });
  const locateRow = (l) => {
    const tr = document.createElement("tr");
    tr.dataset.locate = l.locateId;
    const cellsText = [l.locateId, l.clientId, l.securityId, l.side, number.format(l.quantity), number.format(l.approvedQuantity), l.status, l.reason ?? "",
      l.marketId ?? "", l.rateBps != null ? price.format(l.rateBps) : "", "", ""];
    if (staff) cellsText.push(availability.has(l.securityId) ? number.format(availability.get(l.securityId)) : "");
    tr.dataset.security = l.securityId;
    cellsText.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 4 || i === 5 || i === 9) td.className = "num";
      if (i === 12) td.className = "num avail";
      if (i === 7) { td.className = "reason"; td.title = text; }
      if (i === 6) td.className = "status-" + l.status.toLowerCase();
      if (i === 10) { td.className = "age"; td.dataset.at = l.requestedAt; }
      if (i === 11) { td.className = "expires"; if (l.expiresAt && ["PENDING", "APPROVED", "PARTIAL"].includes(l.status)) td.dataset.at = l.expiresAt; }
      tr.append(td);
    });
    // The locate's id opens its history (every step: when, what, who, why).
    const opener = document.createElement("button");
    opener.type = "button";
    opener.className = "link";
    opener.textContent = l.locateId;
    opener.setAttribute("aria-label", `History of ${l.locateId}`);
    opener.addEventListener("click", () => showLocateHistory(l.locateId));
    tr.children[0].replaceChildren(opener);
    timeCells(tr);
    const decide = document.createElement("td");
    const live = ["PENDING", "APPROVED", "PARTIAL"].includes(l.status);
    if (requests && !decides && live) {
      // A client's (or a requester's) own locate: cancelled on request, its quantity given back.
      decide.innerHTML = `<button type="button" data-action="CANCEL">Cancel</button>`;
      decide.firstChild.setAttribute("aria-label", `Cancel ${l.locateId}`);
      decide.addEventListener("click", async (e) => {
        if (e.target.dataset?.action !== "CANCEL") return;
        const response = await api(`/api/v1/locates/${encodeURIComponent(l.locateId)}/cancel`,
          { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ reason: "cancelled from the dashboard" }) });
        const answer = await response.json().catch(() => ({}));
        if (!response.ok) { say(`${l.locateId}: ${answer.error || response.status}`, "error"); return; }
        locates.set(answer.locateId, answer);
        say(`${l.locateId}: ${answer.status}`, "live");
        render();
      });
    }
    if (decides && l.status === "PENDING") {
      decide.className = "decide";
      decide.innerHTML = `<input type="checkbox" class="pick" aria-label="Select ${l.locateId}">
        <input type="number" min="1" max="${l.quantity}" value="${l.quantity}" aria-label="Quantity to approve for ${l.locateId}" class="qty">
        <button type="button" data-action="APPROVE" aria-label="Approve ${l.locateId}">Approve</button>
        <input type="text" placeholder="reason" aria-label="Reason for ${l.locateId}" class="why">
        <button type="button" data-action="REJECT" aria-label="Reject ${l.locateId}">Reject</button>`;
      decide.addEventListener("click", async (e) => {
        const action = e.target.dataset?.action;
        if (!action) return;
        const quantity = Number(decide.querySelector(".qty").value);
        const reason = decide.querySelector(".why").value || undefined;
        const payload = action === "APPROVE" ? { action, quantity, reason } : { action, reason: reason || "REJECTED_BY_DESK" };
        const response = await api(`/api/v1/locates/${encodeURIComponent(l.locateId)}/decision`,
          { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
        const answer = await response.json().catch(() => ({}));
        if (!response.ok) { say(`${l.locateId}: ${answer.error || response.status}`, "error"); return; }
        locates.set(answer.locateId, answer);
        say(`${l.locateId}: ${answer.status} ${number.format(answer.approvedQuantity)}`, "live");
        render();
        // The focus stays in the queue: on the next pending locate's Approve.
        requestAnimationFrame(() => requestAnimationFrame(() => body.querySelector("button[data-action='APPROVE']")?.focus()));
      });
    }
    // The decision beside the status (and the availability it is decided on), so that it is in view at
    // 1,280 px; the reason, market, rate and times follow.
    const status = tr.children[6];
    const avail = tr.querySelector("td.avail");
    if (avail) status.after(avail);
    (avail ?? status).after(decide);
    return tr;
  };
  for (const id of ["locate-status", "locate-market"]) document.getElementById(id).addEventListener("change", render);
  for (const id of ["locate-client", "locate-security"]) document.getElementById(id)?.addEventListener("input", render);
  // Age and time to expiry move with the clock, not only with the locate.
  const clock = setInterval(() => {
    if (!stillShown(shownHere)) { clearInterval(clock); return; }
    for (const tr of rowsById.values()) timeCells(tr);
    warnExpiry();
  }, 15_000);
  // Before the day roll: pending locates that expire within 15 minutes (their market's roll), or are past
  // their time by this clock and go at the next roll, are named above the queue.
  const warnExpiry = () => {
    const box = document.getElementById("expiry-warning");
    if (!box) return;
    const now = Date.now(), soon = [], due = [];
    for (const l of locates.values()) {
      if (l.status !== "PENDING" || !l.expiresAt) continue;
      const left = Date.parse(l.expiresAt) - now;
      if (left <= 0) due.push(l); else if (left <= 15 * 60_000) soon.push(l);
    }
    const first = soon.map((l) => l.expiresAt).sort()[0];
    const parts = [];
    if (soon.length) parts.push(`${soon.length} pending locate${soon.length === 1 ? "" : "s"} expire within 15 minutes (the first at ${first.slice(11, 16)} UTC, ${[...new Set(soon.map((l) => l.marketId))].sort().join(", ")})`);
    if (due.length) parts.push(`${due.length} pending locate${due.length === 1 ? " is" : "s are"} past ${due.length === 1 ? "its" : "their"} expiry time and go${due.length === 1 ? "es" : ""} at the next day roll of ${[...new Set(due.map((l) => l.marketId))].sort().join(", ")}`);
    box.hidden = !parts.length;
    box.textContent = parts.length ? `Decide before the day roll: ${parts.join("; ")}.` : "";
  };
  // The desk's view of each security's locate available now, beside the locates asking for it (staff only:
  // the firm's inventory), from the inventory stream; the cells are written at most twice a second.
  const availability = new Map();
  const changedSecurities = new Set();
  let availabilityPending = false;
  if (staff) {
    stream("/ws/inventory", {}, (message) => {
      if (message.type !== "delta" && message.type !== "snapshot") return;
      const d = message.data;
      const value = d.calculations?.locateAvailable;
      if (value == null || availability.get(d.securityId) === value) return;
      availability.set(d.securityId, value);
      changedSecurities.add(d.securityId);
      if (availabilityPending) return;
      availabilityPending = true;
      setTimeout(() => {
        availabilityPending = false;
        if (!stillShown(shownHere)) return;
        for (const tr of rowsById.values()) {
          if (!changedSecurities.has(tr.dataset.security)) continue;
          const cell = tr.querySelector("td.avail");
          const text = number.format(availability.get(tr.dataset.security));
          if (cell && cell.textContent !== text) cell.textContent = text;
        }
        changedSecurities.clear();
      }, 500);
    });
  }
  const shownHere = state.shown;
  const showLocateHistory = (id) => {
    const l = locates.get(id);
    const box = document.getElementById("locate-history");
    if (!l) return;
    box.innerHTML = `<h2></h2><div class="table-wrap short"><table aria-label="History"><thead><tr><th>When</th><th>Status</th><th class="num">Approved</th><th>By</th><th>Why</th></tr></thead><tbody></tbody></table></div>`;
    box.querySelector("h2").textContent = `${l.locateId}: ${l.clientId} ${l.side} ${number.format(l.quantity)} ${l.securityId}`;
    const tbody = box.querySelector("tbody");
    for (const step of l.history ?? []) {
      const tr = document.createElement("tr");
      for (const text of [step.at, step.status, step.approvedQuantity != null ? number.format(step.approvedQuantity) : "", step.by ?? "", step.reason ?? ""]) {
        const td = document.createElement("td");
        td.textContent = text ?? "";
        tr.append(td);
      }
      tbody.append(tr);
    }
  };
  // Many at once: each decision is its own journaled, audited command, sent one after another.
  const decideSelected = async (action) => {
    const ids = [...body.querySelectorAll("input.pick:checked")].map((box) => box.closest("tr").dataset.locate);
    if (!ids.length) { say("Select pending locates first.", "error"); return; }
    let done = 0, refused = 0;
    for (const id of ids) {
      const l = locates.get(id);
      const payload = action === "APPROVE" ? { action, quantity: l.quantity } : { action, reason: "REJECTED_BY_DESK" };
      const response = await api(`/api/v1/locates/${encodeURIComponent(id)}/decision`,
        { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) { locates.set(answer.locateId, answer); done++; } else { refused++; }
    }
    document.getElementById("select-all").checked = false;
    say(`${done} ${action === "APPROVE" ? "approved" : "rejected"}` + (refused ? `, ${refused} refused (decided meanwhile, or no longer available)` : ""), refused ? "error" : "live", true);
    render();
  };
  document.getElementById("approve-selected")?.addEventListener("click", () => decideSelected("APPROVE"));
  document.getElementById("reject-selected")?.addEventListener("click", () => decideSelected("REJECT"));
  document.getElementById("select-all")?.addEventListener("change", (e) => { for (const box of body.querySelectorAll("input.pick")) box.checked = e.target.checked; });
  document.getElementById("locate-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const body = { requestId: `UI-${Date.now()}-${Math.floor(Math.random() * 1e6)}`, clientId: f.get("clientId"), securityId: f.get("securityId"),
      side: f.get("side"), quantity: Number(f.get("quantity")) };
    const response = await api("/api/v1/locates", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) { say(`${answer.field ? answer.field + ": " : ""}${answer.error || response.status}`, "error"); return; }
    locates.set(answer.locateId, answer);
    say(`${answer.locateId}: ${answer.status} ${number.format(answer.approvedQuantity)} of ${number.format(answer.quantity)}`, "live");
    render();
  });
  document.getElementById("bulk")?.addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const text = await file.text();
    const out = document.getElementById("bulk-results");
    let answer;
    if (decides) {
      const response = await api("/api/v1/locates/bulk", { method: "POST", headers: { "Content-Type": file.name.endsWith(".csv") ? "text/csv" : "application/x-ndjson" }, body: text });
      answer = await response.json().catch(() => ({}));
      if (!response.ok) { out.textContent = answer.error || `HTTP ${response.status}`; return; }
    } else {
      answer = await requestEach(text, file.name.endsWith(".csv"));
    }
    out.innerHTML = `<p>${answer.accepted} accepted, ${answer.rejected} refused</p><table class="bulk"><thead><tr><th>Line</th><th>Result</th></tr></thead><tbody></tbody></table>`;
    const tbody = out.querySelector("tbody");
    for (const r of answer.results) {
      const tr = document.createElement("tr");
      const result = r.locate ? `${r.locate.locateId} ${r.locate.status} ${number.format(r.locate.approvedQuantity)}` : `${r.field}: ${r.error}`;
      tr.innerHTML = `<td class="num"></td><td></td>`;
      tr.children[0].textContent = r.line;
      tr.children[1].textContent = result;
      if (!r.locate) tr.className = "refused";
      tbody.append(tr);
      if (r.locate) locates.set(r.locate.locateId, r.locate);
    }
    render();
  });
  const shown = state.shown;
  const response = await api("/api/v1/locates?limit=10000");
  if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error || `HTTP ${response.status}`);
  const items = (await response.json()).items;
  if (!stillShown(shown)) return;
  for (const l of items) locates.set(l.locateId, l);
  render();
  stream("/ws/locate", {}, (message) => {
    if ((message.type === "snapshot" || message.type === "delta") && message.data) {
      locates.set(message.data.locateId, message.data);
      render();
    }
  });
}

// MARK: Rules

/// The rule lifecycle (SPEC 4.3): versions and their people, a draft edited as a form over the document's
/// parameters, packs, formulas, conditions and locate policy (the JSON beside it, kept in step), the changes
/// of any version against the rules in force beside its what-if, approval by another person, activation,
/// and the history of every step.
async function showRules() {
  view.innerHTML = `
    <div class="rules">
      <section>
        <h2>Versions</h2>
        <div class="table-wrap short"><table aria-label="Rule set versions">
          <thead><tr><th>Version</th><th>Status</th><th>Steps</th><th>Name</th><th>Author</th><th>Approved by</th><th>Activated by</th></tr></thead>
          <tbody id="rule-versions"></tbody></table></div>
        <div id="rule-review"></div>
        <div id="rule-preview"></div>
        <h2>History</h2>
        <div class="table-wrap short"><table aria-label="Rule history"><thead><tr><th>When</th><th>Who</th><th>Step</th><th>Version</th><th>Comment</th></tr></thead>
          <tbody id="rule-history"></tbody></table></div>
      </section>
      <section>
        <h2>Draft</h2>
        <div class="toolbar">
          <label>From version <select id="rule-base" aria-label="The version the draft starts from"></select></label>
          <label>Import a file <input id="rule-import" type="file" accept=".json,application/json"></label>
        </div>
        <div class="toolbar">
          <label>Comment <input id="rule-comment" type="text" value="" size="30"></label>
          <button type="button" id="rule-draft">Save as a new draft</button>
        </div>
        <div id="rule-form" class="rule-form"></div>
        <details id="rule-json"><summary>The document as JSON</summary>
          <label for="rule-document" class="hint">Edits here update the form above (when the text is valid JSON).</label>
          <textarea id="rule-document" spellcheck="false" rows="18"></textarea></details>
      </section>
    </div>`;
  const shown = state.shown;
  const listing = await (await api("/api/v1/rules")).json();
  const history = await (await api("/api/v1/rules/audit")).json();
  if (!stillShown(shown)) return;
  const documents = new Map();  // version → its document, fetched once
  const documentOf = async (version) => {
    if (!documents.has(version)) documents.set(version, (await (await api(`/api/v1/rules/${version}`)).json()).document);
    return documents.get(version);
  };
  const versions = document.getElementById("rule-versions");
  for (const v of [...listing.versions].reverse()) {
    const tr = document.createElement("tr");
    tr.dataset.version = v.version;
    const steps = document.createElement("td");
    const next = { DRAFT: ["preview", "reject"], PREVIEWED: ["approve", "reject", "preview"], APPROVED: ["activate", "reject"] }[v.status] || [];
    for (const step of next) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.step = step;
      button.textContent = step[0].toUpperCase() + step.slice(1);
      button.setAttribute("aria-label", `${button.textContent} version ${v.version}`);
      button.addEventListener("click", () => ruleStep(v.version, step));
      steps.append(button, " ");
    }
    if (v.version !== listing.activeVersion) {
      // The changes against the rules in force, with the what-if: what an approver reads before approving.
      const review = document.createElement("button");
      review.type = "button";
      review.dataset.step = "review";
      review.textContent = "Changes";
      review.setAttribute("aria-label", `Changes of version ${v.version} against the rules in force`);
      review.addEventListener("click", () => reviewVersion(v.version));
      steps.append(review);
    }
    const cells = [v.version + (v.version === listing.activeVersion ? " (in force)" : ""), v.status, steps, v.name, v.author, v.approvedBy ?? "", v.activatedBy ?? ""];
    for (const c of cells) {
      const td = c instanceof Node ? c : document.createElement("td");
      if (!(c instanceof Node)) td.textContent = c;
      tr.append(td);
    }
    versions.append(tr);
  }
  const historyRows = document.getElementById("rule-history");
  for (const h of [...history].reverse()) historyRows.append(tableRow([h.at, h.user, h.action, h.version, h.comment ?? ""]));

  // The changes of a version against the rules in force, with its what-if.
  const reviewVersion = async (version, preview = null) => {
    const [proposed, active] = await Promise.all([documentOf(version), documentOf(listing.activeVersion)]);
    if (!stillShown(shown)) return;
    showDiff(document.getElementById("rule-review"), version, listing.activeVersion, active, proposed);
    if (preview) { showPreview(preview); return; }
    const response = await api(`/api/v1/rules/${version}/preview`);
    if (response.ok && stillShown(shown)) showPreview(await response.json());
  };
  window.imsReviewVersion = reviewVersion;

  // The draft: the document is the truth; the form and the JSON are two views of it.
  let draft = null;
  const area = document.getElementById("rule-document");
  const writeJSON = () => { area.value = JSON.stringify(draft, null, 2); };
  const form = document.getElementById("rule-form");
  const redraw = () => ruleForm(form, draft, writeJSON);
  area.addEventListener("input", () => {
    try { draft = JSON.parse(area.value); redraw(); } catch { /* half-typed: the form waits for valid JSON */ }
  });
  const base = document.getElementById("rule-base");
  for (const v of [...listing.versions].reverse()) base.add(new Option(`${v.version} ${v.status}`, v.version, false, v.version === listing.activeVersion));
  const load = async () => {
    draft = structuredClone(await documentOf(Number(base.value)));
    writeJSON();
    redraw();
  };
  base.addEventListener("change", load);
  await load();
  const sameAsActive = async (candidate) => canonical(candidate) === canonical(await documentOf(listing.activeVersion));
  document.getElementById("rule-import").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    let imported;
    try { imported = JSON.parse(await file.text()); } catch (error) { say(`${file.name} is not JSON: ${error.message}`, "error"); return; }
    draft = imported;
    writeJSON();
    redraw();
    say(await sameAsActive(imported) ? `${file.name} is the rules in force (version ${listing.activeVersion}): a draft of it would change nothing.`
      : `${file.name} imported into the draft; review it, then save it as a new draft.`, "live");
  });
  document.getElementById("rule-draft").addEventListener("click", async () => {
    let document_;
    try { document_ = JSON.parse(area.value); } catch (e) { say(`The document is not JSON: ${e.message}`, "error"); return; }
    if (await sameAsActive(document_)) {
      say(`This document is the rules in force (version ${listing.activeVersion}): nothing to draft.`, "error");
      return;
    }
    const response = await api("/api/v1/rules/drafts", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ comment: document.getElementById("rule-comment").value, document: document_ }) });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) { say(`Draft refused: ${answer.field ? answer.field + ": " : ""}${answer.error}`, "error"); return; }
    say(`Draft ${answer.version} saved; preview it next.`, "live");
    await showRules();
  });
}

/// A JSON value with its keys sorted, as text: two documents are equal when these are.
function canonical(value) {
  const sort = (v) => (Array.isArray(v) ? v.map(sort) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v);
  return JSON.stringify(sort(value));
}

/// Where two documents differ, by path: rules and decrements by their id, packs by their name, other lists
/// by position. Each difference has the path, the value in force and the proposed one (absent: undefined).
function documentDiff(before, after, path = "") {
  const out = [];
  const keyOf = (item) => (item && typeof item === "object" ? item.id ?? item.pack : undefined);
  if (Array.isArray(before) && Array.isArray(after) && [...before, ...after].every((x) => keyOf(x) !== undefined)) {
    const a = new Map(before.map((x) => [keyOf(x), x])), b = new Map(after.map((x) => [keyOf(x), x]));
    for (const k of new Set([...a.keys(), ...b.keys()])) out.push(...documentDiff(a.get(k), b.get(k), `${path}[${k}]`));
    return out;
  }
  const objects = before && after && typeof before === "object" && typeof after === "object" && Array.isArray(before) === Array.isArray(after);
  if (objects) {
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) out.push(...documentDiff(before[k], after[k], Array.isArray(before) ? `${path}[${k}]` : `${path}${path ? "." : ""}${k}`));
    return out;
  }
  if (canonical(before) !== canonical(after)) out.push({ path, before, after });
  return out;
}

function showDiff(box, version, activeVersion, active, proposed) {
  const differences = documentDiff(active, proposed);
  const text = (v) => (v === undefined ? "—" : typeof v === "string" ? v : JSON.stringify(v));
  box.innerHTML = `<h2></h2><div class="table-wrap short"><table aria-label="Changes against the rules in force" id="rule-diff"><thead><tr><th>Where</th><th>In force</th><th>Proposed</th></tr></thead><tbody></tbody></table></div>`;
  box.querySelector("h2").textContent = differences.length
    ? `Version ${version} against version ${activeVersion} in force: ${differences.length} change${differences.length === 1 ? "" : "s"}`
    : `Version ${version} is the same as version ${activeVersion} in force`;
  box.querySelector("tbody").append(...differences.map((d) => tableRow([d.path, text(d.before), text(d.after)])));
}

/// The draft as a form: parameters, each pack's markets and rules (formula, conditions), and the locate
/// policy's rules (conditions, outcome, reason) and decrements (conditions, factor). Each field writes into
/// the document (`doc`, edited in place, so fields the form does not show are kept) and calls `changed`.
function ruleForm(box, doc, changed) {
  box.replaceChildren();
  const section = (title) => {
    const set = document.createElement("fieldset");
    const legend = document.createElement("legend");
    legend.textContent = title;
    set.append(legend);
    box.append(set);
    return set;
  };
  // A labelled input for one value; `kind` is how it is read back: text, number, list (comma-separated), bool.
  const input = (parent, label, value, kind, write, { wide = false, options = null } = {}) => {
    const wrap = document.createElement("label");
    wrap.className = wide ? "field wide" : "field";
    const name = document.createElement("span");
    name.textContent = label;
    let control;
    if (options || kind === "bool") {
      control = document.createElement("select");
      for (const o of options ?? ["true", "false"]) control.add(new Option(o, o));
      control.value = String(value);
    } else {
      control = document.createElement("input");
      control.type = kind === "number" ? "number" : "text";
      control.value = kind === "list" ? (value ?? []).join(", ") : value ?? "";
    }
    control.setAttribute("aria-label", label);
    control.addEventListener("change", () => {
      const v = control.value.trim();
      write(kind === "number" ? Number(v) : kind === "bool" ? v === "true" : kind === "list" ? v.split(",").map((x) => x.trim()).filter(Boolean) : v);
      changed();
    });
    wrap.append(name, control);
    parent.append(wrap);
    return control;
  };
  const conditions = (parent, owner, what) => {
    for (const [key, value] of Object.entries(owner.when ?? {})) {
      const kind = Array.isArray(value) ? "list" : typeof value === "boolean" ? "bool" : typeof value === "number" ? "number" : "text";
      input(parent, `${what} when ${key}`, value, kind, (v) => { owner.when[key] = v; });
    }
  };
  const row = (parent) => { const div = document.createElement("div"); div.className = "form-row"; parent.append(div); return div; };

  const parameters = section("Parameters");
  for (const [name, value] of Object.entries(doc.parameters ?? {})) {
    input(row(parameters), name, value, typeof value === "number" ? "number" : "text", (v) => { doc.parameters[name] = v; });
  }
  for (const pack of doc.packs ?? []) {
    const set = section(`Pack ${pack.pack}`);
    if (pack.description) { const p = document.createElement("p"); p.className = "hint"; p.textContent = pack.description; set.append(p); }
    if (pack.markets) input(row(set), `${pack.pack} markets`, pack.markets, "list", (v) => { pack.markets = v; });
    for (const rule of pack.rules ?? []) {
      const r = row(set);
      const title = document.createElement("span");
      title.className = "rule-id";
      title.textContent = `${rule.id} (${rule.calculation})`;
      r.append(title);
      input(r, `${rule.id} formula`, rule.formula, "text", (v) => { rule.formula = v; }, { wide: true });
      conditions(r, rule, rule.id);
    }
  }
  const policy = doc.locatePolicy;
  if (policy) {
    const set = section("Locate policy");
    for (const rule of policy.rules ?? []) {
      const r = row(set);
      const title = document.createElement("span");
      title.className = "rule-id";
      title.textContent = rule.id;
      r.append(title);
      conditions(r, rule, rule.id);
      input(r, `${rule.id} outcome`, rule.outcome, "text", (v) => { rule.outcome = v; }, { options: ["APPROVE", "PENDING", "REJECT", "AVAILABILITY"] });
      if (rule.reason !== undefined || rule.outcome === "PENDING" || rule.outcome === "REJECT") input(r, `${rule.id} reason`, rule.reason, "text", (v) => { rule.reason = v || undefined; });
    }
    for (const d of policy.decrements ?? []) {
      const r = row(set);
      const title = document.createElement("span");
      title.className = "rule-id";
      title.textContent = `decrement ${d.id}`;
      r.append(title);
      conditions(r, d, d.id);
      input(r, `${d.id} factor`, d.factor, "text", (v) => { d.factor = v; });
    }
  }
}

async function ruleStep(version, step) {
  const response = await api(`/api/v1/rules/${version}/${step}`, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ comment: `${step} from the dashboard` }) });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) { say(`${step} of version ${version} refused: ${answer.error || response.status}`, "error"); return; }
  await showRules();
  if (step === "preview") await window.imsReviewVersion?.(version, answer);
  say(step === "preview" ? `Version ${version} previewed: ${answer.changed} of ${answer.securities} securities change.` : `Version ${version}: ${step} done.`, "live");
  // The focus stays with the version just stepped: on its next step, else its row's first button.
  document.querySelector(`#rule-versions tr[data-version='${version}'] button`)?.focus();
}

function showPreview(p) {
  const out = document.getElementById("rule-preview");
  const rows = p.differences.slice(0, 50).map((d) => `<tr><td></td><td></td><td class="num">${number.format(d.active.forLoan)}</td><td class="num">${number.format(d.proposed.forLoan)}</td>
    <td class="num">${number.format(d.active.locateAvailable)}</td><td class="num">${number.format(d.proposed.locateAvailable)}</td></tr>`).join("");
  out.innerHTML = `<h2>What-if of version ${p.version} against ${p.activeVersion}</h2>
    <p id="preview-summary">${number.format(p.changed)} of ${number.format(p.securities)} securities change; in all, for-loan ${number.format(p.totalChange.forLoan)}, locate available ${number.format(p.totalChange.locateAvailable)}.</p>
    <div class="table-wrap short"><table aria-label="What-if differences"><thead><tr><th>Security</th><th>Market</th><th class="num">For loan now</th><th class="num">Proposed</th><th class="num">Locate now</th><th class="num">Proposed</th></tr></thead><tbody>${rows}</tbody></table></div>`;
  const trs = out.querySelectorAll("tbody tr");
  p.differences.slice(0, 50).forEach((d, i) => { trs[i].children[0].textContent = d.securityId; trs[i].children[1].textContent = d.marketId; });
}

// MARK: Orders

/// Sell orders: a tester that validates one as the order system would (`POST /api/v1/orders/validate`),
/// by default as a dry run that changes nothing, and the day's orders (a client's own), newest first.
async function showOrders() {
  const client = isClient(), validates = can("client") || can("operator");
  view.innerHTML = `
    ${validates ? `<form class="order-form" id="order-form" aria-label="Validate a sell order">
      <label>Client <input name="clientId" required value="${client ? "" : "CL1"}" ${client ? "readonly" : ""}></label>
      <label>Book <input name="bookId" required value="${client ? "" : "BK-CL1-FREE"}"></label>
      <label>Security <input name="securityId" required></label>
      <label>Side <select name="side"><option>SELL_SHORT</option><option>SELL</option></select></label>
      <label>Quantity <input name="quantity" type="number" min="1" required value="100"></label>
      <label>Price <input name="price" required placeholder="last price"></label>
      <label class="check"><span><input type="checkbox" name="dryRun" checked> Dry run</span></label>
      <button type="submit" id="order-submit">Check (changes nothing)</button>
    </form>
    <p class="hint" id="order-mode"></p>
    <div id="order-result"></div>` : ""}
    <div class="toolbar">
      ${client ? "" : `<label>Client <input id="orders-client" size="8" aria-label="Client filter"></label>`}
      <label>Decision <select id="orders-decision" aria-label="Decision filter"><option value="">all</option><option>APPROVED</option><option>REJECTED</option></select></label>
      <button type="button" id="orders-refresh">Refresh</button>
      <span class="count" id="orders-count" aria-live="polite"></span>
    </div>
    <div class="table-wrap"><table aria-label="${client ? "My orders" : "Orders"}, newest first"><thead><tr><th>Order</th><th>Client</th><th>Book</th><th>Security</th><th>Side</th>
      <th class="num">Quantity</th><th class="num">Price</th><th>Decision</th><th>Failed checks</th><th class="num">Filled</th><th>Decided</th></tr></thead>
      <tbody id="order-rows"></tbody></table></div>`;
  const shown = state.shown;
  const listOrders = async () => {
    const clientFilter = client ? "" : (document.getElementById("orders-client").value.trim());
    const decision = document.getElementById("orders-decision").value;
    const query = new URLSearchParams({ limit: "500" });
    if (clientFilter) query.set("clientId", clientFilter);
    if (decision) query.set("decision", decision);
    const response = await api(`/api/v1/orders?${query}`);
    const answer = await response.json().catch(() => ({}));
    if (!stillShown(shown)) return;
    if (!response.ok) { say(`${answer.field ? answer.field + ": " : ""}${answer.error || response.status}`, "error"); return; }
    document.getElementById("order-rows").replaceChildren(...answer.items.map((o) => {
      const tr = tableRow([o.orderId, o.clientId, o.bookId, o.securityId, o.side, o.quantity, null, o.expired ? "APPROVED (expired)" : o.decision,
        o.reasons.map((r) => r.code).join(", "), o.filledQuantity, o.decidedAt?.slice(0, 19).replace("T", " ")], [5, 6, 9]);
      tr.children[6].textContent = String(o.price);
      tr.children[7].className = "status-" + o.decision.toLowerCase();
      tr.dataset.order = o.orderId;
      return tr;
    }));
    document.getElementById("orders-count").textContent = `${number.format(answer.total)} orders today` + (answer.total > answer.items.length ? `; the newest ${answer.items.length} shown` : "");
  };
  document.getElementById("orders-refresh").addEventListener("click", listOrders);
  document.getElementById("orders-decision").addEventListener("change", listOrders);
  document.getElementById("orders-client")?.addEventListener("change", listOrders);
  await listOrders();
  if (!validates || !stillShown(shown)) return;
  const form = document.getElementById("order-form");
  if (client) form.clientId.value = state.me.clientId ?? "";
  // Says what the button will do: a dry run changes nothing; a real validation reserves the limits.
  const mode = () => {
    const dry = form.dryRun.checked;
    document.getElementById("order-submit").textContent = dry ? "Check (changes nothing)" : "Validate (reserves limits)";
    document.getElementById("order-mode").textContent = dry
      ? "Dry run: the decision the order would get now, with every check. Nothing is journaled, reserved or audited."
      : "A real validation: an approval reserves the client's and the unit's limits until the day roll (or until filled), and is on the audit trail.";
  };
  form.dryRun.addEventListener("change", mode);
  mode();
  // The price defaults to the security's last price (until one is typed).
  let priceTyped = false;
  form.price.addEventListener("input", () => { priceTyped = true; });
  form.securityId.addEventListener("change", async () => {
    const id = form.securityId.value.trim();
    if (!id || priceTyped) return;
    const security = await api(`/api/v1/securities/${encodeURIComponent(id)}`).then((r) => (r.ok ? r.json() : null)).catch(() => null);
    if (security?.lastPrice?.last != null && !priceTyped) form.price.value = String(security.lastPrice.last);
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const dry = form.dryRun.checked;
    const body = { orderId: `UI-${Date.now()}`, clientId: form.clientId.value, bookId: f.get("bookId"), securityId: f.get("securityId"),
      side: f.get("side"), quantity: Number(f.get("quantity")), price: f.get("price") };
    const response = await api(`/api/v1/orders/validate${dry ? "?dryRun=true" : ""}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const answer = await response.json().catch(() => ({}));
    const out = document.getElementById("order-result");
    if (!response.ok) { out.innerHTML = `<p class="status error"></p>`; out.firstChild.textContent = `${answer.field ? answer.field + ": " : ""}${answer.error}`; return; }
    out.innerHTML = `<h2 id="order-decision"></h2><div class="table-wrap short"><table aria-label="Checks"><thead><tr><th>Stage</th><th>Check</th><th>Result</th><th class="num">Available</th><th class="num">Required</th><th>Why</th></tr></thead><tbody></tbody></table></div>`;
    document.getElementById("order-decision").textContent = `${answer.orderId}: ${answer.decision}` + (answer.dryRun ? " (dry run: nothing reserved)" : answer.decision === "APPROVED" ? " (the limits are reserved)" : "");
    document.getElementById("order-decision").className = "status-" + answer.decision.toLowerCase();
    const tbody = out.querySelector("tbody");
    for (const c of answer.checks) {
      const tr = tableRow([c.stage, c.code, c.passed ? "passed" : "failed", c.available, c.required, c.message], [3, 4]);
      tr.children[2].className = c.passed ? "status-approved" : "status-rejected-strong";
      tbody.append(tr);
    }
    if (!answer.dryRun) await listOrders();
  });
}

// MARK: Exceptions

async function showExceptions() {
  view.innerHTML = `
    <div class="toolbar">
      <label>Kind <select id="exception-kind"><option value="">all</option></select></label>
      <label>Show <select id="exception-show"><option value="open">to deal with</option><option value="done">acknowledged</option><option value="all">all</option></select></label>
      <label>Note <input id="exception-note" type="text" maxlength="512" placeholder="what was done" aria-label="Note for the acknowledgement"></label>
      <button type="button" id="exception-ack" disabled>Acknowledge selected</button>
      <span class="count" id="exception-count" aria-live="polite"></span>
    </div>
    <div class="table-wrap"><table aria-label="Exceptions, newest first"><thead><tr>
      <th><input type="checkbox" id="exception-all" aria-label="Select every exception shown"></th>
      <th>Id</th><th>Kind</th><th>Received</th><th>Line</th><th>Field</th><th>Message</th><th>Acknowledged</th></tr></thead>
      <tbody id="exception-rows"></tbody></table></div>`;
  const shown = state.shown;
  const kinds = document.getElementById("exception-kind"), show = document.getElementById("exception-show");
  const button = document.getElementById("exception-ack"), all = document.getElementById("exception-all");
  const exceptions = new Map();  // by id; a re-sent exception (acknowledged since) replaces its row
  const selected = new Set();
  const load = async () => {
    const kind = kinds.value;
    const response = await api(`/api/v1/exceptions?limit=10000${kind ? "&kind=" + kind : ""}`);
    if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error || `HTTP ${response.status}`);
    exceptions.clear();
    for (const e of await response.json()) exceptions.set(e.exceptionId, e);
  };
  const acknowledgement = (e) => e.acknowledgedBy
    ? `${e.acknowledgedBy.split(":").pop()} ${e.acknowledgedAt?.slice(11, 19) ?? ""}${e.acknowledgeNote ? ": " + e.acknowledgeNote : ""}` : "";
  const listed = () => [...exceptions.values()]
    .filter((e) => show.value === "all" || (show.value === "open") === !e.acknowledgedBy)
    .sort((a, b) => b.exceptionId - a.exceptionId).slice(0, 1000);
  const render = () => {
    if (!stillShown(shown)) return;  // left (a stream message already on its way)
    const list = listed();
    for (const id of [...selected]) if (!list.some((e) => e.exceptionId === id)) selected.delete(id);
    document.getElementById("exception-rows").replaceChildren(...list.map((e) => {
      const tr = document.createElement("tr");
      tr.dataset.exception = e.exceptionId;
      if (e.acknowledgedBy) tr.className = "acknowledged";
      const pick = document.createElement("td");
      if (!e.acknowledgedBy) {
        const box = document.createElement("input");
        box.type = "checkbox";
        box.checked = selected.has(e.exceptionId);
        box.setAttribute("aria-label", `Select exception ${e.exceptionId}`);
        box.addEventListener("change", () => { if (box.checked) selected.add(e.exceptionId); else selected.delete(e.exceptionId); update(); });
        pick.append(box);
      }
      tr.append(pick);
      for (const v of [e.exceptionId, e.kind, e.receivedAt, e.line ?? "", e.field ?? "", e.message, acknowledgement(e)]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(td);
      }
      tr.title = e.raw ?? "";
      return tr;
    }));
    update();
  };
  const update = () => {
    const open = [...exceptions.values()].filter((e) => !e.acknowledgedBy).length;
    document.getElementById("exception-count").textContent = `${open} to deal with of ${exceptions.size}` + (selected.size ? `; ${selected.size} selected` : "");
    button.disabled = selected.size === 0;
    all.checked = selected.size > 0 && listed().filter((e) => !e.acknowledgedBy).every((e) => selected.has(e.exceptionId));
  };
  all.addEventListener("change", () => {
    for (const e of listed()) if (!e.acknowledgedBy) { if (all.checked) selected.add(e.exceptionId); else selected.delete(e.exceptionId); }
    render();
  });
  button.addEventListener("click", async () => {
    const ids = [...selected].slice(0, 1000);
    const note = document.getElementById("exception-note").value.trim() || undefined;
    const response = await api("/api/v1/exceptions/acknowledge",
      { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ exceptionIds: ids, note }) });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) { say(`Not acknowledged: ${answer.field ? answer.field + ": " : ""}${answer.error || response.status}`, "error"); return; }
    for (const e of answer.exceptions) exceptions.set(e.exceptionId, e);
    selected.clear();
    say(`${answer.acknowledged} acknowledged` + (answer.acknowledged < ids.length ? ` (${ids.length - answer.acknowledged} were already)` : ""), "live");
    render();
  });
  await load();
  if (!stillShown(shown)) return;
  for (const k of [...new Set([...exceptions.values()].map((e) => e.kind))].sort()) kinds.add(new Option(k, k));
  render();
  show.addEventListener("change", render);
  kinds.addEventListener("change", async () => { selected.clear(); await load(); render(); closeStreams(); openStream(); });
  const openStream = () => stream("/ws/exceptions", kinds.value ? { kind: kinds.value } : {}, (message) => {
    if ((message.type !== "delta" && message.type !== "snapshot") || !message.data) return;
    exceptions.set(message.data.exceptionId, message.data);
    render();
  });
  openStream();
}

// MARK: Operations

/// Numbers from the Prometheus text of `/metrics`: name (with labels) to value.
function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/// A quantile of a histogram's growth between two scrapes (the upper bound of the bucket it falls in).
function quantile(before, after, name, q) {
  const buckets = [];
  for (const [key, value] of after) {
    const m = key.match(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`));
    if (m) buckets.push({ le: m[1] === "+Inf" ? Infinity : Number(m[1]), count: value - (before.get(key) ?? 0) });
  }
  buckets.sort((a, b) => a.le - b.le);
  const total = buckets.length ? buckets[buckets.length - 1].count : 0;
  if (!total) return null;
  return buckets.find((b) => b.count >= q * total)?.le ?? null;
}

async function showOperations() {
  view.innerHTML = `
    <div class="security">
      <section><div id="ops-rate"></div><div id="ops-latency"></div></section>
      <section><div id="ops-lag"></div><h2>Journal and feed</h2><div id="ops-health"></div></section>
    </div>`;
  const shown = state.shown;
  const rate = [], latency50 = [], latency99 = [], lag = [];
  let previous = null, previousAt = 0;
  const draw = () => {
    lineChart(document.getElementById("ops-rate"), { title: "Events applied per second", unit: "events/s", points: rate });
    if (latency99.length) lineChart(document.getElementById("ops-latency"), { title: "Apply time per drain, p99 (p50 below)", unit: "ms", points: latency99,
      references: latency50.length ? [{ y: latency50[latency50.length - 1].y, label: "p50 now" }] : [] });
    lineChart(document.getElementById("ops-lag"), { title: "Change-feed lag (records behind, the slowest consumer)", unit: "records", points: lag });
  };
  // The last hour first (the server keeps a point every 10 s: GET /metrics/history), then a point a second.
  try {
    const past = await fetch("/metrics/history").then((r) => r.json());
    for (const p of past.points) {
      const t = p.time * 1000;
      rate.push({ t, y: p.eventsPerSecond });
      if (p.applyP50Milliseconds != null && p.applyP99Milliseconds != null) { latency50.push({ t, y: p.applyP50Milliseconds }); latency99.push({ t, y: p.applyP99Milliseconds }); }
      lag.push({ t, y: p.feedLag });
    }
    window.imsOperationsHistory = past.points.length;  // for the browser test
  } catch { /* the live figures still come */ }
  if (!stillShown(shown)) return;
  if (rate.length) draw();
  const keep = rate.length + 120;  // the hour, and two minutes of live seconds
  const tick = async () => {
    if (!stillShown(shown)) return;
    let text, health;
    try {
      [text, health] = await Promise.all([fetch("/metrics").then((r) => r.text()), fetch("/health").then((r) => r.json())]);
    } catch {
      say("The server is unreachable; retrying…", "error");
      setTimeout(tick, 2000);
      return;
    }
    if (!stillShown(shown)) return;
    const now = Date.now(), metrics = parseMetrics(text);
    if (previous) {
      const seconds = (now - previousAt) / 1000;
      rate.push({ t: now, y: Math.max(0, (metrics.get("ims_events_accepted_total") - previous.get("ims_events_accepted_total")) / seconds) });
      const p50 = quantile(previous, metrics, "ims_apply_seconds", 0.5), p99 = quantile(previous, metrics, "ims_apply_seconds", 0.99);
      if (p50 !== null && isFinite(p99)) { latency50.push({ t: now, y: p50 * 1000 }); latency99.push({ t: now, y: p99 * 1000 }); }
      // A dozing consumer (the stream hub with nobody connected) has no backlog, whatever its lag.
      lag.push({ t: now, y: Math.max(0, ...health.feed.consumers.filter((c) => !c.dozing).map((c) => c.lag)) });
      for (const series of [rate, latency50, latency99, lag]) if (series.length > keep) series.shift();
      draw();
    }
    const box = document.getElementById("ops-health");
    box.innerHTML = `<table><tbody></tbody></table>`;
    const rows = [["status", health.status], ["last sequence", number.format(health.lastSequence)], ["positions", number.format(health.positions)],
      ["pending events", number.format(health.pendingEvents)], ["journal", health.journal.durable ? `durable, record ${number.format(health.journal.appliedRecord)}` : "in memory"],
      ["journal failing", health.journal.failing ? `yes: ${health.journal.lastError ?? ""}` : "no"],
      ...health.feed.consumers.map((c) => [
        `feed consumer ${c.name}`,
        `at ${number.format(c.position)}, ${number.format(c.lag)} behind${c.dozing ? " (dozing: nobody subscribed)" : ""}`,
      ]),
      ["stream subscribers", number.format(metrics.get("ims_stream_subscribers") ?? 0)]];
    for (const [k, v] of rows) {
      const tr = document.createElement("tr");
      tr.innerHTML = "<th></th><td></td>";
      tr.children[0].textContent = k;
      tr.children[1].textContent = v;
      box.querySelector("tbody").append(tr);
    }
    if (health.status === "ok") sayLive(); else say(`Degraded: ${health.journal.lastError ?? health.status}`, "error");
    previous = metrics;
    previousAt = now;
    setTimeout(tick, 1000);
  };
  await tick();
}

// MARK: Security drill-down

async function showSecurity(id) {
  const shown = state.shown;
  const get = async (path) => { const r = await api(path); return r.ok ? r.json() : null; };
  const [security, inventory, positions, contracts, availability] = await Promise.all([
    get(`/api/v1/securities/${encodeURIComponent(id)}`), get(`/api/v1/inventory/${encodeURIComponent(id)}?explain=true`),
    get(`/api/v1/positions?securityId=${encodeURIComponent(id)}&limit=1000`), get(`/api/v1/contracts?securityId=${encodeURIComponent(id)}`),
    get(`/api/v1/securities/${encodeURIComponent(id)}/availability`)]);
  if (!stillShown(shown)) return;
  // The id comes from the address (an attacker's link): written as text, never as HTML.
  if (!security) { const p = document.createElement("p"); p.textContent = `No security ${id}.`; view.replaceChildren(p); return; }
  const s = security.security, price = security.lastPrice ?? {};
  view.innerHTML = `
    <p><a href="#/inventory">← Inventory</a></p>
    <h2 id="security-title"></h2>
    <p class="facts" id="security-facts"></p>
    <div class="security">
      <section><h2>Figures by settlement day</h2><div class="table-wrap short"><table id="figures" aria-label="Figures as they stand and by settlement day"><thead></thead><tbody></tbody></table></div>
        <p class="hint" id="figures-note"></p>
        <div id="ladder-chart"></div>
        <h2>How each figure is made</h2><div id="explain"></div></section>
      <section><h2>Price</h2><div id="price-chart"></div>
        <h2>The last five days</h2><p class="hint" id="history-note"></p>
        <div id="history-price"></div><div id="history-for-loan"></div><div id="history-short"></div>
        <h2>Positions by book</h2><div class="table-wrap short"><table id="positions"><thead><tr><th>Book</th><th>Type</th><th class="num">Contractual</th><th class="num">Settled</th><th class="num">Projected</th></tr></thead><tbody></tbody></table></div>
        <h2>Contracts</h2><div class="table-wrap short"><table id="contracts" aria-label="Contracts"><thead><tr><th>Contract</th><th>Kind</th><th>Counterparty</th><th class="num">Original</th><th class="num">Returned</th><th class="num">Recalled</th><th class="num">Open</th><th>Status</th><th class="num">Rate (bp)</th></tr></thead><tbody></tbody></table></div>
        <h2>Unit limits in this security</h2><div class="table-wrap short"><table id="unit-limits" aria-label="Aggregation units' limits"><thead><tr><th>Aggregation unit</th><th class="num">Long sell limit</th><th class="num">Short sell limit</th></tr></thead><tbody></tbody></table></div>
        <h2>Client limits in this security</h2><div class="table-wrap short"><table id="client-limits" aria-label="Clients' limits"><thead><tr><th>Client</th><th class="num">Long sell limit</th><th class="num">Short sell limit</th></tr></thead><tbody></tbody></table></div>
        <h2>Lender availability</h2><div class="table-wrap short"><table id="availability"><thead><tr><th>Lender</th><th>Type</th><th class="num">Quantity</th><th class="num">Rate (bp)</th></tr></thead><tbody></tbody></table></div>
      </section>
    </div>`;
  document.getElementById("security-title").textContent = `${s.securityId} ${s.name ?? ""}`;
  document.getElementById("security-facts").textContent = [s.marketId, s.currency, s.isin && `ISIN ${s.isin}`, s.ticker && `ticker ${s.ticker}`,
    s.temperature, s.easyToBorrow && "easy to borrow", s.thresholdList && "threshold list", s.restricted && "restricted",
    security.shortSaleRestrictedThrough && `short-sale price test through ${security.shortSaleRestrictedThrough}`].filter(Boolean).join(" · ");
  const fill = (tableId, rows) => {
    const body = document.querySelector(`#${tableId} tbody`);
    for (const cells of rows) {
      const tr = document.createElement("tr");
      cells.forEach((c) => {
        const td = document.createElement("td");
        td.textContent = typeof c === "number" ? number.format(c) : (c ?? "");
        if (typeof c === "number") td.className = "num";
        tr.append(td);
      });
      body.append(tr);
    }
  };
  fill("positions", (positions?.items ?? []).map((p) => [p.bookId, p.positionType, p.contractualQty, p.settledQty, p.projectedNetPosition]));
  // Original, returned, recalled and open (what is still out: original less returned).
  fill("contracts", (contracts ?? []).map((c) => [c.contractId, c.kind, c.counterpartyId, c.quantity, c.returnedQty ?? 0, c.recalledQty ?? 0,
    c.quantity - (c.returnedQty ?? 0), c.status, c.rateBps != null ? Number(c.rateBps) : null]));
  // Each aggregation unit of the security's market: its limits here.
  get("/api/v1/aggregation-units").then(async (units) => {
    const mine = (Array.isArray(units) ? units : units?.items ?? []).filter((u) => u.marketId === s.marketId);
    const limits = await Promise.all(mine.map((u) => get(`/api/v1/limits/units/${encodeURIComponent(u.aggregationUnitId)}?securityId=${encodeURIComponent(s.securityId)}`)));
    if (!stillShown(shown)) return;
    fill("unit-limits", mine.map((u, i) => [u.aggregationUnitId, limits[i]?.[0]?.longSellLimit ?? null, limits[i]?.[0]?.shortSellLimit ?? null]));
  });
  // Each client with a position here (its books'): its limits in this security.
  get("/api/v1/books").then(async (books) => {
    const owner = new Map((Array.isArray(books) ? books : books?.items ?? []).map((b) => [b.bookId, b.clientId]));
    const clients = [...new Set((positions?.items ?? []).map((p) => owner.get(p.bookId)).filter(Boolean))].sort();
    const limits = await Promise.all(clients.map((c) => get(`/api/v1/limits/clients/${encodeURIComponent(c)}?securityId=${encodeURIComponent(s.securityId)}`)));
    if (!stillShown(shown)) return;
    fill("client-limits", clients.map((c, i) => [c, limits[i]?.[0]?.longSellLimit ?? null, limits[i]?.[0]?.shortSellLimit ?? null]));
  });
  fill("availability", (availability ?? []).map((a) => [a.sourceId, a.availabilityType, a.quantity, a.rateBps != null ? Number(a.rateBps) : null]));
  if (inventory) {
    const days = inventory.ladder ?? [];
    // The headline figures are "as they stand": contractual positions, every open contract and line. Each
    // settlement day's figures are beside them, and the chart shows the same numbers.
    const names = ["forLoan", "forPledge", "locateAvailable", "overborrow"];
    const titles = { forLoan: "For loan", forPledge: "For pledge", locateAvailable: "Locate available", overborrow: "Overborrow" };
    const figures = document.getElementById("figures");
    const header = document.createElement("tr");
    for (const [text, date] of [["", ""], ["As they stand", ""], ...days.map((d) => [d.day, d.date.slice(5)])]) {
      const th = document.createElement("th");
      th.textContent = text;
      if (date) { th.append(document.createElement("br")); th.append(date); th.title = `${text}: ${date}`; }
      if (text) th.className = "num";
      header.append(th);
    }
    figures.querySelector("thead").replaceChildren(header);
    for (const name of names) figures.querySelector("tbody").append(tableRow([titles[name], inventory.calculations[name], ...days.map((d) => d.calculations[name])], [1, ...days.map((_, i) => 2 + i)]));
    const same = days.filter((d) => names.every((n) => d.calculations[n] === inventory.calculations[n])).map((d) => d.day);
    document.getElementById("figures-note").textContent = `Business date ${inventory.businessDate ?? ""}. As they stand: contractual positions with every open contract and lender line`
      + (same.length ? `; equal to ${same.join(", ")} (once today's trades settle).` : "; no settlement day equals them yet.");
    barChart(document.getElementById("ladder-chart"), {
      title: "For loan and locate available, now and by day", unit: "shares",
      labels: ["now", ...days.map((d) => `${d.day} ${d.date.slice(5)}`)],
      series: [{ name: "For loan", values: [inventory.calculations.forLoan, ...days.map((d) => d.calculations.forLoan)] },
        { name: "Locate available", values: [inventory.calculations.locateAvailable, ...days.map((d) => d.calculations.locateAvailable)] }] });
    const explain = document.getElementById("explain");
    for (const c of inventory.explain?.calculations ?? []) {
      const box = document.createElement("details");
      box.className = "explain";
      box.dataset.calculation = c.calculation;
      box.innerHTML = `<summary></summary><p class="muted"></p><table><thead><tr><th>Part</th><th class="num">Factor</th><th class="num">Quantity</th><th class="num">Contribution</th></tr></thead><tbody></tbody></table>`;
      box.querySelector("summary").textContent = `${c.calculation} = ${number.format(inventory.calculations[c.calculation] ?? c.parts.reduce((t, p) => t + p.contribution, 0))} (as they stand)`;
      box.querySelector("p").textContent = `${c.pack}: ${c.formula}`;
      explainRows(box.querySelector("tbody"), c.parts, 0);
      explain.append(box);
    }
  }
  // The price: the day so far (the server's intraday bars, each drawn at its close), then live ticks from the
  // market-data stream while the page is open, against the previous close.
  const bars = await get(`/api/v1/securities/${encodeURIComponent(id)}/bars`);
  if (!stillShown(shown)) return;
  const points = (bars?.bars ?? []).map((b) => ({ t: Date.parse(b.start) + (bars.intervalMinutes * 60_000), y: b.close }));
  window.imsPriceBars = points.length;  // for the browser test
  if (!points.length && price.last != null) points.push({ t: Date.now(), y: price.last });
  const previousClose = price.previousClose;
  const drawPrice = () => lineChart(document.getElementById("price-chart"), {
    title: `Last price (${price.currency ?? s.currency ?? ""}): the day in ${bars?.intervalMinutes ?? 5}-minute bars, then live`, unit: price.currency ?? "", points,
    references: previousClose != null ? [{ y: previousClose, label: "previous close" }] : [],
    note: security.shortSaleRestrictedThrough ? `short-sale price test through ${security.shortSaleRestrictedThrough}` : undefined });
  drawPrice();
  drawHistory(s.securityId, shown);
  stream("/ws/market-data", { securityId: s.securityId }, (message) => {
    if (message.type !== "delta" || message.data?.kind !== "price" || message.data.last == null) return;
    points.push({ t: Date.now(), y: message.data.last });
    if (points.length > 600) points.shift();  // a day of bars and the live ticks since
    if (message.data.shortSaleRestrictedThrough) security.shortSaleRestrictedThrough = message.data.shortSaleRestrictedThrough;
    drawPrice();
  });
}

/// The drill-down's last five days from the history store (`--history`; docs/history.md): the price in hourly
/// bars, for-loan at each inventory snapshot, and the firm's short (the sum of its FIRM books' short positions,
/// each book's last snapshot carried forward). Without a store it says how to have one.
async function drawHistory(securityId, shown) {
  const from = new Date(Date.now() - 5 * 86_400_000).toISOString(), q = `from=${encodeURIComponent(from)}&limit=10000`;
  const id = encodeURIComponent(securityId);
  const [prices, inventory, positions] = await Promise.all([
    api(`/api/v1/history/prices/${id}?interval=1h&${q}`), api(`/api/v1/history/inventory/${id}?${q}`),
    api(`/api/v1/history/positions?securityId=${id}&${q}`)]);
  if (!stillShown(shown)) return;
  const note = document.getElementById("history-note");
  if (prices.status === 501) { note.textContent = "This server keeps no history store: start it with --history postgres://… to see the last days here."; return; }
  if (!prices.ok || !inventory.ok || !positions.ok) { note.textContent = "The history store did not answer; the live figures above are unaffected."; return; }
  const [bars, snapshots, rows] = [(await prices.json()).items, (await inventory.json()).items, (await positions.json()).items];
  if (!stillShown(shown)) return;
  const pricePoints = bars.map((b) => ({ t: Date.parse(b.at) + 3_600_000, y: Number(b.close) }));
  const forLoan = snapshots.map((r) => ({ t: Date.parse(r.at), y: r.inventory.calculations.forLoan }));
  const books = new Map(), short = [];
  for (const r of rows) {
    if (r.position.positionType !== "FIRM") continue;
    books.set(r.position.bookId, r.position.contractualQty);
    const total = [...books.values()].reduce((sum, q) => sum + Math.min(0, q), 0);
    const t = Date.parse(r.at);
    if (short.length && short[short.length - 1].t === t) short[short.length - 1].y = -total; else short.push({ t, y: -total });
  }
  window.imsHistoryPoints = { price: pricePoints.length, forLoan: forLoan.length, short: short.length };  // for the browser test
  note.textContent = `From the history store: ${bars.length} hourly bars, ${snapshots.length} inventory and ${rows.length} position snapshots since ${new Date(from).toLocaleString()}.`;
  const chart = (element, points, title, unit) => points.length
    ? lineChart(document.getElementById(element), { points, title, unit, days: true })
    : document.getElementById(element).replaceChildren(Object.assign(document.createElement("p"), { className: "hint", textContent: `${title}: nothing recorded yet.` }));
  chart("history-price", pricePoints, "Price, hourly close", "");
  chart("history-for-loan", forLoan, "For loan at each snapshot", "shares");
  chart("history-short", short, "The firm's short", "shares");
}

/// The rows of a calculation's parts, nested: a scaled part's own parts under it, and for a max or min every
/// branch with its value and parts, the chosen one marked (the API's `branches`).
function explainRows(tbody, parts, depth) {
  for (const p of parts) {
    const label = p.kind === "max" || p.kind === "min" ? `${p.kind} of ${p.branches?.length ?? 1 + (p.alternatives?.length ?? 0)}` : p.name ?? p.kind;
    const tr = tableRow([label, p.factor ?? "", p.quantity ?? "", p.contribution], [2, 3]);
    tr.children[1].className = "num";
    tr.children[0].style.paddingLeft = `${0.5 + depth * 1.2}rem`;
    tr.className = depth ? "nested" : "";
    tr.dataset.depth = depth;
    tr.dataset.kind = p.kind;
    tbody.append(tr);
    if (p.branches) {
      p.branches.forEach((b, k) => {
        const branch = tableRow([`branch ${k + 1}${b.chosen ? " (chosen)" : ""}`, "", b.value, ""], [2]);
        branch.children[0].style.paddingLeft = `${0.5 + (depth + 1) * 1.2}rem`;
        branch.className = b.chosen ? "branch chosen" : "branch";
        branch.dataset.depth = depth + 1;
        branch.dataset.kind = "branch";
        tbody.append(branch);
        explainRows(tbody, b.parts, depth + 2);
      });
    } else if (p.parts) {
      explainRows(tbody, p.parts, depth + 1);
    }
  }
}

// MARK: Streams

/// Opens a stream signed in with the session's key (browsers cannot set headers on a WebSocket, so the
/// key goes as `access_token`), subscribes, and reconnects with a growing pause when it drops.
function stream(path, filter, onMessage) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${path}?access_token=${encodeURIComponent(state.key)}`);
  state.sockets.push(socket);
  socket.onopen = () => {
    state.retry = 0;
    socket.send(JSON.stringify({ action: "subscribe", filter }));
    sayLive();
  };
  socket.onmessage = (e) => {
    const message = JSON.parse(e.data);
    // Too far behind (the server stopped its deltas): subscribe again for a fresh snapshot, which the views
    // merge by key like any update.
    if (message.type === "lagging") {
      say("Catching up after falling behind…", "error");
      socket.send(JSON.stringify({ action: "subscribe", filter }));
      return;
    }
    if (message.type === "snapshotComplete") sayLive();
    onMessage(message);
  };
  const shownNow = state.shown;
  socket.onclose = () => {
    const wait = Math.min(10_000, 500 * 2 ** state.retry++);
    say(`Disconnected from the server; reconnecting in ${Math.max(1, Math.round(wait / 1000))} s…`, "error");
    setTimeout(() => { if (state.key && state.shown === shownNow) route(); }, wait);
  };
}

// MARK: Routing

const VIEWS = { inventory: showInventory, constrained: showConstrained, positions: showMyPositions, locates: showLocates, limits: showLimits,
  orders: showOrders, rules: showRules, exceptions: showExceptions, operations: showOperations };

async function route() {
  if (!state.key) { showSignIn(); return; }
  if (!state.me) {
    try { await whoAmI(); } catch (e) {
      if (e.message !== "unauthorized") retryLater(state.shown);
      return;
    }
  }
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  document.getElementById("who").textContent = `Signed in: ${state.who}` + (state.me.clientId ? ` (client ${state.me.clientId})` : "");
  for (const a of document.querySelectorAll("#nav a")) a.hidden = !mayOpen(a.dataset.view);
  state.shown++;
  // The view being left stops receiving, and what the status line said was about it.
  closeStreams();
  say("");
  const landing = mayOpen("inventory") ? "inventory" : "locates";
  let name = (location.hash.replace("#/", "") || landing).split("/")[0];
  // A view the roles may not open is not shown (the server would refuse its requests): the landing view instead.
  if (name !== "security" && !mayOpen(name)) name = landing;
  if (name === "security" && !mayOpen("inventory")) name = landing;
  // The address names the view shown (without a hashchange of its own).
  if (!location.hash.startsWith(`#/${name}`)) history.replaceState(null, "", `#/${name}`);
  for (const a of document.querySelectorAll("#nav a")) a.setAttribute("aria-current", a.dataset.view === name ? "page" : "false");
  const argument = decodeURIComponent(location.hash.replace("#/", "").split("/").slice(1).join("/"));
  const show = name === "security" ? () => showSecurity(argument) : (VIEWS[name] || VIEWS[landing]);
  const shownNow = state.shown;
  show().catch((e) => {
    if (e.message === "unauthorized") return;
    if (e.message === "unreachable") { retryLater(shownNow); return; }
    say(`Could not load: ${e.message}`, "error");
  });
}

/// The server could not be reached (or a stream dropped): says so, and shows the view again after a pause
/// that grows with each failure (0.5 s, 1 s, 2 s… at most 10 s), unless the user has moved on.
function retryLater(shownNow) {
  const wait = Math.min(10_000, 500 * 2 ** state.retry++);
  say(`The server is unreachable; reconnecting in ${Math.max(1, Math.round(wait / 1000))} s…`, "error");
  setTimeout(() => { if (state.key && state.shown === shownNow) route(); }, wait);
}

document.getElementById("signout").addEventListener("click", () => signOut(""));
// The skip link: past the header to the view's work: the grid's row, else the view's first control.
document.getElementById("skip").addEventListener("click", (e) => {
  e.preventDefault();
  const target = view.querySelector(".grid .row[tabindex='0']") || view.querySelector("input, select, button, textarea, a[href], [tabindex='0']");
  (target || view).focus();
});
window.addEventListener("hashchange", route);
route();
