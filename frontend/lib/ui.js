// Shared pieces of UI: toasts, error sentences, confirmation dialogs and state pills.

import { h, svg } from './dom.js';
import { describe, detailSentence, uniqueSentences } from './errors.js';
import { num } from './format.js';
import { icons } from './icons.js';

export function toast(message, { tone = 'info', fix, timeout = 6000 } = {}) {
  const host = document.getElementById('toasts');
  const close = h(
    'button',
    { class: 'btn ghost small', type: 'button', 'aria-label': 'Dismiss' },
    svg(icons.x, { size: 14 }),
  );
  const el = h(
    'div',
    { class: `toast ${tone}`, role: tone === 'err' ? 'alert' : 'status' },
    h('div', {}, h('div', {}, message), fix ? h('div', { class: 'fix' }, fix) : null),
    close,
  );
  close.addEventListener('click', () => el.remove());
  host.append(el);
  if (timeout) setTimeout(() => el.remove(), tone === 'err' ? timeout * 2 : timeout);
  return el;
}

export function showError(error, prefix) {
  const { message, fix } = describe(error);
  const [first, second] = uniqueSentences([prefix ? `${prefix}.` : null, message]);
  toast(second ? `${first} ${second}` : first, { tone: 'err', fix });
}

/**
 * An inline error block (for forms and empty screens): the title (what did not happen), the reason, each
 * problem naming its field as the form labels it (`labels`: the form's own key -> label), and the fix; a
 * sentence already said is not said again.
 */
export function errorNotice(error, title, labels = {}) {
  const { message, fix } = describe(error, labels);
  // A problem the message already states is not listed again.
  const said = message.toLowerCase();
  const details = ((error && error.details) || [])
    .filter(
      (d) =>
        !(
          d &&
          d.reason &&
          said.includes(
            String(d.reason)
              .toLowerCase()
              .replace(/[.\s]+$/, ''),
          )
        ),
    )
    .map((d) => detailSentence(d, labels));
  const overlaps = title && covers(message, title);
  const [head, ...rest] = uniqueSentences([
    overlaps ? message : title || message,
    overlaps ? null : message,
    ...details,
  ]);
  const lines = rest.filter((line) => !details.includes(line));
  const listed = rest.filter((line) => details.includes(line));
  return h(
    'div',
    { class: 'notice err', role: 'alert' },
    svg(icons.alert),
    h(
      'div',
      {},
      h('strong', {}, head),
      lines.map((line) => h('div', {}, line)),
      listed.length
        ? h(
            'ul',
            {},
            listed.map((line) => h('li', {}, line)),
          )
        : null,
      fix ? h('div', { class: 'muted small' }, fix) : null,
    ),
  );
}

// True when a message already says what a title says ("The SMTP settings were not saved: ..." covers "The
// settings were not saved.").
function covers(message, title) {
  const words = (text) =>
    new Set(
      String(text)
        .toLowerCase()
        .match(/[a-z]+/g) || [],
    );
  const have = words(message);
  return [...words(title)].filter((w) => w.length > 3).every((w) => have.has(w));
}

export function formatDetail(detail, labels = {}) {
  return detailSentence(detail, labels);
}

/** A modal confirmation built on <dialog>; resolves true when confirmed. */
export function confirmDialog({
  title,
  text,
  confirm = 'Confirm',
  cancel = 'Keep going',
  danger = false,
  details = [],
}) {
  return new Promise((resolve) => {
    const yes = h('button', { class: `btn ${danger ? 'danger' : 'primary'}`, value: 'yes', type: 'submit' }, confirm);
    const no = h('button', { class: 'btn', value: 'no', type: 'submit' }, cancel);
    const list = details.length
      ? h(
          'ul',
          { class: 'dialog-details' },
          details.map((d) => h('li', {}, d)),
        )
      : null;
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': 'dlg-title' },
      h(
        'form',
        { method: 'dialog', class: 'stack' },
        h('h2', { id: 'dlg-title' }, title),
        h('p', { class: 'muted' }, text),
        list,
        h('div', { class: 'row end' }, no, yes),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'yes');
      dialog.remove();
    });
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
  draft: ['', 'Draft'],
  scheduled: ['info', 'Scheduled'],
  running: ['info busy', 'Running'],
  paused: ['warn', 'Paused'],
  completed: ['ok', 'Completed'],
  cancelled: ['', 'Cancelled'],
};

/** A campaign's status as a pill. With its counts, an ending with failures or uncertain messages says so in
 *  amber ("Completed with 3 of 6 failed"), never a green "Completed". */
export function campaignPill(status, counts) {
  let [tone, label] = CAMPAIGN_STATES[status] || ['', status || '—'];
  const ending = status === 'completed' ? troubledEnding(counts) : '';
  if (ending) {
    tone = 'warn';
    label = ending;
  }
  const pill = h(
    'span',
    { class: `pill ${tone}`, dataset: { status: status || '', ending: ending ? 'troubled' : '' } },
    label,
  );
  return pill;
}

/** "Completed with 3 of 6 failed" (and/or uncertain, not delivered), "Completed: 3 not delivered", or '' when
 * everything was sent and nothing came back undelivered. */
export function troubledEnding(counts) {
  if (!counts) return '';
  const ended = (counts.sent || 0) + (counts.failed || 0) + (counts.uncertain || 0);
  const parts = [];
  if (counts.failed) parts.push(`${num(counts.failed)} of ${num(ended)} failed`);
  if (counts.uncertain) parts.push(`${num(counts.uncertain)} of ${num(ended)} uncertain`);
  if (counts.undelivered) parts.push(`${num(counts.undelivered)} not delivered`);
  if (!parts.length) return '';
  return counts.failed || counts.uncertain ? `Completed with ${parts.join(' and ')}` : `Completed: ${parts[0]}`;
}

export function pageHead(title, subtitle, ...actions) {
  return h(
    'div',
    { class: 'page-head' },
    h(
      'div',
      {},
      h('h1', { tabindex: '-1', class: 'page-title' }, title),
      subtitle ? h('p', { class: 'muted' }, subtitle) : null,
    ),
    actions.length ? h('div', { class: 'page-actions' }, actions) : null,
  );
}
