// Shared pieces of UI: toasts, error sentences, confirmation dialogs and state pills.

import { describe } from './errors.js';
import { h, svg } from './dom.js';
import { num } from './format.js';
import { icons } from './icons.js';

export function toast(message, { tone = 'info', fix, timeout = 6000 } = {}) {
  const host = document.getElementById('toasts');
  const close = h('button', { class: 'btn ghost small', type: 'button', 'aria-label': 'Dismiss' }, svg(icons.x, { size: 14 }));
  const el = h('div', { class: `toast ${tone}`, role: tone === 'err' ? 'alert' : 'status' },
    h('div', {}, h('div', {}, message), fix ? h('div', { class: 'fix' }, fix) : null), close);
  close.addEventListener('click', () => el.remove());
  host.append(el);
  if (timeout) setTimeout(() => el.remove(), tone === 'err' ? timeout * 2 : timeout);
  return el;
}

export function showError(error, prefix) {
  const { message, fix } = describe(error);
  toast(prefix ? `${prefix}: ${message}` : message, { tone: 'err', fix });
}

/** An inline error block (for forms and empty screens). */
export function errorNotice(error, title) {
  const { message, fix } = describe(error);
  const details = (error && error.details) || [];
  return h('div', { class: 'notice err', role: 'alert' },
    svg(icons.alert),
    h('div', {},
      h('strong', {}, title || message),
      title ? h('div', {}, message) : null,
      details.length ? h('ul', {}, details.map((d) => h('li', {}, formatDetail(d)))) : null,
      fix ? h('div', { class: 'muted small' }, fix) : null));
}

export function formatDetail(detail) {
  if (typeof detail === 'string') return detail;
  const where = [detail.row != null ? `Row ${detail.row}` : null, detail.field || detail.column].filter(Boolean).join(', ');
  const reason = detail.reason || detail.message || JSON.stringify(detail);
  return where ? `${where}: ${reason}` : reason;
}

/** A modal confirmation built on <dialog>; resolves true when confirmed. */
export function confirmDialog({ title, text, confirm = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    const yes = h('button', { class: `btn ${danger ? 'danger' : 'primary'}`, value: 'yes', type: 'submit' }, confirm);
    const no = h('button', { class: 'btn', value: 'no', type: 'submit' }, 'Keep going');
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'dlg-title' },
      h('form', { method: 'dialog', class: 'stack' },
        h('h2', { id: 'dlg-title' }, title), h('p', { class: 'muted' }, text), h('div', { class: 'row end' }, no, yes)));
    dialog.addEventListener('close', () => { resolve(dialog.returnValue === 'yes'); dialog.remove(); });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

const CHANNEL_STATES = {
  not_configured: ['', 'Not configured'],
  disconnected: ['', 'Disconnected'],
  initializing: ['warn busy', 'Initializing'],
  qr: ['warn', 'Scan QR code'],
  authenticated: ['ok busy', 'Authenticated'],
  ready: ['ok', 'Ready'],
  auth_failure: ['err', 'Authentication failed'],
  conflict: ['warn', 'Open in another window'],
  error: ['err', 'Error'],
};

export function channelTone(state) {
  const tone = (CHANNEL_STATES[state] || [''])[0].split(' ')[0];
  return tone || 'idle';
}

export function channelPill(state) {
  const [tone, label] = CHANNEL_STATES[state] || ['', state || 'Unknown'];
  return h('span', { class: `pill ${tone}`, dataset: { state: state || '' } }, label);
}

const CAMPAIGN_STATES = {
  draft: ['', 'Draft'], scheduled: ['info', 'Scheduled'], running: ['info busy', 'Running'], paused: ['warn', 'Paused'],
  completed: ['ok', 'Completed'], cancelled: ['', 'Cancelled'],
};

/** A campaign's status as a pill. With its counts, an ending with failures or uncertain messages says so in
 *  amber ("Completed with 3 of 6 failed"), never a green "Completed". */
export function campaignPill(status, counts) {
  let [tone, label] = CAMPAIGN_STATES[status] || ['', status || '—'];
  const ending = status === 'completed' ? troubledEnding(counts) : '';
  if (ending) { tone = 'warn'; label = ending; }
  const pill = h('span', { class: `pill ${tone}`, dataset: { status: status || '', ending: ending ? 'troubled' : '' } }, label);
  return pill;
}

/** "Completed with 3 of 6 failed" (and/or uncertain), or '' when everything was sent. */
export function troubledEnding(counts) {
  if (!counts) return '';
  const ended = (counts.sent || 0) + (counts.failed || 0) + (counts.uncertain || 0);
  const parts = [];
  if (counts.failed) parts.push(`${num(counts.failed)} of ${num(ended)} failed`);
  if (counts.uncertain) parts.push(`${num(counts.uncertain)} of ${num(ended)} uncertain`);
  return parts.length ? `Completed with ${parts.join(' and ')}` : '';
}

export function pageHead(title, subtitle, ...actions) {
  return h('div', { class: 'page-head' },
    h('div', {}, h('h1', { tabindex: '-1', class: 'page-title' }, title), subtitle ? h('p', { class: 'muted' }, subtitle) : null),
    actions.length ? h('div', { class: 'page-actions' }, actions) : null);
}
