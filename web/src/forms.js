// People's forms, shared by the run page, the task inbox (/tasks) and the start page: a task's
// or start event's JSON Schema form rendered by json-editor, WeaverGen's own approvals as
// Approve / Reject with a comment, a plain "Done" for tasks without a form, the answer's
// field errors (422 from the server, which validates every answer) next to their fields, and
// what an approval is about (the plan, the scripts, the validation report).
//
// json-editor (@json-editor/json-editor, bundled from its ES module sources) builds plain DOM
// and validates by walking the schema: no eval, nothing fetched. Its own validation messages
// are off: the server's answer is the one shown. Its theme rules would go into a <style>
// element the Content-Security-Policy blocks, so they are off too and forms.css styles the
// form; the theme below hides labels with a class instead of an inline style attribute.
import { JSONEditor } from '@json-editor/json-editor/src/core.js';
import './forms.css';
import { el, getJSON } from './dom.js';
import { describeDetail, problemItem, sendJSON, setStatus } from './page_api.js';

const HIDDEN = 'je-visually-hidden';

class WeaverGenTheme extends JSONEditor.defaults.themes.html {
  getHiddenLabel(text) {
    return el('label', { class: HIDDEN }, text);
  }

  getHiddenText(text) {
    return el('span', { class: HIDDEN }, text);
  }

  visuallyHidden(element) {
    if (element) element.classList.add(HIDDEN);
  }

  // json-editor's own validation messages: not shown, the server's errors are (showErrors)
  getErrorMessage(text) {
    return el('p', { class: 'je-error', hidden: true }, text);
  }

  // as json-editor's, with a class where it sets an inline style (made for every optional field)
  getOptInCheckbox(formname) {
    const label = this.getHiddenLabel(`${formname} opt-in`);
    label.setAttribute('for', `${formname}-opt-in`);
    const checkbox = el('input', { type: 'checkbox', id: `${formname}-opt-in`, class: 'json-editor-opt-in' });
    return { label, checkbox, container: el('span', {}, checkbox, label) };
  }
}
JSONEditor.defaults.themes.weavergen = WeaverGenTheme;

const EDITOR_OPTIONS = {
  theme: 'weavergen',
  iconlib: null,
  disable_theme_rules: true,
  disable_collapse: true,
  disable_edit_json: true,
  disable_properties: true,
  disable_array_delete_all_rows: true,
  disable_array_delete_last_row: true,
  prompt_before_delete: false,
  show_errors: 'never', // the server's errors are shown instead (showErrors)
  use_default_values: false, // an empty field stays empty, not 0 or ""
  remove_empty_properties: true,
  ajax: false,
  form_name_root: 'root',
};

// ---- JSON Schema + UI schema (rjsf-style) -> json-editor's schema --------------------------

function rank(order, name, index) {
  const at = order.indexOf(name);
  if (at >= 0) return at + 1;
  const rest = order.indexOf('*');
  return (rest >= 0 ? rest + 1 : order.length + 1) * 1000 + index;
}

/** `schema` with the hints of `ui` ("ui:order", "ui:widget", ...) in json-editor's terms,
 * and the enums Camunda forms give as oneOf of consts as plain enums with titles. */
export function editorSchema(schema, ui = {}) {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const hints = ui && typeof ui === 'object' ? ui : {};
  const out = { ...schema };
  delete out.$schema;
  delete out.$id;
  const choices = out.oneOf || out.anyOf;
  if (Array.isArray(choices) && choices.length && choices.every((c) => c && typeof c === 'object' && 'const' in c)) {
    out.enum = choices.map((c) => c.const);
    out.options = { ...(out.options || {}), enum_titles: choices.map((c) => c.title ?? String(c.const)) };
    delete out.oneOf;
    delete out.anyOf;
  }
  if (out.type === 'boolean' && !out.format) out.format = 'checkbox';
  const widget = hints['ui:widget'];
  if (widget === 'textarea' || widget === 'password' || widget === 'radio') out.format = widget;
  if (hints['ui:title']) out.title = hints['ui:title'];
  if (hints['ui:description'] || hints['ui:help']) out.description = hints['ui:description'] || hints['ui:help'];
  if (hints['ui:placeholder']) {
    out.options = { ...(out.options || {}), inputAttributes: { placeholder: hints['ui:placeholder'] } };
  }
  if (hints['ui:readonly'] || hints['ui:disabled'] || out.readOnly) out.readonly = true;
  if (out.properties && typeof out.properties === 'object') {
    const order = Array.isArray(hints['ui:order']) ? hints['ui:order'] : [];
    const required = new Set(Array.isArray(out.required) ? out.required : []);
    out.properties = Object.fromEntries(Object.entries(out.properties).map(([name, child], index) => {
      const adapted = { ...editorSchema(child, hints[name]), propertyOrder: rank(order, name, index) };
      // json-editor starts a required number at 0: start it empty, for the person to fill in
      if (required.has(name) && [ 'integer', 'number' ].includes(adapted.type) && adapted.default === undefined) adapted.default = '';
      return [ name, adapted ];
    }));
  }
  if (out.items && typeof out.items === 'object' && !Array.isArray(out.items)) {
    out.items = editorSchema(out.items, hints.items);
  }
  return out;
}

/** json-editor in `holder` for `form` ({schema, ui}); resolves once it can give values. */
export async function schemaEditor(holder, form, startval) {
  const schema = editorSchema(form.schema, form.ui);
  if (!schema.title) schema.options = { ...(schema.options || {}), titleHidden: true }; // not "root"
  const editor = new JSONEditor(holder, {
    ...EDITOR_OPTIONS,
    schema,
    ...(startval === undefined ? {} : { startval }),
  });
  await editor.promise;
  holder.dataset.formReady = 'true';
  return editor;
}

/** A form for WeaverGen's approvals: { approved: boolean, comment?: string } and nothing else. */
export function isApproval(form) {
  const props = form && form.schema && form.schema.properties;
  if (!props || !props.approved || props.approved.type !== 'boolean') return false;
  return Object.keys(props).every((name) => name === 'approved' || (name === 'comment' && props.comment.type === 'string'));
}

// ---- errors next to their fields ------------------------------------------------------------

function holderOf(form, field) {
  if (!field || field === '/') return null;
  const parts = field.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const path = [ 'root', ...parts ].join('.');
  return form.querySelector(`[data-schemapath="${CSS.escape(path)}"]`) ||
    form.querySelector(`[data-field="${CSS.escape(field)}"]`);
}

export function clearErrors(form) {
  for (const node of form.querySelectorAll('.field-error')) node.remove();
  const list = form.querySelector('ul.problem-list');
  if (list) list.replaceChildren();
  delete form.dataset.errors;
}

/** Show an error answer: each of its `errors` ({field: "/amount", message}) next to its field
 * (in the list above the button when the field is not on the form), else its `detail`. */
export function showErrors(form, data, fallback) {
  clearErrors(form);
  const errors = Array.isArray(data && data.errors) ? data.errors : [];
  const list = form.querySelector('ul.problem-list');
  for (const error of errors) {
    const field = error.field || '/';
    const holder = holderOf(form, field);
    if (holder) {
      holder.append(el('p', { class: 'field-error', role: 'alert', dataset: { field } }, error.message));
    } else if (list) {
      list.append(problemItem({ message: field === '/' ? error.message : `${field}: ${error.message}`, element_id: error.element_id }));
    }
  }
  form.dataset.errors = String(errors.length);
  const status = form.querySelector('[role="status"]');
  const detail = describeDetail(data, fallback);
  setStatus(status, errors.length ? `${detail} (${errors.length} field error${errors.length === 1 ? '' : 's'})` : detail, 'error');
}

// ---- a person task's form -------------------------------------------------------------------

function statusLine() {
  return el('span', { class: 'form-status', role: 'status' });
}

function parseObject(text) {
  if (!text.trim()) return {};
  const value = JSON.parse(text);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('give a JSON object, e.g. {"key": "value"}');
  return value;
}

/**
 * The form completing `task` (an item of GET /api/tasks): json-editor for its schema,
 * Approve / Reject for WeaverGen's approvals, "Done" with a comment and optional values
 * when it has no form. `onDone(task)` runs once the server took the answer.
 */
export function taskForm(task, { onDone } = {}) {
  const approval = isApproval(task.form);
  const kind = approval ? 'approval' : task.form ? 'schema' : 'plain';
  const form = el('form', {
    class: `task-form user-task form-${kind}`,
    novalidate: true,
    dataset: { elementId: task.element_id, taskId: task.task_id, runId: task.run_id, kind },
  });
  const status = statusLine();
  const problems = el('ul', { class: 'problem-list' });
  let values = () => ({});
  let buttons;

  if (approval) {
    const comment = task.form.schema.properties.comment;
    const text = comment ? el('textarea', { name: 'comment', rows: 3, maxlength: comment.maxLength ?? 5000 }) : null;
    if (text) form.append(el('label', { dataset: { field: '/comment' } }, comment.title || 'Comment', text));
    buttons = el('div', { class: 'row', dataset: { field: '/approved' } },
      el('button', { type: 'submit', name: 'verdict', value: 'approve', class: 'primary' }, 'Approve'),
      el('button', { type: 'submit', name: 'verdict', value: 'reject', class: 'danger' }, 'Reject'));
    values = (submitter) => ({
      approved: submitter?.value === 'approve',
      ...(text ? { comment: text.value.trim() } : {}),
    });
  } else if (task.form) {
    const holder = el('div', { class: 'schema-form' });
    form.append(holder);
    const ready = schemaEditor(holder, task.form);
    ready.catch((err) => setStatus(status, `The form could not be shown: ${err.message}`, 'error'));
    values = () => {
      throw new Error('the form is still loading');
    };
    ready.then((editor) => {
      values = () => editor.getValue() ?? {};
    }, () => {});
    buttons = el('div', { class: 'row' }, el('button', { type: 'submit', class: 'primary', value: 'complete' }, 'Complete'));
  } else {
    const text = el('textarea', { name: 'comment', rows: 2, maxlength: 5000 });
    const extra = el('textarea', { name: 'data', rows: 3, placeholder: '{"key": "value"}', class: 'mono' });
    form.append(
      el('p', { class: 'muted' }, 'This step has no form: mark it done, with a comment or values if it needs them.'),
      el('label', { dataset: { field: '/comment' } }, 'Comment (optional)', text),
      el('details', { class: 'values' }, el('summary', {}, 'Values (JSON object)'), el('label', { dataset: { field: '/' } }, extra)),
    );
    buttons = el('div', { class: 'row' }, el('button', { type: 'submit', class: 'primary', value: 'done' }, 'Done'));
    values = () => {
      let data;
      try {
        data = parseObject(extra.value);
      } catch (err) {
        throw new Error(`Values: ${err.message}`);
      }
      return text.value.trim() ? { ...data, comment: text.value.trim() } : data;
    };
  }
  buttons.append(status);
  form.append(problems, buttons);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (form.dataset.busy === 'true' || form.dataset.done === 'true') return;
    let data;
    try {
      data = values(event.submitter);
    } catch (err) {
      showErrors(form, { detail: err.message });
      return;
    }
    form.dataset.busy = 'true';
    for (const b of form.querySelectorAll('button')) b.disabled = true;
    setStatus(status, 'Sending…');
    const url = `/api/runs/${encodeURIComponent(task.run_id)}/tasks/${encodeURIComponent(task.task_id)}/complete`;
    const response = await sendJSON(url, { data });
    delete form.dataset.busy;
    if (response.ok) {
      clearErrors(form);
      form.dataset.done = 'true';
      setStatus(status, 'Done: the run goes on.', 'ok');
      if (onDone) onDone(task, data);
      return;
    }
    for (const b of form.querySelectorAll('button')) b.disabled = false;
    showErrors(form, response.data, `Not sent: HTTP ${response.status}`);
  });
  return form;
}

// ---- claims ---------------------------------------------------------------------------------

/** "Claimed by …" and a Claim or Release button for `task` (operators only get buttons). */
export function claimControls(task, { me, canOperate, isAdmin, onChange }) {
  const box = el('span', { class: 'claim', dataset: { claimedBy: task.claimed_by ?? '' } });
  box.append(el('span', { class: task.claimed_by ? 'claimed' : 'muted' },
    task.claimed_by ? `claimed by ${task.claimed_by === me ? 'you' : task.claimed_by}` : 'nobody claimed it'));
  if (!canOperate) return box;
  const mine = task.claimed_by === me;
  let action = null;
  if (!task.claimed_by) action = 'claim';
  else if (mine || isAdmin) action = 'unclaim';
  if (!action) return box;
  const status = el('span', { class: 'form-status', role: 'status' });
  const button = el('button', {
    type: 'button',
    class: `claim-${action}`,
    onclick: async () => {
      button.disabled = true;
      const response = await sendJSON(`/api/tasks/${encodeURIComponent(task.task_id)}/${action}`);
      button.disabled = false;
      if (!response.ok) {
        setStatus(status, describeDetail(response.data, `HTTP ${response.status}`), 'error');
        return;
      }
      if (onChange) onChange(response.data);
    },
  }, action === 'claim' ? 'Claim' : 'Release');
  box.append(' ', button, status);
  return box;
}

// ---- what an approval is about --------------------------------------------------------------

function plainCode(text) {
  return el('pre', { class: 'code' }, el('code', {}, text));
}

/** A validation report (JSON text) as a table of its stages and findings. */
export function reportView(text, code = plainCode) {
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

const PLAN = /plan/;

/**
 * What a person approves at an approval step of run `runId` (GET /api/runs/{id} as `run`):
 * the newest plan the run made (a step whose id names a plan: the migration plan), the newest
 * version of every file its steps wrote (the backup and migration scripts, the code under
 * review) and the newest validation report. `code(text, language)` renders a file.
 */
export async function reviewContext(run, { code = plainCode, languageOf = () => 'plaintext' } = {}) {
  const latest = new Map(); // element id -> its newest completed step
  for (const s of run.steps) if (s.state === 'completed') latest.set(s.element_id, s);
  const wanted = [ ...latest.values() ].filter((s) =>
    PLAN.test(s.element_id) || s.operator === 'validate.code' || (s.result && s.result.files && Object.keys(s.result.files).length));
  const details = await Promise.all(wanted.map((s) => getJSON(`/api/runs/${run.id}/steps/${s.task_id}`)));
  const parts = [];
  for (const step of details.filter((d) => PLAN.test(d.element_id) && d.answer)) {
    parts.push(el('section', { class: 'review-plan', dataset: { elementId: step.element_id } },
      el('h4', {}, step.name || step.element_id), el('pre', { class: 'text' }, step.answer)));
  }
  const files = new Map(); // path -> {file, step}: the newest version of each file
  for (const step of details.sort((a, b) => String(a.started_at).localeCompare(String(b.started_at)))) {
    for (const f of step.files || []) if (f.kind !== 'report') files.set(f.path, { file: f, step }); // reports: below
  }
  for (const { file, step } of files.values()) {
    parts.push(el('section', { class: 'review-file', dataset: { path: file.path, elementId: step.element_id } },
      el('h4', {}, file.path, el('span', { class: 'muted' }, ` · ${step.name || step.element_id}`)),
      code(file.content, languageOf(file.path))));
  }
  const reports = details.filter((d) => d.report).sort((a, b) => String(a.started_at).localeCompare(String(b.started_at)));
  if (reports.length) {
    const last = reports[reports.length - 1];
    parts.push(el('section', { class: 'review-report', dataset: { elementId: last.element_id } },
      el('h4', {}, `Validation report · ${last.name || last.element_id}`), reportView(last.report, code)));
  }
  if (!parts.length) return null;
  return el('details', { class: 'review', open: true }, el('summary', {}, 'What you are approving'), ...parts);
}
