// Health: readiness, what the server runs on, and a few metrics over the
// last minutes, sampled from /metrics (Prometheus text) while the view is
// shown. The samples outlive the view: coming back shows the history, and
// the first sample after a gap averages over the gap.
import {session, text, url} from './api.js';
import {errorBox, h, replace} from './dom.js';

const sampleMs = 2000;
const keep = 150; // 5 minutes of samples
const samples = []; // {t, appends, conflicts, lag}
let sampler = 0;
const listeners = new Set();

// parseMetrics sums the samples of the metrics the console charts.
export function parseMetrics(body) {
  const out = {appends: 0, conflicts: 0, lag: 0, seen: false};
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (!isFinite(v)) continue;
    switch (m[1]) {
      case 'annals_appends_total': out.appends += v; out.seen = true; break;
      case 'annals_append_conflicts_total': out.conflicts += v; break;
      case 'annals_projection_lag_seconds': out.lag = Math.max(out.lag, v); break;
    }
  }
  return out;
}

async function sample() {
  if (document.hidden) return;
  try {
    const res = await text('/metrics');
    if (res.status !== 200) return;
    const m = parseMetrics(res.body);
    const now = Date.now();
    const prev = samples[samples.length - 1];
    const dt = prev ? (now - prev.t) / 1000 : 0;
    samples.push({t: now, total: m.appends, conflictsTotal: m.conflicts,
      appends: prev && dt > 0 ? Math.max(0, m.appends - prev.total) / dt : 0,
      conflicts: prev ? Math.max(0, m.conflicts - prev.conflictsTotal) : 0,
      lag: m.lag});
    if (samples.length > keep) samples.shift();
    for (const fn of listeners) fn();
  } catch { /* the next sample will tell */ }
}

// startSampling samples /metrics every sampleMs until stopSampling,
// first forgetting samples too old to chart.
function startSampling() {
  if (sampler) return;
  const oldest = Date.now() - keep * sampleMs;
  while (samples.length && samples[0].t < oldest) samples.shift();
  sample();
  sampler = setInterval(sample, sampleMs);
}

function stopSampling() {
  clearInterval(sampler);
  sampler = 0;
}

export function render(main) {
  const ready = h('div', {id: 'readiness'}, h('p', {class: 'muted'}, 'Checking…'));
  const info = session.info || {};
  const charts = h('div', {class: 'charts'});
  replace(main, h('h1', {}, 'Health'),
    h('section', {class: 'card'}, h('h2', {}, 'Readiness'), ready),
    h('section', {class: 'card'}, h('h2', {}, 'Server'),
      h('dl', {class: 'facts grid'},
        h('dt', {}, 'Version'), h('dd', {id: 'info-version'}, info.version || 'unknown'),
        h('dt', {}, 'Engine'), h('dd', {id: 'info-engine'}, info.engine || ''),
        h('dt', {}, 'Store'), h('dd', {id: 'info-store', class: 'mono'}, info.store || ''),
        h('dt', {}, 'Your access'), h('dd', {id: 'info-access'}, info.access || ''),
        h('dt', {}, 'Projections'), h('dd', {}, (info.projections || []).join(', ')))),
    h('section', {class: 'card'}, h('h2', {}, 'Last minutes'), charts));

  const ctl = new AbortController();
  const checkReady = async () => {
    try {
      const res = await fetch(url('/readyz'), {cache: 'no-store', signal: ctl.signal});
      const body = await res.json();
      replace(ready, h('p', {}, h('span', {class: 'badge ' + (res.ok ? 'ok' : 'bad'), id: 'ready-status'}, res.ok ? 'ready' : 'not ready'),
        body.reason ? ' ' + body.reason : '',
        body.failed ? h('span', {}, ': ', body.failed.map((n) => h('a', {href: '#/projections'}, n))) : null));
    } catch (err) {
      if (!ctl.signal.aborted) replace(ready, errorBox(err));
    }
  };
  const draw = () => replace(charts,
    chart('Appends per second', samples.map((s) => s.appends), (v) => v.toFixed(1)),
    chart('Conflicts per sample', samples.map((s) => s.conflicts), (v) => String(v)),
    chart('Largest projection lag (s)', samples.map((s) => s.lag), (v) => v.toFixed(2)));
  checkReady();
  draw();
  const timer = setInterval(checkReady, 5000);
  listeners.add(draw);
  startSampling();
  return () => { ctl.abort(); clearInterval(timer); listeners.delete(draw); stopSampling(); };
}

const svgNS = 'http://www.w3.org/2000/svg';

// chart draws a sparkline of values (oldest first) as SVG.
function chart(title, values, fmt) {
  const w = 300, hgt = 60;
  const max = Math.max(1e-9, ...values);
  const svg = document.createElementNS(svgNS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', title);
  const step = values.length > 1 ? w / (keep - 1) : 0;
  const x0 = w - (values.length - 1) * step;
  const pts = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${(hgt - 2 - (v / max) * (hgt - 4)).toFixed(1)}`);
  const line = document.createElementNS(svgNS, 'polyline');
  line.setAttribute('points', pts.join(' '));
  line.setAttribute('class', 'line');
  svg.append(line);
  const last = values.length ? values[values.length - 1] : 0;
  return h('figure', {class: 'chart'},
    h('figcaption', {}, h('span', {class: 'title'}, title), h('strong', {}, values.length ? fmt(last) : '—'), h('span', {class: 'muted small'}, 'max ' + (values.length ? fmt(Math.max(...values)) : '—'))),
    svg);
}
