// The run page's "Learned decisions" (templates/pages/run.html, #learned): every choice a
// learned policy made in this run — the pattern (decide.pattern, from the run's decisions),
// the model group of a step (route) and the action after a failure (failure) — with why
// (the rule), whether it explored, the preference, each arm's estimates and the pinned DMN
// table when one decided. Re-read whenever run.js refreshes the page (its body data marks).
import './learned.css';
import { el, getJSON } from './dom.js';

const root = document.getElementById('run');
const table = document.getElementById('learned');

/** One row per decision, oldest first: decide.pattern's and the policy journal's. */
function decisionsOf(run) {
  const pattern = (run.decisions ?? [])
    .filter((d) => d.operator === 'decide.pattern')
    .map((d) => ({
      key: `pattern-${d.task_id}`,
      element_id: d.element_id,
      policy: 'pattern',
      choice: d.choice,
      explored: String(d.evidence?.rule ?? '').startsWith('exploring'),
      evidence: d.evidence ?? {},
      at: d.at,
      arms: patternArms(d.evidence?.candidates),
    }));
  const learned = (run.learned ?? []).map((d) => ({
    key: `learned-${d.id}`,
    element_id: d.element_id,
    policy: d.policy,
    choice: d.choice,
    explored: d.explored,
    evidence: d.evidence ?? {},
    at: d.created_at,
    success: d.success,
    arms: d.evidence?.estimates ?? null,
  }));
  return [...pattern, ...learned].sort((a, b) => String(a.at).localeCompare(String(b.at)));
}

/** decide.pattern's samples as the estimates the other policies write. */
function patternArms(samples) {
  if (!samples || typeof samples !== 'object') return null;
  return Object.fromEntries(Object.entries(samples).map(([name, s]) => [name, {
    successes: s.successes, failures: s.failures, success_mean: s.mean, success_sampled: s.sampled,
  }]));
}

const number = (v, digits) => (v === null || v === undefined || Number.isNaN(Number(v)) ? '–' : Number(v).toFixed(digits));

function estimatesTable(arms, choice) {
  if (!arms || !Object.keys(arms).length) return el('span', { class: 'muted' }, 'no estimates (a rule decided)');
  const head = ['', 'tries', 'success mean', 'sampled', 'mean ms', 'tokens', 'utility'];
  return el('table', { class: 'grid compact estimates' },
    el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))),
    el('tbody', {}, Object.entries(arms).map(([name, a]) => {
      const tried = Number(a.successes ?? 0) + Number(a.failures ?? 0);
      return el('tr', { class: name === choice ? 'chosen' : null, dataset: { arm: name } },
        el('td', {}, name),
        el('td', {}, `${number(a.successes, 0)} of ${number(tried, 0)}`,
          Number(a.prior) > 0 ? el('span', { class: 'muted' }, ` +${a.prior} prior`) : null),
        el('td', {}, number(a.success_mean, 3)),
        el('td', {}, number(a.success_sampled, 3)),
        el('td', {}, number(a.mean_ms, 0)),
        el('td', {}, number(a.mean_tokens, 0)),
        el('td', {}, number(a.utility, 3)));
    })));
}

function pinnedText(pinned) {
  if (!pinned) return el('span', { class: 'muted' }, '–');
  const rule = pinned.rule ? `, rule ${pinned.rule}` : ', no rule matched';
  return el('span', {},
    el('a', { href: `/decisions/${encodeURIComponent(pinned.table)}` }, `${pinned.table} v${pinned.version}`), rule,
    pinned.fell_back ? el('div', { class: 'muted' }, `fell back to learning: ${pinned.fell_back}`) : null);
}

function outcome(d) {
  if (d.policy !== 'failure') return null;
  if (d.success === null || d.success === undefined) return el('div', { class: 'muted' }, 'the step has not ended');
  return el('div', { class: 'muted' }, d.success ? 'the step then completed' : 'the step still failed');
}

function render(run) {
  const names = new Map((run.steps ?? []).map((s) => [s.element_id, s.name || s.element_id]));
  const rows = decisionsOf(run);
  const body = table.querySelector('tbody');
  if (!rows.length) {
    body.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: 8, class: 'muted' }, 'No learned decisions yet.')));
  } else {
    body.replaceChildren(...rows.map((d) => el('tr', { class: 'learned', dataset: { policy: d.policy, key: d.key } },
      el('td', {}, names.get(d.element_id) ?? d.element_id),
      el('td', {}, d.policy),
      el('td', {}, el('strong', {}, d.choice), outcome(d)),
      el('td', { class: 'rule' }, d.evidence.rule ?? ''),
      el('td', {}, d.explored ? 'yes' : 'no'),
      el('td', {}, d.evidence.prefer ?? (d.policy === 'failure' ? 'speed' : '–')),
      el('td', {}, estimatesTable(d.arms, d.choice)),
      el('td', {}, pinnedText(d.evidence.pinned)))));
  }
  document.body.dataset.learned = String(rows.length);
}

let timer = null;
async function refresh() {
  try {
    render(await getJSON(`/api/runs/${root.dataset.runId}`));
  } catch (err) {
    console.warn('learned decisions:', err.message);
  }
}

function scheduleRefresh() {
  if (timer) return;
  timer = setTimeout(() => {
    timer = null;
    refresh();
  }, 250);
}

if (root && table) {
  new MutationObserver(scheduleRefresh).observe(document.body, {
    attributes: true,
    attributeFilter: ['data-marker-updates', 'data-run-status', 'data-stream'],
  });
  refresh();
}
