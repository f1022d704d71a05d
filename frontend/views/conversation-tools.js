// A thread's tools: mark it done (it reopens by itself when the contact writes again), save an unknown sender
// as a contact (a sender we did not know is kept without a name until then), and saved replies for the composer
// (insert one; save what is typed as a new one, or replace one of the same name; delete one).

import { api, list } from '../lib/api.js';
import { busy, field, h, replace, svg } from '../lib/dom.js';
import { icons } from '../lib/icons.js';
import { confirmDialog, errorNotice, showError, toast } from '../lib/ui.js';

/** The Done / Reopen button; `set(done)` shows the server's state. */
export function doneToggle(conversationId, initial) {
  let done = initial;
  const button = h('button', { class: 'btn small', type: 'button', dataset: { action: 'done' } });
  const draw = () => {
    button.replaceChildren(svg(done ? icons.refresh : icons.check), done ? 'Reopen' : 'Mark done');
    button.title = done
      ? 'Done: it comes back when they write again.'
      : 'Nothing left to do here: it comes back when they write again.';
    button.dataset.done = done ? '1' : '0';
  };
  button.addEventListener('click', () =>
    busy(button, async () => {
      try {
        const view = await api.post(
          `/api/conversations/${encodeURIComponent(conversationId)}/${done ? 'reopen' : 'done'}`,
        );
        done = view.done;
        draw();
        toast(done ? 'Marked done. It reopens when they write again.' : 'Reopened.', { tone: 'ok' });
      } catch (error) {
        showError(error, 'The conversation was not changed');
      }
    }),
  );
  draw();
  return {
    element: button,
    set: (value) => {
      done = Boolean(value);
      draw();
    },
  };
}

/** For a sender with no name (they wrote before we knew them): a name field and "Save as contact". */
export function saveAsContact(contact, onSaved) {
  if (!contact || contact.name) return null;
  const name = h('input', {
    type: 'text',
    name: 'contact_name',
    autocomplete: 'off',
    maxlength: '200',
    placeholder: 'Their name',
  });
  const save = h('button', { class: 'btn small primary', type: 'submit' }, 'Save as contact');
  const errors = h('div');
  const form = h(
    'form',
    { class: 'notice save-contact', 'aria-label': 'Save as contact', novalidate: true },
    h(
      'div',
      { class: 'stack', style: { gap: '6px', flex: '1', minWidth: '0' } },
      h('strong', {}, `${contact.phone || contact.email} is not in your contacts by name yet.`),
      h('div', { class: 'row' }, h('div', { style: { flex: '1 1 160px' } }, field('Name', name)), save),
      errors,
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!name.value.trim()) {
      name.focus();
      return;
    }
    busy(save, async () => {
      try {
        const saved = await api.patch(`/api/contacts/${contact.id}`, { name: name.value.trim() });
        toast(`Saved ${saved.name} to your contacts.`, { tone: 'ok' });
        form.remove();
        onSaved(saved);
      } catch (error) {
        replace(errors, errorNotice(error, 'The contact was not saved.', { name: 'Name' }));
      }
    });
  });
  return form;
}

/** Saved replies for a composer's text box: a picker that inserts one, and a panel to save or delete them. */
export function savedReplies(text) {
  let replies = [];
  const picker = h('select', { 'aria-label': 'Insert a saved reply', class: 'saved-picker' });
  const name = h('input', {
    type: 'text',
    name: 'reply_name',
    maxlength: '100',
    autocomplete: 'off',
    placeholder: 'Shipping delay',
  });
  const save = h('button', { class: 'btn small', type: 'button' }, 'Save the text above');
  const rows = h('ul', { class: 'saved-list' });
  const errors = h('div');
  const panel = h(
    'details',
    { class: 'saved-replies' },
    h('summary', {}, 'Saved replies'),
    h(
      'div',
      { class: 'stack', style: { gap: '8px', marginTop: '8px' } },
      h(
        'div',
        { class: 'row' },
        h('div', { style: { flex: '1 1 160px' } }, field('Name for the text above', name)),
        save,
      ),
      errors,
      rows,
    ),
  );
  const draw = () => {
    replace(
      picker,
      h('option', { value: '' }, replies.length ? 'Insert a saved reply…' : 'No saved replies yet'),
      replies.map((r) => h('option', { value: String(r.id) }, r.name)),
    );
    picker.disabled = !replies.length;
    replace(
      rows,
      replies.map((r) => {
        const remove = h(
          'button',
          { class: 'btn small ghost danger', type: 'button', 'aria-label': `Delete the saved reply ${r.name}` },
          svg(icons.x),
          'Delete',
        );
        remove.addEventListener('click', async () => {
          if (
            !(await confirmDialog({
              title: `Delete “${r.name}”?`,
              text: 'It is no longer offered in any conversation.',
              confirm: 'Delete',
              danger: true,
            }))
          )
            return;
          try {
            await api.del(`/api/saved-replies/${r.id}`);
            await load();
          } catch (error) {
            showError(error, 'The saved reply was not deleted');
          }
        });
        return h('li', {}, h('span', { class: 'saved-name' }, r.name), remove);
      }),
    );
  };
  const load = async () => {
    try {
      replies = (await list('/api/saved-replies')).items;
    } catch {
      replies = [];
    }
    draw();
  };
  picker.addEventListener('change', () => {
    const reply = replies.find((r) => String(r.id) === picker.value);
    picker.value = '';
    if (!reply) return;
    const start = text.selectionStart ?? text.value.length;
    text.setRangeText(reply.body, start, text.selectionEnd ?? start, 'end');
    text.focus();
  });
  save.addEventListener('click', () =>
    busy(save, async () => {
      errors.replaceChildren();
      if (!text.value.trim()) {
        replace(errors, errorNotice({ message: 'Write the reply in the message box first.' }));
        text.focus();
        return;
      }
      const called = name.value.trim();
      const same = replies.find((r) => r.name === called);
      try {
        if (same) {
          if (
            !(await confirmDialog({
              title: `Replace “${called}”?`,
              text: 'Its text becomes what you typed above.',
              confirm: 'Replace',
            }))
          )
            return;
          await api.patch(`/api/saved-replies/${same.id}`, { body: text.value });
        } else await api.post('/api/saved-replies', { name: called, body: text.value });
        toast(`Saved “${called}”.`, { tone: 'ok' });
        name.value = '';
        await load();
      } catch (error) {
        replace(errors, errorNotice(error, 'The reply was not saved.', { name: 'Name', body: 'Message' }));
      }
    }),
  );
  load();
  return { picker, panel };
}
