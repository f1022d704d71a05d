// Settings: the account-wide settings (public URL for delivery callbacks, default country, SendGrid key,
// webhook secret) on their own screen.

import { h } from '../lib/dom.js';
import { pageHead } from '../lib/ui.js';
import { settingsCard } from './settings-card.js';
import { signInsCard } from './sign-ins.js';

export async function mount(root) {
  root.append(
    pageHead('Settings', 'What applies to every channel: where providers reach this app, and how numbers are read.'),
    h('div', { class: 'stack', style: { maxWidth: '820px' } }, settingsCard(), signInsCard()));
}
