// Conversations: the threads (one per contact, `contact-<id>`), newest first, each with its last message and
// how many received messages are unread, kept live from `message.created` / `conversation.read`; the open
// thread on the right. Searching finds contacts to start a new thread with.

import { api, list } from '../lib/api.js';
import { debounce, h, replace } from '../lib/dom.js';
import { channelName, contactOfThread, relative, threadOfContact } from '../lib/format.js';
import { on } from '../lib/store.js';
import { errorNotice, pageHead } from '../lib/ui.js';
import { openThread } from './conversation-thread.js';

export async function mount(root, params) {
  const selected = params[0] || null;
  const contacts = new Map();
  const search = h('input', { type: 'search', placeholder: 'Search contacts', 'aria-label': 'Search contacts', autocomplete: 'off' });
  const listBox = h('ul', { 'aria-label': 'Conversations' });
  const threadBox = h('section', { class: 'thread', 'aria-label': 'Conversation' });
  root.append(pageHead('Conversations', 'Messages with each contact on every channel: replies, campaign messages and what they sent back.'),
    h('div', { class: 'convo' },
      h('nav', { class: 'convo-list', 'aria-label': 'Conversations and contacts' }, h('div', { class: 'search' }, search), listBox),
      threadBox));

  const load = async () => {
    const q = search.value.trim();
    try {
      const [convPage, contactPage] = await Promise.all([
        q ? Promise.resolve({ items: [], total: 0 }) : list('/api/conversations', { limit: 100 }),
        q ? list('/api/contacts', { q, limit: 50 }) : Promise.resolve({ items: [], total: 0 }),
      ]);
      for (const conv of convPage.items) if (conv.contact) contacts.set(conv.id, conv.contact);
      for (const c of contactPage.items) contacts.set(threadOfContact(c.id), c);
      drawList(convPage.items, contactPage.items, q);
    } catch (error) {
      replace(listBox, h('li', {}, errorNotice(error, 'The conversations could not be loaded.')));
    }
  };

  const drawList = (convs, people, q) => {
    const seen = new Set();
    const items = [];
    for (const conv of convs) {
      const id = conv.id ?? conv.conversation_id;
      seen.add(id);
      items.push(threadEntry(id, conv, id === selected));
    }
    for (const c of people) {
      const id = threadOfContact(c.id);
      if (seen.has(id)) continue;
      items.push(entry(id, c.name || c.phone || c.email, [c.phone, c.email].filter(Boolean).join(' · '), 0, id === selected));
    }
    const empty = q ? 'No contact matches your search.' : 'No conversations yet. Search for a contact to write to them.';
    replace(listBox, items.length ? items : h('li', { class: 'empty' }, empty));
  };

  search.addEventListener('input', debounce(load, 200));
  await load();

  let closeThread = null;
  if (selected) {
    closeThread = await openThread(threadBox, selected, { contact: await contactFor(selected, contacts), onChange: () => refreshList() });
  } else {
    replace(threadBox, h('div', { class: 'empty', style: { margin: 'auto' } }, h('h3', {}, 'Pick a conversation'),
      h('p', {}, 'Choose a thread in the list, or search for a contact to write to them.')));
  }
  const refreshList = debounce(load, 250);
  const offs = [
    on('events', (batch) => {
      if (batch.some((e) => e.type === 'message.created' || e.type === 'conversation.read'
        || (e.type === 'message.updated' && e.data?.message?.sender_type === 'conversation'))) refreshList();
    }),
    on('resync', load),
  ];
  return () => { offs.forEach((off) => off()); refreshList.cancel(); if (closeThread) closeThread(); };
}

function threadEntry(id, conv, current) {
  const last = conv.last_message || {};
  const who = conv.contact ? conv.contact.name || conv.contact.phone || conv.contact.email : last.recipient_name || last.recipient || id;
  const text = last.body ? last.body.replace(/\s+/g, ' ').slice(0, 80) : '';
  const line = `${last.direction === 'out' ? 'You: ' : ''}${text}`;
  const when = last.created_at ? relative(last.created_at) : '';
  const via = last.channel ? channelName(last.channel) : '';
  return entry(id, who, line, conv.unread || 0, current, [via, when].filter(Boolean).join(' · '));
}

function entry(id, who, last, unread, current, meta = '') {
  const badge = unread ? h('span', { class: 'badge unread', 'aria-label': `${unread} unread` }, String(unread)) : null;
  return h('li', {}, h('a', {
    href: `#/conversations/${encodeURIComponent(id)}`, 'aria-current': current ? 'true' : null, dataset: { conversation: id, unread: String(unread) },
  },
  h('span', { class: 'who-row' }, h('span', { class: 'who' }, who), badge),
  h('span', { class: 'last' }, last),
  meta ? h('span', { class: 'when' }, meta) : null));
}

async function contactFor(conversationId, cache) {
  if (cache.has(conversationId)) return cache.get(conversationId);
  const contactId = contactOfThread(conversationId);
  if (!contactId) return null;
  try { return await api.get(`/api/contacts/${contactId}`); } catch { return null; }
}
