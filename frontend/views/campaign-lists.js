// The failed and uncertain messages of a campaign, with "retry failed" and "re-queue uncertain".

import { api, list } from '../lib/api.js';
import { busy, h, replace, svg } from '../lib/dom.js';
import { fixFor } from '../lib/errors.js';
import { dateTime, num } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { confirmDialog, errorNotice, showError, toast } from '../lib/ui.js';

const LIMIT = 200;

const TEXT = {
  failed: {
    intro: 'These could not be sent. Fix the cause (the reason is on each line), then retry them.',
    action: 'Retry all failed', route: 'retry-failed', done: 'Failed messages are queued again.',
    empty: 'No failed messages.',
  },
  uncertain: {
    intro: 'The provider may have received these, but its answer was lost. Check with the recipient if you can: re-queueing sends them again, and they may get it twice.',
    action: 'Re-queue uncertain', route: 'requeue-uncertain', done: 'Uncertain messages are queued again.',
    empty: 'No uncertain messages.',
  },
};

export function messageList(campaignId, status) {
  const text = TEXT[status];
  const body = h('div');
  const actionButton = h('button', { class: `btn ${status === 'uncertain' ? '' : 'primary'}`, type: 'button', dataset: { action: text.route } }, svg(icons.refresh), text.action);
  const element = h('div', { class: 'stack' },
    h('div', { class: 'row' }, h('p', { class: 'muted', style: { flex: '1 1 300px' } }, text.intro), actionButton),
    body);
  let loaded = false;
  let count = 0;

  const load = async () => {
    loaded = true;
    try {
      const { items, total } = await list(`/api/campaigns/${campaignId}/messages`, { status, limit: LIMIT });
      draw(items, total);
    } catch (error) {
      replace(body, errorNotice(error, 'The list could not be loaded.'));
    }
  };

  const draw = (items, total) => {
    actionButton.disabled = total === 0;
    if (!items.length) { replace(body, h('div', { class: 'empty' }, text.empty)); return; }
    replace(body,
      h('div', { class: 'table-wrap', style: { maxHeight: '340px' } }, h('table', { dataset: { list: status } },
        h('thead', {}, h('tr', {}, ['Recipient', 'Reason', 'Attempts', 'Last try'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, items.map((m) => {
          const fix = fixFor(m.last_error);
          return h('tr', { dataset: { message: m.id } },
            h('td', { class: 'num nowrap' }, m.recipient || '—'),
            h('td', {}, m.last_error || (status === 'uncertain' ? 'No answer from the provider' : '—'), fix ? h('div', { class: 'muted small' }, fix) : null),
            h('td', { class: 'num' }, num(m.attempts ?? 0)),
            h('td', { class: 'nowrap muted' }, dateTime(m.updated_at || m.sent_at || m.created_at)));
        })))),
      total > items.length ? h('p', { class: 'muted small' }, `Showing the first ${num(items.length)} of ${num(total)}. Export CSV for all of them.`) : null);
  };

  actionButton.addEventListener('click', async () => {
    if (status === 'uncertain' && !(await confirmDialog({
      title: `Re-queue ${num(count)} uncertain ${count === 1 ? 'message' : 'messages'}?`,
      text: 'Some of them may already have arrived; those recipients would get the message twice.',
      confirm: 'Re-queue', danger: false,
    }))) return;
    busy(actionButton, async () => {
      try {
        await api.post(`/api/campaigns/${campaignId}/${text.route}`);
        toast(text.done, { tone: 'ok' });
        load();
      } catch (error) { showError(error); }
    });
  });

  return {
    element,
    load,
    /** Counts changed: reload if the list is showing. */
    stale: () => { if (loaded && element.isConnected && element.offsetParent) load(); },
    setCount: (n) => { count = n; if (!loaded) actionButton.disabled = n === 0; },
  };
}
