// Account settings on the Channels screen: the public URL (where providers send delivery callbacks), the
// default country for numbers written without +country, SendGrid's event-webhook verification key, and the
// webhook secret (generate a new one), and when temporary delivery failures (soft bounces) suppress an address.

import { api } from '../lib/api.js';
import { busy, field, h, replace } from '../lib/dom.js';
import { confirmDialog, errorNotice, toast } from '../lib/ui.js';
import { webhookAddresses } from './settings-addresses.js';
import { shownOnce } from './settings-secret.js';

export function settingsCard() {
  const publicUrl = h('input', {
    type: 'url',
    name: 'public_url',
    placeholder: 'https://messages.example.com',
    autocomplete: 'off',
  });
  const country = h('input', {
    type: 'text',
    name: 'default_country',
    placeholder: 'US',
    maxlength: '2',
    autocomplete: 'off',
    style: { textTransform: 'uppercase' },
  });
  const sendgridKey = h('textarea', {
    name: 'sendgrid_public_key',
    rows: '3',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…',
  });
  const softLimit = h('input', {
    type: 'number',
    name: 'soft_bounce_limit',
    min: '1',
    max: '100',
    step: '1',
    inputmode: 'numeric',
    placeholder: '3',
  });
  const softDays = h('input', {
    type: 'number',
    name: 'soft_bounce_days',
    min: '1',
    max: '365',
    step: '1',
    inputmode: 'numeric',
    placeholder: '14',
  });
  const labels = {
    soft_bounce_limit: 'Temporary failures before an address is suppressed',
    soft_bounce_days: 'Temporary failures counted over (days)',
  };
  const hooks = h('div', { class: 'stack', style: { gap: '4px' } });
  const secretBox = h('div');
  const errors = h('div');
  const save = h('button', { class: 'btn primary', type: 'submit' }, 'Save');
  const generate = h('button', { class: 'btn', type: 'button' }, 'Generate a new webhook secret');
  const form = h(
    'form',
    { class: 'card stack', 'aria-labelledby': 'settings-title', novalidate: true },
    h('div', { class: 'card-head', style: { marginBottom: 0 } }, h('h2', { id: 'settings-title' }, 'General')),
    h(
      'div',
      { class: 'fields' },
      field(
        'Public URL',
        publicUrl,
        'Where Twilio and other providers can reach this app. Without it, SMS delivery is polled (slower).',
      ),
      field('Default country', country, 'Two letters, used for phone numbers written without +country.'),
    ),
    h(
      'div',
      { class: 'fields' },
      field(
        labels.soft_bounce_limit,
        softLimit,
        'An address that fails for now this many times (mailbox full, server busy) is no longer mailed. 1 to 100; empty: 3.',
      ),
      field(
        labels.soft_bounce_days,
        softDays,
        'Counted over this many days. 1 to 365; empty: 14. A permanent bounce stops mail at once.',
      ),
    ),
    field(
      'SendGrid verification key',
      sendgridKey,
      'From SendGrid: Settings → Mail Settings → Signed Event Webhook. Lets email delivery events in; leave empty if you do not use SendGrid.',
    ),
    hooks,
    secretBox,
    errors,
    h('div', { class: 'row end' }, generate, save),
  );

  const show = (view) => {
    publicUrl.value = view.public_url_source === 'account' ? view.public_url || '' : '';
    publicUrl.placeholder =
      view.public_url_source === 'environment'
        ? `${view.public_url} (from BULKMSG_PUBLIC_URL)`
        : 'https://messages.example.com';
    country.value = view.default_country || '';
    sendgridKey.value = view.sendgrid_public_key || '';
    softLimit.value = view.soft_bounce_limit ?? '';
    softDays.value = view.soft_bounce_days ?? '';
    replace(hooks, webhookAddresses(view.webhook_urls));
  };
  const load = () =>
    api
      .get('/api/settings')
      .then(show)
      .catch((error) => replace(errors, errorNotice(error, 'Settings could not be loaded.')));

  // A whole number as typed (the server says what is wrong with anything else); empty restores the default.
  const whole = (input) => {
    const text = input.value.trim();
    if (input.validity.badInput) return text || 'not a number';
    return text === '' ? null : Number(text);
  };
  const counts = [softLimit, softDays];
  counts.forEach((input) => input.addEventListener('input', () => input.removeAttribute('aria-invalid')));

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(save, async () => {
      errors.replaceChildren();
      counts.forEach((input) => input.removeAttribute('aria-invalid'));
      try {
        show(
          await api.put('/api/settings', {
            public_url: publicUrl.value.trim() || null,
            default_country: country.value.trim().toUpperCase() || null,
            sendgrid_public_key: sendgridKey.value.replace(/\s+/g, '') || null,
            soft_bounce_limit: whole(softLimit),
            soft_bounce_days: whole(softDays),
          }),
        );
        toast('Settings saved.', { tone: 'ok' });
      } catch (error) {
        for (const detail of error.details || [])
          counts.find((input) => input.name === detail.field)?.setAttribute('aria-invalid', 'true');
        replace(errors, errorNotice(error, 'The settings were not saved.', labels));
      }
    });
  });
  generate.addEventListener('click', () =>
    busy(generate, async () => {
      const sure = await confirmDialog({
        title: 'Make a new webhook secret?',
        text: 'The current secret stops working at once: every program or provider that signs its requests to /webhooks/communications with it is refused (403) until you give it the new one.',
        details: [
          'The new secret is shown once, here.',
          'Twilio and SendGrid are not affected (they sign with their own keys).',
        ],
        confirm: 'Make a new secret',
        cancel: 'Keep the current one',
        danger: true,
      });
      if (!sure) return;
      try {
        const view = await api.put('/api/settings', { webhook_secret: 'generate' });
        show(view);
        replace(
          secretBox,
          shownOnce(
            'New webhook secret (shown once):',
            view.new_webhook_secret,
            'Give it to every program that posts to /webhooks/communications.',
          ),
        );
      } catch (error) {
        replace(errors, errorNotice(error, 'No new secret was made.'));
      }
    }),
  );
  load();
  return form;
}
