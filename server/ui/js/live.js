// Live: the feed of appended events (GET /v1/events/live), read with
// fetch so the token stays in a header. Pause holds new events back
// (the connection stays open); after a dropped connection the feed
// reconnects with Last-Event-ID and resumes right after the last event
// it received.
import {ApiError, readEvents} from './api.js';
import {field, h, replace} from './dom.js';
import {eventCard, streamHref} from './streams.js';

const maxShown = 200;

// The feed's state outlives the view: coming back to Live shows what
// arrived, and events held while paused stay held (lastId is past them)
// until Resume. held keeps the newest maxShown; heldOver counts the older
// ones dropped from it. notice says why events may be missing.
const state = {events: [], lastId: '', nameFilter: '', typeFilter: '',
  paused: false, held: [], heldOver: 0, notice: ''};

// hold keeps an event that arrived while paused, up to maxShown of them.
function hold(ev) {
  state.held.push(ev);
  if (state.held.length > maxShown) {
    state.held.shift();
    state.heldOver++;
  }
}

export function render(main) {
  const nameInput = h('input', {type: 'search', name: 'event_name', value: state.nameFilter, spellcheck: 'false', autocomplete: 'off'});
  const typeInput = h('input', {type: 'search', name: 'aggregate_type', value: state.typeFilter, spellcheck: 'false', autocomplete: 'off'});
  const status = h('span', {id: 'live-status', class: 'badge', role: 'status'}, 'connecting');
  const pending = h('span', {id: 'live-pending', class: 'muted'});
  const pause = h('button', {type: 'button', id: 'live-pause'});
  const list = h('ol', {id: 'live-events', class: 'live', reversed: true});
  const note = h('p', {class: 'muted', id: 'live-note'});
  const notice = h('p', {class: 'note', id: 'live-notice', role: 'status'});

  const matches = (ev) =>
    (!state.nameFilter || ev.name.toLowerCase().includes(state.nameFilter.toLowerCase())) &&
    (!state.typeFilter || (ev.aggregate_type || '').toLowerCase().includes(state.typeFilter.toLowerCase()));

  const row = (ev) => h('li', {'data-name': ev.name},
    h('div', {class: 'live-head'},
      h('a', {href: streamHref(ev.aggregate_uuid), class: 'mono small'}, ev.aggregate_uuid),
      ev.aggregate_type ? h('span', {class: 'badge'}, ev.aggregate_type) : null),
    eventCard(ev, false));

  const redraw = () => {
    const shown = state.events.filter(matches);
    replace(list, shown.map(row));
    note.textContent = shown.length === 0 ? (state.events.length ? 'No event matches the filters.' : 'Waiting for events…') : '';
  };
  const show = (ev) => {
    state.events.unshift(ev);
    if (state.events.length > maxShown) state.events.length = maxShown;
    if (matches(ev)) {
      list.prepend(row(ev));
      while (list.children.length > maxShown) list.lastChild.remove();
      note.textContent = '';
    }
  };
  const setNotice = (text) => {
    state.notice = text;
    replace(notice, text, ' ', h('button', {type: 'button', class: 'link', onclick: () => setNotice('')}, 'Dismiss'));
    notice.hidden = !text;
  };
  const setPending = () => {
    const n = state.held.length + state.heldOver;
    pending.textContent = n ? n + (n === 1 ? ' new event' : ' new events') + ' held while paused' +
      (state.heldOver ? ' (the newest ' + state.held.length + ' will be shown)' : '') : '';
  };
  const setPaused = () => {
    pause.textContent = state.paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(state.paused));
    setPending();
    status.textContent = state.paused ? 'paused' : connected ? 'live' : status.textContent;
  };
  pause.addEventListener('click', () => {
    state.paused = !state.paused;
    if (!state.paused) {
      for (const ev of state.held) show(ev);
      if (state.heldOver) {
        setNotice(state.heldOver + (state.heldOver === 1 ? ' more event arrived while paused and is' : ' more events arrived while paused and are') +
          ' not shown; read them from their streams.');
      }
      state.held = [];
      state.heldOver = 0;
    }
    setPaused();
  });

  const applyFilters = (e) => {
    e.preventDefault();
    state.nameFilter = nameInput.value.trim();
    state.typeFilter = typeInput.value.trim();
    redraw();
  };
  replace(main,
    h('h1', {}, 'Live'),
    h('form', {class: 'toolbar', id: 'live-filters', onsubmit: applyFilters},
      field('Event name', nameInput), field('Aggregate type', typeInput),
      h('button', {type: 'submit'}, 'Filter'),
      h('span', {class: 'spacer'}), status, pause),
    notice, pending, note, list);
  let connected = false;
  setNotice(state.notice);
  setPaused();
  redraw();

  // The connection loop: reconnect with backoff, resuming after lastId.
  const ctl = new AbortController();
  (async () => {
    let delay = 500;
    while (!ctl.signal.aborted) {
      try {
        await readEvents('/v1/events/live', {
          lastEventId: state.lastId, signal: ctl.signal,
          onOpen: () => {
            connected = true;
            delay = 500;
            status.textContent = state.paused ? 'paused' : 'live';
            status.className = 'badge ok';
          },
          onEvent: (msg) => {
            let ev;
            try { ev = JSON.parse(msg.data); } catch { return; }
            if (msg.id) state.lastId = msg.id;
            if (state.paused) {
              hold(ev);
              setPending();
            } else {
              show(ev);
            }
          },
        });
      } catch (err) {
        if (ctl.signal.aborted) return;
        if (err instanceof ApiError && err.status === 410) {
          // The history after our last event is gone: start from now.
          state.lastId = '';
          setNotice('Some events were missed (the server no longer has them); read them from their streams.');
        } else if (err instanceof ApiError && err.status === 400 && state.lastId) {
          // The server does not know our last event's id (it restarted
          // on an in-memory store, or its signing key changed): start
          // from now, or the same refusal would come back forever.
          state.lastId = '';
          setNotice('Some events may have been missed (the server no longer knows where this feed stopped); read them from their streams.');
          continue;
        } else if (err instanceof ApiError && err.status === 401) {
          return;
        }
      }
      if (ctl.signal.aborted) return;
      connected = false;
      status.textContent = 'reconnecting';
      status.className = 'badge warn';
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  })();
  return () => ctl.abort();
}
