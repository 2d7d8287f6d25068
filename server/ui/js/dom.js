// DOM helpers. Every dynamic value goes in through textContent or an
// attribute: nothing here ever parses data as HTML.

// h builds an element: h('a', {href: '#/x', class: 'y'}, 'text', child…).
// Attributes starting with "on" are event listeners; false/null skip.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'value') {
      el.value = v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// replace empties el and puts children in.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// pretty renders a JSON value for reading.
export function pretty(v) {
  return JSON.stringify(v, null, 2);
}

// time renders an RFC 3339 time in the reader's locale, keeping the
// original as the element's title.
export function time(iso) {
  if (!iso) return h('span', {class: 'muted'}, '—');
  const d = new Date(iso);
  if (isNaN(d)) return h('time', {datetime: iso}, iso);
  const today = d.toDateString() === new Date().toDateString();
  return h('time', {datetime: iso, title: iso},
    today ? d.toLocaleTimeString() : d.toLocaleString(undefined, {dateStyle: 'medium', timeStyle: 'medium'}));
}

// seconds renders a duration in seconds.
export function seconds(s) {
  if (s === undefined || s === null) return '—';
  if (s < 1) return (s * 1000).toFixed(0) + ' ms';
  if (s < 120) return s.toFixed(1) + ' s';
  return (s / 60).toFixed(1) + ' min';
}

// errorBox shows an error for the reader (an ApiError's problem detail).
export function errorBox(err) {
  const msg = err && err.problem ? (err.problem.detail || err.problem.title) : String(err && err.message || err);
  return h('p', {class: 'error', role: 'alert'}, msg);
}

// field wraps a labelled control.
export function field(label, control) {
  if (!control.id) control.id = 'f-' + Math.random().toString(36).slice(2, 9);
  return h('div', {class: 'field'}, h('label', {for: control.id}, label), control);
}
