// Where providers reach this app: each webhook address with its name, a Copy button and the provider setting
// that takes it (Twilio's "A message comes in", SendGrid's Event Webhook...). Without a public URL, what to do.

import { h } from '../lib/dom.js';
import { copyButton } from './settings-secret.js';

// [key in GET /api/settings' webhook_urls, name, where it goes]
const ADDRESSES = [
  [
    'twilio_inbound',
    'Twilio: texted replies',
    'Twilio console → Phone Numbers → your number → Messaging configuration → "A message comes in": Webhook, HTTP POST. Without it, replies never arrive here.',
  ],
  [
    'twilio_status',
    'Twilio: delivery reports',
    'Nothing to paste: the app sends it with every SMS (StatusCallback). Shown so a firewall or tunnel can let it in.',
  ],
  [
    'sendgrid_events',
    'SendGrid: email events',
    'SendGrid → Settings → Mail Settings → Event Webhook → Post URL; turn on the Signed Event Webhook and paste its key below.',
  ],
  [
    'communications',
    'Any other provider or program',
    'POST JSON delivery events signed with the webhook secret (header X-Bulkmsg-Signature: sha256=<HMAC-SHA256 of the body>).',
  ],
];

export function webhookAddresses(urls) {
  const known = ADDRESSES.filter(([key]) => urls && key in urls);
  if (!known.length) return null;
  if (!known.some(([key]) => urls[key])) {
    return h(
      'div',
      { class: 'notice', role: 'note' },
      h(
        'div',
        {},
        h('strong', {}, 'No webhook addresses yet'),
        h(
          'span',
          { class: 'small' },
          'Set the public URL above (an address the internet reaches, such as a tunnel) and save: the addresses to paste into Twilio and SendGrid appear here.',
        ),
      ),
    );
  }
  return h(
    'section',
    { class: 'stack webhook-addresses', 'aria-labelledby': 'addresses-title', style: { gap: '10px' } },
    h('h3', { id: 'addresses-title' }, 'Addresses to give your providers'),
    h(
      'ul',
      { class: 'address-list' },
      known.map(([key, name, where]) => {
        const code = h('code', { class: 'address-url' }, urls[key]);
        return h(
          'li',
          { dataset: { address: key } },
          h(
            'div',
            { class: 'address-name' },
            h('strong', {}, name),
            copyButton(urls[key], code, `Copy the address for ${name}`),
          ),
          code,
          h('span', { class: 'muted small' }, where),
        );
      }),
    ),
  );
}
