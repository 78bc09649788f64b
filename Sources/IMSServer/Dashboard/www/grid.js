// A virtual grid: only the rows in view (plus a margin) exist in the page, so 10,000 rows scroll and
// re-render as fast as 50. Columns sort by a click or Enter on their header; rows are filtered and
// grouped (with subtotals) by the caller's functions; changed cells flash. Rendering waits for the next
// animation frame, so any number of updates between two frames costs one render. By keyboard: Tab reaches
// the headers (Enter sorts) and the rows; arrows, Page Up/Down, Home and End move between rows, scrolling
// as they go; Right and Left move between a row's cells; Enter opens a row. Each column has a filter under its header (text: contains, any case;
// numbers: 500, >0, <=-1000, !=0 or 10..20); columns marked `pinned` stay at the left while the grid scrolls
// sideways.

const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 });

export class VirtualGrid {
  constructor(container, columns, { rowHeight = 26, key = (r) => r.id, onSort = () => {}, onOpen = null, onRender = null, label = "",
    onFilterChange = () => {} } = {}) {
    this.onOpen = onOpen;
    this.onFilterChange = onFilterChange;
    this.columnFilters = {};  // column id -> the text typed under its header
    this.onRender = onRender;
    this.focusIndex = null;  // the view index of the row to focus once it is drawn
    this.columns = columns;
    this.rowHeight = rowHeight;
    this.key = key;
    this.onSort = onSort;
    this.rows = [];          // every row, as given
    this.view = [];          // rows after filter, sort and grouping: { row } or { group, total, count }
    this.sort = { column: null, descending: false };
    this.filter = null;
    this.groupBy = null;     // a column id, or null
    this.flashes = new Map(); // key -> Map(column id -> "up" | "down")
    this.flashing = true;     // off: changed cells do not flash (the user's choice, or reduced motion)
    this.pending = false;

    this.container = container;
    container.classList.add("grid");
    container.style.setProperty("--cols", columns.map((c) => c.width || "minmax(6rem, 1fr)").join(" "));
    // Wider than the window: the grid scrolls sideways, pinned columns staying at the left.
    container.style.setProperty("--grid-min", `calc(${columns.map((c) => minimum(c.width)).join(" + ")})`);
    container.setAttribute("role", "grid");
    if (label) container.setAttribute("aria-label", label);
    this.head = document.createElement("div");
    this.head.className = "head";
    this.head.setAttribute("role", "row");
    for (const column of columns) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = column.title;
      button.title = column.description || column.title;
      button.dataset.column = column.id;
      button.setAttribute("role", "columnheader");
      button.setAttribute("aria-sort", "none");
      if (column.numeric) button.classList.add("num");
      button.addEventListener("click", () => this.sortBy(column.id));
      this.head.append(button);
    }
    // A filter per column, under its header.
    this.filterRow = document.createElement("div");
    this.filterRow.className = "head filters";
    this.filterRow.setAttribute("role", "row");
    for (const column of columns) {
      const input = document.createElement("input");
      input.type = "search";
      input.dataset.column = column.id;
      input.placeholder = column.numeric ? ">0, <=-100, 10..20" : "contains";
      input.setAttribute("aria-label", `Filter ${column.title}`);
      input.addEventListener("input", () => {
        if (input.value.trim()) this.columnFilters[column.id] = input.value.trim(); else delete this.columnFilters[column.id];
        this.onFilterChange(this.columnFilters);
        this.refresh();
      });
      this.filterRow.append(input);
    }
    // Pinned columns (the first ones): moved back by however far the grid is scrolled sideways, so they
    // stay at the left. A transform from one variable set on scroll, not position: sticky, which cost a
    // frame in two under live updates (p95 33 ms against 17 ms, measured in the browser test).
    columns.forEach((column, k) => {
      if (column.pinned) for (const row of [this.head, this.filterRow]) row.children[k].classList.add("pinned");
    });
    this.scroller = document.createElement("div");
    this.scroller.className = "scroller";
    this.scroller.tabIndex = -1;  // the rows are the tab stops
    this.spacer = document.createElement("div");
    this.spacer.className = "spacer";
    this.scroller.append(this.spacer);
    this.top = document.createElement("div");
    this.top.className = "grid-top";
    this.top.append(this.head, this.filterRow);
    container.replaceChildren(this.top, this.scroller);
    this.scrollX = 0;
    this.scroller.addEventListener("scroll", () => {
      // The headers and filters follow the rows sideways; the pinned cells move back as far.
      const x = this.scroller.scrollLeft;
      if (this.top.scrollLeft !== x) this.top.scrollLeft = x;
      if (x !== this.scrollX) { this.scrollX = x; container.style.setProperty("--scroll-x", `${x}px`); }
      this.schedule();
    });
    // A row opens (its drill-down) on a click, or on Enter when it has the focus.
    this.focusColumn = null;  // the column of the focused cell, when Right/Left moved into the row
    const open = (e) => {
      const line = e.target.closest(".row[data-key]");
      if (line && this.onOpen) this.onOpen(line.dataset.key);
    };
    this.scroller.addEventListener("click", open);
    this.scroller.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { open(e); return; }
      const line = e.target.closest(".row");
      // Right and Left move between the cells of the focused row (a screen reader reads each cell).
      if ((e.key === "ArrowRight" || e.key === "ArrowLeft") && line?.cells) {
        e.preventDefault();
        const at = line.cells.indexOf(e.target);
        const next = Math.max(-1, Math.min(this.columns.length - 1, at + (e.key === "ArrowRight" ? 1 : -1)));
        this.focusColumn = next >= 0 ? next : null;
        this.focusIn(line);
        return;
      }
      const page = Math.max(1, Math.floor(this.scroller.clientHeight / this.rowHeight) - 1);
      const step = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page }[e.key];
      let target = null;
      if (e.key === "Home") target = 0;
      else if (e.key === "End") target = this.view.length - 1;
      else if (step !== undefined) target = (this.focusIndex ?? (line ? Number(line.dataset.index) : -1)) + step;
      if (target === null) return;
      e.preventDefault();
      this.moveFocus(Math.max(0, Math.min(this.view.length - 1, target)));
    });
    // The headers are as wide as the rows beside the vertical scrollbar, so their columns line up and they
    // scroll sideways as far as the rows do. Measured when the scroller's content box changes (a scrollbar
    // appearing changes it), not in every frame: reading a layout size there forced a layout per frame.
    new ResizeObserver(() => {
      const gutter = `${this.scroller.offsetWidth - this.scroller.clientWidth}px`;
      if (this.top.style.paddingRight !== gutter) this.top.style.paddingRight = gutter;
      this.schedule();
    }).observe(this.scroller);
  }

  /// Focuses a drawn row, or its cell in the focused column when one is.
  focusIn(line) {
    const cell = this.focusColumn != null ? line.cells?.[this.focusColumn] : null;
    const target = cell || line;
    if (cell) cell.tabIndex = -1;
    if (document.activeElement !== target) target.focus({ preventScroll: true });
    if (cell) cell.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  /// Focuses row `index` of the view, scrolling it into sight (it is drawn, then focused).
  moveFocus(index) {
    const h = this.rowHeight, top = index * h;
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top + h > this.scroller.scrollTop + this.scroller.clientHeight) this.scroller.scrollTop = top + h - this.scroller.clientHeight;
    // Focused now when the row is drawn (the margin above and below the view), else once it is.
    const line = this.spacer.querySelector(`.row[data-index="${index}"]`);
    if (line) { this.focusIn(line); this.focusIndex = null; } else this.focusIndex = index;
    this.schedule();
  }

  setRows(rows) { this.rows = rows; this.source = null; this.refresh(); }
  /// Rows read from `source()` when the next frame renders: many updates between two frames cost one read.
  setSource(source) { this.source = source; this.refresh(); }
  setFilter(predicate) { this.filter = predicate; this.refresh(); }
  setGroupBy(columnId) { this.groupBy = columnId || null; this.refresh(); }

  /// Sets the per-column filters (a saved layout's), writing them into their inputs.
  setColumnFilters(filters) {
    this.columnFilters = {};
    for (const input of this.filterRow.querySelectorAll("input")) {
      const text = filters?.[input.dataset.column] ?? "";
      input.value = text;
      if (text) this.columnFilters[input.dataset.column] = text;
    }
    this.refresh();
  }

  /// Sorts by a column in a direction (a saved layout's), as clicks on its header would.
  setSort(sort) {
    if (!sort?.column || !this.columns.some((c) => c.id === sort.column)) return;
    this.sort = { column: null, descending: false };
    this.sortBy(sort.column);
    if (sort.descending) this.sortBy(sort.column);
  }

  /// The rows as the view shows them (filters and sort applied, without group lines): for an export.
  visibleRows() {
    if (this.dirty) { this.derive(); this.dirty = false; }
    return this.view.filter((item) => item.row).map((item) => item.row);
  }

  /// Where the view is (scroll, focused row's key), to come back to it after a drill-down.
  position() {
    const focused = this.spacer.contains(document.activeElement) ? document.activeElement.closest(".row")?.dataset.key : null;
    return { top: this.scroller.scrollTop, left: this.scroller.scrollLeft, key: focused ?? null };
  }

  /// Returns to a position: the scroll, and the focus on the row with that key if it is still in the view.
  restore(position) {
    if (!position) return;
    if (this.dirty) { this.derive(); this.dirty = false; }
    this.scroller.scrollTop = position.top ?? 0;
    this.scroller.scrollLeft = position.left ?? 0;
    const index = position.key == null ? -1 : this.view.findIndex((item) => item.row && String(this.key(item.row)) === position.key);
    if (index >= 0) this.moveFocus(index); else this.schedule();
  }

  sortBy(columnId) {
    this.sort = this.sort.column === columnId ? { column: columnId, descending: !this.sort.descending } : { column: columnId, descending: false };
    for (const b of this.head.querySelectorAll("button")) {
      b.setAttribute("aria-sort", b.dataset.column === this.sort.column ? (this.sort.descending ? "descending" : "ascending") : "none");
      b.textContent = this.columns.find((c) => c.id === b.dataset.column).title + (b.dataset.column === this.sort.column ? (this.sort.descending ? " ▼" : " ▲") : "");
    }
    this.onSort(this.sort);
    this.refresh();
  }

  /// Marks cells of a row as changed (they flash at the next render).
  flash(key, columnId, direction) {
    if (!this.flashes.has(key)) this.flashes.set(key, new Map());
    this.flashes.get(key).set(columnId, direction);
  }

  /// Re-derives the view (filter, sort, groups) and renders at the next frame.
  refresh() { this.dirty = true; this.schedule(); }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  derive() {
    if (this.source) this.rows = this.source();
    const tests = Object.entries(this.columnFilters).map(([id, text]) => columnTest(this.columns.find((c) => c.id === id), text)).filter(Boolean);
    const filter = this.filter;
    let rows = filter || tests.length ? this.rows.filter((r) => (!filter || filter(r)) && tests.every((test) => test(r))) : this.rows.slice();
    const column = this.columns.find((c) => c.id === this.sort.column);
    if (column) {
      const value = column.value, sign = this.sort.descending ? -1 : 1;
      rows.sort((a, b) => {
        const x = value(a), y = value(b);
        return (x < y ? -1 : x > y ? 1 : 0) * sign;
      });
    }
    this.rowCount = rows.length;
    if (!this.groupBy) { this.view = rows.map((row) => ({ row })); return; }
    const by = this.columns.find((c) => c.id === this.groupBy).value;
    const groups = new Map();
    for (const row of rows) {
      const g = by(row);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(row);
    }
    this.view = [];
    for (const g of [...groups.keys()].sort()) {
      const members = groups.get(g), total = {};
      for (const c of this.columns) if (c.total) total[c.id] = members.reduce((s, r) => s + (c.value(r) || 0), 0);
      this.view.push({ group: g, total, count: members.length });
      for (const row of members) this.view.push({ row });
    }
  }

  get visibleCount() { return this.rowCount; }

  /// A row element with a cell per column, made once and reused while the grid scrolls and updates.
  makeLine() {
    const line = document.createElement("div");
    line.setAttribute("role", "row");
    line.tabIndex = -1;
    line.cells = this.columns.map((c, k) => {
      const cell = document.createElement("div");
      cell.className = "cell" + (c.numeric ? " num" : "") + (c.pinned ? " pinned" : "");
      cell.setAttribute("role", "gridcell");
      line.append(cell);
      return cell;
    });
    return line;
  }

  render() {
    // A grid whose view was left (another view, a resize after it) draws nothing more.
    if (!this.container.isConnected) return;
    if (this.dirty) { this.derive(); this.dirty = false; }
    const h = this.rowHeight, height = this.view.length * h;
    this.spacer.style.height = height + "px";
    const top = this.scroller.scrollTop, bottom = top + this.scroller.clientHeight;
    // (scrolled past the end of a view that shrank: first may pass last until the scroll is clamped)
    const last = Math.min(this.view.length, Math.ceil(bottom / h) + 10), first = Math.min(last, Math.max(0, Math.floor(top / h) - 10));
    // The row that has the focus keeps it across a redraw: the focus follows its index, not its element.
    const focused = this.spacer.contains(document.activeElement) ? Number(document.activeElement.closest(".row")?.dataset.index) : null;
    // Row elements are kept and reused (a text is written only where it changed): a frame of live updates
    // touches the cells that changed, not every cell in view, which kept the browser busy restyling.
    this.lines = this.lines || [];
    while (this.lines.length < last - first) { const line = this.makeLine(); this.lines.push(line); this.spacer.append(line); }
    while (this.lines.length > last - first) this.lines.pop().remove();
    const set = (el, name, value) => { if (el.getAttribute(name) !== value) el.setAttribute(name, value); };
    for (let i = first; i < last; i++) {
      const item = this.view[i], line = this.lines[i - first];
      const className = item.row ? "row" : "row group";
      if (line.className !== className) line.className = className;
      set(line, "aria-rowindex", String(i + 2));  // the header is row 1
      set(line, "data-index", String(i));
      const y = i * h + "px";
      if (line.style.top !== y) line.style.top = y;
      if (item.row) set(line, "data-key", String(this.key(item.row))); else line.removeAttribute("data-key");
      const flashes = item.row ? this.flashes.get(this.key(item.row)) : null;
      this.columns.forEach((c, k) => {
        const cell = line.cells[k];
        let text = "", title = null, value = null;
        if (item.row) {
          text = String(c.format ? c.format(c.value(item.row)) : (c.value(item.row) ?? ""));
          const f = flashes && flashes.get(c.id);
          // A short, soft fade on the changed cell only: calm at thousands of updates a second.
          if (f && this.flashing) cell.animate([{ backgroundColor: f === "up" ? "rgba(61, 220, 132, .3)" : "rgba(255, 107, 107, .3)" }, { backgroundColor: "transparent" }],
            { duration: 400, easing: "ease-out" });
        } else if (c.id === this.groupBy) {
          text = `${item.group} (${item.count})`;
        } else if (c.total) {
          // Subtotals grow past what a row's column holds: shown compact (1.23M, 4.5B), exact in the tooltip
          // and in data-value.
          text = compact.format(item.total[c.id]);
          title = `${c.title}, ${item.group}: ${c.format ? c.format(item.total[c.id]) : item.total[c.id]}`;
          value = String(item.total[c.id]);
        }
        if (cell.textContent !== text) cell.textContent = text;
        if (title === null) { if (cell.hasAttribute("title")) cell.removeAttribute("title"); } else set(cell, "title", title);
        if (value === null) { if (cell.hasAttribute("data-value")) cell.removeAttribute("data-value"); } else set(cell, "data-value", value);
      });
    }
    this.flashes.clear();
    const wanted = this.focusIndex ?? focused;
    this.focusIndex = null;
    if (wanted !== null && !Number.isNaN(wanted)) {
      const line = this.spacer.querySelector(`.row[data-index="${wanted}"]`);
      if (line) this.focusIn(line);
    }
    for (const line of this.lines) if (!line.contains(document.activeElement) && line.tabIndex !== -1) line.tabIndex = -1;
    // One row is reachable by Tab: the focused one, else the first drawn.
    const tabStop = this.spacer.querySelector(".row:focus-within") || this.spacer.querySelector(".row");
    if (tabStop) tabStop.tabIndex = 0;
    this.container?.setAttribute("aria-rowcount", this.view.length + 1);
    if (this.onRender) this.onRender();
  }
}

/// A column width's least size: the first part of minmax(), a fixed width, or 6rem for a flexible one.
function minimum(width) {
  if (!width) return "6rem";
  const m = width.match(/^minmax\(([^,]+),/);
  if (m) return m[1].trim();
  return width.endsWith("fr") ? "6rem" : width;
}

/// A column filter's test, from what was typed: for numbers a comparison (500, >0, >=1e6, <-100, !=0) or a
/// range (10..20); for text, contains, any case. Nothing typed (or a number that does not parse): no test.
export function columnTest(column, text) {
  if (!column || !text) return null;
  if (column.numeric) {
    const range = text.match(/^(-?[\d.,e]+)\s*\.\.\s*(-?[\d.,e]+)$/i);
    const parse = (t) => Number(t.replaceAll(",", ""));
    if (range) {
      const low = parse(range[1]), high = parse(range[2]);
      if (Number.isNaN(low) || Number.isNaN(high)) return null;
      return (r) => { const v = column.value(r); return v != null && v >= low && v <= high; };
    }
    const m = text.match(/^(>=|<=|!=|>|<|=)?\s*(-?[\d.,e]+)$/i);
    if (!m) return null;
    const n = parse(m[2]);
    if (Number.isNaN(n)) return null;
    const compare = { ">": (v) => v > n, ">=": (v) => v >= n, "<": (v) => v < n, "<=": (v) => v <= n, "!=": (v) => v !== n, "=": (v) => v === n }[m[1] || "="];
    return (r) => { const v = column.value(r); return v != null && compare(v); };
  }
  const needle = text.toUpperCase();
  return (r) => String(column.value(r) ?? "").toUpperCase().includes(needle);
}
