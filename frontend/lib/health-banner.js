// The store's health on every screen: GET /api/health is polled (every 5 s, every 2 s while in trouble); when it
// answers 503 "degraded", a banner under the top bar names each problem and its fix, and running campaigns read
// "Waiting" (their counts are frozen until the store is back). Everything returns to normal by itself.

import { h, replace } from './dom.js';
import { emit, state } from './store.js';

const OK_EVERY_MS = 5000;
const DEGRADED_EVERY_MS = 2000;

let timer = null;
let banner = null;

/** The problems the server reported last ([] when all is well). */
export function storeProblems() {
  return state.health?.problems || [];
}

export function waitingText() {
  const [first] = storeProblems();
  return first ? `Waiting: ${first.message}` : '';
}

async function check() {
  clearTimeout(timer);
  try {
    // 200 ok or 503 degraded, both with a JSON body (no token needed).
    const response = await fetch('/api/health', { cache: 'no-store', headers: { Accept: 'application/json' } });
    if (response.status === 200 || response.status === 503) apply(await response.json());
  } catch {
    // A server that does not answer at all is the connection banner's business.
  }
  timer = setTimeout(check, state.health?.status === 'degraded' ? DEGRADED_EVERY_MS : OK_EVERY_MS);
}

function apply(health) {
  const problems = health.status === 'degraded' && Array.isArray(health.problems) ? health.problems : [];
  const before = JSON.stringify(storeProblems());
  state.health = { status: problems.length ? 'degraded' : 'ok', problems };
  if (JSON.stringify(problems) === before) return;
  document.documentElement.dataset.store = problems.length ? 'degraded' : 'ok';
  render(problems);
  markRunningCampaigns();
  emit('health', state.health);
}

function render(problems) {
  if (!banner) return;
  banner.hidden = problems.length === 0;
  replace(
    banner,
    problems.map((p) =>
      h(
        'p',
        { class: 'health-problem', dataset: { code: p.code || '' } },
        h('strong', {}, p.message || 'The store is in trouble.'),
        ' ',
        h('span', {}, p.fix || ''),
        ' ',
        h('span', { class: 'muted' }, 'Campaigns wait and carry on by themselves.'),
      ),
    ),
  );
}

/** Running campaigns' pills say "Waiting" while the store is in trouble (and "Running" again after). */
export function markRunningCampaigns(root = document) {
  const waiting = waitingText();
  for (const pill of root.querySelectorAll('.pill[data-status="running"]')) {
    if (waiting) {
      if (pill.classList.contains('store-waiting') && pill.title === waiting) continue;
      pill.textContent = 'Waiting';
      pill.title = waiting;
      pill.classList.add('warn', 'store-waiting');
      pill.classList.remove('info', 'busy');
    } else if (pill.classList.contains('store-waiting')) {
      pill.textContent = 'Running';
      pill.title = '';
      pill.classList.remove('warn', 'store-waiting');
      pill.classList.add('info', 'busy');
    }
  }
}

/** Starts polling and puts the (hidden) banner at the top of the content, in the page's flow (it never covers it). */
export function startHealthBanner(shell) {
  banner = h('div', { class: 'health-banner', id: 'health-banner', role: 'alert', hidden: true });
  const content = shell.querySelector('.content');
  if (content) content.prepend(banner);
  else shell.prepend(banner);
  // Views render pills at any time: mark the new ones too while in trouble.
  new MutationObserver(() => {
    if (storeProblems().length) markRunningCampaigns(shell);
  }).observe(shell, { childList: true, subtree: true });
  window.addEventListener('online', check);
  window.addEventListener('bulkmsg:store-trouble', () => {
    if (!storeProblems().length) check();
  });
  check();
}
