// A virtual grid: only the rows in view (plus a margin) exist in the page, so 10,000 rows scroll and
// re-render as fast as 50. Columns sort by a click or Enter on their header; rows are filtered and
// grouped (with subtotals) by the caller's functions; changed cells flash. Rendering waits for the next
// animation frame, so any number of updates between two frames costs one render. By keyboard: Tab reaches
// the headers (Enter sorts) and the rows; arrows, Page Up/Down, Home and End move between rows, scrolling
// as they go; Enter opens a row.

const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 });

export class VirtualGrid {
  constructor(container, columns, { rowHeight = 26, key = (r) => r.id, onSort = () => {}, onOpen = null, onRender = null, label = "" } = {}) {
    this.onOpen = onOpen;
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
    container.style.setProperty("--cols", columns.map((c) => c.width || "1fr").join(" "));
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
    this.scroller = document.createElement("div");
    this.scroller.className = "scroller";
    this.scroller.tabIndex = -1;  // the rows are the tab stops
    this.spacer = document.createElement("div");
    this.spacer.className = "spacer";
    this.scroller.append(this.spacer);
    container.replaceChildren(this.head, this.scroller);
    this.scroller.addEventListener("scroll", () => this.schedule());
    // A row opens (its drill-down) on a click, or on Enter when it has the focus.
    const open = (e) => {
      const line = e.target.closest(".row[data-key]");
      if (line && this.onOpen) this.onOpen(line.dataset.key);
    };
    this.scroller.addEventListener("click", open);
    this.scroller.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { open(e); return; }
      const line = e.target.closest(".row");
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
    new ResizeObserver(() => this.schedule()).observe(this.scroller);
  }

  /// Focuses row `index` of the view, scrolling it into sight (it is drawn, then focused).
  moveFocus(index) {
    const h = this.rowHeight, top = index * h;
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top + h > this.scroller.scrollTop + this.scroller.clientHeight) this.scroller.scrollTop = top + h - this.scroller.clientHeight;
    // Focused now when the row is drawn (the margin above and below the view), else once it is.
    const line = this.spacer.querySelector(`.row[data-index="${index}"]`);
    if (line) { line.focus({ preventScroll: true }); this.focusIndex = null; } else this.focusIndex = index;
    this.schedule();
  }

  setRows(rows) { this.rows = rows; this.source = null; this.refresh(); }
  /// Rows read from `source()` when the next frame renders: many updates between two frames cost one read.
  setSource(source) { this.source = source; this.refresh(); }
  setFilter(predicate) { this.filter = predicate; this.refresh(); }
  setGroupBy(columnId) { this.groupBy = columnId || null; this.refresh(); }

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
    let rows = this.filter ? this.rows.filter(this.filter) : this.rows.slice();
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
    line.cells = this.columns.map((c) => {
      const cell = document.createElement("div");
      cell.className = "cell" + (c.numeric ? " num" : "");
      cell.setAttribute("role", "gridcell");
      line.append(cell);
      return cell;
    });
    return line;
  }

  render() {
    if (this.dirty) { this.derive(); this.dirty = false; }
    const h = this.rowHeight, height = this.view.length * h;
    this.spacer.style.height = height + "px";
    const top = this.scroller.scrollTop, bottom = top + this.scroller.clientHeight;
    const first = Math.max(0, Math.floor(top / h) - 10), last = Math.min(this.view.length, Math.ceil(bottom / h) + 10);
    // The row that has the focus keeps it across a redraw: the focus follows its index, not its element.
    const focused = this.spacer.contains(document.activeElement) ? Number(document.activeElement.dataset.index) : null;
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
    if (wanted !== null) {
      const line = this.spacer.querySelector(`.row[data-index="${wanted}"]`);
      if (line && document.activeElement !== line) line.focus({ preventScroll: true });
    }
    for (const line of this.lines) if (line !== document.activeElement && line.tabIndex !== -1) line.tabIndex = -1;
    // One row is reachable by Tab: the focused one, else the first drawn.
    const tabStop = this.spacer.querySelector(".row:focus") || this.spacer.querySelector(".row");
    if (tabStop) tabStop.tabIndex = 0;
    this.container?.setAttribute("aria-rowcount", this.view.length + 1);
    if (this.onRender) this.onRender();
  }
}
