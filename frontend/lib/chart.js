// A small canvas line chart of cumulative counts over time (sent / failed / delivered), redrawn at most once
// a frame. No library: three step lines, a light grid and two time labels are all it needs.

import { clock } from './format.js';

export class LineChart {
  /** series: [{key, label, cssVar}] */
  constructor(canvas, series) {
    this.canvas = canvas;
    this.series = series;
    this.points = new Map(series.map((s) => [s.key, []]));
    this.frame = 0;
    this.observer = new ResizeObserver(() => this.schedule());
    this.observer.observe(canvas);
  }

  /** Adds a step (one up, or `delta`) to a series at time t (ms). Points must arrive in time order per series. */
  add(key, t, delta = 1) {
    const list = this.points.get(key);
    list.push([t, this.level(key) + delta]);
  }

  /** The series' current value. */
  level(key) {
    const list = this.points.get(key);
    return list.length ? list.at(-1)[1] : 0;
  }

  reset() {
    for (const list of this.points.values()) list.length = 0;
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw() {
    const { canvas } = this;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    const ctx = clearCanvas(canvas, width, height);
    const style = getComputedStyle(canvas);
    // Each line's last value, readable by tests and tools: the chart must end where the counts are.
    for (const s of this.series) canvas.dataset[s.key] = String(this.level(s.key));
    const plot = this.plotArea(width, height);
    drawAxes(ctx, plot, style);
    for (const s of this.series) {
      const list = this.points.get(s.key);
      if (list.length) drawSteps(ctx, plot, list, style.getPropertyValue(s.cssVar).trim() || '#36c');
    }
  }

  /** The plot's geometry: padding, time span [t0, t1], y-axis top, and x(t) / y(v) mapping to pixels. */
  plotArea(width, height) {
    const pad = { left: 44, right: 12, top: 10, bottom: 22 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const [t0, t1] = this.timeSpan();
    const yMax = niceMax(Math.max(1, ...this.series.map((s) => this.points.get(s.key).length)));
    const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * plotW;
    const y = (v) => pad.top + plotH - (v / yMax) * plotH;
    return { width, height, pad, t0, t1, yMax, x, y };
  }

  /** The time axis' ends: the points' first and last times (or the last minute), widened as described below. */
  timeSpan() {
    const any = this.series.some((s) => this.points.get(s.key).length);
    let t0 = any
      ? Math.min(...this.series.map((s) => (this.points.get(s.key)[0] || [Infinity])[0]))
      : Date.now() - 60_000;
    let t1 = any ? Math.max(...this.series.map((s) => (this.points.get(s.key).at(-1) || [-Infinity])[0])) : Date.now();
    if (this.live) t1 = Math.max(t1, Date.now());
    // At least ten seconds wide, with a little air on both sides of a finished run.
    const span = Math.max(t1 - t0, 10_000);
    const margin = this.live ? 0 : span * 0.04;
    t0 = (this.live ? t1 - span : t0) - margin;
    t1 = t0 + span + 2 * margin;
    return [t0, t1];
  }

  destroy() {
    this.observer.disconnect();
    cancelAnimationFrame(this.frame);
  }
}

/** Sizes the canvas to its box at the screen's pixel ratio and clears it; returns its 2D context. */
function clearCanvas(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return ctx;
}

/** The light grid with its counts on the left, and the start and end times along the bottom. */
function drawAxes(ctx, { width, height, pad, t0, t1, yMax, y }, style) {
  ctx.font = `11px ${style.getPropertyValue('--font') || 'sans-serif'}`;
  ctx.fillStyle = style.getPropertyValue('--muted').trim() || '#666';
  ctx.strokeStyle = style.getPropertyValue('--border').trim() || '#ddd';
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let i = 0; i <= 4; i += 1) {
    const v = (yMax / 4) * i;
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(pad.left, yy);
    ctx.lineTo(width - pad.right, yy);
    ctx.stroke();
    ctx.fillText(formatCount(v), pad.left - 6, yy);
  }
  ctx.textBaseline = 'alphabetic';
  ctx.textAlign = 'left';
  ctx.fillText(clock(t0).slice(0, 8), pad.left, height - 6);
  ctx.textAlign = 'right';
  ctx.fillText(clock(t1).slice(0, 8), width - pad.right, height - 6);
}

/** One series as a step line (counts only ever jump), with one step per pixel column at most, so 100,000
 * points draw as fast as 1,000. */
function drawSteps(ctx, { t1, x, y }, list, color) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(x(list[0][0]), y(0));
  let lastY = y(0);
  let column = -1;
  for (let i = 0; i < list.length; i += 1) {
    const px = x(list[i][0]);
    const next = list[i + 1];
    if (next && Math.floor(x(next[0])) === Math.floor(px)) continue;
    if (Math.floor(px) === column) continue;
    column = Math.floor(px);
    ctx.lineTo(px, lastY);
    lastY = y(list[i][1]);
    ctx.lineTo(px, lastY);
  }
  ctx.lineTo(x(t1), y(list.at(-1)[1]));
  ctx.stroke();
}

/** A top for the y axis that splits into four round steps (4, 8, 20, 40, 100, 200, 400, 1000...). */
function niceMax(value) {
  const rough = value / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const step of [1, 2, 2.5, 5, 10])
    if (step * power >= rough) return Math.max(4, 4 * Math.max(1, Math.ceil(step * power)));
  return value;
}

function formatCount(v) {
  if (v >= 1_000_000) return `${+(v / 1_000_000).toFixed(1)}M`;
  if (v >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  return String(Math.round(v));
}
