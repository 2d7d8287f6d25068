// Streams: the list (the built-in streams read model) and a stream's
// events, as they are or as they were.
import {api} from './api.js';
import {errorBox, field, h, pretty, replace, time} from './dom.js';

const uuidRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const pageSize = 50;
const eventsPage = 500;

export function render(main, r) {
  if (r.path.length > 1) return renderStream(main, r.path[1], r.params);
  return renderList(main, r.params);
}

export function streamHref(id) {
  return '#/streams/' + encodeURIComponent(id);
}

function renderList(main, params) {
  const type = params.get('aggregate_type') || '';
  const cursor = params.get('cursor') || '';
  const limit = params.get('limit') || '';
  // listHref keeps the type filter and page size across pages.
  const listHref = (c) => {
    const q = new URLSearchParams();
    if (type) q.set('aggregate_type', type);
    if (limit) q.set('limit', limit);
    if (c) q.set('cursor', c);
    return '#/streams' + (q.toString() ? '?' + q : '');
  };
  const idInput = h('input', {type: 'search', name: 'stream', placeholder: 'e.g. 0b8c…', spellcheck: 'false', autocomplete: 'off'});
  const idError = h('p', {class: 'error', role: 'alert', hidden: true});
  const typeInput = h('input', {type: 'search', name: 'aggregate_type', value: type, spellcheck: 'false', autocomplete: 'off'});
  const body = h('div', {'aria-live': 'polite'}, h('p', {class: 'muted'}, 'Loading…'));
  replace(main,
    h('h1', {}, 'Streams'),
    h('div', {class: 'toolbar'},
      h('form', {class: 'inline', id: 'open-stream', onsubmit: (e) => {
        e.preventDefault();
        const id = idInput.value.trim();
        if (!uuidRe.test(id)) {
          idError.textContent = 'A stream id is a UUID like 0b8c5e2e-4f3a-4c1e-9d7b-2a1f0c9e8d7a.';
          idError.hidden = false;
          return;
        }
        location.hash = streamHref(id.toLowerCase());
      }}, field('Stream id', idInput), h('button', {type: 'submit'}, 'Open')),
      h('form', {class: 'inline', id: 'filter-type', onsubmit: (e) => {
        e.preventDefault();
        const v = typeInput.value.trim();
        location.hash = '#/streams' + (v ? '?aggregate_type=' + encodeURIComponent(v) : '');
      }}, field('Aggregate type', typeInput), h('button', {type: 'submit'}, 'Search'),
      type ? h('a', {href: '#/streams', class: 'button'}, 'Clear') : null)),
    idError, body);

  const ctl = new AbortController();
  api('/v1/streams', {params: {aggregate_type: type, cursor, limit: limit || pageSize}, signal: ctl.signal}).then((res) => {
    const rows = res.streams.map((s) => h('tr', {},
      h('td', {}, h('a', {href: streamHref(s._id), class: 'mono'}, s._id)),
      h('td', {}, s.aggregate_type || h('span', {class: 'muted'}, '—')),
      h('td', {class: 'num'}, String(s.version)),
      h('td', {}, time(dateOf(s.created_at))),
      h('td', {}, time(dateOf(s.updated_at)))));
    const nav = h('nav', {class: 'pager', 'aria-label': 'Pages'},
      cursor ? h('button', {type: 'button', id: 'previous-page', onclick: () => history.back()}, '← Previous') : null,
      cursor ? h('a', {href: listHref(''), class: 'button', id: 'first-page'}, 'First page') : null,
      res.next_cursor ? h('a', {class: 'button', id: 'next-page', href: listHref(res.next_cursor)}, 'Next page →') : null);
    replace(body,
      rows.length === 0 ? h('p', {class: 'muted'}, type ? 'No stream of type ' + type + '.' : 'No streams yet.') :
        h('div', {class: 'scroll'}, h('table', {id: 'streams-table'},
          h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Stream'), h('th', {scope: 'col'}, 'Type'),
            h('th', {scope: 'col', class: 'num'}, 'Version'), h('th', {scope: 'col'}, 'Created'), h('th', {scope: 'col'}, 'Updated'))),
          h('tbody', {}, rows))),
      nav);
  }).catch((err) => { if (!ctl.signal.aborted) replace(body, errorBox(err)); });
  return () => ctl.abort();
}

// dateOf reads a relaxed Extended JSON date ({"$date": "…"}) or a string.
function dateOf(v) {
  if (v && typeof v === 'object' && '$date' in v) return typeof v.$date === 'string' ? v.$date : new Date(Number(v.$date.$numberLong || v.$date)).toISOString();
  return v;
}

function renderStream(main, id, params) {
  const toVersion = params.get('to_version') || '';
  const asOf = params.get('as_of') || '';
  const versionInput = h('input', {type: 'number', min: '1', step: '1', name: 'to_version', value: toVersion, inputmode: 'numeric'});
  const timeInput = h('input', {type: 'datetime-local', step: '1', name: 'as_of', value: asOf ? localValue(asOf) : ''});
  const head = h('div', {class: 'meta'});
  const list = h('div', {id: 'events', 'aria-live': 'polite'}, h('p', {class: 'muted'}, 'Loading…'));
  const more = h('div', {class: 'pager'});
  const asOfText = toVersion ? 'as of version ' + toVersion : asOf ? 'as of ' + new Date(asOf).toLocaleString() : '';
  replace(main,
    h('p', {class: 'crumbs'}, h('a', {href: '#/streams'}, '← Streams')),
    h('h1', {}, 'Stream ', h('span', {class: 'mono small', id: 'stream-id'}, id)),
    head,
    h('form', {class: 'toolbar', id: 'as-of', onsubmit: (e) => {
      e.preventDefault();
      const p = new URLSearchParams();
      if (versionInput.value) p.set('to_version', versionInput.value);
      else if (timeInput.value) p.set('as_of', new Date(timeInput.value).toISOString());
      location.hash = streamHref(id) + (p.toString() ? '?' + p : '');
    }},
    field('As of version', versionInput), field('or as of time (local)', timeInput),
    h('button', {type: 'submit'}, 'Show'),
    (toVersion || asOf) ? h('a', {href: streamHref(id), class: 'button'}, 'Latest') : null,
    h('span', {class: 'spacer'}),
    h('button', {type: 'button', onclick: () => toggleAll(list, true)}, 'Expand all'),
    h('button', {type: 'button', onclick: () => toggleAll(list, false)}, 'Collapse all')),
    list, more);

  const ctl = new AbortController();
  let shown = 0;
  const load = (from) => api('/v1/streams/' + encodeURIComponent(id) + '/events',
    {params: {to_version: toVersion, as_of: asOf, from_version: from, limit: eventsPage}, signal: ctl.signal}).then((res) => {
    if (from === undefined) {
      list.replaceChildren();
      replace(head, h('span', {}, 'Type ', h('strong', {}, res.aggregate_type || '—')),
        h('span', {}, 'Version ', h('strong', {id: 'stream-version'}, String(res.version))),
        asOfText ? h('span', {class: 'badge'}, asOfText) : null);
      if (res.events.length === 0) list.append(h('p', {class: 'muted'}, 'No events.'));
    }
    const open = shown + res.events.length <= 20;
    for (const ev of res.events) list.append(eventCard(ev, open));
    shown += res.events.length;
    replace(more, res.events.length === eventsPage ?
      h('button', {type: 'button', onclick: () => load(res.events[res.events.length - 1].version + 1)}, 'Load more') : null);
  }).catch((err) => {
    if (ctl.signal.aborted) return;
    replace(list, err.status === 404 ? h('p', {class: 'error', role: 'alert'}, 'No stream ' + id + ' (or no events at that point).') : errorBox(err));
  });
  load();
  return () => ctl.abort();
}

function toggleAll(list, open) {
  for (const d of list.querySelectorAll('details')) d.open = open;
}

// eventCard shows one event, collapsible.
export function eventCard(ev, open) {
  return h('details', {class: 'event', open, 'data-version': ev.version, 'data-name': ev.name},
    h('summary', {},
      h('span', {class: 'badge'}, 'v' + ev.version),
      h('strong', {class: 'name'}, ev.name),
      h('span', {class: 'muted'}, 'schema ' + ev.schema_version),
      time(ev.recorded_at)),
    h('dl', {class: 'facts'},
      h('dt', {}, 'Event id'), h('dd', {class: 'mono'}, ev.id),
      h('dt', {}, 'Recorded at'), h('dd', {}, ev.recorded_at)),
    h('div', {class: 'json-pair'},
      h('section', {}, h('h3', {}, 'Payload'), h('pre', {class: 'json payload'}, pretty(ev.data))),
      h('section', {}, h('h3', {}, 'Metadata'), h('pre', {class: 'json metadata'}, pretty(ev.metadata)))));
}

// localValue turns an RFC 3339 time into a datetime-local input's value.
function localValue(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
