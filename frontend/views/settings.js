// Settings: the account-wide settings (public URL for delivery callbacks, default country, SendGrid key,
// webhook secret), API keys for other programs and outgoing webhooks, on their own screen.

import { h } from '../lib/dom.js';
import { pageHead } from '../lib/ui.js';
import { apiKeysCard } from './settings-api-keys.js';
import { settingsCard } from './settings-card.js';
import { webhooksCard } from './settings-webhooks.js';
import { signInsCard } from './sign-ins.js';

export async function mount(root) {
  root.append(
    pageHead(
      'Settings',
      'What applies to every channel: where providers reach this app, how numbers are read, and how other programs connect.',
    ),
    h(
      'div',
      { class: 'stack', style: { maxWidth: '820px' } },
      settingsCard(),
      signInsCard(),
      apiKeysCard(),
      webhooksCard(),
    ),
  );
}
