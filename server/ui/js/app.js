// The annals console: hash routes over the public API.
import {api, onUnauthorized, session, setToken, token} from './api.js';
import {errorBox, field, h, replace} from './dom.js';
import * as streams from './streams.js';
import * as live from './live.js';
import * as projections from './projections.js';
import * as health from './health.js';

const main = document.getElementById('main');

let cleanup = null;

function stopView() {
  if (cleanup) {
    try { cleanup(); } catch { /* the view is gone anyway */ }
    cleanup = null;
  }
}

// views maps a route's first part to its view: a Map, so that a hash
// such as "#/constructor" names no inherited property.
const views = new Map([['streams', streams], ['live', live], ['projections', projections], ['health', health]]);

// parseHash splits "#/a/b?x=1" into ["a", "b"] and URLSearchParams; it
// returns null for a path that is not valid percent-encoding.
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  let path;
  try {
    path = (q < 0 ? raw : raw.slice(0, q)).split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return null;
  }
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  return {path, params};
}

function markNav(section) {
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function route() {
  // Only "#/…" is a route; other fragments (the skip link's) are not.
  if (!session.info || (location.hash && !location.hash.startsWith('#/'))) return;
  stopView();
  const r = parseHash();
  const section = r ? r.path[0] || 'streams' : '';
  markNav(section);
  main.replaceChildren();
  const view = views.get(section);
  if (!view) {
    replace(main, h('h1', {id: 'not-found'}, 'Not found'), h('p', {}, 'There is no such page. ', h('a', {href: '#/streams'}, 'Go to the streams.')));
    return;
  }
  cleanup = view.render(main, r) || null;
}

function showAccess() {
  const badge = document.getElementById('access');
  const access = session.info ? session.info.access : '';
  badge.textContent = access;
  badge.className = 'badge access-' + access;
  badge.title = {open: 'No tokens configured: every caller may read and write',
    'read-write': 'Your token may read and write', 'read-only': 'Your token may only read'}[access] || '';
  badge.hidden = !access;
  document.getElementById('signout').hidden = !token();
}

// showTokenForm asks for a bearer token; message says why (a refused one).
function showTokenForm(message) {
  stopView();
  session.info = null;
  showAccess();
  markNav('');
  const input = h('input', {type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true});
  input.id = 'token-input';
  const form = h('form', {class: 'card signin', id: 'token-form', onsubmit: async (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    await start('That token was refused');
  }},
  h('h1', {}, 'Sign in'),
  h('p', {}, 'This server needs a bearer token. The console keeps it in this browser tab only (session storage) and sends it in the Authorization header.'),
  message ? h('p', {class: 'error', role: 'alert', id: 'token-error'}, message) : null,
  field('Bearer token', input),
  h('button', {type: 'submit', class: 'primary'}, 'Sign in'));
  replace(main, form);
  input.focus();
}

// reason words a 401's problem without its kind.
function reason(p) {
  return ((p && p.detail) || 'unauthorized').replace(/^unauthorized: /, '');
}

// start asks the server who the caller is, then shows the page.
async function start(refused) {
  try {
    session.info = await api('/v1/info', {quiet401: true});
  } catch (err) {
    if (err.status === 401) {
      const had = !!token();
      setToken('');
      showTokenForm(had ? (refused || 'The server refused the token') + ' (' + reason(err.problem) + ').' : null);
      return;
    }
    replace(main, h('h1', {}, 'The server does not answer'), errorBox(err),
      h('button', {type: 'button', onclick: () => start()}, 'Try again'));
    return;
  }
  showAccess();
  route();
}

onUnauthorized((p) => {
  if (!session.info) return;
  setToken('');
  showTokenForm('The server refused the token (' + reason(p) + ').');
});

document.getElementById('signout').addEventListener('click', () => {
  setToken('');
  showTokenForm();
});
window.addEventListener('hashchange', route);
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
start();
