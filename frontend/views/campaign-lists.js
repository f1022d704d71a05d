// The failed, uncertain and undelivered messages of a campaign, with "retry failed" and "re-queue uncertain";
// an undelivered one carries the provider's reason in words.

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
    action: 'Retry all failed',
    route: 'retry-failed',
    done: 'Failed messages are queued again.',
    empty: 'No failed messages.',
  },
  uncertain: {
    intro:
      'The provider may have received these, but its answer was lost. Check with the recipient if you can: re-queueing sends them again, and they may get it twice.',
    action: 'Re-queue uncertain',
    route: 'requeue-uncertain',
    done: 'Uncertain messages are queued again.',
    empty: 'No uncertain messages.',
  },
  undelivered: {
    intro:
      'The provider took these but could not deliver them; the reason is on each line. Sending the same again rarely helps: check the number or address, or reach these people another way.',
    action: null,
    empty: 'Nothing came back undelivered.',
    query: { delivery: 'undelivered' },
  },
};

export function messageList(campaignId, status) {
  const text = TEXT[status];
  const body = h('div');
  const actionButton = h(
    'button',
    {
      class: `btn ${status === 'uncertain' ? '' : 'primary'}`,
      type: 'button',
      dataset: { action: text.route },
      hidden: !text.action,
    },
    svg(icons.refresh),
    text.action,
  );
  // Undelivered: compose opens with these people chosen and another channel, so they are reached another way.
  const anotherWay =
    status === 'undelivered'
      ? h(
          'a',
          { class: 'btn primary', href: `#/compose/another-way/${campaignId}`, dataset: { action: 'another-way' } },
          'Reach them another way',
        )
      : null;
  const element = h(
    'div',
    { class: 'stack' },
    h(
      'div',
      { class: 'row' },
      h('p', { class: 'muted', style: { flex: '1 1 300px' } }, text.intro),
      actionButton,
      anotherWay,
    ),
    body,
  );
  // What the list knows: whether it loaded yet, the campaign's count for this status, the messages shown.
  const seen = { loaded: false, count: 0, shown: [] };

  const load = async () => {
    seen.loaded = true;
    try {
      const { items, total } = await list(`/api/campaigns/${campaignId}/messages`, {
        ...(text.query || { status }),
        limit: LIMIT,
      });
      seen.shown = items;
      setAction(actionButton, status, items, total);
      if (anotherWay) anotherWay.hidden = total === 0;
      replace(
        body,
        ...(items.length ? messageTable(status, items, total) : [h('div', { class: 'empty' }, text.empty)]),
      );
    } catch (error) {
      replace(body, errorNotice(error, 'The list could not be loaded.'));
    }
  };

  actionButton.addEventListener('click', () => runAction(campaignId, status, actionButton, seen, load));

  return {
    element,
    load,
    /** Counts changed: reload if the list is showing. */
    stale: () => {
      if (seen.loaded && element.isConnected && element.offsetParent) load();
    },
    setCount: (n) => {
      seen.count = n;
      if (!seen.loaded) actionButton.disabled = n === 0;
    },
  };
}

// The action works when there is something it can do; failures the provider refused for good are not offered
// for retry.
function setAction(actionButton, status, items, total) {
  const nothingToRetry =
    status === 'failed' && total === items.length && items.every((m) => m.failure_kind === 'permanent');
  actionButton.disabled = total === 0 || nothingToRetry;
  actionButton.title = nothingToRetry ? 'Every failure here was refused for good: retrying would fail again.' : '';
}

// The table of messages, and a note when there are more than it shows.
function messageTable(status, items, total) {
  return [
    h(
      'div',
      { class: 'table-wrap', style: { maxHeight: '340px' } },
      h(
        'table',
        { dataset: { list: status } },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Recipient', 'Reason', 'Attempts', 'Last try'].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        h(
          'tbody',
          {},
          items.map((m) => messageRow(status, m)),
        ),
      ),
    ),
    total > items.length
      ? h(
          'p',
          { class: 'muted small' },
          `Showing the first ${num(items.length)} of ${num(total)}. Export CSV for all of them.`,
        )
      : null,
  ];
}

function messageRow(status, m) {
  const fix = fixFor(m.last_error);
  return h(
    'tr',
    { dataset: { message: m.id } },
    h('td', { class: 'num nowrap' }, m.recipient || '—'),
    h(
      'td',
      {},
      m.delivery_reason || m.last_error || (status === 'uncertain' ? 'No answer from the provider' : '—'),
      fix ? h('div', { class: 'muted small' }, fix) : null,
      m.failure_kind === 'permanent'
        ? h(
            'div',
            { class: 'small', dataset: { note: 'not-retried' } },
            'Refused for good: not retried (sending again would fail the same way).',
          )
        : null,
      status === 'uncertain' ? reconcileNote(m) : null,
    ),
    h('td', { class: 'num' }, num(m.attempts ?? 0)),
    h('td', { class: 'nowrap muted' }, dateTime(m.updated_at || m.sent_at || m.created_at)),
  );
}

// "Retry all failed" at once; "re-queue uncertain" after a confirmation that says whether anyone could get
// the message twice.
async function runAction(campaignId, status, actionButton, { count, shown }, reload) {
  const text = TEXT[status];
  const allSafe = shown.length > 0 && shown.length === count && shown.every((m) => m.reconcile_state === 'absent');
  if (
    status === 'uncertain' &&
    !(await confirmDialog({
      title: `Re-queue ${num(count)} uncertain ${count === 1 ? 'message' : 'messages'}?`,
      text: allSafe
        ? 'The provider confirmed it never got them: each recipient gets the message once.'
        : 'Some of them may already have arrived; those recipients would get the message twice.',
      confirm: 'Re-queue',
      danger: false,
    }))
  )
    return;
  busy(actionButton, async () => {
    try {
      const answer = await api.post(`/api/campaigns/${campaignId}/${text.route}`);
      toast(answer?.message || text.done, { tone: answer?.not_retryable ? 'warn' : 'ok' });
      reload();
    } catch (error) {
      showError(error);
    }
  });
}

// What checking an uncertain message with the provider found (DESIGN section 6.8).
function reconcileNote(m) {
  if (m.reconcile_state === 'absent')
    return h(
      'div',
      { class: 'small', dataset: { note: 'safe-to-resend' } },
      'Not received by the provider: safe to send again.',
    );
  if (m.reconcile_state === 'checking')
    return h('div', { class: 'muted small', dataset: { note: 'checking' } }, 'Being checked with the provider…');
  if (m.reconcile_state === 'unknown')
    return h(
      'div',
      { class: 'muted small', dataset: { note: 'unknown' } },
      'This provider cannot be asked: check with the recipient before re-sending.',
    );
  return null;
}
