// Sequences (DESIGN section 18): the list of sequences, and the editor of a new one (steps with their waits, the
// trigger, the exit rules); `#/sequences/<id>` opens its monitor (sequence-monitor.js).

import { api, list } from '../lib/api.js';
import { busy, field, h, replace, svg } from '../lib/dom.js';
import { channelName, dateTime, num } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { campaignPill, errorNotice, pageHead } from '../lib/ui.js';

const CHANNELS = ['sms', 'smtp', 'gmail', 'whatsapp'];
const UNITS = [
  ['60', 'minutes'],
  ['3600', 'hours'],
  ['86400', 'days'],
];
const MAX_STEPS = 20;

export async function mount(root, params) {
  if (params[0] === 'new') return mountEditor(root);
  if (params[0] && params[1] === 'edit') return mountEditor(root, await api.get(`/api/campaigns/${params[0]}`));
  if (params[0]) {
    const { mountSequence } = await import('./sequence-monitor.js');
    return mountSequence(root, params[0]);
  }
  const box = h('div', {}, h('div', { class: 'skeleton' }, 'Loading…'));
  root.append(
    pageHead(
      'Sequences',
      'Welcome series and follow-ups that go out by themselves and stop when people answer.',
      h('a', { class: 'btn primary', href: '#/sequences/new' }, svg(icons.plus), 'New sequence'),
    ),
    h('section', { class: 'card' }, box),
  );
  try {
    const { items } = await list('/api/campaigns', { kind: 'sequence', limit: 200 });
    if (!items.length) {
      replace(
        box,
        h(
          'div',
          { class: 'empty' },
          h('h3', {}, 'No sequences yet'),
          h(
            'p',
            {},
            'A sequence sends a few messages over days to each contact who enters it: by a tag, as they are created, when they write in, or by hand.',
          ),
        ),
      );
      return null;
    }
    replace(
      box,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          {},
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Name', 'Channel', 'Trigger', 'Steps', 'Status', 'Active', 'Completed', 'Created'].map((t) =>
                h('th', { scope: 'col' }, t),
              ),
            ),
          ),
          h('tbody', {}, items.map(sequenceRow)),
        ),
      ),
    );
  } catch (error) {
    replace(box, errorNotice(error, 'The sequences could not be loaded.'));
  }
  return null;
}

export function triggerText(trigger) {
  if (!trigger) return 'By hand';
  if (trigger.type === 'tag_added') return `Tagged “${trigger.tag}”`;
  if (trigger.type === 'contact_created') return 'New contacts';
  if (trigger.type === 'inbound_message') return trigger.channel ? `Writes in by ${trigger.channel}` : 'Writes in';
  return 'By hand';
}

function sequenceRow(c) {
  const seq = c.sequence || {};
  const funnel = c.funnel || {};
  return h(
    'tr',
    { dataset: { sequence: c.id } },
    h('td', {}, h('a', { href: `#/sequences/${c.id}` }, c.name)),
    h('td', {}, channelName(c.channel)),
    h('td', {}, triggerText(seq.trigger)),
    h('td', { class: 'num' }, num((seq.steps || []).length)),
    h('td', {}, campaignPill(c.status, null)),
    h('td', { class: 'num' }, funnel.active == null ? '—' : num(funnel.active)),
    h('td', { class: 'num' }, funnel.completed == null ? '—' : num(funnel.completed)),
    h('td', { class: 'nowrap muted' }, dateTime(c.created_at)),
  );
}

/** "2 days", "3 hours", "now": a wait as a person says it. */
export function waitText(seconds) {
  if (!seconds) return 'at once';
  for (const [size, unit] of [...UNITS].reverse()) {
    const n = seconds / Number(size);
    if (n >= 1 && Number.isInteger(n)) return `${n} ${n === 1 ? unit.slice(0, -1) : unit}`;
  }
  return `${seconds} seconds`;
}

function stepEditor(index, remove) {
  const amount = h('input', {
    type: 'number',
    min: '0',
    max: '525600',
    step: '1',
    value: index ? '2' : '0',
    name: 'wait_amount',
    'aria-label': `Step ${index + 1} wait`,
  });
  const unit = h(
    'select',
    { name: 'wait_unit', 'aria-label': `Step ${index + 1} wait unit` },
    UNITS.map(([v, t]) => h('option', { value: v, selected: v === '86400' }, t)),
  );
  const subject = h('input', {
    type: 'text',
    name: 'subject',
    placeholder: 'Subject (email)',
    'aria-label': `Step ${index + 1} subject`,
  });
  const body = h('textarea', {
    name: 'body',
    rows: '3',
    placeholder: index ? 'Hi {{ name }}, just checking in…' : 'Welcome, {{ name }}!',
    'aria-label': `Step ${index + 1} message`,
  });
  const drop = h(
    'button',
    { class: 'btn small ghost', type: 'button', 'aria-label': `Remove step ${index + 1}` },
    svg(icons.x),
    'Remove',
  );
  drop.addEventListener('click', remove);
  const when = h('span', { class: 'muted small' }, index ? 'after the previous step' : 'after the contact enters');
  const element = h(
    'fieldset',
    { class: 'card stack step', dataset: { step: index + 1 } },
    h('legend', {}, `Step ${index + 1}`),
    h(
      'div',
      { class: 'row' },
      h('span', {}, 'Wait'),
      amount,
      unit,
      when,
      h('span', { style: { flex: '1' } }),
      index ? drop : null,
    ),
    subject,
    body,
  );
  return {
    element,
    read: () => ({
      wait_s: Math.round(Number(amount.value || 0) * Number(unit.value)),
      body: body.value,
      ...(subject.value.trim() ? { subject: subject.value } : {}),
    }),
  };
}

async function mountEditor(root, existing = null) {
  const name = h('input', { type: 'text', name: 'name', placeholder: 'Welcome series', required: true });
  const channel = h(
    'select',
    { name: 'channel' },
    CHANNELS.map((c) => h('option', { value: c }, channelName(c))),
  );
  const trigger = h(
    'select',
    { name: 'trigger' },
    [
      ['manual', 'By hand (enrol contacts yourself)'],
      ['tag_added', 'When a contact is tagged'],
      ['contact_created', 'When a contact is created'],
      ['inbound_message', 'When a contact writes in'],
    ].map(([v, t]) => h('option', { value: v }, t)),
  );
  const tag = h('select', { name: 'tag', 'aria-label': 'Tag' });
  const tagField = field('Tag', tag);
  tagField.hidden = true;
  const exitReply = h('input', { type: 'checkbox', name: 'exit_reply', checked: true });
  const exitOptOut = h('input', { type: 'checkbox', name: 'exit_opt_out', checked: true });
  const reenter = h('input', { type: 'checkbox', name: 'reenter' });
  const stepsBox = h('div', { class: 'stack' });
  const steps = [];
  const errors = h('div');
  const addStep = h('button', { class: 'btn', type: 'button' }, svg(icons.plus), 'Add step');
  const save = h('button', { class: 'btn primary', type: 'submit' }, 'Create sequence');

  const redraw = () => {
    const kept = steps.map((s) => s.read());
    steps.length = 0;
    kept.forEach((_, i) =>
      steps.push(
        stepEditor(i, () => {
          steps.splice(i, 1);
          redraw();
        }),
      ),
    );
    replace(
      stepsBox,
      steps.map((s) => s.element),
    );
    steps.forEach((s, i) => fill(s.element, kept[i]));
    showSubjects();
    addStep.disabled = steps.length >= MAX_STEPS;
  };
  const push = () => {
    const i = steps.length;
    steps.push(
      stepEditor(i, () => {
        steps.splice(i, 1);
        redraw();
      }),
    );
    stepsBox.append(steps[i].element);
    addStep.disabled = steps.length >= MAX_STEPS;
  };
  const showSubjects = () => {
    const email = channel.value === 'smtp' || channel.value === 'gmail';
    stepsBox.querySelectorAll('[name=subject]').forEach((i) => {
      i.hidden = !email;
    });
  };
  addStep.addEventListener('click', () => {
    push();
    showSubjects();
  });
  channel.addEventListener('change', showSubjects);
  trigger.addEventListener('change', () => {
    tagField.hidden = trigger.value !== 'tag_added';
  });
  const given = existing
    ? existing.sequence.steps
    : [
        { wait_s: 0, body: '' },
        { wait_s: 2 * 86400, body: '' },
      ];
  given.forEach((step) => {
    push();
    fill(steps[steps.length - 1].element, step);
  });
  showSubjects();
  if (existing) {
    name.value = existing.name;
    channel.value = existing.channel;
    channel.disabled = true;
    trigger.value = existing.sequence.trigger.type;
    trigger.disabled = true;
    exitReply.checked = existing.sequence.exit_on.includes('reply');
    exitOptOut.checked = existing.sequence.exit_on.includes('opt_out');
    reenter.checked = existing.sequence.reenter;
    save.textContent = 'Save changes';
    showSubjects();
  }

  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    h(
      'section',
      { class: 'card stack' },
      h('div', { class: 'grid two' }, field('Name', name), field('Channel', channel)),
      h('div', { class: 'grid two' }, field('Who enters', trigger), tagField),
      h(
        'div',
        { class: 'row' },
        h('span', {}, 'Leave when they'),
        h('label', { class: 'check' }, exitReply, ' reply'),
        h('label', { class: 'check' }, exitOptOut, ' opt out'),
        h('label', { class: 'check' }, reenter, ' may enter again after finishing'),
      ),
    ),
    stepsBox,
    h('div', { class: 'row' }, addStep),
    errors,
    h('div', { class: 'row end' }, save),
  );
  const subtitle = existing
    ? 'Changes apply to the steps still to come; a contact who has had as many steps as it now holds is done.'
    : 'Each step waits its time after the one before it was sent; quiet hours and pace apply to every step.';
  root.append(pageHead(existing ? `Edit ${existing.name}` : 'New sequence', subtitle), form);
  try {
    const { items } = await list('/api/tags');
    replace(
      tag,
      items.length
        ? items.map((t) => h('option', { value: t.name }, t.name))
        : h('option', { value: '' }, 'No tags yet'),
    );
  } catch {
    /* the trigger's tag is checked by the server */
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(save, async () => {
      errors.replaceChildren();
      const body = {
        kind: 'sequence',
        name: name.value.trim(),
        channel: channel.value,
        steps: steps.map((s) => s.read()),
        trigger: trigger.value === 'tag_added' ? { type: 'tag_added', tag: tag.value } : { type: trigger.value },
        exit_on: [exitReply.checked && 'reply', exitOptOut.checked && 'opt_out'].filter(Boolean),
        reenter: reenter.checked,
      };
      try {
        const made = existing
          ? await api.patch(`/api/campaigns/${existing.id}`, {
              name: body.name,
              steps: body.steps,
              exit_on: body.exit_on,
              reenter: body.reenter,
            })
          : await api.post('/api/campaigns', body);
        window.location.hash = `#/sequences/${made.id}`;
      } catch (error) {
        replace(
          errors,
          errorNotice(error, 'The sequence was not created.', {
            name: 'Name',
            channel: 'Channel',
            'trigger.tag': 'Tag',
          }),
        );
      }
    });
  });
  return null;
}

function fill(element, step) {
  const unit = [...UNITS].reverse().find(([size]) => step.wait_s % Number(size) === 0) || ['60'];
  element.querySelector('[name=wait_amount]').value = String(step.wait_s / Number(unit[0]));
  element.querySelector('[name=wait_unit]').value = unit[0];
  element.querySelector('[name=body]').value = step.body;
  element.querySelector('[name=subject]').value = step.subject || '';
}
