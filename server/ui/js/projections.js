// Projections: every projection's status, refreshed while shown; Retry
// for a failed one, blue/green Rebuild with its progress, and the read
// models' documents.
import {api, canWrite} from './api.js';
import {errorBox, field, h, pretty, replace, seconds, time} from './dom.js';
import {streamHref} from './streams.js';

const pollMs = 2000;
const fastPollMs = 300;

export function render(main, r) {
  if (r.path.length > 2 && r.path[2] === 'documents') return renderDocuments(main, r.path[1], r.params);
  return renderList(main);
}

// rebuilds remembers the rebuilds started here: name -> {from: generation,
// done: bool, failed: bool}, so the progress bar can show completion after
// the build part is gone from the status, and the page polls fast only
// while a build is making progress.
const rebuilds = new Map();

function renderList(main) {
  const msg = h('div', {id: 'projections-message', 'aria-live': 'polite'});
  const list = h('div', {id: 'projections', class: 'cards'}, h('p', {class: 'muted'}, 'Loading…'));
  const updated = h('span', {class: 'muted small'});
  replace(main, h('h1', {}, 'Projections ', updated),
    canWrite() ? null : h('p', {class: 'note', id: 'read-only-note'}, 'Your token is read-only: Retry and Rebuild are disabled.'),
    msg, list);
  const ctl = new AbortController();
  let timer = 0;
  let busy = false;
  const refresh = async () => {
    clearTimeout(timer);
    if (busy) return;
    busy = true;
    try {
      const res = await api('/v1/projections', {signal: ctl.signal});
      // Keep the keyboard focus on the same control across refreshes.
      const had = list.contains(document.activeElement) ? document.activeElement.dataset.focus : '';
      replace(list, res.projections.map((p) => card(p, act)));
      if (had) [...list.querySelectorAll('[data-focus]')].find((el) => el.dataset.focus === had)?.focus();
      updated.textContent = 'updated ' + new Date().toLocaleTimeString();
    } catch (err) {
      if (ctl.signal.aborted) return;
      replace(msg, errorBox(err));
    } finally {
      busy = false;
    }
    if (ctl.signal.aborted) return;
    const fast = [...rebuilds.values()].some((b) => !b.done && !b.failed);
    timer = setTimeout(refresh, fast ? fastPollMs : document.hidden ? pollMs * 5 : pollMs);
  };
  // act runs a write (retry or rebuild) and refreshes.
  const act = async (name, what, button) => {
    button.disabled = true;
    msg.replaceChildren();
    try {
      const res = await api('/v1/projections/' + encodeURIComponent(name) + '/' + what, {method: 'POST'});
      if (what === 'rebuild') rebuilds.set(name, {from: res.generation, done: false});
      replace(msg, h('p', {class: 'ok-text', role: 'status'}, what === 'retry' ? 'Retrying ' + name + '.' : 'Rebuilding ' + name + '.'));
    } catch (err) {
      replace(msg, errorBox(err));
    }
    button.disabled = false;
    refresh();
  };
  refresh();
  return () => { ctl.abort(); clearTimeout(timer); };
}

function card(p, act) {
  const write = canWrite();
  const why = write ? null : 'Your token is read-only';
  const b = rebuilds.get(p.name);
  if (b && !p.rebuild && p.generation > b.from) b.done = true;
  // A blue/green build fails on its own: the projection serving beside
  // it stays live. Retry resumes whichever of the two failed.
  const buildFailed = !!p.rebuild && p.rebuild.state === 'failed';
  if (b) b.failed = buildFailed;
  let rebuildTitle = 'Build a new generation and switch to it when it has caught up';
  if (buildFailed) rebuildTitle = 'The rebuild failed: Retry resumes it';
  else if (p.rebuild) rebuildTitle = 'A rebuild is under way';
  return h('article', {class: 'card projection state-' + p.state, 'data-name': p.name, 'aria-labelledby': 'p-' + p.name},
    h('header', {},
      h('h2', {id: 'p-' + p.name}, p.name),
      h('span', {class: 'badge state', 'data-state': p.state}, p.state)),
    h('dl', {class: 'facts grid'},
      h('dt', {}, 'Generation'), h('dd', {class: 'generation'}, String(p.generation)),
      h('dt', {}, 'Applied'), h('dd', {class: 'applied'}, String(p.applied)),
      h('dt', {}, 'Behind'), h('dd', {class: 'behind'}, String(p.behind)),
      h('dt', {}, 'Lag'), h('dd', {}, seconds(p.lag_seconds)),
      h('dt', {}, 'History losses'), h('dd', {}, String(p.history_lost))),
    h('p', {class: 'position small'}, h('span', {class: 'muted'}, 'Position '), p.last_event ?
      h('span', {}, p.last_event.name + ' v' + p.last_event.version + ' of stream ',
        h('a', {href: streamHref(p.last_event.aggregate_uuid), class: 'mono'}, short(p.last_event.aggregate_uuid)), ', ', time(p.last_event.recorded_at)) :
      h('span', {class: 'muted'}, 'no event applied yet')),
    p.failure ? failure('failure', 'Failed on ', p.failure) : null,
    buildFailed && p.rebuild.failure ? failure('build-failure', 'The rebuild of generation ' + p.rebuild.generation + ' failed on ', p.rebuild.failure) : null,
    progress(p, b),
    h('div', {class: 'actions'},
      p.state === 'failed' || buildFailed ? h('button', {type: 'button', class: 'primary retry', disabled: !write, title: why, 'data-focus': p.name + ':retry',
        onclick: (e) => act(p.name, 'retry', e.currentTarget)}, 'Retry') : null,
      h('button', {type: 'button', class: 'rebuild', 'data-focus': p.name + ':rebuild', disabled: !write || !!p.rebuild, title: why || rebuildTitle,
        onclick: (e) => act(p.name, 'rebuild', e.currentTarget)}, 'Rebuild'),
      h('a', {href: '#/projections/' + encodeURIComponent(p.name) + '/documents', class: 'button', 'data-focus': p.name + ':documents'}, 'Documents')));
}

// failure shows where a projection (or its build) stopped, and why.
function failure(cls, what, f) {
  return h('div', {class: cls, role: 'alert'},
    h('h3', {}, what, h('strong', {class: 'failed-event'}, f.event_name),
      ' (', h('a', {href: streamHref(f.aggregate_uuid)}, 'stream ' + short(f.aggregate_uuid)), ' v' + f.version + ')'),
    h('pre', {class: 'failure-error'}, f.error),
    h('p', {class: 'muted small'}, 'event ', h('span', {class: 'mono'}, f.event_id), ' · ', time(f.at)));
}

// progress shows a blue/green build: applied of (applied + behind).
function progress(p, b) {
  const r = p.rebuild;
  if (!r && !(b && b.done)) return null;
  let value = 1;
  let label = 'Rebuild complete: generation ' + p.generation + ' serves.';
  if (r) {
    const total = r.applied + r.behind;
    value = total > 0 ? r.applied / total : 0;
    label = (r.state === 'failed' ? 'Rebuild of generation ' + r.generation + ' stopped at ' : 'Rebuilding generation ' + r.generation + ': ') +
      r.applied + ' of ' + total + ' events (' + r.state + ')';
  }
  const id = 'progress-' + p.name;
  return h('div', {class: 'progress'},
    h('label', {for: id}, label),
    h('progress', {id, max: '1', value: String(value), 'data-done': r ? 'false' : 'true'}, Math.round(value * 100) + '%'));
}

function short(id) {
  return id ? id.slice(0, 8) + '…' : '';
}

const ops = [['eq', '='], ['ne', '≠'], ['gt', '>'], ['gte', '≥'], ['lt', '<'], ['lte', '≤']];

// renderDocuments browses a projection's read model with the API's
// whitelisted filters (field[op]=value), sort and cursor paging.
function renderDocuments(main, name, params) {
  const body = h('div', {'aria-live': 'polite'}, h('p', {class: 'muted'}, 'Loading…'));
  const collection = params.get('collection') || '';
  const sort = params.get('sort') || '';
  const filters = [...params.entries()].filter(([k]) => !['collection', 'sort', 'cursor', 'limit'].includes(k));
  const collSelect = h('select', {name: 'collection'}, h('option', {value: ''}, '(default)'));
  const sortInput = h('input', {type: 'text', name: 'sort', value: sort, placeholder: 'field or -field', spellcheck: 'false'});
  const rows = h('div', {class: 'filters'});
  const addRow = (key = '', value = '') => {
    const m = /^([^[]+)(?:\[(\w+)\])?$/.exec(key) || [];
    const f = h('input', {type: 'text', name: 'field', value: m[1] || '', placeholder: 'field', spellcheck: 'false'});
    const op = h('select', {name: 'op'}, ops.map(([o, l]) => h('option', {value: o, selected: (m[2] || 'eq') === o}, l + ' ' + o)));
    const v = h('input', {type: 'text', name: 'value', value, placeholder: 'value', spellcheck: 'false'});
    const row = h('div', {class: 'filter-row'}, field('Field', f), field('Operator', op), field('Value', v),
      h('button', {type: 'button', class: 'link', onclick: () => row.remove()}, 'Remove'));
    rows.append(row);
  };
  for (const [k, v] of filters) addRow(k, v);
  const form = h('form', {class: 'card', id: 'documents-form', onsubmit: (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (collSelect.value) p.set('collection', collSelect.value);
    if (sortInput.value.trim()) p.set('sort', sortInput.value.trim());
    for (const row of rows.querySelectorAll('.filter-row')) {
      const [f, op, v] = row.querySelectorAll('input, select');
      if (!f.value.trim()) continue;
      p.set(op.value === 'eq' ? f.value.trim() : f.value.trim() + '[' + op.value + ']', v.value);
    }
    location.hash = docsHref(name, p);
  }},
  h('div', {class: 'toolbar'}, field('Collection', collSelect), field('Sort by', sortInput)),
  rows,
  h('div', {class: 'toolbar'},
    h('button', {type: 'button', onclick: () => addRow()}, 'Add a filter'),
    h('button', {type: 'submit', class: 'primary'}, 'Search')),
  h('p', {class: 'muted small'}, 'Filters compare one field with one value (numbers, true/false and null are read as such; quote a value to keep it a string).'));
  replace(main, h('p', {class: 'crumbs'}, h('a', {href: '#/projections'}, '← Projections')),
    h('h1', {}, 'Documents of ', h('span', {class: 'mono'}, name)), form, body);

  const ctl = new AbortController();
  api('/v1/projections/' + encodeURIComponent(name), {signal: ctl.signal}).then((p) => {
    for (const c of p.collections) collSelect.append(h('option', {value: c, selected: c === collection}, c));
  }).catch(() => {});
  const q = Object.fromEntries(params.entries());
  api('/v1/projections/' + encodeURIComponent(name) + '/documents', {params: {limit: 50, ...q}, signal: ctl.signal}).then((res) => {
    const next = new URLSearchParams(params);
    next.set('cursor', res.next_cursor || '');
    replace(body,
      res.documents.length === 0 ? h('p', {class: 'muted'}, 'No documents match.') :
        h('ol', {class: 'documents', id: 'documents'}, res.documents.map((d) => h('li', {}, h('pre', {class: 'json'}, pretty(d))))),
      h('nav', {class: 'pager', 'aria-label': 'Pages'},
        params.get('cursor') ? h('button', {type: 'button', onclick: () => history.back()}, '← Previous') : null,
        res.next_cursor ? h('a', {class: 'button', href: docsHref(name, next)}, 'Next page →') : null));
  }).catch((err) => { if (!ctl.signal.aborted) replace(body, errorBox(err)); });
  return () => ctl.abort();
}

function docsHref(name, p) {
  const s = p.toString();
  return '#/projections/' + encodeURIComponent(name) + '/documents' + (s ? '?' + s : '');
}
