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
let source = null;
let runs = [];

function filters() {
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
  params.set('limit', '100');
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
}

function connect() {
  source?.close();
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

function chart(id, config) {
  charts[id]?.destroy();
  charts[id] = new Chart(document.getElementById(id), config);
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
  });
  chart('chart-decisions', {
    type: 'bar',
    data: {
      labels: data.decisions.map((d) => `${d.operator} → ${d.choice}`),
      datasets: [{ label: 'times chosen', data: data.decisions.map((d) => d.count), backgroundColor: COLORS[0] }],
    },
    options: { indexAxis: 'y', plugins: { legend: { display: false } } },
  });
  chart('chart-latency', {
    type: 'bar',
    data: {
      labels: data.latency.map((l) => `${l.model_group} (${l.calls})`),
      datasets: [
        { label: 'mean', data: data.latency.map((l) => Math.round(l.mean_ms)), backgroundColor: COLORS[1] },
        { label: 'p95', data: data.latency.map((l) => Math.round(l.p95_ms)), backgroundColor: COLORS[2] },
      ],
    },
  });
  document.body.dataset.learningLoaded = 'true';
}

connect();
loadLearning();
setInterval(loadLearning, 60_000);
