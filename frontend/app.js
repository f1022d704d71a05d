// The app shell: sign-in, navigation, the connection indicator, and one view at a time in <main>.

import { onSignedOut } from './lib/api.js';
import { signIn, signOut, takeCredentialFromAddress, whoIsSignedIn } from './lib/auth.js';
import { h, replace, svg } from './lib/dom.js';
import { startHealthBanner } from './lib/health-banner.js';
import { icons } from './lib/icons.js';
import { startStackedTables } from './lib/stack-tables.js';
import { emit, on, state } from './lib/store.js';
import { errorNotice } from './lib/ui.js';
import { backfill, startSocket } from './lib/ws.js';

// `short` is the label under the icon in the phone-size menu, where all items share one row.
const ROUTES = [
  {
    name: 'dashboard',
    path: '',
    label: 'Dashboard',
    short: 'Home',
    icon: icons.dashboard,
    load: () => import('./views/dashboard.js'),
  },
  {
    name: 'channels',
    path: 'channels',
    label: 'Channels',
    short: 'Channels',
    icon: icons.channels,
    load: () => import('./views/channels.js'),
  },
  {
    name: 'contacts',
    path: 'contacts',
    label: 'Contacts',
    short: 'Contacts',
    icon: icons.contacts,
    load: () => import('./views/contacts.js'),
  },
  {
    name: 'compose',
    path: 'compose',
    label: 'Compose',
    short: 'Compose',
    icon: icons.compose,
    load: () => import('./views/compose.js'),
  },
  {
    name: 'sequences',
    path: 'sequences',
    label: 'Sequences',
    short: 'Series',
    icon: icons.sequences,
    load: () => import('./views/sequences.js'),
  },
  {
    name: 'campaigns',
    path: 'campaigns',
    label: 'Campaigns',
    short: 'Sent',
    icon: icons.campaigns,
    load: () => import('./views/campaigns.js'),
  },
  {
    name: 'conversations',
    path: 'conversations',
    label: 'Conversations',
    short: 'Inbox',
    icon: icons.conversations,
    load: () => import('./views/conversations.js'),
  },
  {
    name: 'settings',
    path: 'settings',
    label: 'Settings',
    short: 'Settings',
    icon: icons.settings,
    load: () => import('./views/settings.js'),
  },
];

const CONNECTION_TEXT = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

let socket = null;
let unmount = null;
let routeSeq = 0;
let bannerTimer = null;
let wasDown = false;

function parseRoute() {
  const path = (window.location.hash || '#/').replace(/^#\/?/, '');
  const [head = '', ...rest] = path.split('/').map(decodeURIComponent);
  const route = ROUTES.find((r) => r.path === head) || ROUTES[0];
  return { route, params: rest.filter(Boolean) };
}

async function render() {
  const { route, params } = parseRoute();
  const seq = ++routeSeq;
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.route === route.name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const main = document.getElementById('main');
  const root = document.documentElement;
  root.dataset.view = route.name;
  delete root.dataset.ready;
  if (unmount) {
    try {
      unmount();
    } catch (error) {
      console.error(error);
    }
    unmount = null;
  }
  replace(main, h('div', { class: 'skeleton' }, 'Loading…'));
  try {
    const view = await route.load();
    if (seq !== routeSeq) return;
    const container = h('div', { class: `view view-${route.name}` });
    replace(main, container);
    unmount = (await view.mount(container, params)) || null;
    if (seq !== routeSeq) {
      if (unmount) unmount();
      unmount = null;
      return;
    }
    document.title = `${route.label} · Bulk Messenger`;
    root.dataset.ready = '1';
    const title = main.querySelector('.page-title');
    if (title && document.activeElement && document.activeElement.closest('#nav')) title.focus({ preventScroll: true });
  } catch (error) {
    if (seq !== routeSeq) return;
    replace(main, errorNotice(error, `The ${route.label} screen could not be shown.`));
    root.dataset.ready = '1';
  }
}

function buildNav() {
  const nav = document.getElementById('nav');
  replace(
    nav,
    ROUTES.map((r) =>
      h(
        'a',
        { href: `#/${r.path}`, dataset: { route: r.name }, 'aria-label': r.label },
        svg(r.icon),
        h('span', { class: 'long' }, r.label),
        h('span', { class: 'short', 'aria-hidden': 'true' }, r.short),
      ),
    ),
  );
}

function showConnection(value) {
  const conn = document.getElementById('conn');
  conn.dataset.state = value;
  conn.querySelector('.conn-text').textContent = CONNECTION_TEXT[value] || value;
  conn.title = value === 'reconnecting' ? 'The live connection dropped; reconnecting without losing events.' : '';
  // A drop that lasts more than a moment also gets a banner everyone notices.
  clearTimeout(bannerTimer);
  const banner = document.getElementById('conn-banner');
  if (value === 'reconnecting' || value === 'offline') {
    wasDown = true;
    bannerTimer = setTimeout(() => {
      banner.hidden = false;
    }, 1500);
  } else banner.hidden = true;
  if (value === 'live' && wasDown) {
    wasDown = false;
    // Back from a drop: a screen that could not load is shown again; the others reload their data.
    if (document.querySelector('#main .notice.err')) render();
    else emit('resync');
  }
}

function showSignedOut(sentence) {
  if (socket) {
    socket.stop();
    socket = null;
  }
  document.getElementById('shell').hidden = true;
  document.getElementById('signed-out').hidden = false;
  document.documentElement.dataset.view = 'signed-out';
  document.documentElement.dataset.ready = '1';
  if (sentence) document.getElementById('signed-out-text').textContent = sentence;
  document.getElementById('token-input').focus();
}

/** Exchanges the address's one-time code or token for the session cookie; false (and the reason shown) if not. */
async function signInWith(credential) {
  try {
    await signIn(credential);
    return true;
  } catch (error) {
    const reason =
      error.status === 0
        ? 'The Bulk Messenger server is not answering. Start it with bulkmsg serve and open the link it prints.'
        : credential.code
          ? 'That sign-in link has already been used or has expired. Open the newest link printed by bulkmsg serve (or run bulkmsg token).'
          : 'That token is not valid any more. Open the newest link printed by bulkmsg serve, or run bulkmsg token and paste the token.';
    showSignedOut(reason);
    return false;
  }
}

function buildSignOut() {
  const button = document.getElementById('sign-out');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await signOut();
    } catch {
      /* signed out already, or the server is away: show the sign-in page anyway */
    }
    button.disabled = false;
    showSignedOut(
      'You are signed out. To sign in again, open the link printed by bulkmsg serve, or run bulkmsg token and paste the token.',
    );
  });
}

async function start() {
  document.getElementById('signed-out').hidden = true;
  document.getElementById('shell').hidden = false;
  buildNav();
  startHealthBanner(document.getElementById('shell'));
  startStackedTables(document.getElementById('shell'));
  await render();
  try {
    await backfill();
  } catch (error) {
    if (error.status !== 401) console.warn('event history unavailable', error);
  }
  state.historyLoaded = true;
  emit('history', null);
  socket = startSocket();
}

async function boot() {
  on('connection', showConnection);
  onSignedOut(() => {
    showSignedOut(
      'Your session has ended. Open the link printed by bulkmsg serve again, or run bulkmsg token and paste the token.',
    );
  });
  document.getElementById('token-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = document.getElementById('token-input');
    const value = input.value.trim();
    if (!value) return;
    input.value = '';
    if (await signInWith({ token: value })) start();
  });
  window.addEventListener('hashchange', () => {
    const credential = takeCredentialFromAddress();
    if (credential.token || credential.code) {
      signInWith(credential).then((ok) => ok && window.location.reload());
      return;
    }
    if (!document.getElementById('shell').hidden) render();
  });

  buildSignOut();
  const credential = takeCredentialFromAddress();
  if ((credential.token || credential.code) && !(await signInWith(credential))) return;
  let who;
  try {
    who = await whoIsSignedIn();
  } catch (error) {
    showSignedOut(errorNotice(error).textContent);
    return;
  }
  if (!who) {
    showSignedOut();
    return;
  }
  start();
}

boot();
