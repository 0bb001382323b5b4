// The run page: the pinned diagram with live markers, step details, people's forms.
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import hljs from 'highlight.js/lib/core';
import python from 'highlight.js/lib/languages/python';
import javascript from 'highlight.js/lib/languages/javascript';
import go from 'highlight.js/lib/languages/go';
import json from 'highlight.js/lib/languages/json';
import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'highlight.js/styles/github.css';
import './run.css';
import { csrfToken, el, elapsed, formatDuration, formatTime, getJSON, statusBadge } from './dom.js';

hljs.registerLanguage('python', python);
hljs.registerLanguage('javascript', javascript);
hljs.registerLanguage('go', go);
hljs.registerLanguage('json', json);

const root = document.getElementById('run');
const runId = root.dataset.runId;
const canOperate = root.dataset.canOperate === 'true';
const viewer = new NavigatedViewer({ container: '#viewer' });
const MARKERS = ['wg-completed', 'wg-active', 'wg-waiting', 'wg-failed'];
const FINISHED = new Set(['completed', 'failed']);

const state = {
  run: null,
  tab: null, // diagram id shown
  tabChosen: false, // the person picked a tab: do not switch for them
  shownVersion: null,
  xml: new Map(),
  marked: new Map(), // element id -> marker class
  selected: null, // {elementId, taskId}
  updates: 0,
};

function code(text, language) {
  const block = el('code', { class: `hljs language-${language}` });
  if (hljs.getLanguage(language)) block.innerHTML = hljs.highlight(text, { language }).value; // hljs escapes
  else block.textContent = text;
  return el('pre', { class: 'code' }, block);
}

function languageOf(path) {
  if (path.endsWith('.py')) return 'python';
  if (/\.(m?js|cjs)$/.test(path)) return 'javascript';
  if (path.endsWith('.go')) return 'go';
  if (path.endsWith('.json')) return 'json';
  return 'plaintext';
}

// ---- markers ------------------------------------------------------------------------------

function elementStates(run, processId) {
  const openIncidents = new Set(run.incidents.filter((i) => i.status === 'open').map((i) => i.task_id));
  const byElement = new Map();
  for (const step of run.steps) {
    if (step.process !== processId) continue;
    const entry = byElement.get(step.element_id) ?? { visits: 0, steps: [] };
    // a multi-instance task shows its instances (e.g. one per model group), not itself
    if (!step.kind.endsWith('MultiInstanceTask')) entry.visits += 1;
    entry.steps.push(step);
    byElement.set(step.element_id, entry);
  }
  for (const entry of byElement.values()) {
    const last = entry.steps[entry.steps.length - 1];
    const failed = entry.steps.some((s) => s.state === 'error' || openIncidents.has(s.task_id));
    if (failed && !(last.state === 'completed' && !openIncidents.has(last.task_id))) entry.marker = 'wg-failed';
    else if (last.kind === 'UserTask' && last.state === 'ready') entry.marker = 'wg-waiting';
    else if (['ready', 'started', 'waiting'].includes(last.state)) entry.marker = 'wg-active';
    else if (last.state === 'completed') entry.marker = 'wg-completed';
    else entry.marker = null; // cancelled
  }
  return byElement;
}

function paintMarkers() {
  const run = state.run;
  if (!run || !state.tab) return;
  const canvas = viewer.get('canvas');
  const overlays = viewer.get('overlays');
  const registry = viewer.get('elementRegistry');
  const states = elementStates(run, state.tab);
  for (const [id, marker] of state.marked) canvas.removeMarker(id, marker);
  state.marked.clear();
  overlays.remove({ type: 'wg-visits' });
  for (const [id, entry] of states) {
    if (!registry.get(id)) continue;
    if (entry.marker) {
      canvas.addMarker(id, entry.marker);
      state.marked.set(id, entry.marker);
    }
    if (entry.visits > 1) {
      overlays.add(id, 'wg-visits', {
        position: { top: -10, right: 8 },
        html: el('span', { class: 'wg-visit-count', title: `visited ${entry.visits} times` }, `×${entry.visits}`),
      });
    }
  }
  state.updates += 1;
  document.body.dataset.markerUpdates = String(state.updates);
  document.body.dataset.markers = JSON.stringify(Object.fromEntries(state.marked));
}

// ---- diagram tabs -----------------------------------------------------------------------

async function showTab(diagramId) {
  const pinned = state.run.pinned.find((p) => p.diagram_id === diagramId);
  if (!pinned) return;
  state.tab = diagramId;
  for (const button of document.querySelectorAll('#process-tabs button')) {
    button.setAttribute('aria-selected', String(button.dataset.diagramId === diagramId));
  }
  if (state.shownVersion !== pinned.version_id) {
    if (!state.xml.has(pinned.version_id)) {
      state.xml.set(pinned.version_id, (await getJSON(`/api/diagram-versions/${pinned.version_id}`)).xml);
    }
    state.marked.clear();
    await viewer.importXML(state.xml.get(pinned.version_id));
    viewer.get('canvas').zoom('fit-viewport', 'auto');
    state.shownVersion = pinned.version_id;
  }
  paintMarkers();
  document.body.dataset.diagramShown = diagramId;
}

function renderTabs(run) {
  const tabs = document.getElementById('process-tabs');
  const ids = run.pinned.map((p) => p.diagram_id).sort((a, b) => (a === run.entry ? -1 : b === run.entry ? 1 : a.localeCompare(b)));
  if (tabs.dataset.ids === ids.join(',')) return;
  tabs.dataset.ids = ids.join(',');
  tabs.replaceChildren(
    ...ids.map((id) => {
      const pinned = run.pinned.find((p) => p.diagram_id === id);
      return el(
        'button',
        {
          type: 'button',
          role: 'tab',
          dataset: { diagramId: id },
          onclick: () => { state.tabChosen = true; showTab(id); },
        },
        `${id} v${pinned.version}`,
      );
    }),
  );
}

// ---- header, steps, forms -----------------------------------------------------------------

function renderHeader(run) {
  document.getElementById('run-status').replaceWith(Object.assign(statusBadge(run.status), { id: 'run-status' }));
  document.getElementById('run-pattern').textContent = run.pattern ?? 'choosing a pattern';
  document.getElementById('run-duration').textContent = formatDuration(elapsed(run));
  document.getElementById('run-tokens').textContent = String(run.tokens_in + run.tokens_out);
  const error = document.getElementById('run-error');
  error.hidden = !run.error;
  error.textContent = run.error ?? '';
  document.body.dataset.runStatus = run.status;
}

function renderSteps(run) {
  const body = document.querySelector('#steps tbody');
  body.replaceChildren(
    ...run.steps.map((s) =>
      el(
        'tr',
        {
          class: `step state-${s.state}`,
          dataset: { taskId: s.task_id, elementId: s.element_id },
          onclick: () => selectStep(s.element_id, s.task_id),
        },
        el('td', {}, s.name || s.element_id, el('span', { class: 'muted' }, ` ${s.process}`)),
        el('td', {}, s.operator ?? s.kind),
        el('td', {}, s.state),
        el('td', {}, s.attempts || ''),
        el('td', {}, s.duration_ms ? formatDuration(s.duration_ms / 1000) : ''),
        el('td', {}, s.tokens_in + s.tokens_out || ''),
      ),
    ),
  );
}

function hidden(name, value) {
  return el('input', { type: 'hidden', name, value });
}

function renderUserTasks(run) {
  const box = document.getElementById('user-tasks');
  const waiting = run.steps.filter((s) => s.kind === 'UserTask' && s.state === 'ready');
  const key = waiting.map((s) => s.task_id).join(',');
  if (box.dataset.key === key) return; // keep what a person is typing
  box.dataset.key = key;
  box.replaceChildren(
    ...waiting.map((s) => {
      const title = el('h3', {}, `Waiting for a person: ${s.name || s.element_id}`);
      if (!canOperate) return el('div', { class: 'card waiting' }, title, el('p', { class: 'muted' }, 'An operator must answer this step.'));
      return el(
        'form',
        { class: 'card waiting user-task', method: 'post', action: `/runs/${runId}/tasks/${s.task_id}`, dataset: { elementId: s.element_id } },
        title,
        hidden('csrf', csrfToken()),
        el('label', {}, 'Comment', el('textarea', { name: 'comment', rows: 3, maxlength: 5000 })),
        el('div', { class: 'row' },
          el('button', { type: 'submit', name: 'verdict', value: 'approve', class: 'primary' }, 'Approve'),
          el('button', { type: 'submit', name: 'verdict', value: 'reject', class: 'danger' }, 'Reject')),
      );
    }),
  );
}

function renderIncidents(run) {
  const open = run.incidents.filter((i) => i.status === 'open');
  const box = document.getElementById('incidents');
  const key = open.map((i) => i.id).join(',');
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren(
    ...open.map((i) =>
      el(
        'div',
        { class: 'card failed incident', dataset: { incidentId: i.id, elementId: i.element_id } },
        el('h3', {}, `Incident at ${i.element_id} (${i.operator ?? 'step'}) after ${i.attempts} attempt(s)`),
        el('p', { class: 'error' }, i.message),
        canOperate
          ? el('form', { method: 'post', action: `/incidents/${i.id}/retry` }, hidden('csrf', csrfToken()),
            el('button', { type: 'submit', class: 'primary' }, 'Retry the step'))
          : el('p', { class: 'muted' }, 'An operator can retry this step.'),
      ),
    ),
  );
}

function renderArtifacts(run) {
  const list = document.getElementById('artifacts');
  if (!run.artifacts.length) {
    list.replaceChildren(el('li', { class: 'muted' }, 'None yet.'));
    return;
  }
  list.replaceChildren(
    ...run.artifacts.map((a) =>
      el('li', {},
        el('a', { href: `/api/runs/${runId}/artifacts/${a.id}/download`, download: a.path.split('/').pop() }, a.path),
        el('span', { class: 'muted' }, ` ${a.kind} · ${a.step}`),
        a.final ? el('span', { class: 'tag' }, 'final') : null),
    ),
  );
}

// ---- step details -----------------------------------------------------------------------

function section(title, ...body) {
  return el('section', { class: 'detail' }, el('h3', {}, title), ...body);
}

function reportView(text) {
  let report;
  try { report = JSON.parse(text); } catch { return code(text, 'json'); }
  const stages = (report.stages ?? []).map((st) =>
    el('tr', { class: `stage-${st.status}` }, el('td', {}, st.name), el('td', {}, st.status),
      el('td', {}, (st.findings ?? []).map((f) => el('div', {}, `${f.file ?? ''}${f.line ? `:${f.line}` : ''} [${f.rule}] ${f.message}`)),
        st.detail && st.status !== 'passed' ? el('pre', { class: 'text small' }, st.detail) : null)));
  return el('div', {},
    el('p', {}, report.passed ? 'passed' : 'failed', ` · score ${report.score ?? '?'}`,
      report.tests_total ? ` · tests ${report.tests_passed}/${report.tests_total}` : ''),
    el('table', { class: 'grid compact' }, el('tbody', {}, stages)));
}

function selectStep(elementId, taskId) {
  showStep(elementId, taskId).catch((err) => {
    document.getElementById('step-panel').replaceChildren(el('p', { class: 'error' }, `Could not load the step: ${err.message}`));
  });
}

async function showStep(elementId, taskId) {
  const visits = state.run.steps.filter((s) => s.element_id === elementId && (!state.tab || s.process === state.tab || s.task_id === taskId));
  const chosen = taskId ?? visits[visits.length - 1]?.task_id;
  state.selected = { elementId, taskId: chosen };
  const panel = document.getElementById('step-panel');
  if (!chosen) {
    panel.replaceChildren(el('p', { class: 'muted' }, `${elementId} has not run in this run.`));
    return;
  }
  const step = await getJSON(`/api/runs/${runId}/steps/${chosen}`);
  const language = state.run.request.language ?? 'python';
  const parts = [
    el('h2', {}, step.name || step.element_id),
    el('p', { class: 'muted' }, `${step.operator ?? step.kind} · ${step.state} · ${step.process}`),
  ];
  if (visits.length > 1) {
    parts.push(el('div', { class: 'visits' }, 'Visits: ', visits.map((v, n) =>
      el('button', { type: 'button', class: v.task_id === chosen ? 'link current' : 'link', onclick: () => selectStep(elementId, v.task_id) }, String(n + 1)))));
  }
  parts.push(el('dl', { class: 'facts' },
    el('dt', {}, 'Time'), el('dd', {}, step.duration_ms ? formatDuration(step.duration_ms / 1000) : formatTime(step.started_at)),
    el('dt', {}, 'Tokens'), el('dd', {}, `${step.tokens_in} in · ${step.tokens_out} out`),
    el('dt', {}, 'Attempts'), el('dd', {}, String(step.attempts)),
    step.result?.model_group ? [el('dt', {}, 'Model group'), el('dd', {}, `${step.result.model_group} (${step.result.deployment ?? ''})`)] : null));
  if (step.error) parts.push(el('p', { class: 'error' }, step.error));
  if (step.decision) {
    parts.push(section(`Decision: ${step.decision.choice}${step.decision.confidence != null ? ` (confidence ${Number(step.decision.confidence).toFixed(2)})` : ''}`,
      code(JSON.stringify(step.decision.evidence, null, 2), 'json')));
  }
  if (step.report) parts.push(section('Validation report', reportView(step.report)));
  for (const f of step.files) {
    parts.push(section(f.path, el('a', { href: `/api/runs/${runId}/artifacts/${f.id}/download`, download: f.path.split('/').pop() }, 'download'), code(f.content, languageOf(f.path) === 'plaintext' ? language : languageOf(f.path))));
  }
  if (step.answer) parts.push(section("Model's answer", el('pre', { class: 'text' }, step.answer)));
  if (step.prompt) parts.push(section('Prompt', el('pre', { class: 'text' }, step.prompt)));
  if (step.result && !step.report && !step.files.length && !step.decision) {
    parts.push(section('Result', code(JSON.stringify(step.result, null, 2), 'json')));
  }
  parts.push(section('Events', el('ul', { class: 'plain' }, step.events.map((e) => el('li', {}, `${formatTime(e.at)} ${e.event}`)))));
  panel.replaceChildren(...parts);
  panel.dataset.taskId = chosen;
}

// ---- live updates -----------------------------------------------------------------------

async function refresh() {
  const run = await getJSON(`/api/runs/${runId}`);
  state.run = run;
  renderHeader(run);
  renderTabs(run);
  const preferred = run.pattern && run.pinned.some((p) => p.diagram_id === run.pattern) ? run.pattern : run.entry;
  if (!state.tab || (!state.tabChosen && state.tab !== preferred)) await showTab(preferred);
  else paintMarkers();
  renderSteps(run);
  renderUserTasks(run);
  renderIncidents(run);
  renderArtifacts(run);
}

let pending = null;
let running = Promise.resolve();
function scheduleRefresh() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    running = running.then(refresh).catch((err) => console.warn('refresh failed:', err.message));
  }, 120);
}

function listen() {
  const source = new EventSource(`/api/runs/${runId}/stream`);
  source.addEventListener('step', scheduleRefresh);
  source.addEventListener('run', scheduleRefresh);
  source.addEventListener('end', () => {
    source.close();
    scheduleRefresh();
    document.body.dataset.stream = 'ended';
  });
  source.onopen = () => { document.body.dataset.stream = 'open'; };
  source.onerror = () => {
    if (document.body.dataset.stream === 'ended') return;
    document.body.dataset.stream = 'reconnecting';
    if (source.readyState === EventSource.CLOSED) {
      // refused (e.g. signed out): getJSON sends a 401 to sign-in, anything else retries
      getJSON('/api/session').then(() => setTimeout(listen, 2000), (err) => console.warn(err.message));
    }
  };
}

viewer.on('element.click', (event) => {
  const id = event.element?.businessObject?.id;
  if (id && event.element.type !== 'bpmn:Process' && event.element.type !== 'bpmn:SequenceFlow') selectStep(id);
});

setInterval(() => {
  if (state.run && !FINISHED.has(state.run.status)) {
    document.getElementById('run-duration').textContent = formatDuration(elapsed(state.run));
  }
}, 1000);

await refresh();
document.body.dataset.ready = 'true';
if (!FINISHED.has(state.run.status)) listen();
else document.body.dataset.stream = 'ended';
