// Compose's attachments: drop files here or choose them (each uploaded to the media library, whose server sniffs
// its type), or pick one already in the library; images show a thumbnail. What a channel can carry is said next
// to the box; the server checks it again when the campaign is created.

import { api, request } from '../lib/api.js';
import { h, nextId, replace } from '../lib/dom.js';
import { showError, toast } from '../lib/ui.js';

const CHANNEL_HINTS = {
  smtp: 'Email: files up to 25 MB in all.',
  gmail: 'Gmail: files up to 25 MB in all.',
  sms: 'SMS: sent as MMS to US and Canada (+1) numbers only; up to 10 images, videos, audio or PDF files, 5 MB in all.',
  whatsapp:
    'WhatsApp: one file per message, the message as its caption; photos and videos up to 16 MB, documents up to 100 MB.',
};

export function filePicker(onChange) {
  const chosen = [];
  const input = h('input', { type: 'file', multiple: true, id: nextId('files'), class: 'visually-hidden' });
  const list = h('ul', { class: 'file-list', 'aria-label': 'Attached files' });
  const hint = h('span', { class: 'hint' });
  const library = h('ul', { class: 'file-list' });
  const libraryBox = h('details', { class: 'file-library' }, h('summary', {}, 'From the media library'), library);
  const drop = h(
    'label',
    { class: 'drop-zone', for: input.id, tabindex: 0 },
    h('strong', {}, 'Attach files'),
    h('span', { class: 'muted' }, ' — drop them here or click to choose'),
  );
  const element = h(
    'div',
    { class: 'field', dataset: { part: 'attachments' } },
    h('label', { for: input.id }, 'Attachments'),
    drop,
    input,
    list,
    hint,
    libraryBox,
  );

  const changed = () => {
    draw();
    onChange();
  };
  const add = (media) => {
    if (!chosen.some((m) => m.id === media.id)) chosen.push(media);
    changed();
  };
  const remove = (id) => {
    chosen.splice(
      chosen.findIndex((m) => m.id === id),
      1,
    );
    changed();
  };

  async function upload(files) {
    for (const file of files) {
      const form = new FormData();
      form.append('file', file, file.name);
      try {
        add(await api.post('/api/media', form));
      } catch (error) {
        showError(error, `“${file.name}” was not attached`);
      }
    }
    loadLibrary();
  }

  function draw() {
    replace(
      list,
      chosen.map((m) =>
        fileRow(
          m,
          h(
            'button',
            { class: 'btn small', type: 'button', 'aria-label': `Remove ${m.filename}`, onclick: () => remove(m.id) },
            'Remove',
          ),
        ),
      ),
    );
  }

  async function loadLibrary() {
    try {
      const { items } = await api.get('/api/media?limit=50');
      replace(
        library,
        items.length
          ? items.map((m) =>
              fileRow(
                m,
                h(
                  'button',
                  { class: 'btn small', type: 'button', 'aria-label': `Attach ${m.filename}`, onclick: () => add(m) },
                  'Attach',
                ),
                h(
                  'button',
                  {
                    class: 'btn small danger',
                    type: 'button',
                    'aria-label': `Delete ${m.filename}`,
                    onclick: () => del(m),
                  },
                  'Delete',
                ),
              ),
            )
          : h('li', { class: 'muted' }, 'No files yet.'),
      );
    } catch (error) {
      replace(library, h('li', { class: 'muted' }, error.message));
    }
  }

  async function del(media) {
    try {
      await api.del(`/api/media/${media.id}`);
      if (chosen.some((m) => m.id === media.id)) remove(media.id);
      toast(`“${media.filename}” deleted.`);
      loadLibrary();
    } catch (error) {
      showError(error, `“${media.filename}” was not deleted`);
    }
  }

  input.addEventListener('change', () => {
    upload([...input.files]);
    input.value = '';
  });
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    upload([...event.dataTransfer.files]);
  });
  drop.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      input.click();
    }
  });
  libraryBox.addEventListener('toggle', () => {
    if (libraryBox.open) loadLibrary();
  });

  return {
    element,
    value: () => chosen.map((m) => ({ media_id: m.id })),
    files: () => [...chosen],
    set: (files) => {
      chosen.splice(0, chosen.length, ...(files || []));
      draw();
    },
    show: (channel) => {
      hint.textContent = CHANNEL_HINTS[channel] || '';
    },
  };
}

function fileRow(media, ...actions) {
  const thumb = h(
    'span',
    { class: 'file-thumb', 'aria-hidden': 'true' },
    media.kind === 'image' ? '' : kindLabel(media),
  );
  if (media.kind === 'image')
    thumbnail(media.id)
      .then((url) => thumb.append(h('img', { src: url, alt: '' })))
      .catch(() => {
        thumb.textContent = 'IMG';
      });
  return h(
    'li',
    { class: 'file-row', dataset: { media: media.id } },
    thumb,
    h('span', { class: 'file-name' }, media.filename),
    h('span', { class: 'muted small' }, size(media.size)),
    ...actions,
  );
}

const thumbs = new Map();
// An <img src> cannot carry the bearer token: the image is fetched once and shown from a blob URL.
function thumbnail(id) {
  if (!thumbs.has(id))
    thumbs.set(
      id,
      request('GET', `/api/media/${id}/content`, { raw: true })
        .then((r) => r.blob())
        .then((b) => URL.createObjectURL(b)),
    );
  return thumbs.get(id);
}

function kindLabel(media) {
  return (
    { video: 'VID', audio: 'AUD' }[media.kind] || (media.filename.split('.').pop() || 'DOC').slice(0, 4).toUpperCase()
  );
}

function size(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}
