// The desk's dashboard: sign in with an API key or token, then live views over the REST API and the
// WebSocket streams. No build step, no third-party code: plain modules the server embeds.
import { VirtualGrid } from "/dashboard/grid.js";

const state = { key: sessionStorage.getItem("ims.key"), who: sessionStorage.getItem("ims.who"), socket: null, retry: 0 };
const view = document.getElementById("view");
const status = document.getElementById("status");

function say(text, kind = "") {
  status.textContent = text;
  status.className = "status " + kind;
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
  sessionStorage.removeItem("ims.key");
  sessionStorage.removeItem("ims.who");
  state.key = null;
  if (state.socket) { state.socket.onclose = null; state.socket.close(); state.socket = null; }
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

// MARK: Inventory

const number = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const price = new Intl.NumberFormat("en-US", { maximumFractionDigits: 4 });
const calc = (name) => (r) => r.calculations?.[name] ?? 0;
const usd = (name) => (r) => r.usdValues?.[name] ?? Math.round((r.calculations?.[name] ?? 0) * (r.lastPrice ?? 0) * (r.usdRate ?? 0));
const COLUMNS = [
  { id: "securityId", title: "Security", value: (r) => r.securityId, width: "minmax(9rem, 1.4fr)" },
  { id: "marketId", title: "Market", value: (r) => r.marketId, width: "5rem" },
  { id: "currency", title: "Ccy", value: (r) => r.currency ?? "", width: "4rem" },
  { id: "temperature", title: "Temp", value: (r) => r.temperature ?? "", width: "5rem" },
  { id: "lastPrice", title: "Last", value: (r) => r.lastPrice ?? 0, numeric: true, format: (v) => price.format(v) },
  { id: "forLoan", title: "For loan", value: calc("forLoan"), numeric: true, total: true, format: (v) => number.format(v) },
  { id: "forPledge", title: "For pledge", value: calc("forPledge"), numeric: true, total: true, format: (v) => number.format(v) },
  { id: "locateAvailable", title: "Locate avail.", value: calc("locateAvailable"), numeric: true, total: true, format: (v) => number.format(v) },
  { id: "overborrow", title: "Overborrow", value: calc("overborrow"), numeric: true, total: true, format: (v) => number.format(v) },
  { id: "shortQuantity", title: "Short", value: (r) => r.shortQuantity ?? 0, numeric: true, total: true, format: (v) => number.format(v) },
  { id: "usdForLoan", title: "For loan USD", value: usd("forLoan"), numeric: true, total: true, format: (v) => number.format(v) },
  { id: "usdLocate", title: "Locate USD", value: usd("locateAvailable"), numeric: true, total: true, format: (v) => number.format(v) },
];

function chosenColumns() {
  const saved = JSON.parse(localStorage.getItem(`ims.columns.${state.who}`) || "null");
  return saved ? COLUMNS.filter((c) => saved.includes(c.id)) : COLUMNS;
}

async function showInventory() {
  view.innerHTML = `
    <div class="toolbar">
      <label>Search <input id="search" type="search" placeholder="id, ISIN, ticker…" aria-label="Search securities"></label>
      <label>Group by <select id="group"><option value="">none</option><option value="marketId">market</option><option value="currency">currency</option><option value="temperature">temperature</option></select></label>
      <details><summary>Columns</summary><div id="columns"></div></details>
      <span class="count" id="count"></span>
    </div>
    <div id="inventory-grid"></div>`;
  const columns = chosenColumns();
  const chooser = document.getElementById("columns");
  for (const c of COLUMNS) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" ${columns.includes(c) ? "checked" : ""}> ${c.title}`;
    label.firstChild.addEventListener("change", () => {
      const chosen = [...chooser.querySelectorAll("input")].map((box, i) => (box.checked ? COLUMNS[i].id : null)).filter(Boolean);
      localStorage.setItem(`ims.columns.${state.who}`, JSON.stringify(chosen));
      showInventory();
    });
    chooser.append(label, document.createElement("br"));
  }
  const rows = new Map();
  const grid = new VirtualGrid(document.getElementById("inventory-grid"), columns, { key: (r) => r.securityId });
  const count = () => { document.getElementById("count").textContent = `${number.format(grid.visibleCount)} of ${number.format(rows.size)} securities`; };
  let matching = null;  // security ids an identifier search found
  document.getElementById("search").addEventListener("input", async (e) => {
    const text = e.target.value.trim().toUpperCase();
    matching = null;
    if (text.length >= 4) {
      // Any identifier (ISIN, CUSIP, SEDOL, ticker, RIC…): the server resolves it.
      const found = await api(`/api/v1/securities?identifier=${encodeURIComponent(text)}`).then((r) => (r.ok ? r.json() : null)).catch(() => null);
      const items = Array.isArray(found) ? found : found?.items;
      if (items?.length) matching = new Set(items.map((s) => s.securityId ?? s.security?.securityId));
    }
    grid.setFilter(text ? (r) => r.securityId.toUpperCase().includes(text) || (matching?.has(r.securityId) ?? false) : null);
    count();
  });
  document.getElementById("group").addEventListener("change", (e) => { grid.setGroupBy(e.target.value); count(); });

  const started = performance.now();
  // Every security, 10,000 a page (the API's largest).
  for (let offset = 0, total = 1; offset < total; offset += 10_000) {
    const response = await api(`/api/v1/inventory?limit=10000&offset=${offset}`);
    if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error || `HTTP ${response.status}`);
    const page = await response.json();
    total = page.total;
    for (const item of page.items) rows.set(item.securityId, item);
  }
  grid.setRows([...rows.values()]);
  requestAnimationFrame(() => {
    // First render, measured in the page: from navigation start, and from the data request.
    window.imsFirstRender = { sinceNavigation: performance.now(), sinceRequest: performance.now() - started, rows: rows.size };
    performance.mark("ims-first-render");
    count();
  });
  stream("/ws/inventory", {}, (message) => {
    if (message.type !== "delta" && message.type !== "snapshot") return;
    const d = message.data, old = rows.get(d.securityId);
    const next = { ...(old || {}), ...d };
    if (old) {
      for (const c of columns) {
        const a = c.value(old), b = c.value(next);
        if (c.numeric && a !== b) grid.flash(d.securityId, c.id, b > a ? "up" : "down");
      }
    }
    rows.set(d.securityId, next);
    grid.setRows([...rows.values()]);
  });
}

// MARK: Streams

/// Opens a stream signed in with the session's key (browsers cannot set headers on a WebSocket, so the
/// key goes as `access_token`), subscribes, and reconnects with a growing pause when it drops.
function stream(path, filter, onMessage) {
  if (state.socket) { state.socket.onclose = null; state.socket.close(); }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${path}?access_token=${encodeURIComponent(state.key)}`);
  state.socket = socket;
  socket.onopen = () => {
    state.retry = 0;
    socket.send(JSON.stringify({ action: "subscribe", filter }));
    say("Live", "live");
  };
  socket.onmessage = (e) => onMessage(JSON.parse(e.data));
  socket.onclose = () => {
    const wait = Math.min(10_000, 500 * 2 ** state.retry++);
    say(`Disconnected from the server; reconnecting in ${Math.round(wait / 1000)} s…`, "error");
    setTimeout(() => { if (state.key) route(); }, wait);
  };
}

// MARK: Routing

const VIEWS = { inventory: showInventory };

function route() {
  if (!state.key) { showSignIn(); return; }
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  document.getElementById("who").textContent = `Signed in: ${state.who}`;
  const name = (location.hash.replace("#/", "") || "inventory").split("/")[0];
  for (const a of document.querySelectorAll("#nav a")) a.setAttribute("aria-current", a.dataset.view === name ? "page" : "false");
  (VIEWS[name] || showInventory)().catch((e) => { if (e.message !== "unauthorized") say(`Could not load: ${e.message}`, "error"); });
}

document.getElementById("signout").addEventListener("click", () => signOut(""));
window.addEventListener("hashchange", route);
route();
