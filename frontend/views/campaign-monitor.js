// The campaign monitor: progress with counts, rate and ETA; a live chart of sent / failed / delivered;
// the campaign's activity log; failed and uncertain lists with retry and re-queue; pause / resume / cancel;
// CSV export. Everything updates live from the event stream and replays from history after a reload.

import { ActivityLog } from '../lib/activity-log.js';
import { api, download } from '../lib/api.js';
import { LineChart } from '../lib/chart.js';
import { busy, h, replace, svg } from '../lib/dom.js';
import { channelName, dateTime, duration, num, pct, rate } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { doneCount, progressBar, updateProgress } from '../lib/progress.js';
import { on, setCampaign, state } from '../lib/store.js';
import { campaignPill, confirmDialog, errorNotice, showError, toast, troubledEnding } from '../lib/ui.js';
import { leftOutList } from './campaign-left-out.js';
import { messageList } from './campaign-lists.js';

// What holds a running campaign's rate back (GET /api/campaigns/<id> `limited_by`), as a figure's short words.
// Words without an apostrophe: a narrow figure box may wrap a word at one.
const HELD_BY = { pace: 'Its pace', daily_cap: 'Daily cap', provider: 'Provider limit', speed: 'Nothing of yours' };

const SERIES = [
  { key: 'sent', label: 'Sent', cssVar: '--chart-sent' },
  { key: 'delivered', label: 'Delivered', cssVar: '--chart-delivered' },
  { key: 'failed', label: 'Failed', cssVar: '--chart-failed' },
];

// ---- pieces ----

function layout(campaign, mine) {
  const title = h('h1', { class: 'page-title', tabindex: '-1' }, campaign.name || `Campaign ${campaign.id}`);
  const pill = h('span');
  const subtitle = h('p', { class: 'muted' });
  const actions = h('div', { class: 'page-actions' });
  const summary = h('div', { 'aria-live': 'polite' });
  const bar = progressBar({}, 'Campaign progress');
  const progressText = h('span', { class: 'num' });
  const stats = h('div', { class: 'stats' });
  const limitNote = h('p', { class: 'muted small limit-note', 'aria-live': 'polite', dataset: { limit: '' } });
  const canvas = h('canvas', { role: 'img', 'aria-label': 'Chart of messages sent, delivered and failed over time' });
  const chart = new LineChart(canvas, SERIES);
  const log = new ActivityLog({ scope: mine, height: 340, label: 'Campaign activity log' });
  const failedList = messageList(campaign.id, 'failed');
  const uncertainList = messageList(campaign.id, 'uncertain');
  const undeliveredList = messageList(campaign.id, 'undelivered');
  const leftOut = leftOutList(campaign.id);
  const tabs = [
    ['activity', 'Activity', log.element],
    ['failed', 'Failed', failedList.element],
    ['uncertain', 'Uncertain', uncertainList.element],
    ['undelivered', 'Not delivered', undeliveredList.element],
    ['left-out', campaign.left_out ? `Left out (${num(campaign.left_out)})` : 'Left out', leftOut.element],
  ];
  const tabButtons = tabs.map(([name, label]) =>
    h(
      'button',
      { type: 'button', role: 'tab', id: `tab-${name}`, 'aria-controls': `panel-${name}`, dataset: { tab: name } },
      label,
    ),
  );
  const panels = tabs.map(([name, , element]) =>
    h('div', { role: 'tabpanel', id: `panel-${name}`, 'aria-labelledby': `tab-${name}` }, element),
  );

  const nodes = [
    h('p', { style: { marginBottom: '8px' } }, h('a', { href: '#/campaigns', class: 'small' }, '← Campaigns')),
    h('div', { class: 'page-head' }, h('div', {}, h('div', { class: 'row' }, title, pill), subtitle), actions),
    h(
      'div',
      { class: 'monitor' },
      summary,
      h(
        'section',
        { class: 'card stack', 'aria-label': 'Progress' },
        h('div', { class: 'row' }, h('h2', {}, 'Progress'), h('span', { class: 'spacer' }), progressText),
        bar,
        stats,
        limitNote,
      ),
      h(
        'section',
        { class: 'card stack', 'aria-label': 'Chart' },
        h(
          'div',
          { class: 'row' },
          h('h2', {}, 'Over time'),
          h('span', { class: 'spacer' }),
          h(
            'div',
            { class: 'legend' },
            SERIES.map((s) => h('span', { style: { '--c': `var(${s.cssVar})` } }, s.label)),
          ),
        ),
        h('div', { class: 'chart-wrap' }, canvas),
      ),
      h(
        'section',
        { class: 'card' },
        h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Campaign details' }, tabButtons),
        panels,
      ),
    ),
  ];

  return {
    title,
    pill,
    subtitle,
    actions,
    summary,
    bar,
    progressText,
    stats,
    limitNote,
    chart,
    log,
    failedList,
    uncertainList,
    undeliveredList,
    leftOut,
    tabButtons,
    panels,
    nodes,
  };
}

function selectTabs(tabButtons, panels, lists) {
  // ---- tabs (arrow keys move between them, as a tablist should) ----
  const selectTab = (name, focus = false) => {
    tabButtons.forEach((b, i) => {
      const on_ = b.dataset.tab === name;
      b.setAttribute('aria-selected', String(on_));
      b.tabIndex = on_ ? 0 : -1;
      panels[i].hidden = !on_;
      if (on_ && focus) b.focus();
    });
    if (lists[name]) lists[name].load();
  };
  tabButtons.forEach((b, i) => {
    b.addEventListener('click', () => selectTab(b.dataset.tab));
    b.addEventListener('keydown', (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) selectTab(tabButtons[(i + step + tabButtons.length) % tabButtons.length].dataset.tab, true);
    });
  });
  selectTab('activity');
}

function drawSummary(summary, c) {
  const counts = c.counts || {};
  if (c.status === 'completed') {
    const ending = troubledEnding(counts);
    replace(
      summary,
      h(
        'div',
        {
          class: `notice ${ending ? 'warn' : 'ok'}`,
          role: 'status',
          dataset: { summary: 'completed', ending: ending ? 'troubled' : 'clean' },
        },
        svg(ending ? icons.alert : icons.check),
        h(
          'div',
          {},
          h('strong', {}, ending || 'Completed'),
          h('span', {}, `Mass messaging complete. Sent: ${num(counts.sent)}, Failed: ${num(counts.failed)}. `),
          h(
            'span',
            {},
            `${deliveredSoFar(counts)}${counts.uncertain ? `, ${num(counts.uncertain)} uncertain (review them below)` : ''}.`,
          ),
        ),
      ),
    );
  } else if (c.status === 'paused') {
    replace(
      summary,
      h(
        'div',
        { class: 'notice warn', role: 'status' },
        svg(icons.pause),
        h(
          'div',
          {},
          h('strong', {}, 'Paused'),
          h('span', {}, c.status_reason || 'Nothing more is sent until you resume.'),
        ),
      ),
    );
  } else if (c.status === 'running' && c.status_reason) {
    // The campaign cannot send now; it says why and goes on by itself (the disk, the database, the channel).
    replace(
      summary,
      h(
        'div',
        { class: 'notice warn', role: 'status', dataset: { summary: 'waiting' } },
        svg(icons.pause),
        h('div', {}, h('strong', {}, 'Waiting'), h('span', {}, `${c.status_reason}. It goes on by itself.`)),
      ),
    );
  } else if (c.status === 'draft') {
    replace(
      summary,
      h(
        'div',
        { class: 'notice', role: 'status', dataset: { summary: 'draft' } },
        svg(icons.alert),
        h(
          'div',
          {},
          h('strong', {}, 'Draft: nothing has been sent'),
          h(
            'span',
            {},
            `${num(counts.total)} ${counts.total === 1 ? 'person gets' : 'people get'} it once you start it. Edit the draft to change the message, the recipients or the timing.`,
          ),
        ),
      ),
    );
  } else if (c.status === 'cancelled') {
    replace(
      summary,
      h(
        'div',
        { class: 'notice', role: 'status' },
        svg(icons.stop),
        h(
          'div',
          {},
          h('strong', {}, 'Cancelled'),
          h('span', {}, `${num(counts.sent)} were sent before it was cancelled.`),
        ),
      ),
    );
  } else replace(summary);
}

function drawFigures(ui, c) {
  const counts = c.counts || {};
  replace(ui.pill, campaignPill(c.status, counts));
  ui.subtitle.textContent = `${channelName(c.channel)} · created ${dateTime(c.created_at || c.created)}${c.scheduled_at ? ` · scheduled for ${dateTime(c.scheduled_at)}` : ''}`;
  updateProgress(ui.bar, counts);
  const done = doneCount(counts);
  ui.progressText.textContent =
    c.status === 'draft'
      ? `Not started · ${num(counts.total)} ${counts.total === 1 ? 'recipient' : 'recipients'}`
      : `${num(done)} of ${num(counts.total)} · ${pct(done, counts.total)}`;
  const running = c.status === 'running';
  // Until the server has measured a rate (`measured`), no rate, time left or cause is shown: a guess from the
  // first seconds is wrong ("3 h left" for a one-minute job).
  const starting = running && c.measured === false && !c.quiet_hours;
  replace(
    ui.stats,
    stat('Total', counts.total),
    c.status === 'draft' ? stat('Not started', 'Draft') : stat('Queued', (counts.queued || 0) + (counts.sending || 0)),
    stat('Sent', counts.sent),
    deliveryStat(counts),
    counts.undelivered ? stat('Not delivered', counts.undelivered, 'err') : null,
    stat('Failed', counts.failed, counts.failed ? 'err' : ''),
    stat('Uncertain', counts.uncertain, counts.uncertain ? 'warn' : ''),
    counts.fallback_sent ? stat('Fell back', counts.fallback_sent) : null,
    stat('Rate', starting ? 'Starting…' : running ? rate(c.rate_per_min) : '—'),
    stat('Pace', c.pace_per_min ? rate(c.pace_per_min) : '—'),
    stat(
      'Held back by',
      starting ? 'Starting…' : running ? HELD_BY[c.limited_by] || (c.quiet_hours ? 'Quiet hours' : '—') : '—',
    ),
    stat('Time left', starting ? 'Starting…' : running ? duration(c.eta_s) : '—'),
  );
  ui.tabButtons[1].replaceChildren('Failed ', h('span', { class: 'badge' }, num(counts.failed || 0)));
  ui.tabButtons[2].replaceChildren('Uncertain ', h('span', { class: 'badge' }, num(counts.uncertain || 0)));
  ui.tabButtons[3].replaceChildren('Not delivered ', h('span', { class: 'badge' }, num(counts.undelivered || 0)));
  ui.failedList.setCount(counts.failed || 0);
  ui.uncertainList.setCount(counts.uncertain || 0);
  ui.chart.live = running;
  drawLimit(ui.limitNote, c);
}

// Which limit holds the rate back (`limited_by` from the server), in words.
const LIMITS = {
  pace: (c) =>
    `Sending at the set pace${c.pace_per_min ? ` of ${num(c.pace_per_min)} a minute` : ''}. Raise “Messages per minute” in a copy of this campaign to go faster.`,
  daily_cap: () => 'The daily cap is reached: sending goes on by itself when the 24-hour window allows more.',
  provider: () =>
    'The provider asked us to slow down (it answered “too many requests”); sending goes on at the pace it allows.',
  speed: () => 'Sending as fast as the provider answers: no pace or cap of yours holds it back.',
};

function drawLimit(note, c) {
  const limit = c.status === 'running' && LIMITS[c.limited_by] ? LIMITS[c.limited_by](c) : '';
  // Quiet hours (DESIGN section 16): "Quiet hours: 212 messages wait for 09:00 in their time zone".
  const words = [c.quiet_hours?.text ? `${c.quiet_hours.text}.` : '', limit].filter(Boolean).join(' ');
  note.textContent = words;
  note.dataset.limit = limit ? c.limited_by : c.quiet_hours ? 'window' : '';
  note.hidden = !words;
}

// The export as this browser's spreadsheet reads it: `;` where the decimal mark is a comma (Excel's list
// separator there), times in this computer's zone.
function exportQuery() {
  const sep = (1.5).toLocaleString().includes(',') ? ';' : ',';
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  return `?sep=${encodeURIComponent(sep)}&tz=${encodeURIComponent(tz)}`;
}

// A draft was never started: deleting it loses nothing that was sent. Asks first.
async function deleteDraft(c) {
  const yes = await confirmDialog({
    title: `Delete the draft “${c.name}”?`,
    text: 'Nothing was sent from it. Its message and recipients are gone once deleted.',
    confirm: 'Delete the draft',
    cancel: 'Keep it',
    danger: true,
  });
  if (!yes) return;
  try {
    await api.del(`/api/campaigns/${c.id}`);
    toast('Draft deleted.', { tone: 'ok' });
    window.location.hash = '#/campaigns';
  } catch (error) {
    showError(error, 'The draft was not deleted');
  }
}

function drawActions(actions, c, act) {
  const button = (text, icon, onclick, cls = '') =>
    h(
      'button',
      { class: `btn ${cls}`, type: 'button', onclick, dataset: { action: text.toLowerCase() } },
      svg(icon),
      text,
    );
  const list = [];
  if (c.status === 'draft') {
    list.push(button('Start', icons.play, act('start', 'Campaign started.'), 'primary'));
    list.push(
      h(
        'a',
        { class: 'btn', href: `#/compose/draft/${c.id}`, dataset: { action: 'edit-draft' } },
        svg(icons.compose),
        'Edit draft',
      ),
    );
    list.push(button('Delete draft', icons.x, (event) => busy(event.currentTarget, () => deleteDraft(c)), 'danger'));
  }
  if (c.status === 'running') list.push(button('Pause', icons.pause, act('pause', 'Campaign paused.')));
  if (c.status === 'paused') list.push(button('Resume', icons.play, act('resume', 'Campaign resumed.'), 'primary'));
  if (['running', 'paused', 'scheduled'].includes(c.status))
    list.push(button('Cancel', icons.stop, act('cancel', 'Campaign cancelled.'), 'danger'));
  list.push(
    h(
      'a',
      { class: 'btn', href: `#/compose/copy/${c.id}`, dataset: { action: 'duplicate' } },
      svg(icons.plus),
      'Duplicate',
    ),
  );
  list.push(
    button('Export CSV', icons.download, (event) =>
      busy(event.currentTarget, () =>
        download(`/api/campaigns/${c.id}/export.csv${exportQuery()}`, `campaign-${c.id}.csv`).catch((error) =>
          showError(error, 'The export failed'),
        ),
      ),
    ),
  );
  const focused =
    document.activeElement && actions.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  replace(actions, list);
  if (focused) {
    const again = actions.querySelector(`[data-action="${focused}"]`) || actions.querySelector('button');
    if (again) again.focus();
  }
}

// The chart from the event history, then live; `replay` starts over (after a resync or a trim).
function chartFeeder(chart, mine) {
  const deliveredSeen = new Set();
  let lastFed = 0;
  const add = (events) => {
    for (const e of events) {
      if (e.id <= lastFed) continue;
      lastFed = e.id;
      if (!mine(e)) continue;
      const t = Date.parse(e.ts);
      const d = e.data || {};
      if (e.type === 'send.progress' && (d.status === 'sent' || d.status === 'failed')) chart.add(d.status, t);
      // Failed messages queued again (retry) leave the failed line, so the chart ends where the counts are.
      else if (e.type === 'campaign.status' && d.counts && d.counts.failed < chart.level('failed'))
        chart.add('failed', t, d.counts.failed - chart.level('failed'));
      else if (
        e.type === 'message.updated' &&
        d.message &&
        d.message.delivered === true &&
        !deliveredSeen.has(d.message.id)
      ) {
        deliveredSeen.add(d.message.id);
        chart.add('delivered', t);
      }
    }
    chart.schedule();
  };
  const replay = (events) => {
    chart.reset();
    deliveredSeen.clear();
    lastFed = 0;
    add(events);
  };
  return { add, replay };
}

export async function mountMonitor(root, id) {
  let campaign;
  try {
    campaign = await api.get(`/api/campaigns/${encodeURIComponent(id)}`);
    setCampaign(campaign);
  } catch (error) {
    root.append(
      h('p', {}, h('a', { href: '#/campaigns' }, '← Campaigns')),
      errorNotice(error, `Campaign ${id} could not be loaded.`),
    );
    return null;
  }
  const key = String(campaign.id);
  const mine = belongsTo(key);
  const ui = layout(campaign, mine);
  root.append(...ui.nodes);
  selectTabs(ui.tabButtons, ui.panels, {
    failed: ui.failedList,
    uncertain: ui.uncertainList,
    undelivered: ui.undeliveredList,
    'left-out': ui.leftOut,
  });
  const feed = chartFeeder(ui.chart, mine);
  feed.add(state.events);
  const server = refresher(campaign.id, (fresh) => {
    campaign = fresh;
  });
  const act = actionHandler(campaign.id, server.refresh);
  const draw = () => {
    const c = { ...campaign, ...state.campaigns.get(key) };
    drawFigures(ui, c);
    drawActions(ui.actions, c, act);
    drawSummary(ui.summary, c);
  };
  const ticker = setInterval(() => {
    const c = state.campaigns.get(key) || campaign;
    if (c.status === 'running' || c.status === 'scheduled') server.refreshSoon();
    ui.chart.schedule();
  }, 3000);
  const offs = [
    on('campaign', (c) => {
      if (String(c.id) !== key) return;
      const before = campaign.counts || {};
      draw();
      if ((c.counts || {}).failed !== before.failed) ui.failedList.stale();
      if ((c.counts || {}).uncertain !== before.uncertain) ui.uncertainList.stale();
      if ((c.counts || {}).undelivered !== before.undelivered) ui.undeliveredList.stale();
    }),
    on('events', (batch) => {
      const relevant = batch.filter(mine);
      if (!relevant.length) return;
      feed.add(relevant);
      server.refreshSoon();
    }),
    on('resync', () => {
      feed.replay(state.events);
      server.refresh();
    }),
    on('trimmed', () => feed.replay(state.events)),
    on('history', () => feed.replay(state.events)),
  ];
  draw();
  return () => {
    offs.forEach((off) => off());
    clearInterval(ticker);
    server.stop();
    ui.chart.destroy();
    ui.log.destroy();
  };
}

// Whether an event is about this campaign.
function belongsTo(key) {
  return (e) => {
    const d = e.data || {};
    if (d.campaign_id != null) return String(d.campaign_id) === key;
    const m = d.message;
    return Boolean(
      m && (String(m.campaign_id) === key || (m.sender_type === 'campaign' && String(m.sender_id) === key)),
    );
  };
}

// Rate and ETA come from the server (counts also arrive in campaign.status events): at most one fetch a second.
function refresher(id, onFresh) {
  let timer = null;
  let last = 0;
  const refresh = async () => {
    clearTimeout(timer);
    timer = null;
    last = Date.now();
    try {
      const fresh = await api.get(`/api/campaigns/${id}`);
      onFresh(fresh);
      setCampaign(fresh);
    } catch {
      /* the next event or tick tries again */
    }
  };
  const refreshSoon = () => {
    if (!timer) timer = setTimeout(refresh, Math.max(0, 1000 - (Date.now() - last)));
  };
  return { refresh, refreshSoon, stop: () => clearTimeout(timer) };
}

// Start / pause / resume / cancel (cancel asks first).
function actionHandler(id, refresh) {
  return (action, label) => async (event) => {
    const button = event.currentTarget;
    if (
      action === 'cancel' &&
      !(await confirmDialog({
        title: 'Cancel this campaign?',
        text: 'Messages not yet sent will not be sent. This cannot be undone.',
        confirm: 'Cancel campaign',
        danger: true,
      }))
    )
      return;
    await busy(button, async () => {
      try {
        const updated = await api.post(`/api/campaigns/${id}/${action}`);
        if (updated && updated.id != null) setCampaign(updated);
        toast(label, { tone: 'ok' });
        refresh();
      } catch (error) {
        showError(error, `Could not ${action} the campaign`);
      }
    });
  };
}

// A figure: a count, a text, or [text, unit] (the unit set smaller, so that "1,240/s" fits a narrow tile).
function stat(label, value, tone = '') {
  const shown = Array.isArray(value)
    ? [value[0], h('span', { class: 'unit' }, value[1])]
    : [typeof value === 'string' ? value : num(value ?? 0)];
  return h(
    'div',
    { class: `stat ${tone}`, dataset: { stat: label.toLowerCase().replace(/\s+/g, '-') } },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, ...shown),
  );
}

// Delivery as far as it can be known: a server with no delivery reports (plain SMTP) only accepts messages, so
// those are counted as "Accepted by the server", never as undelivered or expired.
function deliveryStat(counts) {
  if (counts.untracked && !counts.delivered && !counts.undelivered)
    return stat('Accepted by the server', counts.untracked, 'ok');
  return stat('Delivered', counts.delivered, 'ok');
}

function deliveredSoFar(counts) {
  const parts = [];
  if (counts.delivered || !counts.untracked) parts.push(`${num(counts.delivered)} delivered so far`);
  if (counts.untracked) parts.push(`${num(counts.untracked)} accepted by the server (it sends no delivery reports)`);
  return parts.join(', ');
}
