// Conversations: one thread per contact (conversation id `contact-<id>`), delivery ticks that change live
// on `message.updated`, and a composer for one-off SMS, email or WhatsApp replies.

import { api, qs } from '../lib/api.js';
import { debounce, h, replace } from '../lib/dom.js';
import { relative } from '../lib/format.js';
import { on } from '../lib/store.js';
import { errorNotice, pageHead } from '../lib/ui.js';
import { openThread } from './conversation-thread.js';

export async function mount(root, params) {
  const selected = params[0] || null;
  const contacts = new Map();
  const search = h('input', { type: 'search', placeholder: 'Search contacts', 'aria-label': 'Search contacts', autocomplete: 'off' });
  const listBox = h('ul', { 'aria-label': 'Conversations' });
  const threadBox = h('section', { class: 'thread', 'aria-label': 'Conversation' });
  root.append(pageHead('Conversations', 'One-to-one messages with a contact, by SMS, email or WhatsApp.'),
    h('div', { class: 'convo' },
      h('nav', { class: 'convo-list', 'aria-label': 'Contacts and conversations' }, h('div', { class: 'search' }, search), listBox),
      threadBox));

  let conversations = [];
  const load = async () => {
    const q = search.value.trim();
    try {
      const [convPage, contactPage] = await Promise.all([
        q ? Promise.resolve({ items: [] }) : api.get(`/api/conversations${qs({ limit: 100 })}`).catch(() => ({ items: [] })),
        api.get(`/api/contacts${qs({ q, limit: 50 })}`),
      ]);
      conversations = convPage.items || [];
      for (const c of contactPage.items || []) contacts.set(`contact-${c.id}`, c);
      drawList(q ? [] : conversations, contactPage.items || []);
    } catch (error) {
      replace(listBox, h('li', {}, errorNotice(error, 'Contacts could not be loaded.')));
    }
  };

  const drawList = (convs, people) => {
    const seen = new Set();
    const items = [];
    for (const conv of convs) {
      const id = conv.conversation_id ?? conv.id;
      seen.add(id);
      const last = conv.last_message || {};
      const who = contacts.get(id);
      items.push(entry(id, who ? who.name || who.phone || who.email : last.recipient_name || last.recipient || id,
        `${last.body ? last.body.slice(0, 80) : ''}${last.created_at ? ` · ${relative(last.created_at)}` : ''}`));
    }
    for (const c of people) {
      const id = `contact-${c.id}`;
      if (seen.has(id)) continue;
      items.push(entry(id, c.name || c.phone || c.email, [c.phone, c.email].filter(Boolean).join(' · ')));
    }
    replace(listBox, items.length ? items : h('li', { class: 'empty' }, 'No contacts yet. Import some on the Contacts screen.'));
  };

  const entry = (id, who, last) => h('li', {}, h('a', {
    href: `#/conversations/${encodeURIComponent(id)}`, 'aria-current': id === selected ? 'true' : null, dataset: { conversation: id },
  }, h('span', { class: 'who' }, who), h('span', { class: 'last' }, last)));

  search.addEventListener('input', debounce(load, 200));
  await load();

  let closeThread = null;
  if (selected) {
    closeThread = await openThread(threadBox, selected, { contact: await contactFor(selected, contacts), onSent: load });
  } else {
    replace(threadBox, h('div', { class: 'empty', style: { margin: 'auto' } }, h('h3', {}, 'Pick a contact'),
      h('p', {}, 'Choose someone in the list to see your messages with them and write a reply.')));
  }
  const refreshList = debounce(load, 1500);
  const offs = [
    on('events', (batch) => { if (batch.some((e) => e.type === 'message.updated' && e.data?.message?.sender_type === 'conversation')) refreshList(); }),
    on('resync', load),
  ];
  return () => { offs.forEach((off) => off()); refreshList.cancel(); if (closeThread) closeThread(); };
}

async function contactFor(conversationId, cache) {
  if (cache.has(conversationId)) return cache.get(conversationId);
  const match = /^contact-(\d+)$/.exec(conversationId);
  if (!match) return null;
  try { return await api.get(`/api/contacts/${match[1]}`); } catch { return null; }
}
