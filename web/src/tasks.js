// The task inbox (/tasks): person tasks waiting in any run, live from /api/tasks/stream, with
// filters (lane, group, diagram, mine, unclaimed; kept in the address), claim and release,
// a task's form opened in place, and paging by cursor ("More"). DOM ids: tasks.html.
import { el, formatTime } from './dom.js';
import { claimControls, reviewContext, taskForm } from './forms.js';
import { describeDetail, request, setStatus } from './page_api.js';

const root = document.getElementById('tasks');
const me = root.dataset.user;
const canOperate = root.dataset.canOperate === 'true';
const isAdmin = root.dataset.isAdmin === 'true';
const filters = document.getElementById('task-filters');
const list = document.getElementById('task-list');
const more = document.getElementById('tasks-more');
const live = document.getElementById('tasks-live');
const statusEl = document.getElementById('tasks-status');
const empty = document.getElementById('tasks-empty');
const APPROVALS = new Set(['approve_migration', 'human_review']); // WeaverGen's own
const FILTERS = ['lane', 'group', 'diagram', 'mine', 'unclaimed'];
const page = new URLSearchParams(location.search);
const limit = Math.min(500, Math.max(1, Number(page.get('limit')) || 50));

const state = {
  source: null,
  pages: 1, // pages shown: the live first page, and those "More" read after it
  cursor: null, // the next page's cursor
  generation: 0, // bumped when the filters change: late answers of older ones are dropped
};

// ---- filters --------------------------------------------------------------------------------

for (const name of FILTERS) {
  const input = filters.elements[name];
  if (input.type === 'checkbox') input.checked = page.get(name) === 'true';
  else input.value = page.get(name) ?? '';
}

function query(extra = {}) {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const input = filters.elements[name];
    if (input.type === 'checkbox') {
      if (input.checked) params.set(name, 'true');
    } else if (input.value.trim()) {
      params.set(name, input.value.trim());
    }
  }
  params.set('limit', String(limit));
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  return params;
}

function keepInAddress() {
  const params = query();
  if (limit === 50) params.delete('limit');
  const text = params.toString();
  history.replaceState(null, '', text ? `?${text}` : location.pathname);
}

let typing = null;
filters.addEventListener('input', (event) => {
  clearTimeout(typing);
  typing = setTimeout(applyFilters, event.target.type === 'checkbox' ? 0 : 350);
});
filters.addEventListener('submit', (event) => {
  event.preventDefault();
  clearTimeout(typing);
  applyFilters();
});

function applyFilters() {
  keepInAddress();
  state.generation += 1;
  state.pages = 1;
  state.cursor = null;
  listen();
}

// ---- a task ---------------------------------------------------------------------------------

function describe(task) {
  const bits = [ `${task.diagram}` ];
  if (task.process_id !== task.diagram) bits.push(task.process_id);
  if (task.lane) bits.push(`lane ${task.lane}`);
  if (task.groups.length) bits.push(`groups ${task.groups.join(', ')}`);
  bits.push(`waiting since ${formatTime(task.waiting_since)}`);
  return bits.join(' · ');
}

function claimBox(task) {
  return claimControls(task, { me, canOperate, isAdmin, onChange: () => refreshNow() });
}

async function openTask(card, task) {
  const body = card.querySelector('.task-body');
  body.hidden = !body.hidden;
  card.querySelector('.task-open').textContent = body.hidden ? 'Open' : 'Close';
  card.classList.toggle('open', !body.hidden);
  if (body.dataset.filled) return;
  body.dataset.filled = 'true';
  if (APPROVALS.has(task.element_id)) {
    const holder = el('div', { class: 'review-holder' }, el('p', { class: 'muted' }, 'Loading what is being approved…'));
    body.append(holder);
    const run = await request(`/api/runs/${task.run_id}`);
    const view = run.ok ? await reviewContext(run.data).catch(() => null) : null;
    holder.replaceChildren(...(view ? [ view ] : []));
  }
  if (canOperate) {
    body.append(taskForm(task, { onDone: () => finished(card) }));
  } else {
    body.append(el('p', { class: 'muted' }, 'An operator answers this task.'));
  }
}

function finished(card) {
  card.classList.add('done');
  card.dataset.done = 'true';
  setTimeout(() => { if (card.isConnected && card.dataset.done === 'true') card.remove(); showEmpty(); }, 1500);
}

function taskCard(task) {
  const card = el('article', {
    class: 'card waiting task',
    dataset: { taskId: task.task_id, elementId: task.element_id, runId: task.run_id, lane: task.lane ?? '', claimedBy: task.claimed_by ?? '' },
  });
  card.append(
    el('header', { class: 'task-head' },
      el('div', { class: 'task-title' },
        el('h3', {}, task.name || task.element_id, el('span', { class: 'muted kind' }, ` ${task.kind}`)),
        el('p', { class: 'muted task-where' }, describe(task)),
        el('p', { class: 'task-request' }, el('a', { href: `/runs/${task.run_id}` }, `run ${task.run_id.slice(0, 8)}`), ` ${task.request}`)),
      el('div', { class: 'task-actions' },
        claimBox(task),
        el('button', { type: 'button', class: 'task-open', onclick: () => openTask(card, task) }, 'Open'))),
    el('div', { class: 'task-body', hidden: true }),
  );
  return card;
}

/** Show `tasks` in order, keeping the cards already shown (and what is typed in them). */
function render(tasks) {
  const shown = new Map([ ...list.querySelectorAll('article.task') ].map((c) => [ c.dataset.taskId, c ]));
  const cards = tasks.map((task) => {
    let card = shown.get(task.task_id);
    if (!card) return taskCard(task);
    shown.delete(task.task_id);
    if (card.dataset.claimedBy !== (task.claimed_by ?? '')) {
      card.dataset.claimedBy = task.claimed_by ?? '';
      card.querySelector('.claim').replaceWith(claimBox(task));
    }
    return card;
  });
  for (const gone of shown.values()) {
    if (gone.dataset.done !== 'true') gone.remove();
  }
  // move only what is out of place (moving a card would take the focus out of its form)
  let before = list.firstElementChild;
  for (const card of cards) {
    if (card === before) before = before.nextElementSibling;
    else list.insertBefore(card, before);
  }
  showEmpty();
  document.body.dataset.tasksShown = String(list.querySelectorAll('article.task').length);
  document.body.dataset.tasksUpdates = String(Number(document.body.dataset.tasksUpdates ?? 0) + 1);
}

function showEmpty() {
  empty.hidden = list.querySelector('article.task') !== null;
}

// ---- pages and live updates -----------------------------------------------------------------

/** Pages 1..`pages` read afresh with GET (cursor by cursor): their tasks and the next cursor. */
async function readPages(pages) {
  let tasks = [];
  let cursor = null;
  for (let n = 0; n < pages; n += 1) {
    const response = await request(`/api/tasks?${query(cursor ? { cursor } : {})}`);
    if (!response.ok) throw new Error(describeDetail(response.data, `HTTP ${response.status}`));
    tasks = tasks.concat(response.data);
    cursor = response.headers.get('X-Next-Cursor');
    if (!cursor) break;
  }
  return { tasks, cursor };
}

function showMore(cursor) {
  state.cursor = cursor;
  more.hidden = !cursor;
  document.body.dataset.tasksMore = cursor ? 'true' : 'false';
}

async function update(firstPage) {
  const generation = state.generation;
  try {
    let tasks = firstPage;
    let cursor = null;
    if (state.pages > 1 || firstPage === null || firstPage.length >= limit) {
      ({ tasks, cursor } = await readPages(state.pages)); // the stream does not say if more follow
    }
    if (generation !== state.generation) return;
    render(tasks);
    showMore(cursor);
    setStatus(statusEl, '');
  } catch (err) {
    setStatus(statusEl, `Could not read the tasks: ${err.message}`, 'error');
  }
}

function refreshNow() {
  return update(null);
}

more.addEventListener('click', async () => {
  if (!state.cursor) return;
  more.disabled = true;
  const generation = state.generation;
  const response = await request(`/api/tasks?${query({ cursor: state.cursor })}`);
  more.disabled = false;
  if (generation !== state.generation) return;
  if (!response.ok) {
    setStatus(statusEl, `Could not read more: ${describeDetail(response.data, `HTTP ${response.status}`)}`, 'error');
    return;
  }
  state.pages += 1;
  const shown = [ ...list.querySelectorAll('article.task') ].filter((c) => c.dataset.done !== 'true').map((c) => c.dataset.taskId);
  const known = new Set(shown);
  list.append(...response.data.filter((t) => !known.has(t.task_id)).map(taskCard));
  showEmpty();
  document.body.dataset.tasksShown = String(list.querySelectorAll('article.task').length);
  showMore(response.headers.get('X-Next-Cursor'));
});

function listen() {
  if (state.source) state.source.close();
  const generation = state.generation;
  const source = new EventSource(`/api/tasks/stream?${query()}`);
  state.source = source;
  source.addEventListener('tasks', (event) => {
    if (generation !== state.generation) return;
    update(JSON.parse(event.data));
  });
  source.onopen = () => {
    live.textContent = 'live';
    live.classList.add('on');
    document.body.dataset.stream = 'open';
  };
  source.onerror = () => {
    live.textContent = 'reconnecting…';
    live.classList.remove('on');
    document.body.dataset.stream = 'reconnecting';
    if (source.readyState === EventSource.CLOSED && state.source === source) {
      // refused (e.g. signed out): ask the session, then try again
      request('/api/session').then((r) => {
        if (r.status === 401) location.assign(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
        else setTimeout(() => { if (state.source === source) listen(); }, 2000);
      });
    }
  };
}

async function fillDiagrams() {
  const response = await request('/api/diagrams');
  if (!response.ok || !Array.isArray(response.data)) return;
  document.getElementById('diagram-ids').replaceChildren(
    ...response.data.map((d) => el('option', { value: d.id })),
  );
}

keepInAddress();
listen();
fillDiagrams();
document.body.dataset.ready = 'true';
