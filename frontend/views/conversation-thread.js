// One conversation thread: the messages as bubbles with delivery ticks (updated live), and the composer.

import { api } from '../lib/api.js';
import { busy, h, replace, svg } from '../lib/dom.js';
import { dateTime } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { on, state } from '../lib/store.js';
import { errorNotice, showError } from '../lib/ui.js';

const SOURCES = [['sms', 'SMS', 'sms'], ['email', 'Email', null], ['whatsapp', 'WhatsApp', 'whatsapp']];

/** The tick for a message: [key, icon, words]. */
export function tickFor(m) {
  if (m.status === 'failed') return ['failed', icons.x, `Failed${m.last_error ? `: ${m.last_error}` : ''}`];
  if (m.status === 'uncertain') return ['uncertain', icons.question, 'Uncertain: the provider did not answer'];
  if (m.status === 'queued' || m.status === 'sending') return [m.status, icons.clock, m.status === 'queued' ? 'Queued' : 'Sending'];
  if (m.delivered === true || m.delivery === 'delivered') return ['delivered', icons.checks, 'Delivered'];
  if (m.delivered === false || m.delivery === 'undelivered') return ['undelivered', icons.x, 'Not delivered'];
  if (m.delivery === 'expired') return ['sent', icons.check, 'Sent (delivery unknown)'];
  if (m.delivery === 'untracked') return ['sent', icons.check, 'Accepted by the server'];
  return ['sent', icons.check, 'Sent'];
}

export function tick(m) {
  const [key, icon, words] = tickFor(m);
  const short = words.split(/[:(]/)[0].trim();
  return h('span', { class: 'tick', dataset: { tick: key }, title: words }, svg(icon), h('span', { class: 'word' }, short));
}

export async function openThread(box, conversationId, { contact, onSent }) {
  const bubbles = new Map();
  const body = h('div', { class: 'thread-body', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages' });
  const who = contact ? contact.name || contact.phone || contact.email : conversationId;
  const head = h('div', { class: 'thread-head' }, h('div', {}, h('h2', {}, who),
    contact ? h('span', { class: 'muted small' }, [contact.phone, contact.email].filter(Boolean).join(' · ')) : null));
  const composer = buildComposer(conversationId, contact, (message) => { upsert(message, true); onSent(); });
  replace(box, head, body, composer.element);

  const upsert = (m, scroll = false) => {
    const existing = bubbles.get(String(m.id));
    if (existing) { existing.update(m); return; }
    const bubble = messageBubble(m);
    bubbles.set(String(m.id), bubble);
    body.querySelector('.empty')?.remove();
    body.append(bubble.element);
    if (scroll) body.scrollTop = body.scrollHeight;
  };

  try {
    const page = await api.get(`/api/conversations/${encodeURIComponent(conversationId)}/messages`);
    const items = (page.items || page).slice().sort((a, b) => (a.id > b.id ? 1 : -1));
    if (!items.length) body.append(h('div', { class: 'empty' }, `No messages with ${who} yet. Write the first one below.`));
    items.forEach((m) => upsert(m));
    body.scrollTop = body.scrollHeight;
  } catch (error) {
    body.append(errorNotice(error, 'The messages could not be loaded.'));
  }

  const apply = (events) => {
    for (const e of events) {
      const d = e.data || {};
      if (e.type === 'message.updated' && d.message && d.message.sender_type === 'conversation' && String(d.message.sender_id) === conversationId) {
        upsert(d.message, true);
      } else if (e.type === 'send.progress' && String(d.conversation_id) === conversationId && d.message_id != null) {
        const bubble = bubbles.get(String(d.message_id));
        if (bubble) bubble.update({ status: d.status, last_error: d.error });
      }
    }
  };
  // Events that arrived while the thread loaded are applied once more; upsert is idempotent.
  apply(state.events.slice(-500));
  const off = on('events', apply);
  return () => off();
}

function messageBubble(initial) {
  let message = { ...initial };
  const tickBox = h('span');
  const error = h('div', { class: 'err-line' });
  const time = h('span');
  const element = h('div', { class: 'bubble', dataset: { message: message.id } },
    message.subject ? h('div', { class: 'subject' }, message.subject) : null,
    h('div', { class: 'text' }, message.body || ''),
    error,
    h('div', { class: 'meta' }, h('span', { class: 'src' }, message.source || ''), time, tickBox));
  const update = (changes) => {
    message = { ...message, ...changes };
    const [key] = tickFor(message);
    element.dataset.tick = key;
    replace(tickBox, tick(message));
    time.textContent = dateTime(message.sent_at || message.created_at);
    error.textContent = message.status === 'failed' && message.last_error ? message.last_error : '';
    error.hidden = !error.textContent;
  };
  update({});
  return { element, update };
}

function buildComposer(conversationId, contact, onSent) {
  const source = h('select', { 'aria-label': 'Send as' }, SOURCES.map(([value, label, channel]) => {
    const st = channel ? (state.channels.get(channel) || {}).state : null;
    return h('option', { value }, st && st !== 'ready' ? `${label} (not connected)` : label);
  }));
  const to = h('input', { type: 'text', autocomplete: 'off', 'aria-label': 'To' });
  const subject = h('input', { type: 'text', placeholder: 'Subject', 'aria-label': 'Subject' });
  const text = h('textarea', { rows: 3, placeholder: 'Write a reply… (Ctrl+Enter sends)', 'aria-label': 'Message' });
  const send = h('button', { class: 'btn primary', type: 'submit' }, svg(icons.send), 'Send');
  const errors = h('div');
  const element = h('form', { class: 'composer', 'aria-label': 'Reply' },
    h('div', { class: 'row' }, source, h('div', { style: { flex: '1 1 200px' } }, to), subject), text, errors, h('div', { class: 'row end' }, send));
  const sync = () => {
    const email = source.value === 'email';
    subject.hidden = !email;
    if (contact && (!to.value || to.dataset.auto)) {
      to.value = (email ? contact.email : contact.phone) || '';
      to.dataset.auto = '1';
    }
    to.placeholder = email ? 'name@example.com' : '+15551234567';
  };
  to.addEventListener('input', () => delete to.dataset.auto);
  source.addEventListener('change', sync);
  if (contact && !contact.phone && contact.email) source.value = 'email';
  sync();
  text.addEventListener('keydown', (event) => { if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) element.requestSubmit(); });
  element.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!text.value.trim() || !to.value.trim()) { (to.value.trim() ? text : to).focus(); return; }
    busy(send, async () => {
      errors.replaceChildren();
      const payload = { source: source.value, to: to.value.trim(), body: text.value };
      if (source.value === 'email') payload.subject = subject.value;
      if (contact) { payload.contact_id = contact.id; if (contact.name) payload.recipient_name = contact.name; }
      try {
        const message = await api.post(`/api/conversations/${encodeURIComponent(conversationId)}/messages`, payload);
        text.value = '';
        onSent(message);
      } catch (error) {
        errors.replaceChildren(errorNotice(error, 'The message was not sent.'));
        if (error.status === 0) showError(error);
      }
    });
  });
  return { element };
}

