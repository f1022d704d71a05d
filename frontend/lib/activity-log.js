// The activity log: chronological, time-stamped, colour-coded by level, filterable, and virtualised (only
// the rows in view exist in the DOM), so 100,000 entries scroll as smoothly as ten.

import { debounce, h, nextId } from './dom.js';
import { clock, num } from './format.js';
import { on, state } from './store.js';

const ROW = 28;
const OVERSCAN = 6;
const LEVELS = [
  ['info', 'Info'],
  ['success', 'Success'],
  ['warning', 'Warning'],
  ['error', 'Error'],
];
const KINDS = [
  ['', 'All events'],
  ['channel.', 'Channels'],
  ['send.', 'Sending'],
  ['campaign.', 'Campaigns'],
  ['message.', 'Delivery'],
];

export class ActivityLog {
  /** scope: envelope -> bool limiting the log (e.g. to one campaign); height in px. */
  constructor({ scope = () => true, height = 360, label = 'Activity log' } = {}) {
    this.scope = scope;
    this.levels = new Set(LEVELS.map(([level]) => level));
    this.query = '';
    this.kind = '';
    this.matches = [];
    this.pool = [];
    this.follow = true;
    this.unseen = 0;
    this.frame = 0;
    this.build(height, label);
    this.unsubscribe = [on('events', (batch) => this.append(batch)), on('trimmed', () => this.rebuild())];
    this.resizeObserver = new ResizeObserver(() => this.schedule());
    this.resizeObserver.observe(this.viewport);
    this.rebuild();
  }

  build(height, label) {
    const searchId = nextId('log-search');
    this.search = h('input', {
      type: 'search',
      id: searchId,
      placeholder: 'Filter by text, number, error…',
      autocomplete: 'off',
    });
    this.search.addEventListener(
      'input',
      debounce(() => {
        this.query = this.search.value.trim().toLowerCase();
        this.rebuild();
      }, 120),
    );
    const kindSelect = h(
      'select',
      { 'aria-label': 'Event kind' },
      KINDS.map(([value, text]) => h('option', { value }, text)),
    );
    kindSelect.addEventListener('change', () => {
      this.kind = kindSelect.value;
      this.rebuild();
    });
    const levelBoxes = LEVELS.map(([level, text]) => {
      const box = h('input', { type: 'checkbox', checked: true, value: level });
      box.addEventListener('change', () => {
        if (box.checked) this.levels.add(level);
        else this.levels.delete(level);
        this.rebuild();
      });
      return h('label', {}, box, text);
    });
    this.spacer = h('div', { class: 'log-spacer' });
    this.emptyNote = h('div', { class: 'log-empty' }, 'No activity yet.');
    this.viewport = h(
      'div',
      {
        class: 'log-viewport',
        tabindex: '0',
        role: 'log',
        'aria-live': 'off',
        'aria-label': label,
        style: { height: `${height}px` },
      },
      this.spacer,
      this.emptyNote,
    );
    this.viewport.addEventListener(
      'scroll',
      () => {
        const atBottom = this.viewport.scrollTop + this.viewport.clientHeight >= this.viewport.scrollHeight - ROW;
        if (atBottom !== this.follow) {
          this.follow = atBottom;
          if (atBottom) this.unseen = 0;
          this.updateFoot();
        }
        this.schedule();
      },
      { passive: true },
    );
    this.countText = h('span', { class: 'num' });
    this.jump = h(
      'button',
      { class: 'btn small', type: 'button', hidden: true, onclick: () => this.scrollToEnd() },
      'Jump to latest',
    );
    this.element = h(
      'div',
      { class: 'log' },
      h(
        'div',
        { class: 'log-tools' },
        h('label', { class: 'sr-only', for: searchId }, 'Filter the activity log'),
        this.search,
        kindSelect,
        h('div', { class: 'log-levels', role: 'group', 'aria-label': 'Levels shown' }, levelBoxes),
      ),
      this.viewport,
      h('div', { class: 'log-foot' }, this.countText, this.jump),
    );
  }

  accepts(envelope) {
    if (!this.scope(envelope)) return false;
    if (!this.levels.has(envelope.level || 'info')) return false;
    if (this.kind && !(envelope.type || '').startsWith(this.kind)) return false;
    if (this.query) {
      const text = `${envelope.text || ''} ${envelope.type || ''} ${envelope.data && envelope.data.recipient ? envelope.data.recipient : ''}`;
      if (!text.toLowerCase().includes(this.query)) return false;
    }
    return true;
  }

  rebuild() {
    this.matches = state.events.filter((envelope) => this.accepts(envelope));
    this.seenId = state.lastEventId ?? 0;
    this.unseen = 0;
    this.follow = true;
    this.schedule(true);
  }

  append(batch) {
    let added = 0;
    for (const envelope of batch) {
      if (envelope.id <= this.seenId) continue; // already taken in by rebuild()
      this.seenId = envelope.id;
      if (this.accepts(envelope)) {
        this.matches.push(envelope);
        added += 1;
      }
    }
    if (!added) return;
    if (!this.follow) this.unseen += added;
    this.schedule();
  }

  scrollToEnd() {
    this.follow = true;
    this.unseen = 0;
    this.schedule(true);
  }

  schedule(toEnd = false) {
    if (toEnd) this.pendingEnd = true;
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  render() {
    const total = this.matches.length;
    this.spacer.style.height = `${total * ROW}px`;
    this.emptyNote.hidden = total > 0;
    this.emptyNote.textContent = state.events.length ? 'No entries match the filter.' : 'No activity yet.';
    if (this.follow || this.pendingEnd) this.viewport.scrollTop = this.viewport.scrollHeight;
    this.pendingEnd = false;
    const height = this.viewport.clientHeight || 360;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / ROW) - OVERSCAN);
    const count = Math.min(total - first, Math.ceil(height / ROW) + 2 * OVERSCAN);
    while (this.pool.length < count) this.pool.push(this.makeRow());
    for (let i = 0; i < this.pool.length; i += 1) {
      const row = this.pool[i];
      if (i >= count) {
        row.el.hidden = true;
        row.index = -1;
        continue;
      }
      const index = first + i;
      row.el.hidden = false;
      if (row.index !== index || row.envelope !== this.matches[index]) this.fill(row, index);
    }
    this.updateFoot();
  }

  makeRow() {
    const t = h('span', { class: 't' });
    const lv = h('span', { class: 'lv' });
    const tx = h('span', { class: 'tx' });
    const el = h('div', { class: 'log-row' }, t, lv, tx);
    this.viewport.append(el);
    return { el, t, lv, tx, index: -1, envelope: null };
  }

  fill(row, index) {
    const envelope = this.matches[index];
    row.index = index;
    row.envelope = envelope;
    row.el.style.transform = `translateY(${index * ROW}px)`;
    row.el.dataset.level = envelope.level || 'info';
    row.el.dataset.odd = index % 2 ? '1' : '';
    row.t.textContent = clock(envelope.ts);
    row.lv.textContent = envelope.level || 'info';
    row.tx.textContent = envelope.text || envelope.type;
    row.el.title = `${envelope.ts || ''}  ${envelope.type || ''}\n${envelope.text || ''}`;
  }

  updateFoot() {
    const total = this.matches.length;
    this.countText.textContent = `${num(total)} ${total === 1 ? 'entry' : 'entries'}${this.follow ? '' : ' · paused while you scroll'}`;
    this.jump.hidden = this.follow;
    this.jump.textContent = this.unseen ? `${num(this.unseen)} new · Jump to latest` : 'Jump to latest';
  }

  destroy() {
    for (const off of this.unsubscribe) off();
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frame);
  }
}
