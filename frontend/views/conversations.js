// Conversations: the threads (one per contact, `contact-<id>`), newest first, each with its last message cut by
// the characters a person sees, how many received messages are unread and whether it waits for a reply; filters
// (unread, needs a reply, open, done; channel; tag) kept while moving between threads; kept live from
// `message.created` / `conversation.read` / `conversation.done`. The open thread sits beside the list; on a
// phone the list and the thread each take the screen, with a way back. Searching finds contacts to write to.

import { api, list, qs } from '../lib/api.js';
import { debounce, h, replace, svg } from '../lib/dom.js';
import { channelName, contactOfThread, cutText, relative, threadOfContact } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { on } from '../lib/store.js';
import { errorNotice, pageHead } from '../lib/ui.js';
import { openThread } from './conversation-thread.js';

const VIEWS = [
  ['', 'All'],
  ['unread', 'Unread'],
  ['needs_reply', 'Needs a reply'],
  ['open', 'Open'],
  ['done', 'Done'],
];
const CHANNELS = [
  ['', 'Every channel'],
  ['sms', 'SMS'],
  ['email', 'Email'],
  ['whatsapp', 'WhatsApp'],
];
const LIVE = new Set(['message.created', 'conversation.read', 'conversation.done']);
const filters = { view: '', channel: '', tag: '' };

const choice = (label, name, options) => {
  const select = h(
    'select',
    { 'aria-label': label, name },
    options.map(([value, words]) => h('option', { value }, words)),
  );
  select.value = filters[name];
  return select;
};

export async function mount(root, params) {
  const selected = params[0] || null;
  const contacts = new Map();
  const search = h('input', {
    type: 'search',
    placeholder: 'Search contacts',
    'aria-label': 'Search contacts',
    autocomplete: 'off',
  });
  const view = choice('Show', 'view', VIEWS);
  const channel = choice('Channel', 'channel', CHANNELS);
  const tag = choice('Tag', 'tag', [['', 'Any tag']]);
  const listBox = h('ul', { 'aria-label': 'Conversations' });
  const threadBox = h('section', { class: 'thread', 'aria-label': 'Conversation' });
  const back = h(
    'a',
    { class: 'btn ghost small convo-back', href: '#/conversations' },
    svg(icons.back),
    'All conversations',
  );
  root.append(
    pageHead(
      'Conversations',
      'Messages with each contact on every channel: replies, campaign messages and what they sent back.',
    ),
    h(
      'div',
      { class: `convo${selected ? ' has-thread' : ''}` },
      h(
        'nav',
        { class: 'convo-list', 'aria-label': 'Conversations and contacts' },
        h(
          'div',
          { class: 'search' },
          search,
          h('div', { class: 'convo-filters', role: 'group', 'aria-label': 'Filters' }, view, channel, tag),
        ),
        listBox,
      ),
      h('div', { class: 'thread-wrap' }, selected ? back : null, threadBox),
    ),
  );
  list('/api/tags', { limit: 200 })
    .then(({ items }) => {
      tag.append(...items.map((t) => h('option', { value: t.name }, t.name)));
      tag.value = filters.tag;
      tag.hidden = !items.length;
    })
    .catch(() => {
      tag.hidden = true;
    });

  const load = async () => {
    const q = search.value.trim();
    const query = { limit: 100, ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v)) };
    try {
      const [convPage, contactPage] = await Promise.all([
        q ? Promise.resolve({ items: [], total: 0 }) : api.get(`/api/conversations${qs(query)}`),
        q ? list('/api/contacts', { q, limit: 50 }) : Promise.resolve({ items: [], total: 0 }),
      ]);
      if (convPage.counts) showCounts(view, convPage.counts);
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
      items.push(
        entry(id, {
          who: c.name || c.phone || c.email,
          last: [c.phone, c.email].filter(Boolean).join(' · '),
          current: id === selected,
        }),
      );
    }
    const filtered = Object.values(filters).some(Boolean);
    const empty = q
      ? 'No contact matches your search.'
      : filtered
        ? 'No conversation matches these filters.'
        : 'No conversations yet. Search for a contact to write to them.';
    replace(listBox, items.length ? items : h('li', { class: 'empty' }, empty));
  };

  search.addEventListener('input', debounce(load, 200));
  for (const select of [view, channel, tag]) {
    select.addEventListener('change', () => {
      filters[select.name] = select.value;
      load();
    });
  }
  await load();

  let closeThread = null;
  const refreshList = debounce(load, 250);
  if (selected) {
    closeThread = await openThread(threadBox, selected, {
      contact: await contactFor(selected, contacts),
      onChange: () => refreshList(),
    });
  } else {
    replace(
      threadBox,
      h(
        'div',
        { class: 'empty', style: { margin: 'auto' } },
        h('h3', {}, 'Pick a conversation'),
        h('p', {}, 'Choose a thread in the list, or search for a contact to write to them.'),
      ),
    );
  }
  const offs = [
    on('events', (batch) => {
      if (
        batch.some(
          (e) => LIVE.has(e.type) || (e.type === 'message.updated' && e.data?.message?.sender_type === 'conversation'),
        )
      )
        refreshList();
    }),
    on('resync', load),
  ];
  return () => {
    offs.forEach((off) => off());
    refreshList.cancel();
    if (closeThread) closeThread();
  };
}

// "Needs a reply (2)": how many threads each view holds under the channel and tag chosen.
function showCounts(select, counts) {
  for (const option of select.options) {
    const words = VIEWS.find(([value]) => value === option.value)[1];
    const n = counts[option.value || 'all'];
    option.textContent = n == null ? words : `${words} (${n})`;
  }
}

function threadEntry(id, conv, current) {
  const last = conv.last_message || {};
  const who = conv.contact
    ? conv.contact.name || conv.contact.phone || conv.contact.email
    : last.recipient_name || last.recipient || id;
  const text = conv.preview ?? cutText((last.body || '').replace(/\s+/g, ' ').trim(), 120);
  const line = `${last.direction === 'out' ? 'You: ' : ''}${text}`;
  const when = last.created_at ? relative(last.created_at) : '';
  const via = last.channel ? channelName(last.channel) : '';
  const state = conv.done ? 'Done' : conv.needs_reply ? 'Needs a reply' : '';
  return entry(id, {
    who,
    last: line,
    unread: conv.unread || 0,
    current,
    meta: [via, when, state].filter(Boolean).join(' · '),
    done: conv.done,
    waiting: conv.needs_reply,
  });
}

function entry(id, { who, last, unread = 0, current = false, meta = '', done = false, waiting = false }) {
  const badge = unread ? h('span', { class: 'badge unread', 'aria-label': `${unread} unread` }, String(unread)) : null;
  return h(
    'li',
    {},
    h(
      'a',
      {
        href: `#/conversations/${encodeURIComponent(id)}`,
        'aria-current': current ? 'true' : null,
        dataset: { conversation: id, unread: String(unread), done: done ? '1' : '0', waiting: waiting ? '1' : '0' },
      },
      h('span', { class: 'who-row' }, h('span', { class: 'who' }, who), badge),
      h('span', { class: 'last' }, last),
      meta ? h('span', { class: 'when' }, meta) : null,
    ),
  );
}

async function contactFor(conversationId, cache) {
  if (cache.has(conversationId)) return cache.get(conversationId);
  const contactId = contactOfThread(conversationId);
  if (!contactId) return null;
  try {
    return await api.get(`/api/contacts/${contactId}`);
  } catch {
    return null;
  }
}
