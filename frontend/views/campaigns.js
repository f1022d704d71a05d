// Campaigns: the list of every campaign with live progress; `#/campaigns/<id>` opens the monitor.

import { list } from '../lib/api.js';
import { h, replace, svg } from '../lib/dom.js';
import { channelName, dateTime, num, pct } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { doneCount, progressBar, updateProgress } from '../lib/progress.js';
import { on, state } from '../lib/store.js';
import { campaignPill, errorNotice, pageHead } from '../lib/ui.js';

export async function mount(root, params) {
  if (params[0]) {
    const { mountMonitor } = await import('./campaign-monitor.js');
    return mountMonitor(root, params[0]);
  }
  const box = h('div', {}, h('div', { class: 'skeleton' }, 'Loading…'));
  root.append(
    pageHead(
      'Campaigns',
      'Every campaign, newest first.',
      h('a', { class: 'btn primary', href: '#/compose' }, svg(icons.plus), 'New campaign'),
    ),
    h('section', { class: 'card' }, box),
  );
  const rows = new Map();

  const load = async () => {
    try {
      const { items } = await list('/api/campaigns', { limit: 200 });
      // Same campaigns as shown: update the rows in place (keeps focus and scroll); otherwise redraw.
      if (items.length && items.length === rows.size && items.every((c) => rows.has(String(c.id)))) {
        items.forEach((c) => rows.get(String(c.id)).update(c));
      } else draw(items);
    } catch (error) {
      replace(box, errorNotice(error, 'The campaigns could not be loaded.'));
    }
  };

  const draw = (items) => {
    rows.clear();
    if (!items.length) {
      replace(
        box,
        h(
          'div',
          { class: 'empty' },
          h('h3', {}, 'No campaigns yet'),
          h('p', {}, 'Compose a message to send it to many contacts at once.'),
        ),
      );
      return;
    }
    replace(
      box,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          {},
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Name', 'Channel', 'Status', 'Progress', 'Sent', 'Failed', 'Created', ''].map((t) =>
                h('th', { scope: 'col' }, t),
              ),
            ),
          ),
          h(
            'tbody',
            {},
            items.map((c) => {
              const row = campaignRow(c);
              rows.set(String(c.id), row);
              return row.element;
            }),
          ),
        ),
      ),
    );
  };

  let reloadTimer = null;
  const reloadSoon = () => {
    if (!reloadTimer)
      reloadTimer = setTimeout(() => {
        reloadTimer = null;
        load();
      }, 1000);
  };
  const offs = [
    on('campaign', (c) => {
      const row = rows.get(String(c.id));
      if (row) row.update(c);
      else load();
    }),
    on('events', (batch) => {
      if (batch.some((e) => e.type === 'send.progress' || e.type === 'message.updated')) reloadSoon();
    }),
    on('resync', load),
  ];
  await load();
  return () => {
    offs.forEach((off) => off());
    clearTimeout(reloadTimer);
  };
}

function campaignRow(c) {
  const status = h('td');
  const bar = progressBar(c.counts || {}, `${c.name} progress`);
  const percent = h('span', { class: 'muted small num' });
  const sent = h('td', { class: 'num' });
  const failed = h('td', { class: 'num' });
  const element = h(
    'tr',
    { dataset: { campaign: c.id } },
    h(
      'td',
      {},
      h(
        'a',
        { href: c.kind === 'sequence' ? `#/sequences/${c.id}` : `#/campaigns/${c.id}` },
        c.name || `Campaign ${c.id}`,
      ),
    ),
    h('td', {}, channelName(c.channel)),
    status,
    h('td', { style: { minWidth: '160px' } }, h('div', { class: 'stack', style: { gap: '4px' } }, bar, percent)),
    sent,
    failed,
    h('td', { class: 'nowrap muted' }, dateTime(c.created_at || c.created)),
    h(
      'td',
      {},
      h(
        'a',
        {
          class: 'btn small ghost',
          href: `#/compose/copy/${c.id}`,
          dataset: { action: 'duplicate' },
          'aria-label': `Duplicate ${c.name}`,
        },
        'Duplicate',
      ),
    ),
  );
  const update = (next) => {
    const merged = { ...c, ...state.campaigns.get(String(c.id)), ...next };
    const counts = merged.counts || {};
    replace(status, campaignPill(merged.status, counts));
    updateProgress(bar, counts);
    // A draft waits to be started, not to be sent: its recipients, never a share of a queue.
    percent.textContent =
      merged.status === 'draft'
        ? `Not started · ${num(counts.total)} ${counts.total === 1 ? 'recipient' : 'recipients'}`
        : `${pct(doneCount(counts), counts.total)} of ${num(counts.total)}`;
    sent.textContent = num(counts.sent);
    failed.textContent = num(counts.failed);
  };
  update(c);
  return { element, update };
}
