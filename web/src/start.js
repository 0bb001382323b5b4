// The start page of a diagram (/diagrams/{id}/start): the request text and, when the diagram's
// start event has a form, that form (json-editor, forms.js); starts the run with POST /api/runs
// and goes to its page. The server checks the values against the form: its field errors show
// next to the fields. DOM ids: start.html.
import { el } from './dom.js';
import { clearErrors, schemaEditor, showErrors } from './forms.js';
import { describeDetail, request, sendJSON, setStatus } from './page_api.js';

const root = document.getElementById('start');
const diagramId = root.dataset.diagramId;
const form = document.getElementById('start-form');
const fields = document.getElementById('start-fields');
const button = document.getElementById('start-btn');
const statusEl = document.getElementById('start-status');
const text = document.getElementById('start-text');

let values = () => ({});

async function load() {
  const response = await request(`/api/diagrams/${encodeURIComponent(diagramId)}`);
  if (!response.ok) {
    fields.replaceChildren();
    setStatus(statusEl, `Could not read the diagram: ${describeDetail(response.data, `HTTP ${response.status}`)}`, 'error');
    return;
  }
  const start = response.data.start_form;
  if (!start) {
    fields.replaceChildren(el('p', { class: 'muted' }, 'This diagram\'s start event has no form: the run starts with the request text only.'));
    document.body.dataset.startForm = 'none';
  } else {
    const holder = el('div', { class: 'schema-form' });
    fields.replaceChildren(el('h2', {}, 'Start form'), holder);
    const editor = await schemaEditor(holder, start);
    values = () => editor.getValue() ?? {};
    document.body.dataset.startForm = start.element_id;
  }
  button.disabled = false;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearErrors(form);
  const body = { text: text.value.replace(/\r\n/g, '\n').trim(), diagram: diagramId, data: values() };
  if (!body.text) {
    showErrors(form, { detail: 'Not started', errors: [ { field: '/text', message: 'write what this run is for (1 to 20000 characters)' } ] });
    return;
  }
  button.disabled = true;
  setStatus(statusEl, 'Starting…');
  const response = await sendJSON('/api/runs', body);
  if (response.ok && response.data && response.data.id) {
    setStatus(statusEl, 'Started: opening the run…', 'ok');
    location.assign(`/runs/${response.data.id}`);
    return;
  }
  button.disabled = false;
  const data = response.data || {};
  // pydantic's own errors (the request text, the body's shape) name a location, not a field
  if (!Array.isArray(data.errors) && Array.isArray(data.detail)) {
    data.errors = data.detail.map((d) => {
      const loc = (d.loc || []).filter((p) => p !== 'body');
      return { field: loc[0] === 'data' ? `/${loc.slice(1).join('/')}` : `/${loc.join('/')}`, message: d.msg };
    });
    data.detail = 'The run was not started';
  }
  showErrors(form, data, `Not started: HTTP ${response.status}`);
});

load().catch((err) => setStatus(statusEl, `The start form could not be shown: ${err.message}`, 'error'))
  .finally(() => { document.body.dataset.ready = 'true'; });
