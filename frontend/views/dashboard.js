// Dashboard: channel states at a glance, the campaigns in flight, delivery status, and the activity log.

import { ActivityLog } from '../lib/activity-log.js';
import { api, list } from '../lib/api.js';
import { h, replace, svg } from '../lib/dom.js';
import { channelName, num, pct, relative } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { doneCount, progressBar } from '../lib/progress.js';
import { on, setChannels, state } from '../lib/store.js';
import { campaignPill, channelPill, errorNotice, pageHead } from '../lib/ui.js';
import { checklist, TEST_SENT_KEY } from './checklist.js';

export async function mount(root) {
  const ui = layout(root);
  const facts = { channel: false, contacts: false, test: localStorage.getItem(TEST_SENT_KEY) === '1', campaign: false };
  const tick = () => checklist(ui.checklistBox, facts);
  const drawChannels = () => {
    facts.channel = [...state.channels.values()].some((c) => c.state && c.state !== 'not_configured');
    tick();
    drawChannelTiles(ui.channelsBox);
  };
  const loadCampaigns = () =>
    list('/api/campaigns', { limit: 6 })
      .then(({ items }) => {
        facts.campaign = items.some((c) => c.status !== 'draft');
        facts.test = facts.test || items.some((c) => (c.counts || {}).sent > 0);
        tick();
        drawCampaigns(ui.campaignsBox, items);
      })
      .catch((error) => replace(ui.campaignsBox, errorNotice(error, 'Campaigns could not be loaded.')));
  const loadDelivery = () =>
    api
      .get('/api/delivery-status')
      .then((d) =>
        replace(
          ui.deliveryBox,
          stat('Pending', d.pending, ''),
          stat('Delivered', d.delivered, 'ok'),
          stat('Undelivered', d.undelivered, 'err'),
          stat('Expired', d.expired, 'warn'),
          d.untracked ? stat('Accepted by the server', d.untracked, 'ok') : null,
        ),
      )
      .catch((error) => replace(ui.deliveryBox, errorNotice(error, 'Delivery status is not available.')));
  const loadContacts = () =>
    list('/api/contacts', { limit: 1 })
      .then(({ total }) => {
        facts.contacts = total > 0;
        tick();
      })
      .catch(() => {});
  const loadChannels = () =>
    api
      .get('/api/channels')
      .then(setChannels)
      .catch(() => {});
  drawChannels();
  await Promise.all([loadChannels(), loadCampaigns(), loadDelivery(), loadContacts()]);
  drawChannels();

  let refreshTimer = null;
  const refreshSoon = () => {
    if (!refreshTimer)
      refreshTimer = setTimeout(() => {
        refreshTimer = null;
        loadCampaigns();
        loadDelivery();
      }, 1500);
  };
  const offs = [
    on('channels', drawChannels),
    on('campaign', refreshSoon),
    on('events', (batch) => {
      if (batch.some((e) => e.type === 'message.updated' || e.type === 'send.progress')) refreshSoon();
    }),
    on('resync', () => {
      loadChannels();
      loadCampaigns();
      loadDelivery();
      loadContacts();
    }),
  ];
  return () => {
    offs.forEach((off) => off());
    ui.log.destroy();
    clearTimeout(refreshTimer);
  };
}

function layout(root) {
  const ui = {
    channelsBox: h('div', { class: 'dash-channels' }),
    campaignsBox: h('div', {}, h('div', { class: 'skeleton' }, 'Loading campaigns…')),
    deliveryBox: h('div', { class: 'stats' }),
    log: new ActivityLog({ height: 380 }),
    checklistBox: h('div', { hidden: true }),
  };
  const card = (id, title, aside, body) =>
    h(
      'section',
      { class: 'card', 'aria-labelledby': id },
      h('div', { class: 'card-head' }, h('h2', { id }, title), aside),
      body,
    );
  root.append(
    pageHead(
      'Dashboard',
      'Everything that is being sent, as it happens.',
      h('a', { class: 'btn primary', href: '#/compose' }, svg(icons.plus), 'New campaign'),
    ),
    h(
      'div',
      { class: 'grid', style: { gap: '16px' } },
      ui.checklistBox,
      card('dash-ch', 'Channels', h('a', { href: '#/channels', class: 'small' }, 'Manage channels'), ui.channelsBox),
      h(
        'div',
        { class: 'grid two' },
        card(
          'dash-camp',
          'Campaigns',
          h('a', { href: '#/campaigns', class: 'small' }, 'All campaigns'),
          ui.campaignsBox,
        ),
        card('dash-del', 'Delivery status', h('span', { class: 'muted small' }, 'checked every 5 s'), ui.deliveryBox),
      ),
      card('dash-log', 'Activity', null, ui.log.element),
    ),
  );
  return ui;
}

function drawChannelTiles(box) {
  replace(
    box,
    [...state.channels.values()].map((c) =>
      h(
        'a',
        { class: 'mini-channel', href: '#/channels', dataset: { channel: c.channel } },
        h('span', { class: 'channel-icon' }, svg(icons[c.channel] || icons.channels)),
        h(
          'span',
          { class: 'stack', style: { gap: '4px' } },
          h('span', { class: 'name' }, channelName(c.channel)),
          channelPill(c.state),
        ),
      ),
    ),
  );
}

function drawCampaigns(box, items) {
  if (!items.length) {
    replace(
      box,
      h(
        'div',
        { class: 'empty' },
        h('h3', {}, 'No campaigns yet'),
        h('p', {}, 'Import contacts, then compose your first message.'),
        h('p', { style: { marginTop: '12px' } }, h('a', { class: 'btn', href: '#/contacts' }, 'Import contacts')),
      ),
    );
    return;
  }
  replace(
    box,
    items.map((c) => {
      const counts = c.counts || {};
      return h(
        'div',
        { class: 'campaign-row', dataset: { campaign: c.id } },
        h(
          'div',
          { class: 'stack', style: { gap: '2px', minWidth: 0 } },
          h('a', { href: `#/campaigns/${c.id}` }, c.name || `Campaign ${c.id}`),
          h('span', { class: 'muted small' }, `${channelName(c.channel)} · ${relative(c.created_at || c.created)}`),
        ),
        h(
          'div',
          { class: 'stack', style: { gap: '4px' } },
          progressBar(counts, `${c.name} progress`),
          h(
            'span',
            { class: 'muted small num' },
            c.status === 'draft'
              ? `Not started · ${num(counts.total)} ${counts.total === 1 ? 'recipient' : 'recipients'}`
              : `${num(doneCount(counts))} / ${num(counts.total)} · ${pct(doneCount(counts), counts.total)}`,
          ),
        ),
        campaignPill(c.status, counts),
      );
    }),
  );
}

function stat(label, value, tone) {
  return h(
    'div',
    { class: `stat ${tone}` },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, num(value ?? 0)),
  );
}
