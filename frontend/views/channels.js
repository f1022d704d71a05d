// Channels: a card per channel with its state in colour, Connect/Disconnect, the settings form as the server
// describes it (secrets masked) and, for WhatsApp, the QR code shown large until the phone is linked.

import { api } from '../lib/api.js';
import { busy, field, h, replace, svg } from '../lib/dom.js';
import { fixFor } from '../lib/errors.js';
import { channelName } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { on, setChannels, state } from '../lib/store.js';
import { channelPill, channelTone, errorNotice, pageHead, showError, toast } from '../lib/ui.js';

const ORDER = ['whatsapp', 'gmail', 'smtp', 'sms'];
const MASK = /^\*{3,}/;
const LIVE_STATES = new Set(['initializing', 'qr', 'authenticated', 'ready']);

export async function mount(root) {
  const grid = h('div', { class: 'grid channel-grid' });
  root.append(
    pageHead('Channels', 'Connect the ways you send. Secrets are stored encrypted and never shown again.'),
    grid,
    h(
      'p',
      { class: 'muted small', style: { marginTop: '16px' } },
      'The public URL for delivery reports and the default country are under ',
      h('a', { href: '#/settings' }, 'Settings'),
      '.',
    ),
  );
  const cards = new Map();

  const draw = () => {
    const names = ORDER.concat([...state.channels.keys()].filter((c) => !ORDER.includes(c)));
    for (const name of names) {
      if (!cards.has(name)) {
        const card = channelCard(name);
        cards.set(name, card);
        grid.append(card.element);
      }
      cards.get(name).update();
    }
  };

  try {
    setChannels(await api.get('/api/channels'));
  } catch (error) {
    grid.before(errorNotice(error, 'The channels could not be loaded.'));
  }
  draw();
  const offs = [
    on('channels', draw),
    on('qr', (name) => cards.get(name) && cards.get(name).update()),
    on('resync', () =>
      api
        .get('/api/channels')
        .then(setChannels)
        .catch(() => {}),
    ),
  ];
  return () => offs.forEach((off) => off());
}

function current(name) {
  return state.channels.get(name) || { channel: name, state: 'not_configured', detail: '', settings: {} };
}

// The settings form is the one the server declares for the channel (GET /api/channels `form`: backend/channels/
// fields.py): its fields, labels, widgets, bounds and hints.
function channelCard(name) {
  const schema = current(name).form || { intro: '', fields: [] };
  const parts = {
    pill: h('span'),
    detail: h('p', { class: 'channel-detail', 'aria-live': 'polite' }),
    inbox: h('p', { class: 'muted small inbox-status', hidden: true }),
    fix: h('p', { class: 'muted small' }),
    qrBox: h('div', { class: 'qr-box', hidden: true }),
    form: settingsForm(name, schema),
  };
  parts.buttons = sessionButtons(name, parts.form.collect);
  const settings = h('details', { class: 'settings' }, h('summary', {}, 'Settings'), parts.form.element);
  const element = h(
    'article',
    { class: 'card channel-card', dataset: { channel: name }, 'aria-labelledby': `ch-${name}` },
    h(
      'div',
      { class: 'card-head', style: { marginBottom: 0 } },
      h(
        'div',
        { class: 'channel-title' },
        h('span', { class: 'channel-icon' }, svg(icons[name] || icons.channels)),
        h('div', {}, h('h2', { id: `ch-${name}` }, channelName(name))),
      ),
      parts.pill,
    ),
    h('p', { class: 'muted small' }, schema.intro),
    parts.detail,
    parts.inbox,
    parts.fix,
    parts.qrBox,
    parts.buttons.row,
    settings,
  );
  settings.addEventListener('toggle', () => {
    settings.dataset.touched = '1';
  });
  let filledOnce = false;
  const update = () => {
    const channel = current(name);
    updateCard(element, parts, channel, name);
    if (!filledOnce || !parts.form.dirty()) {
      parts.form.fill(channel.settings || {});
      filledOnce = true;
    }
    if (channel.state === 'not_configured' && !settings.dataset.touched) settings.open = true;
  };
  return { element, update };
}

function updateCard(element, parts, channel, name) {
  element.dataset.tone = channelTone(channel.state);
  element.dataset.state = channel.state || '';
  replace(parts.pill, channelPill(channel.state));
  parts.detail.textContent = channel.detail || describeState(channel.state, name);
  // The SMTP channel's inbox: mails it could not read are set aside (kept in the folder) and counted here.
  const aside = channel.inbox?.unreadable ? channel.inbox : null;
  parts.inbox.textContent = aside
    ? `Inbox: ${aside.text}; ${aside.unreadable === 1 ? 'it stays' : 'they stay'} in the mail folder.`
    : '';
  parts.inbox.title = aside ? aside.set_aside.map((m) => `UID ${m.uid}: ${m.reason}`).join('\n') : '';
  parts.inbox.hidden = !aside;
  const hint = ['error', 'auth_failure', 'conflict'].includes(channel.state) ? fixFor(channel.detail) : null;
  parts.fix.textContent = hint || '';
  parts.fix.hidden = !hint;
  parts.buttons.update(channel.state);
  drawQr(parts.qrBox, state.qr.get(name));
}

// Connect / Disconnect / Authorize. A channel that needs settings shows no session button until they are saved
// (WhatsApp needs none: its first Connect saves the defaults).
function sessionButtons(name, collect) {
  const connect = h(
    'button',
    { class: 'btn primary', type: 'button', dataset: { action: 'connect' } },
    svg(icons.play),
    'Connect',
  );
  const disconnect = h(
    'button',
    { class: 'btn', type: 'button', dataset: { action: 'disconnect' } },
    svg(icons.stop),
    'Disconnect',
  );
  const authorize =
    name === 'gmail'
      ? h('button', { class: 'btn', type: 'button', dataset: { action: 'authorize' } }, 'Authorize with Google')
      : null;
  connect.addEventListener('click', () =>
    busy(connect, async () => {
      try {
        if (name === 'whatsapp' && current(name).state === 'not_configured')
          setChannels([await api.put(`/api/channels/${name}`, collect())]);
        await api.post(`/api/channels/${name}/connect`);
      } catch (error) {
        showError(error, `${channelName(name)} could not connect`);
      }
    }),
  );
  disconnect.addEventListener('click', () =>
    busy(disconnect, async () => {
      try {
        await api.post(`/api/channels/${name}/disconnect`);
      } catch (error) {
        showError(error, `${channelName(name)} could not disconnect`);
      }
    }),
  );
  if (authorize) authorize.addEventListener('click', () => busy(authorize, () => startGmailAuthorization()));
  const row = h('div', { class: 'row' }, connect, disconnect, authorize);
  const update = (value) => {
    const live = LIVE_STATES.has(value);
    const unconfigured = value === 'not_configured' && name !== 'whatsapp';
    connect.hidden = live || unconfigured;
    disconnect.hidden = !live;
    if (authorize) authorize.hidden = value === 'not_configured';
    row.hidden = [connect, disconnect, authorize].every((b) => !b || b.hidden);
  };
  return { row, update };
}

async function startGmailAuthorization() {
  try {
    const { auth_url: url } = await api.post('/api/channels/gmail/authorize');
    window.open(url, '_blank', 'noopener');
    toast('Finish signing in with Google in the window that opened; this card turns green when it is done.');
  } catch (error) {
    showError(error, 'Gmail authorization could not start');
  }
}

function describeState(value, name) {
  return (
    {
      not_configured:
        name === 'whatsapp'
          ? 'Not set up yet. Click Connect and scan the QR code with your phone.'
          : 'Not set up yet. Fill in the settings below, then save them.',
      disconnected: 'Set up, not connected.',
      initializing: 'Starting…',
      qr: 'Scan the QR code with your phone.',
      authenticated: 'Linked. Getting ready…',
      ready: 'Ready to send.',
      conflict: 'WhatsApp is open in another window. Click Connect to use it here.',
    }[value] || ''
  );
}

function drawQr(box, dataUrl) {
  if (!dataUrl) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const img = box.querySelector('img');
  if (img) {
    img.src = dataUrl;
    return;
  }
  box.hidden = false;
  box.replaceChildren(
    h('img', { src: dataUrl, alt: 'WhatsApp QR code. Scan it with WhatsApp on your phone to link this computer.' }),
    h(
      'ol',
      {},
      h('li', {}, 'Open WhatsApp on your phone.'),
      h('li', {}, 'Tap Settings → Linked devices → Link a device.'),
      h('li', {}, 'Point the phone at this code. It refreshes by itself.'),
    ),
  );
}

function settingsForm(name, schema) {
  const controls = new Map();
  const errorBox = h('div');
  let dirty = false;
  const inputs = schema.fields.map((f) => {
    const { control, wrap } = fieldControl(f);
    control.addEventListener('input', () => {
      dirty = true;
      control.removeAttribute('aria-invalid');
    });
    controls.set(f.key, { control, spec: f });
    return wrap;
  });
  const save = h('button', { class: 'btn primary', type: 'submit' }, 'Save and verify');
  const element = h(
    'form',
    { class: 'stack', novalidate: true, 'aria-label': `${channelName(name)} settings` },
    h('div', { class: 'fields' }, inputs),
    errorBox,
    h('div', { class: 'row end' }, save),
  );
  const collect = () => collectValues(controls);
  element.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(save, async () => {
      errorBox.replaceChildren();
      try {
        const channel = await api.put(`/api/channels/${name}`, collect());
        dirty = false;
        setChannels([channel]);
        toast(`${channelName(name)} settings saved and verified.`, { tone: 'ok' });
      } catch (error) {
        for (const d of error.details || []) {
          const entry = controls.get(String(d.field || '').split('.')[0]);
          if (entry) entry.control.setAttribute('aria-invalid', 'true');
        }
        const labels = Object.fromEntries(schema.fields.map((f) => [f.key, f.label]));
        errorBox.replaceChildren(errorNotice(error, 'The settings were not saved.', labels));
      }
    });
  });
  return { element, fill: (settings) => fillValues(controls, settings), collect, dirty: () => dirty };
}

// One settings field: its control, and the control wrapped with its label (and hint).
function fieldControl(f) {
  let control;
  if (f.type === 'select')
    control = h(
      'select',
      {},
      f.options.map(([value, text]) => h('option', { value }, text)),
    );
  else if (f.type === 'json')
    control = h('textarea', {
      rows: 5,
      spellcheck: 'false',
      class: 'mono',
      placeholder: '{"installed": {"client_id": "…", "client_secret": "…", …}}',
    });
  else if (f.type === 'checkbox') control = h('input', { type: 'checkbox' });
  else
    control = h('input', {
      type: f.type,
      min: f.min,
      max: f.max,
      placeholder: f.placeholder || '',
      autocomplete: f.autocomplete || 'off',
      spellcheck: 'false',
      pattern: f.pattern,
    });
  control.name = f.key;
  if (f.required) control.required = true;
  if (f.type === 'checkbox')
    return { control, wrap: h('label', { class: 'check', style: { gridColumn: '1 / -1' } }, control, f.label) };
  const wrap = field(f.label, control, f.hint);
  if (f.type === 'json') wrap.style.gridColumn = '1 / -1';
  return { control, wrap };
}

function collectValues(controls) {
  const values = {};
  for (const [key, { control, spec }] of controls) {
    if (spec.type === 'checkbox') values[key] = control.checked;
    else if (spec.secret && control.value === '' && control.dataset.saved) values[key] = control.dataset.saved;
    else if (spec.type === 'number') {
      if (control.value !== '') values[key] = Number(control.value);
    } else if (spec.type === 'json') {
      if (control.value.trim()) {
        try {
          values[key] = JSON.parse(control.value);
        } catch {
          values[key] = control.value;
        }
      }
    } else if (control.value !== '') values[key] = control.value;
  }
  return values;
}

function fillValues(controls, settings) {
  for (const [key, { control, spec }] of controls) {
    const value = settings[key];
    if (spec.type === 'checkbox') {
      control.checked = value == null ? Boolean(spec.default) : Boolean(value);
      continue;
    }
    if (spec.type === 'json') {
      control.value = value && Object.keys(value).length ? JSON.stringify(value, null, 2) : '';
      continue;
    }
    if (spec.secret) {
      // A saved secret comes back masked: keep the field empty and send the mask back to mean "unchanged".
      const saved = typeof value === 'string' && MASK.test(value) ? value : '';
      control.value = saved ? '' : value || '';
      if (saved) {
        control.dataset.saved = saved;
        control.placeholder = 'Saved. Leave empty to keep it.';
      } else delete control.dataset.saved;
      continue;
    }
    if (spec.type === 'select') {
      control.value = value == null ? spec.options[0][0] : String(value);
      continue;
    }
    control.value = value == null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
}
