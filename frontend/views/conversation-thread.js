// One conversation thread: every message with the contact on every channel, in time order. What they sent is on
// the left, what we sent on the right with its delivery tick (updated live); each says its channel. MMS media
// are links. A bounce of one of our mails and an automatic reply (out of office) say so in words; a reply shows
// its new text, with the whole mail one click away. The composer answers on the channel the contact last wrote on (or a connected one) and never
// offers a channel that is not configured.

import { api, list } from '../lib/api.js';
import { CHANNELS_OF, FAMILY_WORDS, isConfigured } from '../lib/channels.js';
import { busy, h, replace, svg } from '../lib/dom.js';
import { channelName, contactOfThread, dateTime } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { on, state } from '../lib/store.js';
import { errorNotice, showError } from '../lib/ui.js';
import { doneToggle, saveAsContact, savedReplies } from './conversation-tools.js';

// [source, label, the channels that can send it]
const SOURCES = [
  ['sms', 'SMS', CHANNELS_OF.sms],
  ['email', 'Email', CHANNELS_OF.email],
  ['whatsapp', 'WhatsApp', CHANNELS_OF.whatsapp],
];
const SHOWN = 300;
const OPTED_OUT_OF = { ...FAMILY_WORDS, all: 'everything' };

/** The tick for a message: [key, icon, words]. */
export function tickFor(m) {
  if (m.direction === 'in') return ['received', icons.check, 'Received'];
  if (m.status === 'failed') return ['failed', icons.x, `Failed${m.last_error ? `: ${m.last_error}` : ''}`];
  if (m.status === 'uncertain') return ['uncertain', icons.question, 'Uncertain: the provider did not answer'];
  if (m.status === 'cancelled') return ['failed', icons.x, `Cancelled${m.last_error ? `: ${m.last_error}` : ''}`];
  if (m.status === 'queued' || m.status === 'sending')
    return [m.status, icons.clock, m.status === 'queued' ? 'Queued' : 'Sending'];
  if (m.delivered === true || m.delivery === 'delivered') return ['delivered', icons.checks, 'Delivered'];
  if (m.delivered === false || m.delivery === 'undelivered') return ['undelivered', icons.x, 'Not delivered'];
  if (m.delivery === 'expired') return ['sent', icons.check, 'Sent (delivery unknown)'];
  if (m.delivery === 'untracked') return ['sent', icons.check, 'Accepted by the server'];
  return ['sent', icons.check, 'Sent'];
}

export function tick(m) {
  const [key, icon, words] = tickFor(m);
  const short = words.split(/[:(]/)[0].trim();
  return h(
    'span',
    { class: 'tick', dataset: { tick: key }, title: words },
    svg(icon),
    h('span', { class: 'word' }, short),
  );
}

const configured = isConfigured;

export async function openThread(box, conversationId, { contact, onChange }) {
  const bubbles = new Map();
  const contactId = contactOfThread(conversationId);
  const body = h('div', { class: 'thread-body', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages' });
  const who = contact ? contact.name || contact.phone || contact.email : conversationId;
  const optedOut = contact
    ? Object.entries(contact.opt_outs || {})
        .filter(([, v]) => v)
        .map(([family]) => family)
    : [];
  let view = null;
  try {
    view = await api.get(`/api/conversations/${encodeURIComponent(conversationId)}`);
  } catch {
    view = null;
  }
  const route = view?.reply || null;
  const done = doneToggle(conversationId, Boolean(view?.done));
  const title = h('h2', {}, who);
  const head = h(
    'div',
    { class: 'thread-head' },
    h(
      'div',
      { class: 'thread-who' },
      title,
      contact ? h('span', { class: 'muted small' }, [contact.phone, contact.email].filter(Boolean).join(' · ')) : null,
    ),
    optedOut.length
      ? h(
          'span',
          {
            class: 'pill warn',
            title: 'Campaigns skip this contact on these channels; one-to-one replies stay possible.',
          },
          `Opted out of ${optedOut.map((f) => OPTED_OUT_OF[f] || f).join(', ')}`,
        )
      : null,
    done.element,
  );
  const unknown = saveAsContact(contact, (saved) => {
    title.textContent = saved.name;
    onChange();
  });
  const composer = buildComposer(conversationId, contact, route, (message) => {
    upsert(message, true);
    onChange();
  });
  replace(box, head, unknown, body, composer.element);

  const mine = (m) =>
    m &&
    ((m.sender_type === 'conversation' && String(m.sender_id) === conversationId) ||
      (contactId != null && String(m.contact_id) === contactId));
  const upsert = (m, scroll = false) => {
    const existing = bubbles.get(String(m.id));
    if (existing) {
      existing.update(m);
      return;
    }
    const bubble = messageBubble(m);
    bubbles.set(String(m.id), bubble);
    body.querySelector('.empty')?.remove();
    body.append(bubble.element);
    if (scroll) body.scrollTop = body.scrollHeight;
  };

  try {
    // The newest messages (a contact who got many campaigns has a long history): count first, then the tail.
    const base = `/api/conversations/${encodeURIComponent(conversationId)}/messages`;
    const { total } = await list(base, { limit: 1 });
    const { items } = total ? await list(base, { limit: SHOWN, offset: Math.max(0, total - SHOWN) }) : { items: [] };
    done.element.hidden = !total;
    if (total > SHOWN)
      body.append(h('p', { class: 'muted small' }, `Showing the latest ${SHOWN} of ${total} messages.`));
    if (!items.length)
      body.append(h('div', { class: 'empty' }, `No messages with ${who} yet. Write the first one below.`));
    items.forEach((m) => upsert(m));
    body.scrollTop = body.scrollHeight;
  } catch (error) {
    body.append(errorNotice(error, 'The messages could not be loaded.'));
  }
  const markRead = () => api.post(`/api/conversations/${encodeURIComponent(conversationId)}/read`).catch(() => null);
  markRead();

  const apply = (events) => {
    let received = false;
    for (const e of events) {
      const d = e.data || {};
      if (e.type === 'message.created' && (String(d.conversation_id) === conversationId || mine(d.message))) {
        upsert(d.message, true);
        if (d.message.direction === 'in') {
          received = true;
          if (!d.message.metadata?.auto) done.set(false);
          done.element.hidden = false;
        }
      } else if (e.type === 'message.updated' && mine(d.message)) {
        upsert(d.message, true);
      } else if (e.type === 'conversation.done' && String(d.conversation_id) === conversationId) {
        done.set(d.done);
      } else if (e.type === 'send.progress' && String(d.conversation_id) === conversationId && d.message_id != null) {
        const bubble = bubbles.get(String(d.message_id));
        if (bubble) bubble.update({ status: d.status, last_error: d.error });
      }
    }
    if (received && !document.hidden) markRead();
  };
  // Events that arrived while the thread loaded are applied once more; upsert is idempotent.
  apply(state.events.slice(-500));
  const off = on('events', apply);
  return () => off();
}

/** The words for what a delivery report said about one of our messages, or ''. */
export function bounceWords(m) {
  const b = m.metadata?.bounce;
  if (!b) return '';
  const code = b.status ? ` (${b.status})` : '';
  return b.kind === 'permanent'
    ? `Bounced${code}: ${b.reason}. The address is no longer mailed.`
    : `Delivery delayed${code}: ${b.reason}. The mail server keeps trying; repeated delays stop mail to this address.`;
}

function messageBubble(initial) {
  let message = { ...initial };
  const incoming = message.direction === 'in';
  const tickBox = h('span');
  const error = h('div', { class: 'err-line' });
  const time = h('span');
  const media = (message.metadata?.media || []).filter((m) => /^https?:\/\//.test(m.url || ''));
  const auto = incoming && message.metadata?.auto;
  const whole = incoming && message.metadata?.full_text;
  const bounce = h('div', { class: 'bounce-line', role: 'note' });
  const element = h(
    'div',
    {
      class: `bubble ${incoming ? 'in' : 'out'}${auto ? ' auto' : ''}`,
      dataset: { message: message.id, direction: message.direction || 'out' },
    },
    auto
      ? h(
          'div',
          { class: 'auto-line', role: 'note' },
          `Automatic reply (${message.metadata.auto_reason || 'sent by their mail program'}): not counted as a reply.`,
        )
      : null,
    message.subject ? h('div', { class: 'subject' }, message.subject) : null,
    h('div', { class: 'text' }, message.body || ''),
    whole ? h('details', { class: 'whole-mail' }, h('summary', {}, 'Show the whole mail'), h('pre', {}, whole)) : null,
    bounce,
    media.length
      ? h(
          'div',
          { class: 'media' },
          media.map((m, i) =>
            h(
              'a',
              { href: m.url, target: '_blank', rel: 'noopener noreferrer' },
              `Attachment ${i + 1}${m.content_type ? ` (${m.content_type})` : ''}`,
            ),
          ),
        )
      : null,
    error,
    h(
      'div',
      { class: 'meta' },
      h(
        'span',
        { class: 'src', title: incoming ? 'Received' : 'Sent' },
        `${incoming ? 'In' : 'Out'} · ${channelName(message.channel || message.source || '')}`,
      ),
      message.sender_type === 'campaign' ? h('span', {}, 'Campaign') : null,
      time,
      incoming ? null : tickBox,
    ),
  );
  const update = (changes) => {
    message = { ...message, ...changes };
    const [key] = tickFor(message);
    element.dataset.tick = key;
    if (!incoming) replace(tickBox, tick(message));
    time.textContent = dateTime(message.sent_at || message.created_at);
    error.textContent = message.status === 'failed' && message.last_error ? message.last_error : '';
    error.hidden = !error.textContent;
    bounce.textContent = incoming ? '' : bounceWords(message);
    bounce.hidden = !bounce.textContent;
    bounce.dataset.kind = message.metadata?.bounce?.kind || '';
  };
  update({});
  return { element, update };
}

function buildComposer(conversationId, contact, route, onSent) {
  const usable = SOURCES.filter(([, , channels]) => channels.some(configured));
  const source = h(
    'select',
    { 'aria-label': 'Send as' },
    SOURCES.map(([value, label, channels]) => {
      const ok = channels.some(configured);
      const ready = channels.some((c) => (state.channels.get(c) || {}).state === 'ready');
      const words = !ok ? `${label} (not configured)` : ready ? label : `${label} (not connected)`;
      return h('option', { value, disabled: !ok }, words);
    }),
  );
  const to = h('input', { type: 'text', autocomplete: 'off', 'aria-label': 'To' });
  const subject = h('input', { type: 'text', placeholder: 'Subject', 'aria-label': 'Subject' });
  const text = h('textarea', { rows: 3, placeholder: 'Write a reply… (Ctrl+Enter sends)', 'aria-label': 'Message' });
  const send = h('button', { class: 'btn primary', type: 'submit', disabled: !usable.length }, svg(icons.send), 'Send');
  const errors = h('div');
  const saved = savedReplies(text);
  const hint = usable.length
    ? null
    : h('p', { class: 'muted small' }, 'No channel is configured yet: set one up under Channels to reply.');
  const element = h(
    'form',
    { class: 'composer', 'aria-label': 'Reply' },
    h('div', { class: 'row' }, source, h('div', { style: { flex: '1 1 200px' } }, to), subject),
    text,
    hint,
    errors,
    h('div', { class: 'row composer-foot' }, saved.picker, h('span', { class: 'spacer' }), send),
    saved.panel,
  );
  const sync = () => {
    const email = source.value === 'email';
    subject.hidden = !email;
    if (!to.value || to.dataset.auto) {
      const routed = route && route.source === source.value ? route.to : null;
      to.value = routed || (contact ? (email ? contact.email : contact.phone) || '' : '');
      to.dataset.auto = '1';
    }
    to.placeholder = email ? 'name@example.com' : '+15551234567';
  };
  to.addEventListener('input', () => delete to.dataset.auto);
  source.addEventListener('change', sync);
  // The channel the contact last wrote on (or a connected one), as the server chose it; never one not configured.
  if (route && usable.some(([value]) => value === route.source)) source.value = route.source;
  else if (usable.length) source.value = usable[0][0];
  if (route && route.source === 'email' && !subject.value) subject.value = '';
  sync();
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) element.requestSubmit();
  });
  element.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!text.value.trim() || !to.value.trim()) {
      (to.value.trim() ? text : to).focus();
      return;
    }
    busy(send, async () => {
      errors.replaceChildren();
      const payload = { source: source.value, to: to.value.trim(), body: text.value };
      if (source.value === 'email' && subject.value.trim()) payload.subject = subject.value;
      if (route && route.source === source.value && route.channel && source.value === 'email')
        payload.channel = route.channel;
      if (contact) {
        payload.contact_id = contact.id;
        if (contact.name) payload.recipient_name = contact.name;
      }
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
