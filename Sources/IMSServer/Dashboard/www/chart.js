// The dashboard's own small chart module: SVG bar and line charts with axes, units, a legend, and a
// tooltip on every bar and point (an SVG <title>, read by browsers and screen readers alike).

const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#5ab0ff", "#3ddc84", "#ffb020", "#c792ea", "#ff6b6b"];
const format = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

function element(name, attributes = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/// Round axis steps: 1, 2 or 5 times a power of ten, about `count` of them over [low, high].
export function ticks(low, high, count = 5) {
  if (low === high) { low -= 1; high += 1; }
  const raw = (high - low) / count, power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let v = Math.floor(low / step) * step; v <= high + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

function frame(container, { width = 560, height = 240, title, unit, yLow, yHigh }) {
  const margin = { left: 72, right: 16, top: 28, bottom: 40 };
  const svg = element("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart", "aria-label": title || "chart" });
  if (title) svg.append(element("text", { x: margin.left, y: 16, class: "chart-title" }, title));
  const values = ticks(yLow, yHigh);
  const low = Math.min(values[0], yLow), high = Math.max(values[values.length - 1], yHigh);
  const y = (v) => margin.top + (height - margin.top - margin.bottom) * (1 - (v - low) / (high - low || 1));
  for (const v of values) {
    svg.append(element("line", { x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v), class: "grid-line" }));
    svg.append(element("text", { x: margin.left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, format.format(v)));
  }
  if (unit) svg.append(element("text", { x: 12, y: height / 2, transform: `rotate(-90 12 ${height / 2})`, "text-anchor": "middle", class: "axis" }, unit));
  container.replaceChildren(svg);
  return { svg, y, margin, width, height };
}

function legend(svg, series, x, y) {
  series.forEach((s, i) => {
    svg.append(element("rect", { x: x + i * 140, y: y - 9, width: 10, height: 10, fill: s.color || COLORS[i] }));
    svg.append(element("text", { x: x + i * 140 + 14, y, class: "axis" }, s.name));
  });
}

/// Grouped bars: one group per label, one bar per series.
export function barChart(container, { labels, series, title, unit }) {
  const all = series.flatMap((s) => s.values);
  const f = frame(container, { title, unit, yLow: Math.min(0, ...all), yHigh: Math.max(0, ...all) });
  const plot = f.width - f.margin.left - f.margin.right, group = plot / labels.length, bar = (group * 0.7) / series.length;
  labels.forEach((label, i) => {
    const x0 = f.margin.left + i * group + group * 0.15;
    series.forEach((s, k) => {
      const v = s.values[i], top = f.y(Math.max(v, 0)), bottom = f.y(Math.min(v, 0));
      const rect = element("rect", { x: x0 + k * bar, y: top, width: Math.max(1, bar - 2), height: Math.max(1, bottom - top), fill: s.color || COLORS[k], class: "bar" });
      rect.append(element("title", {}, `${label} ${s.name}: ${format.format(v)}${unit ? " " + unit : ""}`));
      f.svg.append(rect);
    });
    f.svg.append(element("text", { x: x0 + (bar * series.length) / 2, y: f.height - f.margin.bottom + 16, "text-anchor": "middle", class: "axis" }, label));
  });
  legend(f.svg, series, f.margin.left, f.height - 6);
}

/// A line over time, with optional horizontal reference lines (a previous close) and a shaded note.
export function lineChart(container, { points, title, unit, references = [], note, days = false }) {
  // Over days, a point's tooltip and the axis say the date and time; within a day, the time.
  const when = (t) => days ? new Date(t).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }) : new Date(t).toLocaleTimeString();
  const ys = points.map((p) => p.y).concat(references.map((r) => r.y));
  const f = frame(container, { title, unit, yLow: Math.min(...ys), yHigh: Math.max(...ys) });
  const t0 = points[0]?.t ?? 0, t1 = points[points.length - 1]?.t ?? 1;
  const x = (t) => f.margin.left + (f.width - f.margin.left - f.margin.right) * ((t - t0) / (t1 - t0 || 1));
  for (const r of references) {
    f.svg.append(element("line", { x1: f.margin.left, x2: f.width - f.margin.right, y1: f.y(r.y), y2: f.y(r.y), class: "reference" }));
    f.svg.append(element("text", { x: f.width - f.margin.right, y: f.y(r.y) - 4, "text-anchor": "end", class: "axis" }, `${r.label} ${format.format(r.y)}`));
  }
  if (points.length > 1) {
    f.svg.append(element("polyline", { points: points.map((p) => `${x(p.t)},${f.y(p.y)}`).join(" "), class: "line" }));
  }
  for (const p of points) {
    const dot = element("circle", { cx: x(p.t), cy: f.y(p.y), r: 3, class: "point" });
    dot.append(element("title", {}, `${when(p.t)}: ${format.format(p.y)}${unit ? " " + unit : ""}`));
    f.svg.append(dot);
  }
  for (const [i, t] of (t1 > t0 ? [t0, t1] : [t0]).entries()) {
    if (points.length) f.svg.append(element("text", { x: x(t), y: f.height - f.margin.bottom + 16, "text-anchor": i ? "end" : "start", class: "axis" }, when(t)));
  }
  if (note) f.svg.append(element("text", { x: f.margin.left + 4, y: f.margin.top + 12, class: "chart-note" }, note));
}
