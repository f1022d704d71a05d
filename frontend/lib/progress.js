// A campaign's progress bar: delivered, sent, failed and uncertain as segments of the total.

import { h } from './dom.js';
import { num, pct } from './format.js';

export function doneCount(counts = {}) {
  return (counts.sent || 0) + (counts.failed || 0) + (counts.uncertain || 0);
}

export function progressBar(counts = {}, label = 'Progress') {
  const bar = h('div', { class: 'progress', role: 'progressbar', 'aria-label': label, 'aria-valuemin': '0' });
  updateProgress(bar, counts);
  return bar;
}

export function updateProgress(bar, counts = {}) {
  const total = counts.total || 0;
  const delivered = Math.min(counts.delivered || 0, counts.sent || 0);
  const parts = [
    ['p-delivered', delivered],
    ['p-sent', (counts.sent || 0) - delivered],
    ['p-failed', counts.failed || 0],
    ['p-uncertain', counts.uncertain || 0],
  ];
  bar.replaceChildren(
    ...parts.map(([cls, n]) => h('span', { class: cls, style: { width: total ? `${(100 * n) / total}%` : '0%' } })),
  );
  const done = doneCount(counts);
  bar.setAttribute('aria-valuemax', String(total));
  bar.setAttribute('aria-valuenow', String(done));
  bar.setAttribute('aria-valuetext', `${num(done)} of ${num(total)} done (${pct(done, total)})`);
}
