// Dashboard: channel states at a glance, the campaigns in flight, delivery status, and the activity log.

import { api, qs } from '../lib/api.js';
import { ActivityLog } from '../lib/activity-log.js';
import { h, replace, svg } from '../lib/dom.js';
import { channelName, num, pct, relative } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { doneCount, progressBar } from '../lib/progress.js';
import { on, setChannels, state } from '../lib/store.js';
import { campaignPill, channelPill, errorNotice, pageHead } from '../lib/ui.js';

const CHANNEL_ORDER = ['whatsapp', 'gmail', 'smtp', 'sms'];

export async function mount(root) {
  const channelsBox = h('div', { class: 'dash-channels' });
  const campaignsBox = h('div', {}, h('div', { class: 'skeleton' }, 'Loading campaigns…'));
  const deliveryBox = h('div', { class: 'stats' });
  const log = new ActivityLog({ height: 380 });

  root.append(
    pageHead('Dashboard', 'Everything that is being sent, as it happens.',
      h('a', { class: 'btn primary', href: '#/compose' }, svg(icons.plus), 'New campaign')),
    h('div', { class: 'grid', style: { gap: '16px' } },
      h('section', { class: 'card', 'aria-labelledby': 'dash-ch' },
        h('div', { class: 'card-head' }, h('h2', { id: 'dash-ch' }, 'Channels'), h('a', { href: '#/channels', class: 'small' }, 'Manage channels')),
        channelsBox),
      h('div', { class: 'grid two' },
        h('section', { class: 'card', 'aria-labelledby': 'dash-camp' },
          h('div', { class: 'card-head' }, h('h2', { id: 'dash-camp' }, 'Campaigns'), h('a', { href: '#/campaigns', class: 'small' }, 'All campaigns')),
          campaignsBox),
        h('section', { class: 'card', 'aria-labelledby': 'dash-del' },
          h('div', { class: 'card-head' }, h('h2', { id: 'dash-del' }, 'Delivery status'), h('span', { class: 'muted small' }, 'checked every 5 s')),
          deliveryBox)),
      h('section', { class: 'card', 'aria-labelledby': 'dash-log' },
        h('div', { class: 'card-head' }, h('h2', { id: 'dash-log' }, 'Activity')),
        log.element)));

  const drawChannels = () => {
    const known = [...state.channels.values()];
    const ordered = CHANNEL_ORDER.map((c) => state.channels.get(c) || { channel: c, state: 'not_configured' })
      .concat(known.filter((c) => !CHANNEL_ORDER.includes(c.channel)));
    replace(channelsBox, ordered.map((c) => h('a', { class: 'mini-channel', href: '#/channels', dataset: { channel: c.channel } },
      h('span', { class: 'channel-icon' }, svg(icons[c.channel] || icons.channels)),
      h('span', { class: 'stack', style: { gap: '4px' } }, h('span', { class: 'name' }, channelName(c.channel)), channelPill(c.state)))));
  };

  const drawCampaigns = (items) => {
    if (!items.length) {
      replace(campaignsBox, h('div', { class: 'empty' }, h('h3', {}, 'No campaigns yet'),
        h('p', {}, 'Import contacts, then compose your first message.'),
        h('p', { style: { marginTop: '12px' } }, h('a', { class: 'btn', href: '#/contacts' }, 'Import contacts'))));
      return;
    }
    replace(campaignsBox, items.map((c) => {
      const counts = c.counts || {};
      return h('div', { class: 'campaign-row', dataset: { campaign: c.id } },
        h('div', { class: 'stack', style: { gap: '2px', minWidth: 0 } },
          h('a', { href: `#/campaigns/${c.id}` }, c.name || `Campaign ${c.id}`),
          h('span', { class: 'muted small' }, `${channelName(c.channel)} · ${relative(c.created_at || c.created)}`)),
        h('div', { class: 'stack', style: { gap: '4px' } }, progressBar(counts, `${c.name} progress`),
          h('span', { class: 'muted small num' }, `${num(doneCount(counts))} / ${num(counts.total)} · ${pct(doneCount(counts), counts.total)}`)),
        campaignPill(c.status, counts));
    }));
  };

  const loadCampaigns = async () => {
    try {
      const page = await api.get(`/api/campaigns${qs({ limit: 6 })}`);
      drawCampaigns(page.items || page);
    } catch (error) {
      replace(campaignsBox, errorNotice(error, 'Campaigns could not be loaded.'));
    }
  };

  const loadDelivery = async () => {
    try {
      const d = await api.get('/api/delivery-status');
      replace(deliveryBox,
        stat('Pending', d.pending, ''), stat('Delivered', d.delivered, 'ok'), stat('Undelivered', d.undelivered, 'err'),
        stat('Expired', d.expired, 'warn'),
        d.untracked ? stat('Accepted by the server', d.untracked, 'ok') : null);
    } catch (error) {
      replace(deliveryBox, errorNotice(error, 'Delivery status is not available.'));
    }
  };

  drawChannels();
  const loadChannels = () => api.get('/api/channels').then(setChannels).catch(() => {});
  await Promise.all([loadChannels(), loadCampaigns(), loadDelivery()]);

  let refreshTimer = null;
  const refreshSoon = () => {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => { refreshTimer = null; loadCampaigns(); loadDelivery(); }, 1500);
  };
  const offs = [
    on('channels', drawChannels),
    on('campaign', refreshSoon),
    on('events', (batch) => { if (batch.some((e) => e.type === 'message.updated' || e.type === 'send.progress')) refreshSoon(); }),
    on('resync', () => { loadChannels(); loadCampaigns(); loadDelivery(); }),
  ];
  return () => { offs.forEach((off) => off()); log.destroy(); clearTimeout(refreshTimer); };
}

function stat(label, value, tone) {
  return h('div', { class: `stat ${tone}` }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, num(value ?? 0)));
}
