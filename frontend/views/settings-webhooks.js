// Outgoing webhooks (DESIGN section 17): add an endpoint (URL, events), and for each one: send a test, recent
// deliveries with their status code and timing (retry one), rotate the secret, why it was disabled and Enable.

import { api, list } from '../lib/api.js';
import { busy, field, h, replace } from '../lib/dom.js';
import { dateTime } from '../lib/format.js';
import { confirmDialog, errorNotice, showError, toast } from '../lib/ui.js';
import { copyButton, shownOnce } from './settings-secret.js';

const TYPES = [
  'message.created',
  'message.updated',
  'campaign.status',
  'contact.opted_out',
  'contact.opted_in',
  'channel.status',
  'webhook.disabled',
  'sequence.enrolled',
  'sequence.exited',
];
const STATUS = { succeeded: ['ok', 'Delivered'], pending: ['warn', 'Retrying'], failed: ['err', 'Failed'] };

export function webhooksCard() {
  const url = h('input', {
    type: 'url',
    name: 'webhook_url',
    placeholder: 'https://crm.example.com/hooks/bulk',
    autocomplete: 'off',
  });
  const all = h('input', { type: 'checkbox', name: 'all_events', checked: true });
  const types = TYPES.map((t) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'event', value: t, disabled: true }), ` ${t}`),
  );
  const bodies = h('input', { type: 'checkbox', name: 'include_body' });
  all.addEventListener('change', () =>
    types.forEach((l) => {
      l.querySelector('input').disabled = all.checked;
    }),
  );
  const shown = h('div');
  const errors = h('div');
  const endpoints = h('div', { class: 'stack' });
  const add = h('button', { class: 'btn primary', type: 'submit' }, 'Add endpoint');
  const form = h(
    'form',
    { class: 'card stack', 'aria-labelledby': 'webhooks-title', novalidate: true },
    h('div', { class: 'card-head', style: { marginBottom: 0 } }, h('h2', { id: 'webhooks-title' }, 'Webhooks')),
    h(
      'p',
      { class: 'muted small' },
      'Tell another program what happens here: each message sent, failed or delivered, replies, opt-outs, campaign progress. Every request is signed (Standard Webhooks).',
    ),
    field('Endpoint URL', url),
    h(
      'fieldset',
      { class: 'scopes' },
      h('legend', {}, 'Events'),
      h('label', { class: 'check' }, all, ' All events'),
      h('div', { class: 'row' }, types),
    ),
    h('label', { class: 'check' }, bodies, ' Include message text (otherwise only who, when and how it went)'),
    shown,
    errors,
    h('div', { class: 'row end' }, add),
    endpoints,
  );

  const load = async () => {
    try {
      const { items } = await list('/api/webhooks');
      replace(
        endpoints,
        items.length
          ? items.map((e) => endpointBlock(e, load, shown))
          : h('p', { class: 'muted small' }, 'No webhook endpoints yet.'),
      );
    } catch (error) {
      replace(endpoints, errorNotice(error, 'The webhooks could not be loaded.'));
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(add, async () => {
      errors.replaceChildren();
      const events = all.checked
        ? ['*']
        : types
            .map((l) => l.querySelector('input'))
            .filter((i) => i.checked)
            .map((i) => i.value);
      try {
        const made = await api.post('/api/webhooks', { url: url.value.trim(), events, include_body: bodies.checked });
        replace(
          shown,
          shownOnce(
            'Signing secret (shown once):',
            made.secret,
            'Give it to the receiver to verify each request; Rotate makes a new one.',
          ),
        );
        url.value = '';
        load();
      } catch (error) {
        replace(errors, errorNotice(error, 'The endpoint was not added.', { url: 'Endpoint URL', events: 'Events' }));
      }
    });
  });
  load();
  return form;
}

function endpointBlock(endpoint, reload, shown) {
  const deliveries = h('div');
  const button = (label, action, cls = 'btn small') => {
    const b = h('button', { class: cls, type: 'button' }, label);
    b.addEventListener('click', () => busy(b, action));
    return b;
  };
  const refresh = () => loadDeliveries(endpoint, deliveries);
  const test = button('Send test', async () => {
    try {
      await api.post(`/api/webhooks/${endpoint.id}/test`);
      toast('Test queued.', { tone: 'ok' });
      pollDeliveries(refresh);
    } catch (error) {
      showError(error, 'No test was sent');
    }
  });
  const rotate = button('Rotate secret', async () => {
    const sure = await confirmDialog({
      title: 'Rotate the signing secret?',
      text: `A new secret is shown once. The old one also signs for 24 hours; after that, ${endpoint.url} refuses every delivery until it checks the new one.`,
      confirm: 'Rotate secret',
      cancel: 'Keep the current one',
      danger: true,
    });
    if (!sure) return;
    try {
      const view = await api.post(`/api/webhooks/${endpoint.id}/rotate-secret`);
      replace(
        shown,
        shownOnce(
          'New signing secret (shown once):',
          view.secret,
          'The old secret also signs for 24 hours, so the receiver can switch over.',
        ),
      );
    } catch (error) {
      showError(error, 'The secret was not rotated');
    }
  });
  const enable = button(
    'Enable',
    async () => {
      try {
        await api.patch(`/api/webhooks/${endpoint.id}`, { enabled: true });
        reload();
      } catch (error) {
        showError(error, 'The endpoint was not enabled');
      }
    },
    'btn small primary',
  );
  const remove = button(
    'Delete',
    async () => {
      if (
        !(await confirmDialog({ title: 'Delete this endpoint?', text: endpoint.url, confirm: 'Delete', danger: true }))
      )
        return;
      try {
        await api.del(`/api/webhooks/${endpoint.id}`);
        reload();
      } catch (error) {
        showError(error, 'The endpoint was not deleted');
      }
    },
    'btn small danger',
  );
  const pill = endpoint.enabled
    ? h('span', { class: 'pill ok' }, 'Enabled')
    : h('span', { class: 'pill err' }, 'Disabled');
  const events = endpoint.events.includes('*') ? 'All events' : endpoint.events.join(', ');
  const urlCode = h('code', { class: 'endpoint-url' }, endpoint.url);
  refresh();
  return h(
    'section',
    { class: 'endpoint stack', dataset: { endpointId: endpoint.id }, style: { gap: '8px' } },
    h(
      'div',
      { class: 'row', style: { justifyContent: 'space-between' } },
      h(
        'div',
        { class: 'stack', style: { gap: '2px', minWidth: '0' } },
        h(
          'div',
          { class: 'row', style: { flexWrap: 'nowrap' } },
          urlCode,
          copyButton(endpoint.url, urlCode, 'Copy the endpoint URL'),
        ),
        h('span', { class: 'muted small' }, `${events}${endpoint.include_body ? ' · with message text' : ''}`),
      ),
      pill,
    ),
    endpoint.enabled
      ? null
      : h(
          'div',
          { class: 'notice err disabled-reason', role: 'status' },
          h(
            'div',
            {},
            h('strong', {}, 'Disabled'),
            h('div', {}, endpoint.disabled_reason || ''),
            h(
              'div',
              { class: 'muted small' },
              'Fix the receiver, then Enable: what happened meanwhile is delivered then.',
            ),
          ),
        ),
    h('div', { class: 'row' }, endpoint.enabled ? test : enable, rotate, remove),
    deliveries,
  );
}

function pollDeliveries(refresh) {
  let n = 0;
  const tick = () => {
    refresh();
    if (++n < 6) setTimeout(tick, 1000);
  };
  tick();
}

async function loadDeliveries(endpoint, box) {
  try {
    const { items } = await list(`/api/webhooks/${endpoint.id}/deliveries`, { limit: 8 });
    replace(
      box,
      items.length
        ? deliveryTable(items, () => loadDeliveries(endpoint, box))
        : h('p', { class: 'muted small' }, 'No deliveries yet.'),
    );
  } catch (error) {
    replace(box, errorNotice(error, 'The deliveries could not be loaded.'));
  }
}

function deliveryTable(items, reload) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'deliveries' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Event', 'Result', 'Code', 'Time', 'When', ''].map((t) => h('th', {}, t)),
        ),
      ),
      h(
        'tbody',
        {},
        items.map((d) => {
          const [tone, label] = STATUS[d.status] || ['', d.status];
          const retry = h('button', { class: 'btn small', type: 'button' }, 'Retry');
          retry.addEventListener('click', () =>
            busy(retry, async () => {
              try {
                await api.post(`/api/webhook-deliveries/${d.id}/retry`);
                pollDeliveries(reload);
              } catch (error) {
                showError(error, 'The delivery was not retried');
              }
            }),
          );
          return h(
            'tr',
            { dataset: { deliveryId: d.id, status: d.status } },
            h('td', {}, h('code', {}, d.type)),
            h(
              'td',
              { title: d.last_error || '' },
              h('span', { class: `pill ${tone}` }, label),
              d.last_error ? h('div', { class: 'muted small' }, d.last_error) : null,
            ),
            h('td', { class: 'code' }, d.response_status ?? '—'),
            h('td', {}, d.duration_ms != null ? `${d.duration_ms} ms` : '—'),
            h('td', {}, d.last_attempt_at ? dateTime(d.last_attempt_at) : 'Waiting'),
            h('td', { class: 'actions' }, d.status === 'succeeded' ? null : retry),
          );
        }),
      ),
    ),
  );
}
