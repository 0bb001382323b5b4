// The runs dashboard: a live, filterable runs list and the learning panel's charts.
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController,
  LineElement, PointElement, Tooltip,
} from 'chart.js';
import { el, elapsed, formatDuration, formatTime, getJSON, statusBadge } from './dom.js';

Chart.register(BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip);
Chart.defaults.animation = false;

const form = document.getElementById('run-filters');
const body = document.querySelector('#runs tbody');
const live = document.getElementById('live');
const older = document.getElementById('runs-older');
const newer = document.getElementById('runs-newer');
let source = null;
let runs = [];

// runs per page: 100, or ?limit= (1 to 500) in the page's address
const PAGE = Math.min(Math.max(Number(new URLSearchParams(location.search).get('limit')) || 100, 1), 500);
// page 1 is the live list; older pages are read once, newest first, by the cursors the
// list answers with (`X-Next-Cursor`): cursors[i] reads page i + 1, next the one after
const pager = { index: 0, cursors: [null], next: null };

function filters() {
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) {
    const field = form.elements.namedItem(key);
    if (!value || !field.validity.valid) continue; // half-typed id: not sent until it is hex
    // a datetime-local is the browser's local time: the server reads a time without a zone as UTC
    params.set(key, field.type === 'datetime-local' ? new Date(value).toISOString() : value);
  }
  params.set('limit', String(PAGE));
  return params;
}

function row(run) {
  return el(
    'tr',
    { dataset: { runId: run.id, status: run.status } },
    el('td', {}, statusBadge(run.status)),
    el('td', {}, run.pattern ?? ''),
    el('td', { class: 'request' }, el('a', { href: `/runs/${run.id}` }, (run.request?.text ?? '').slice(0, 140))),
    el('td', {}, formatTime(run.created_at)),
    el('td', { class: 'duration' }, formatDuration(elapsed(run))),
    el('td', {}, String(run.tokens_in + run.tokens_out)),
    el('td', {}, run.current_step ?? (run.status === 'failed' ? (run.error ?? '').slice(0, 80) : '')),
  );
}

function render() {
  body.replaceChildren(...(runs.length ? runs.map(row) : [el('tr', { class: 'empty' }, el('td', { colspan: 7 }, 'No runs match.'))]));
  document.body.dataset.runsShown = String(runs.length);
  document.body.dataset.runsPage = String(pager.index + 1);
  // the live page has older runs when it is full; a read page when it came with a cursor
  older.disabled = pager.index === 0 ? runs.length < PAGE : !pager.next;
  newer.disabled = pager.index === 0;
  document.getElementById('runs-page').textContent = pager.index === 0 ? `newest ${PAGE}, live` : `page ${pager.index + 1}`;
}

async function readPage(cursor) {
  const params = filters();
  if (cursor) params.set('cursor', cursor);
  const resp = await fetch(`/api/runs?${params}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (!resp.ok) {
    if (resp.status === 401) await getJSON('/api/session'); // signed out: to the sign-in page
    throw new Error(`${resp.status} ${(await resp.json().catch(() => ({}))).detail ?? resp.statusText}`);
  }
  return { rows: await resp.json(), next: resp.headers.get('X-Next-Cursor') };
}

async function showPage(index) {
  source?.close();
  source = null;
  live.classList.remove('on');
  live.textContent = 'loading…';
  try {
    if (pager.cursors[index] === undefined) {
      // the page after the live one: where the list ends now (runs started since come first)
      const cursor = index === 1 ? (await readPage(null)).next : pager.next;
      if (!cursor) return connect();
      pager.cursors = [...pager.cursors.slice(0, index), cursor];
    }
    const { rows, next } = await readPage(pager.cursors[index]);
    Object.assign(pager, { index, next });
    runs = rows;
    render();
    live.textContent = 'paused: older runs';
  } catch (err) {
    live.textContent = `could not read the page: ${err.message}`;
  }
}

older.addEventListener('click', () => {
  pager.cursors = pager.cursors.slice(0, pager.index + 1); // the next page from this one's end
  showPage(pager.index + 1);
});
newer.addEventListener('click', () => (pager.index <= 1 ? connect() : showPage(pager.index - 1)));

function connect() {
  source?.close();
  Object.assign(pager, { index: 0, cursors: [null], next: null });
  live.textContent = 'connecting…';
  source = new EventSource(`/api/runs/stream?${filters()}`);
  source.addEventListener('runs', (event) => {
    runs = JSON.parse(event.data);
    render();
    document.body.dataset.runsUpdates = String(Number(document.body.dataset.runsUpdates ?? 0) + 1);
  });
  source.onopen = () => { live.textContent = '● live'; live.classList.add('on'); };
  source.onerror = () => {
    live.textContent = 'reconnecting…';
    live.classList.remove('on');
    if (source.readyState === EventSource.CLOSED) {
      // the server refused the stream (e.g. the session ended): getJSON sends a 401 to sign-in
      getJSON('/api/session').then(() => setTimeout(connect, 2000), (err) => { live.textContent = err.message; });
    }
  };
}

let typing = null;
form.addEventListener('input', (event) => {
  clearTimeout(typing);
  typing = setTimeout(connect, event.target.name === 'q' ? 300 : 0);
});
form.addEventListener('submit', (event) => { event.preventDefault(); connect(); });

setInterval(() => {
  for (const tr of body.querySelectorAll('tr[data-status="running"], tr[data-status="waiting"], tr[data-status="incident"]')) {
    const run = runs.find((r) => r.id === tr.dataset.runId);
    if (run) tr.querySelector('.duration').textContent = formatDuration(elapsed(run));
  }
}, 1000);

// ---- learning panel ---------------------------------------------------------------------

const COLORS = ['#1565c0', '#2e7d32', '#ef6c00', '#6a1b9a', '#c62828', '#00838f'];
const charts = {};

/** Draw a chart, or say there is nothing to draw yet (no empty axes). */
function chart(id, config, empty) {
  charts[id]?.destroy();
  delete charts[id];
  const canvas = document.getElementById(id);
  const figure = canvas.closest('figure');
  let note = figure.querySelector('.chart-empty');
  const hasData = config.data.labels.length > 0;
  canvas.hidden = !hasData;
  if (!hasData) {
    if (!note) {
      note = el('p', { class: 'chart-empty muted' });
      figure.append(note);
    }
    note.textContent = empty;
    return;
  }
  note?.remove();
  charts[id] = new Chart(canvas, config);
}

function bucketLabel(iso) {
  return new Date(iso).toLocaleString(undefined, { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

async function loadLearning() {
  const note = document.getElementById('learning-note');
  let data;
  try {
    data = await getJSON('/api/learning/summary?hours=24');
  } catch (err) {
    note.textContent = `Learning data unavailable: ${err.message}`;
    return;
  }
  const stores = data.stores.map((s) => `${s.backend}${s.healthy ? '' : ' (unreachable)'}${s.buffered ? `, ${s.buffered} buffered` : ''}`).join(', ');
  note.textContent = data.unavailable ? `Learning store unavailable: ${data.unavailable}` : `from ${stores}`;

  const buckets = [...new Set(data.pattern_series.map((p) => p.bucket))].sort();
  const patterns = [...new Set(data.pattern_series.map((p) => p.pattern))].sort();
  chart('chart-success', {
    type: 'line',
    data: {
      labels: buckets.map(bucketLabel),
      datasets: patterns.map((pattern, i) => ({
        label: pattern,
        borderColor: COLORS[i % COLORS.length],
        backgroundColor: COLORS[i % COLORS.length],
        spanGaps: true,
        data: buckets.map((b) => {
          const point = data.pattern_series.find((p) => p.pattern === pattern && p.bucket === b);
          return point ? Math.round((100 * point.successes) / point.runs) : null;
        }),
      })),
    },
    options: { scales: { y: { min: 0, max: 100, title: { display: true, text: '% of runs that passed' } } } },
  }, 'No finished runs in the last 24 hours yet.');
  chart('chart-decisions', {
    type: 'bar',
    data: {
      labels: data.decisions.map((d) => `${d.operator} → ${d.choice}`),
      datasets: [{ label: 'times chosen', data: data.decisions.map((d) => d.count), backgroundColor: COLORS[0] }],
    },
    options: { indexAxis: 'y', plugins: { legend: { display: false } } },
  }, 'No decisions taken yet.');
  chart('chart-latency', {
    type: 'bar',
    data: {
      labels: data.latency.map((l) => `${l.model_group} (${l.calls})`),
      datasets: [
        { label: 'mean', data: data.latency.map((l) => Math.round(l.mean_ms)), backgroundColor: COLORS[1] },
        { label: 'p95', data: data.latency.map((l) => Math.round(l.p95_ms)), backgroundColor: COLORS[2] },
      ],
    },
  }, 'No model calls yet.');
  document.body.dataset.learningLoaded = 'true';
}

connect();
loadLearning();
setInterval(loadLearning, 60_000);
