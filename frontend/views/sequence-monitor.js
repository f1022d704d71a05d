// One sequence: its steps, a funnel per step (reached, sent, delivered, replied, exited), enrol contacts (by tag,
// segment or everyone), who is at which step and when their next one goes, and start / pause / resume / cancel.

import { api, list } from '../lib/api.js';
import { busy, h, replace, svg } from '../lib/dom.js';
import { channelName, dateTime, num } from '../lib/format.js';
import { icons } from '../lib/icons.js';
import { on } from '../lib/store.js';
import { campaignPill, confirmDialog, errorNotice, pageHead, showError, toast } from '../lib/ui.js';
import { triggerText, waitText } from './sequences.js';

const ACTIONS = {
  draft: [['start', 'Start', icons.play, 'primary']],
  scheduled: [['cancel', 'Cancel', icons.stop, 'danger']],
  running: [
    ['pause', 'Pause', icons.pause, ''],
    ['cancel', 'Cancel', icons.stop, 'danger'],
  ],
  paused: [
    ['resume', 'Resume', icons.play, 'primary'],
    ['cancel', 'Cancel', icons.stop, 'danger'],
  ],
};
const EXIT_TEXT = { reply: 'Replied', opt_out: 'Opted out', failed: 'Could not be sent', cancelled: 'Taken out' };

export async function mountSequence(root, id) {
  const head = h('div');
  const funnelBox = h('section', { class: 'card', 'aria-labelledby': 'funnel-title' });
  const enrolBox = h('section', { class: 'card stack', 'aria-labelledby': 'enrol-title' });
  const peopleBox = h('section', { class: 'card', 'aria-labelledby': 'people-title' });
  root.append(h('div', { class: 'stack' }, head, funnelBox, h('div', { class: 'grid two' }, enrolBox, peopleBox)));

  const load = async () => {
    try {
      const seq = await api.get(`/api/campaigns/${id}`);
      drawHead(head, seq, load);
      drawFunnel(funnelBox, seq);
      const { items, total } = await list(`/api/campaigns/${id}/enrollments`, { limit: 200 });
      drawPeople(peopleBox, items, total);
    } catch (error) {
      replace(head, errorNotice(error, 'This sequence could not be loaded.'));
    }
  };
  await drawEnrol(enrolBox, id, load);
  await load();
  let timer = null;
  const soon = () => {
    if (!timer)
      timer = setTimeout(() => {
        timer = null;
        load();
      }, 800);
  };
  const offs = [
    on('events', (batch) => {
      if (
        batch.some(
          (e) =>
            (e.data || {}).campaign_id === Number(id) || e.type.startsWith('sequence.') || e.type === 'send.progress',
        )
      )
        soon();
    }),
    on('resync', load),
  ];
  return () => {
    offs.forEach((off) => off());
    clearTimeout(timer);
  };
}

function drawHead(box, seq, reload) {
  const buttons = (ACTIONS[seq.status] || []).map(([action, label, icon, tone]) => {
    const b = h('button', { class: `btn ${tone}`, type: 'button', dataset: { action } }, svg(icon), label);
    b.addEventListener('click', () =>
      busy(b, async () => {
        if (
          action === 'cancel' &&
          !(await confirmDialog({
            title: 'Cancel this sequence?',
            text: 'Nobody gets another step; queued steps are cancelled.',
            confirm: 'Cancel sequence',
            cancel: 'Keep it',
            danger: true,
          }))
        )
          return;
        try {
          await api.post(`/api/campaigns/${seq.id}/${action}`);
          reload();
        } catch (error) {
          showError(error, `Could not ${action} the sequence`);
        }
      }),
    );
    return b;
  });
  if (!['completed', 'cancelled'].includes(seq.status)) {
    buttons.unshift(
      h('a', { class: 'btn', href: `#/sequences/${seq.id}/edit`, dataset: { action: 'edit' } }, 'Edit steps'),
    );
  }
  const s = seq.sequence || {};
  const steps = (s.steps || []).map((step, i) =>
    h(
      'li',
      {},
      h('strong', {}, `Step ${i + 1}`),
      ' ',
      h(
        'span',
        { class: 'muted' },
        i
          ? `${waitText(step.wait_s)} after step ${i}`
          : waitText(step.wait_s) === 'at once'
            ? 'as soon as they enter'
            : `${waitText(step.wait_s)} after they enter`,
      ),
      h('div', { class: 'small step-body' }, step.subject ? `${step.subject} — ` : '', step.body),
    ),
  );
  const exits = (s.exit_on || []).map((e) => (e === 'reply' ? 'reply' : 'opt out')).join(' or ') || 'never';
  replace(
    box,
    pageHead(
      seq.name,
      `${channelName(seq.channel)} · ${triggerText(s.trigger)} · leave when they ${exits}`,
      campaignPill(seq.status, null),
      ...buttons,
    ),
    seq.status_reason ? h('p', { class: 'notice warn' }, seq.status_reason) : null,
    h(
      'section',
      { class: 'card', style: { marginTop: '12px' } },
      h('h2', {}, 'Steps'),
      h('ol', { class: 'steps-list stack' }, steps),
    ),
  );
}

function drawFunnel(box, seq) {
  const f = seq.funnel || { steps: [] };
  const widest = Math.max(1, f.enrolled || 0);
  const bar = (n) =>
    h('span', {
      class: 'funnel-bar',
      style: { '--w': `${Math.round((100 * (n || 0)) / widest)}%` },
      'aria-hidden': 'true',
    });
  replace(
    box,
    h(
      'div',
      { class: 'card-head' },
      h('h2', { id: 'funnel-title' }, 'Funnel'),
      h(
        'span',
        { class: 'muted small' },
        `${num(f.enrolled)} entered · ${num(f.active)} active · ${num(f.completed)} finished · ${num(f.exited)} left early`,
      ),
    ),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'funnel' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Step', 'Wait', 'Reached', 'Sent', 'Delivered', 'Replied', 'Left'].map((t) =>
              h('th', { scope: 'col' }, t),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          f.steps.map((row) =>
            h(
              'tr',
              { dataset: { step: row.step } },
              h('th', { scope: 'row' }, `Step ${row.step}`),
              h('td', { class: 'muted nowrap' }, waitText(row.wait_s)),
              h('td', { class: 'num' }, h('div', { class: 'funnel-cell' }, bar(row.enrolled), num(row.enrolled))),
              h('td', { class: 'num' }, num(row.sent)),
              h('td', { class: 'num' }, num(row.delivered)),
              h('td', { class: 'num' }, num(row.replied)),
              h('td', { class: 'num' }, num(row.exited)),
            ),
          ),
        ),
      ),
    ),
  );
}

async function drawEnrol(box, id, reload) {
  const how = h('select', { name: 'enrol_by', 'aria-label': 'Enrol by' });
  const result = h('p', { class: 'muted small enrol-result', role: 'status' });
  const enrol = h('button', { class: 'btn primary', type: 'button' }, 'Enrol');
  const options = [h('option', { value: 'all' }, 'Everyone with an address for this channel')];
  try {
    const [tags, segments] = await Promise.all([list('/api/tags'), list('/api/segments')]);
    tags.items.forEach((t) => options.push(h('option', { value: `tag:${t.name}` }, `Tagged “${t.name}”`)));
    segments.items.forEach((s) => options.push(h('option', { value: `segment:${s.id}` }, `Segment: ${s.name}`)));
  } catch {
    /* enrolling everyone still works */
  }
  replace(how, options);
  enrol.addEventListener('click', () =>
    busy(enrol, async () => {
      const v = how.value;
      const body = v.startsWith('tag:')
        ? { filter: { field: 'tags', op: 'has_any', value: [v.slice(4)] } }
        : v.startsWith('segment:')
          ? { segment_id: Number(v.slice(8)) }
          : { filter: { all: [] } };
      try {
        const r = await api.post(`/api/campaigns/${id}/enroll`, body);
        result.textContent = `${num(r.enrolled)} enrolled; ${num(r.already)} already in${r.no_address ? `; ${num(r.no_address)} without an address` : ''}.`;
        toast(`${num(r.enrolled)} enrolled.`, { tone: 'ok' });
        reload();
      } catch (error) {
        showError(error, 'Nobody was enrolled');
      }
    }),
  );
  replace(
    box,
    h('h2', { id: 'enrol-title' }, 'Enrol contacts'),
    h(
      'p',
      { class: 'muted small' },
      'Each contact enters once; the first step goes after its wait, then each next one after its own.',
    ),
    h('div', { class: 'row' }, how, enrol),
    result,
  );
}

function drawPeople(box, items, total) {
  const next = (e) => {
    if (e.status === 'completed') return h('span', { class: 'pill ok' }, 'Finished');
    if (e.status === 'exited')
      return h('span', { class: 'pill warn', title: e.exit_detail || '' }, EXIT_TEXT[e.exit_reason] || 'Left');
    if (e.waiting_on_send) return h('span', { class: 'pill info' }, 'Sending');
    return h('span', { class: 'nowrap' }, dateTime(e.next_at));
  };
  replace(
    box,
    h(
      'div',
      { class: 'card-head' },
      h('h2', { id: 'people-title' }, 'Who is where'),
      h('span', { class: 'muted small' }, `${num(total)} enrolled`),
    ),
    items.length
      ? h(
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
                ['Contact', 'Step', 'Next'].map((t) => h('th', { scope: 'col' }, t)),
              ),
            ),
            h(
              'tbody',
              {},
              items.map((e) =>
                h(
                  'tr',
                  { dataset: { enrollment: e.id, status: e.status } },
                  h('td', {}, e.contact ? e.contact.name || e.contact.email || e.contact.phone : `#${e.contact_id}`),
                  h('td', { class: 'nowrap' }, `${e.current_step} of ${e.steps}`),
                  h('td', {}, next(e)),
                ),
              ),
            ),
          ),
        )
      : h('div', { class: 'empty' }, h('p', {}, 'Nobody has entered yet.')),
  );
}
