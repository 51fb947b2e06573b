// Small SVG charts drawn by hand: a line/area chart for series over time and a stacked bar chart.
import { fmtCompact, svg } from "./util.js";

const W = 640;
const H = 220;
const PAD = { left: 44, right: 12, top: 12, bottom: 28 };

function niceMax(value) {
  if (value <= 4) return 4;
  const exp = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * exp) return step * exp;
  return 10 * exp;
}

function frame(labels, max, title) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  const plotH = H - PAD.top - PAD.bottom;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + plotH - (plotH * i) / 4;
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }));
    root.append(svg("text", { x: PAD.left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, fmtCompact((max * i) / 4)));
  }
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % every !== 0 && i !== labels.length - 1) return;
    root.append(svg("text", { x: xAt(i, labels.length), y: H - 8, class: "axis", "text-anchor": "middle" }, label));
  });
  return root;
}

function xAt(i, n) {
  const plotW = W - PAD.left - PAD.right;
  return n <= 1 ? PAD.left + plotW / 2 : PAD.left + (plotW * i) / (n - 1);
}

function yAt(v, max) {
  const plotH = H - PAD.top - PAD.bottom;
  return PAD.top + plotH - (plotH * v) / max;
}

// series: [{name, values: number[], cls}]
export function lineChart(labels, series, title) {
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const root = frame(labels, max, title);
  for (const s of series) {
    const points = s.values.map((v, i) => `${xAt(i, labels.length).toFixed(1)},${yAt(v, max).toFixed(1)}`);
    const base = yAt(0, max).toFixed(1);
    const area = `${xAt(0, labels.length).toFixed(1)},${base} ${points.join(" ")} ${xAt(labels.length - 1, labels.length).toFixed(1)},${base}`;
    root.append(svg("polygon", { points: area, class: `area ${s.cls}` }));
    root.append(svg("polyline", { points: points.join(" "), class: `line ${s.cls}` }));
    s.values.forEach((v, i) => {
      if (!v) return;
      const dot = svg("circle", { cx: xAt(i, labels.length), cy: yAt(v, max), r: 2.5, class: `dot ${s.cls}` });
      dot.append(svg("title", {}, `${labels[i]} ${s.name}: ${v.toLocaleString("en-US")}`));
      root.append(dot);
    });
  }
  return root;
}

export function barChart(labels, series, title) {
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const root = frame(labels, max, title);
  const plotW = W - PAD.left - PAD.right;
  const width = Math.max(2, Math.min(28, (plotW / Math.max(1, labels.length)) * 0.7));
  labels.forEach((label, i) => {
    let acc = 0;
    for (const s of series) {
      const v = s.values[i] || 0;
      if (!v) continue;
      const y0 = yAt(acc, max);
      const y1 = yAt(acc + v, max);
      const bar = svg("rect", { x: xAt(i, labels.length) - width / 2, y: y1, width, height: Math.max(1, y0 - y1), class: `bar ${s.cls}` });
      bar.append(svg("title", {}, `${label} ${s.name}: ${v.toLocaleString("en-US")}`));
      root.append(bar);
      acc += v;
    }
  });
  return root;
}

export function legend(series) {
  const node = document.createElement("div");
  node.className = "legend";
  for (const s of series) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.className = `swatch ${s.cls}`;
    item.append(swatch, document.createTextNode(s.name));
    node.append(item);
  }
  return node;
}
