// The campaign monitor: progress with counts, rate and ETA; a live chart of sent / failed / delivered;
// the campaign's activity log; failed and uncertain lists with retry and re-queue; pause / resume / cancel;
// CSV export. Everything updates live from the event stream and replays from history after a reload.

import { api, download } from '../lib/api.js';
import { ActivityLog } from '../lib/activity-log.js';
import { LineChart } from '../lib/chart.js';
import { busy, h, replace, svg } from '../lib/dom.js';
import { channelName, dateTime, duration, num, pct, rate } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { doneCount, progressBar, updateProgress } from '../lib/progress.js';
import { on, setCampaign, state } from '../lib/store.js';
import { campaignPill, confirmDialog, errorNotice, showError, toast, troubledEnding } from '../lib/ui.js';
import { messageList } from './campaign-lists.js';

// What holds a running campaign's rate back (GET /api/campaigns/<id> `limited_by`).
const LIMITS = { pace: 'Its pace', daily_cap: 'The daily cap', provider: "The provider's speed" };

const SERIES = [
  { key: 'sent', label: 'Sent', cssVar: '--chart-sent' },
  { key: 'delivered', label: 'Delivered', cssVar: '--chart-delivered' },
  { key: 'failed', label: 'Failed', cssVar: '--chart-failed' },
];

export async function mountMonitor(root, id) {
  let campaign;
  try {
    campaign = await api.get(`/api/campaigns/${encodeURIComponent(id)}`);
    setCampaign(campaign);
  } catch (error) {
    root.append(h('p', {}, h('a', { href: '#/campaigns' }, '← Campaigns')), errorNotice(error, `Campaign ${id} could not be loaded.`));
    return null;
  }
  const key = String(campaign.id);
  const mine = (e) => {
    const d = e.data || {};
    if (d.campaign_id != null) return String(d.campaign_id) === key;
    const m = d.message;
    return Boolean(m && (String(m.campaign_id) === key || (m.sender_type === 'campaign' && String(m.sender_id) === key)));
  };

  const title = h('h1', { class: 'page-title', tabindex: '-1' }, campaign.name || `Campaign ${campaign.id}`);
  const pill = h('span');
  const subtitle = h('p', { class: 'muted' });
  const actions = h('div', { class: 'page-actions' });
  const summary = h('div', { 'aria-live': 'polite' });
  const bar = progressBar({}, 'Campaign progress');
  const progressText = h('span', { class: 'num' });
  const stats = h('div', { class: 'stats' });
  const canvas = h('canvas', { role: 'img', 'aria-label': 'Chart of messages sent, delivered and failed over time' });
  const chart = new LineChart(canvas, SERIES);
  const log = new ActivityLog({ scope: mine, height: 340, label: 'Campaign activity log' });
  const failedList = messageList(campaign.id, 'failed');
  const uncertainList = messageList(campaign.id, 'uncertain');
  const tabs = [['activity', 'Activity', log.element], ['failed', 'Failed', failedList.element], ['uncertain', 'Uncertain', uncertainList.element]];
  const tabButtons = tabs.map(([name, label]) => h('button', { type: 'button', role: 'tab', id: `tab-${name}`, 'aria-controls': `panel-${name}`, dataset: { tab: name } }, label));
  const panels = tabs.map(([name, , element]) => h('div', { role: 'tabpanel', id: `panel-${name}`, 'aria-labelledby': `tab-${name}` }, element));

  root.append(
    h('p', { style: { marginBottom: '8px' } }, h('a', { href: '#/campaigns', class: 'small' }, '← Campaigns')),
    h('div', { class: 'page-head' }, h('div', {}, h('div', { class: 'row' }, title, pill), subtitle), actions),
    h('div', { class: 'monitor' },
      summary,
      h('section', { class: 'card stack', 'aria-label': 'Progress' },
        h('div', { class: 'row' }, h('h2', {}, 'Progress'), h('span', { class: 'spacer' }), progressText),
        bar, stats),
      h('section', { class: 'card stack', 'aria-label': 'Chart' },
        h('div', { class: 'row' }, h('h2', {}, 'Over time'), h('span', { class: 'spacer' }),
          h('div', { class: 'legend' }, SERIES.map((s) => h('span', { style: { '--c': `var(${s.cssVar})` } }, s.label)))),
        h('div', { class: 'chart-wrap' }, canvas)),
      h('section', { class: 'card' }, h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Campaign details' }, tabButtons), panels)));

  // ---- tabs (arrow keys move between them, as a tablist should) ----
  const selectTab = (name, focus = false) => {
    tabButtons.forEach((b, i) => {
      const on_ = b.dataset.tab === name;
      b.setAttribute('aria-selected', String(on_));
      b.tabIndex = on_ ? 0 : -1;
      panels[i].hidden = !on_;
      if (on_ && focus) b.focus();
    });
    if (name === 'failed') failedList.load();
    if (name === 'uncertain') uncertainList.load();
  };
  tabButtons.forEach((b, i) => {
    b.addEventListener('click', () => selectTab(b.dataset.tab));
    b.addEventListener('keydown', (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) selectTab(tabButtons[(i + step + tabButtons.length) % tabButtons.length].dataset.tab, true);
    });
  });
  selectTab('activity');

  // ---- chart from the event history, then live ----
  const deliveredSeen = new Set();
  let lastFed = 0;
  const feedChart = (events) => {
    for (const e of events) {
      if (e.id <= lastFed) continue;
      lastFed = e.id;
      if (!mine(e)) continue;
      const t = Date.parse(e.ts);
      const d = e.data || {};
      if (e.type === 'send.progress' && (d.status === 'sent' || d.status === 'failed')) chart.add(d.status, t);
      // Failed messages queued again (retry) leave the failed line, so the chart ends where the counts are.
      else if (e.type === 'campaign.status' && d.counts && d.counts.failed < chart.level('failed')) chart.add('failed', t, d.counts.failed - chart.level('failed'));
      else if (e.type === 'message.updated' && d.message && d.message.delivered === true && !deliveredSeen.has(d.message.id)) {
        deliveredSeen.add(d.message.id);
        chart.add('delivered', t);
      }
    }
    chart.schedule();
  };
  feedChart(state.events);

  // ---- drawing ----
  const draw = () => {
    const c = { ...campaign, ...state.campaigns.get(key) };
    const counts = c.counts || {};
    replace(pill, campaignPill(c.status, counts));
    subtitle.textContent = `${channelName(c.channel)} · created ${dateTime(c.created_at || c.created)}${c.scheduled_at ? ` · scheduled for ${dateTime(c.scheduled_at)}` : ''}`;
    updateProgress(bar, counts);
    const done = doneCount(counts);
    progressText.textContent = `${num(done)} of ${num(counts.total)} · ${pct(done, counts.total)}`;
    const running = c.status === 'running';
    replace(stats,
      stat('Total', counts.total), stat('Queued', (counts.queued || 0) + (counts.sending || 0)), stat('Sent', counts.sent),
      deliveryStat(counts), stat('Failed', counts.failed, counts.failed ? 'err' : ''),
      stat('Uncertain', counts.uncertain, counts.uncertain ? 'warn' : ''),
      stat('Rate', running ? rate(c.rate_per_min) : '—'),
      stat('Pace', c.pace_per_min ? rate(c.pace_per_min) : 'none'),
      stat('Held back by', running ? (LIMITS[c.limited_by] || '—') : '—'),
      stat('Time left', running ? duration(c.eta_s) : '—'));
    tabButtons[1].replaceChildren('Failed ', h('span', { class: 'badge' }, num(counts.failed || 0)));
    tabButtons[2].replaceChildren('Uncertain ', h('span', { class: 'badge' }, num(counts.uncertain || 0)));
    failedList.setCount(counts.failed || 0);
    uncertainList.setCount(counts.uncertain || 0);
    chart.live = running;
    drawActions(c);
    drawSummary(c);
  };

  const drawSummary = (c) => {
    const counts = c.counts || {};
    if (c.status === 'completed') {
      const ending = troubledEnding(counts);
      replace(summary, h('div', { class: `notice ${ending ? 'warn' : 'ok'}`, role: 'status', dataset: { summary: 'completed', ending: ending ? 'troubled' : 'clean' } },
        svg(ending ? icons.alert : icons.check),
        h('div', {}, h('strong', {}, ending || 'Completed'),
          h('span', {}, `Mass messaging complete. Sent: ${num(counts.sent)}, Failed: ${num(counts.failed)}. `),
          h('span', {}, `${deliveredSoFar(counts)}${counts.uncertain ? `, ${num(counts.uncertain)} uncertain (review them below)` : ''}.`))));
    } else if (c.status === 'paused') {
      replace(summary, h('div', { class: 'notice warn', role: 'status' }, svg(icons.pause),
        h('div', {}, h('strong', {}, 'Paused'), h('span', {}, c.status_reason || 'Nothing more is sent until you resume.'))));
    } else if (c.status === 'cancelled') {
      replace(summary, h('div', { class: 'notice', role: 'status' }, svg(icons.stop), h('div', {}, h('strong', {}, 'Cancelled'),
        h('span', {}, `${num(counts.sent)} were sent before it was cancelled.`))));
    } else replace(summary);
  };

  const act = (action, label) => async (event) => {
    const button = event.currentTarget;
    if (action === 'cancel' && !(await confirmDialog({
      title: 'Cancel this campaign?', text: 'Messages not yet sent will not be sent. This cannot be undone.', confirm: 'Cancel campaign', danger: true,
    }))) return;
    await busy(button, async () => {
      try {
        const updated = await api.post(`/api/campaigns/${campaign.id}/${action}`);
        if (updated && updated.id != null) setCampaign(updated);
        toast(label, { tone: 'ok' });
        refresh();
      } catch (error) { showError(error, `Could not ${action} the campaign`); }
    });
  };
  const button = (text, icon, onclick, cls = '') => h('button', { class: `btn ${cls}`, type: 'button', onclick, dataset: { action: text.toLowerCase() } }, svg(icon), text);
  const drawActions = (c) => {
    const list = [];
    if (c.status === 'draft') list.push(button('Start', icons.play, act('start', 'Campaign started.'), 'primary'));
    if (c.status === 'running') list.push(button('Pause', icons.pause, act('pause', 'Campaign paused.')));
    if (c.status === 'paused') list.push(button('Resume', icons.play, act('resume', 'Campaign resumed.'), 'primary'));
    if (['running', 'paused', 'scheduled', 'draft'].includes(c.status)) list.push(button('Cancel', icons.stop, act('cancel', 'Campaign cancelled.'), 'danger'));
    list.push(button('Export CSV', icons.download, (event) => busy(event.currentTarget, () =>
      download(`/api/campaigns/${c.id}/export.csv`, `campaign-${c.id}.csv`).catch((error) => showError(error, 'The export failed')))));
    const focused = document.activeElement && actions.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    replace(actions, list);
    if (focused) {
      const again = actions.querySelector(`[data-action="${focused}"]`) || actions.querySelector('button');
      if (again) again.focus();
    }
  };

  // ---- refresh: rate and ETA come from the server; counts also arrive in campaign.status events ----
  let refreshTimer = null;
  let lastRefresh = 0;
  const refresh = async () => {
    clearTimeout(refreshTimer);
    refreshTimer = null;
    lastRefresh = Date.now();
    try {
      campaign = await api.get(`/api/campaigns/${campaign.id}`);
      setCampaign(campaign);
    } catch { /* the next event or tick tries again */ }
  };
  const refreshSoon = () => {
    if (refreshTimer) return;
    refreshTimer = setTimeout(refresh, Math.max(0, 1000 - (Date.now() - lastRefresh)));
  };
  const ticker = setInterval(() => {
    const c = state.campaigns.get(key) || campaign;
    if (c.status === 'running' || c.status === 'scheduled') refreshSoon();
    chart.schedule();
  }, 3000);

  const offs = [
    on('campaign', (c) => {
      if (String(c.id) !== key) return;
      const before = (campaign.counts || {});
      draw();
      if ((c.counts || {}).failed !== before.failed) failedList.stale();
      if ((c.counts || {}).uncertain !== before.uncertain) uncertainList.stale();
    }),
    on('events', (batch) => {
      const relevant = batch.filter(mine);
      if (!relevant.length) return;
      feedChart(relevant);
      refreshSoon();
    }),
    on('resync', () => { chart.reset(); deliveredSeen.clear(); lastFed = 0; feedChart(state.events); refresh(); }),
    on('trimmed', () => { chart.reset(); deliveredSeen.clear(); lastFed = 0; feedChart(state.events); }),
    on('history', () => { chart.reset(); deliveredSeen.clear(); lastFed = 0; feedChart(state.events); }),
  ];
  draw();
  return () => {
    offs.forEach((off) => off());
    clearInterval(ticker);
    clearTimeout(refreshTimer);
    chart.destroy();
    log.destroy();
  };
}

// A figure: a count, a text, or [text, unit] (the unit set smaller, so that "1,240/s" fits a narrow tile).
function stat(label, value, tone = '') {
  const shown = Array.isArray(value) ? [value[0], h('span', { class: 'unit' }, value[1])]
    : [typeof value === 'string' ? value : num(value ?? 0)];
  return h('div', { class: `stat ${tone}`, dataset: { stat: label.toLowerCase().replace(/\s+/g, '-') } },
    h('div', { class: 'label' }, label), h('div', { class: 'value' }, ...shown));
}

// Delivery as far as it can be known: a server with no delivery reports (plain SMTP) only accepts messages, so
// those are counted as "Accepted by the server", never as undelivered or expired.
function deliveryStat(counts) {
  if (counts.untracked && !counts.delivered && !counts.undelivered) return stat('Accepted by the server', counts.untracked, 'ok');
  return stat('Delivered', counts.delivered, 'ok');
}

function deliveredSoFar(counts) {
  const parts = [];
  if (counts.delivered || !counts.untracked) parts.push(`${num(counts.delivered)} delivered so far`);
  if (counts.untracked) parts.push(`${num(counts.untracked)} accepted by the server (it sends no delivery reports)`);
  return parts.join(', ');
}
