// The run page: the pinned diagram with live markers, step details, people's forms (forms.js),
// cancel and retry, the run's variables (admins edit them), incidents and history.
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
import { claimControls, reportView, reviewContext, taskForm } from './forms.js';
import { describeDetail, sendJSON, setStatus } from './page_api.js';

hljs.registerLanguage('python', python);
hljs.registerLanguage('javascript', javascript);
hljs.registerLanguage('go', go);
hljs.registerLanguage('json', json);

const root = document.getElementById('run');
const runId = root.dataset.runId;
const canOperate = root.dataset.canOperate === 'true';
const isAdmin = root.dataset.isAdmin === 'true';
const me = root.dataset.user;
const viewer = new NavigatedViewer({ container: '#viewer' });
const FINISHED = new Set(['completed', 'failed', 'cancelled']);
const PERSON_TASKS = new Set(['UserTask', 'ManualTask']);
const APPROVALS = new Set(['approve_migration', 'human_review']); // WeaverGen's own

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
    else if (last.state === 'cancelled' && run.status === 'cancelled') entry.marker = 'wg-cancelled';
    else entry.marker = null; // cancelled on the way (a branch not taken)
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

/** The whole diagram in view, centred (again once the page has its final layout). */
function fitDiagram() {
  const canvas = viewer.get('canvas');
  canvas.resized();
  canvas.zoom('fit-viewport', 'auto');
  requestAnimationFrame(() => {
    canvas.resized();
    canvas.zoom('fit-viewport', 'auto');
    document.body.dataset.diagramFitted = String(canvas.zoom());
  });
}

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
    fitDiagram();
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

// ---- header, actions, steps ---------------------------------------------------------------

function renderHeader(run) {
  document.getElementById('run-status').replaceWith(Object.assign(statusBadge(run.status), { id: 'run-status' }));
  document.getElementById('run-pattern').textContent = run.pattern ?? (run.entry !== 'orchestrate' ? run.entry : 'choosing a pattern');
  document.getElementById('run-duration').textContent = formatDuration(elapsed(run));
  document.getElementById('run-tokens').textContent = String(run.tokens_in + run.tokens_out);
  const error = document.getElementById('run-error');
  error.hidden = !run.error;
  error.textContent = run.error ?? '';
  const cancel = document.getElementById('cancel-run');
  if (cancel) cancel.hidden = FINISHED.has(run.status);
  const retry = document.getElementById('retry-run');
  if (retry) retry.hidden = run.status !== 'failed';
  document.body.dataset.runStatus = run.status;
}

function actionStatus(text, kind) {
  setStatus(document.getElementById('run-action-status'), text, kind);
}

async function cancelRun(button) {
  if (!window.confirm('Cancel this run? Its waiting and running steps stop for good; this cannot be undone.')) return;
  button.disabled = true;
  const response = await sendJSON(`/api/runs/${runId}/cancel`);
  button.disabled = false;
  if (!response.ok) {
    actionStatus(`Not cancelled: ${describeDetail(response.data, `HTTP ${response.status}`)}`, 'error');
    return;
  }
  actionStatus('Cancelled.', 'ok');
  scheduleRefresh();
}

async function retryRun(button) {
  const fix = isAdmin ? variableChanges() : null;
  if (fix && fix.error) {
    actionStatus(`Not retried: ${fix.error}`, 'error');
    return;
  }
  const body = fix && (Object.keys(fix.set).length || fix.delete.length) ? { set: fix.set, delete: fix.delete } : undefined;
  button.disabled = true;
  const response = await sendJSON(`/api/runs/${runId}/retry`, body);
  button.disabled = false;
  if (!response.ok) {
    actionStatus(`Not retried: ${describeDetail(response.data, `HTTP ${response.status}`)}`, 'error');
    return;
  }
  const from = response.data?.retried_from ?? [];
  actionStatus(`Retried from ${from.join(', ') || 'the failed step'}${body ? ' with the variables you changed' : ''}.`, 'ok');
  delete document.getElementById('variables-form').dataset.dirty;
  scheduleRefresh();
  if (document.body.dataset.stream === 'ended') listen();
}

function openIncidentTasks(run) {
  return new Set(run.incidents.filter((i) => i.status === 'open').map((i) => i.task_id));
}

function renderSteps(run) {
  const body = document.querySelector('#steps tbody');
  const incident = openIncidentTasks(run);
  body.replaceChildren(
    ...run.steps.map((s) => {
      const shown = incident.has(s.task_id) ? 'incident' : s.state;
      return el(
        'tr',
        {
          class: `step state-${shown}`,
          dataset: { taskId: s.task_id, elementId: s.element_id, state: shown },
          onclick: () => selectStep(s.element_id, s.task_id),
        },
        el('td', {}, s.name || s.element_id, el('span', { class: 'muted' }, ` ${s.process}`)),
        el('td', {}, s.operator ?? s.kind),
        el('td', {}, shown),
        el('td', {}, s.attempts || ''),
        el('td', {}, s.duration_ms ? formatDuration(s.duration_ms / 1000) : ''),
        el('td', {}, s.tokens_in + s.tokens_out || ''),
      );
    }),
  );
}

function hidden(name, value) {
  return el('input', { type: 'hidden', name, value });
}

// ---- people's tasks -----------------------------------------------------------------------

async function renderUserTasks(run) {
  const box = document.getElementById('user-tasks');
  const waiting = FINISHED.has(run.status) ? [] : run.steps.filter((s) => PERSON_TASKS.has(s.kind) && s.state === 'ready');
  const key = waiting.map((s) => s.task_id).join(',');
  if (!waiting.length) {
    box.replaceChildren();
    box.dataset.key = '';
    return;
  }
  const tasks = await getJSON(`/api/tasks?run_id=${runId}&limit=100`);
  if (box.dataset.key === key) { // keep what a person is typing: only the claims change
    for (const task of tasks) {
      const claim = box.querySelector(`.waiting[data-task-id="${task.task_id}"] .claim`);
      if (claim && claim.dataset.claimedBy !== (task.claimed_by ?? '')) claim.replaceWith(taskClaim(task));
    }
    return;
  }
  box.dataset.key = key;
  box.replaceChildren(...tasks.map((task) => taskCard(run, task)));
  document.body.dataset.tasksShown = String(tasks.length);
}

function taskClaim(task) {
  return claimControls(task, { me, canOperate, isAdmin, onChange: scheduleRefresh });
}

function taskCard(run, task) {
  const card = el('div', { class: 'card waiting', dataset: { taskId: task.task_id, elementId: task.element_id } },
    el('h3', {}, `Waiting for a person: ${task.name || task.element_id}`),
    el('p', { class: 'task-meta' }, task.lane ? el('span', { class: 'muted' }, `lane ${task.lane} · `) : null,
      task.groups.length ? el('span', { class: 'muted' }, `groups ${task.groups.join(', ')} · `) : null, taskClaim(task)));
  const review = el('div', { class: 'review-holder' });
  card.append(review);
  if (APPROVALS.has(task.element_id)) {
    reviewContext(run, { code, languageOf: (path) => (languageOf(path) === 'plaintext' ? run.request.language ?? 'python' : languageOf(path)) })
      .then((view) => { if (view) review.replaceChildren(view); card.dataset.reviewShown = 'true'; })
      .catch((err) => review.replaceChildren(el('p', { class: 'error' }, `Could not show what is being approved: ${err.message}`)));
  }
  if (canOperate) card.append(taskForm(task, { onDone: scheduleRefresh }));
  else card.append(el('p', { class: 'muted' }, 'An operator must answer this step.'));
  return card;
}

// ---- incidents and history ------------------------------------------------------------------

function renderIncidents(run) {
  const box = document.getElementById('incidents');
  const key = run.incidents.map((i) => `${i.id}:${i.status}`).join(',');
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  const open = run.incidents.filter((i) => i.status === 'open');
  const resolved = run.incidents.filter((i) => i.status !== 'open');
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
    ...(resolved.length ? [ el('details', { class: 'incident-history', open: true },
      el('summary', {}, `${resolved.length} resolved incident${resolved.length === 1 ? '' : 's'}`),
      el('ul', { class: 'plain' }, resolved.map((i) => el('li', { class: 'incident-resolved', dataset: { incidentId: i.id, elementId: i.element_id } },
        el('span', { class: 'badge status-resolved' }, i.status),
        ` ${i.element_id} (${i.operator ?? 'step'}), ${i.attempts} attempt(s): `,
        el('span', { class: 'error' }, i.message),
        el('span', { class: 'muted' }, ` · opened ${formatTime(i.created_at)}${i.resolved_at ? ` · resolved ${formatTime(i.resolved_at)}` : ''}`))))) ] : []),
  );
}

// run events worth a line in the history (step progress is in the steps table)
const HISTORY = {
  'run.started': 'started',
  incident: 'incident',
  incident_retry: 'incident retried',
  retry: 'step retried',
  claimed: 'claimed',
  unclaimed: 'released',
  user_completed: 'answered',
  variables_edited: 'variables edited',
  retried: 'run retried',
  cancelled: 'cancelled',
  bpmn_error: 'BPMN error',
};
let lastEvent = 0;

function historyText(e) {
  const d = e.detail || {};
  const parts = [HISTORY[e.event]];
  if (e.element_id) parts.push(e.element_id);
  if (d.by) parts.push(`by ${d.by}`);
  if (e.event === 'unclaimed' && d.was) parts.push(`(was ${d.was})`);
  if (e.event === 'variables_edited' || e.event === 'retried') {
    const set = Object.keys(d.set || {});
    if (set.length) parts.push(`set ${set.join(', ')}`);
    if ((d.delete || []).length) parts.push(`deleted ${d.delete.join(', ')}`);
    if ((d.from || []).length) parts.push(`from ${d.from.join(', ')}`);
  }
  if (e.event === 'user_completed' && d.data) parts.push(JSON.stringify(d.data).slice(0, 200));
  if ((e.event === 'incident' || e.event === 'bpmn_error') && (d.message || d.error)) parts.push(String(d.message || d.error).slice(0, 200));
  return parts.join(' · ');
}

async function renderHistory() {
  const events = await getJSON(`/api/runs/${runId}/events?after=${lastEvent}`);
  if (!events.length) return;
  lastEvent = events[events.length - 1].id;
  const list = document.getElementById('history');
  list.append(...events.filter((e) => HISTORY[e.event]).map((e) =>
    el('li', { dataset: { event: e.event } }, el('time', { datetime: e.at, class: 'muted' }, formatTime(e.at)), ' ', historyText(e))));
  document.body.dataset.historyEvents = String(list.children.length);
}

// ---- variables ------------------------------------------------------------------------------

const RESERVED = new Set(['request', 'options', 'groups']); // the run's start: not editable

function variableRow(name, value, editable) {
  const json = JSON.stringify(value, null, 2) ?? 'null';
  if (!editable) {
    return el('div', { class: 'variable', dataset: { name, field: `/${name}` } },
      el('code', { class: 'variable-name' }, name), RESERVED.has(name) ? el('span', { class: 'muted' }, ' (set at the start)') : null,
      el('pre', { class: 'text small' }, json));
  }
  const text = el('textarea', { class: 'mono', rows: Math.min(10, json.split('\n').length + 1), dataset: { original: json }, 'aria-label': `value of ${name}` });
  text.value = json;
  return el('div', { class: 'variable', dataset: { name, field: `/${name}` } },
    el('label', { class: 'variable-head' }, el('code', { class: 'variable-name' }, name),
      el('span', { class: 'delete' }, el('input', { type: 'checkbox', class: 'variable-delete' }), ' delete')),
    text);
}

function newVariableRow() {
  return el('div', { class: 'variable new', dataset: { field: '/' } },
    el('input', { class: 'variable-new-name', placeholder: 'name', 'aria-label': 'new variable name', pattern: '[A-Za-z_][A-Za-z0-9_]*' }),
    el('textarea', { class: 'mono', rows: 2, placeholder: 'JSON value, e.g. 42 or "text"', 'aria-label': 'new variable value' }));
}

async function loadVariables({ force = false } = {}) {
  const panel = document.getElementById('variables-panel');
  const form = document.getElementById('variables-form');
  if (!panel.open || (form.dataset.dirty === 'true' && !force)) return;
  const answer = await getJSON(`/api/runs/${runId}/variables`);
  // someone started typing while the values were on their way: keep what they typed
  if (form.dataset.dirty === 'true' && !force) return;
  const editable = isAdmin && (answer.status === 'failed' || !FINISHED.has(answer.status));
  const names = Object.keys(answer.variables).sort();
  document.getElementById('variables').replaceChildren(
    ...names.map((name) => variableRow(name, answer.variables[name], editable && !RESERVED.has(name))),
  );
  document.getElementById('variables-where').textContent = answer.at.length
    ? `The data of the task${answer.at.length === 1 ? '' : 's'} where the run ${FINISHED.has(answer.status) ? 'ended' : 'stands'}: ${answer.at.join(', ')}.`
    : 'The run has no task data yet.';
  const save = document.getElementById('variables-save');
  if (save) {
    save.hidden = !editable || answer.status === 'failed';
    document.getElementById('variables-add').hidden = !editable;
  }
  if (editable && answer.status === 'failed') setStatus(document.getElementById('variables-status'), 'The run failed: changes you make here go with "Retry from the failed step".');
  form.dataset.status = answer.status;
  document.body.dataset.variables = String(names.length);
}

/** What the admin changed in the panel: { set, delete } or { error }. */
function variableChanges() {
  const form = document.getElementById('variables-form');
  for (const node of form.querySelectorAll('.field-error')) node.remove();
  const out = { set: {}, delete: [] };
  let error = null;
  const fail = (row, message) => {
    row.append(el('p', { class: 'field-error', role: 'alert' }, message));
    error = error ?? message;
  };
  for (const row of form.querySelectorAll('.variable')) {
    const text = row.querySelector('textarea');
    if (!text) continue;
    const name = row.classList.contains('new') ? row.querySelector('.variable-new-name').value.trim() : row.dataset.name;
    if (row.querySelector('.variable-delete')?.checked) {
      out.delete.push(name);
      continue;
    }
    if (row.classList.contains('new') && !name && !text.value.trim()) continue;
    if (row.classList.contains('new') && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      fail(row, 'give the new variable a name: letters, digits and _');
      continue;
    }
    if (text.value === text.dataset.original) continue;
    try {
      out.set[name] = JSON.parse(text.value);
    } catch (err) {
      fail(row, `${name}: not JSON (${err.message})`);
    }
  }
  return error ? { error } : out;
}

async function saveVariables(event) {
  event.preventDefault();
  const status = document.getElementById('variables-status');
  const changes = variableChanges();
  if (changes.error) {
    setStatus(status, `Not saved: ${changes.error}`, 'error');
    return;
  }
  if (!Object.keys(changes.set).length && !changes.delete.length) {
    setStatus(status, 'Nothing changed.');
    return;
  }
  const button = document.getElementById('variables-save');
  button.disabled = true;
  const response = await sendJSON(`/api/runs/${runId}/variables`, changes, 'PATCH');
  button.disabled = false;
  if (!response.ok) {
    setStatus(status, `Not saved: ${describeDetail(response.data, `HTTP ${response.status}`)}`, 'error');
    return;
  }
  setStatus(status, `Saved at ${(response.data.at ?? []).join(', ')}.`, 'ok');
  delete event.target.dataset.dirty;
  await loadVariables({ force: true });
  document.body.dataset.variablesSaved = String(Number(document.body.dataset.variablesSaved ?? 0) + 1);
}

function setUpVariables() {
  const panel = document.getElementById('variables-panel');
  const form = document.getElementById('variables-form');
  panel.addEventListener('toggle', () => loadVariables().catch((err) => setStatus(document.getElementById('variables-where'), err.message, 'error')));
  form.addEventListener('input', () => { form.dataset.dirty = 'true'; });
  form.addEventListener('change', () => { form.dataset.dirty = 'true'; });
  if (isAdmin) {
    form.addEventListener('submit', saveVariables);
    document.getElementById('variables-add').addEventListener('click', () => {
      form.dataset.dirty = 'true'; // a row being added is an edit: a refresh must keep it
      document.getElementById('variables').append(newVariableRow());
    });
  }
  document.getElementById('cancel-run')?.addEventListener('click', (e) => cancelRun(e.currentTarget));
  document.getElementById('retry-run')?.addEventListener('click', (e) => retryRun(e.currentTarget));
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
  if (step.report) parts.push(section('Validation report', reportView(step.report, code)));
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
  renderIncidents(run);
  renderArtifacts(run);
  await Promise.all([renderUserTasks(run), renderHistory(), loadVariables()]);
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

setUpVariables();
await refresh();
document.body.dataset.ready = 'true';
if (!FINISHED.has(state.run.status)) listen();
else document.body.dataset.stream = 'ended';
