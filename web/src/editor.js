// The diagram editor page (/diagrams/{id}, /diagrams/new): a bpmn-js Modeler with the
// properties panel and WeaverGen's own group, version history, file upload, server
// validation, save and download. DOM ids and the HTTP API: see the page template.

import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import '@bpmn-io/properties-panel/dist/assets/properties-panel.css';
import './editor/editor.css';

import Modeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';

import spiffworkflowDescriptor from './editor/moddle.json';
import WeaverGenPropertiesModule from './editor/provider.js';
import { createProblemView } from './editor/markers.js';
import { createHeatmap } from './editor/heatmap.js';
import {
  busy, describeDetail, fillVersionSelect, formatDate, postFile, request, setStatus as showStatus,
} from './page_api.js';
import { isKeptRefWarning, readLoopRefs, restoreLoopRefs } from './editor/loopRefs.js';

const body = document.body;
const editor = document.getElementById('editor');

if (editor) {
  start(editor);
}

function start(root) {
  const $ = (id) => document.getElementById(id);
  const versionSelect = $('version-select');
  const uploadInput = $('upload-input');
  const validateBtn = $('validate-btn');
  const saveBtn = $('save-btn');
  const downloadLink = $('download-link');
  const statusEl = $('editor-status');
  const problemsEl = $('problems');
  const canSave = root.dataset.canSave === 'true';

  const modeler = new Modeler({
    container: $('canvas'),
    propertiesPanel: {
      parent: $('properties'),
      layout: { groups: { general: { open: true }, weavergen: { open: true } } },
    },
    additionalModules: [
      BpmnPropertiesPanelModule,
      BpmnPropertiesProviderModule,
      WeaverGenPropertiesModule,
    ],
    moddleExtensions: { spiffworkflow: spiffworkflowDescriptor },
  });
  const problems = createProblemView(modeler, problemsEl);

  let resolveReady;
  const ready = new Promise((resolve) => {
    resolveReady = resolve;
  });
  window.weavergenEditor = { modeler, ready, exportXml };

  // ---- small helpers -------------------------------------------------------------------

  const setStatus = (text, kind) => showStatus(statusEl, text, kind);

  function diagramId() {
    return root.dataset.diagramId || '';
  }

  // version id -> version number of the stored versions listed (an opened file has none)
  const versionNumbers = new Map();

  function shownVersion() {
    const number = versionSelect ? versionNumbers.get(versionSelect.value) : undefined;
    return number === undefined ? null : number;
  }

  createHeatmap(modeler, { diagramId, version: shownVersion, setStatus });

  /** The id of the executable process on the canvas (or the first process), or ''. */
  function processId() {
    try {
      const rootElement = modeler.get('canvas').getRootElement();
      const bo = rootElement && rootElement.businessObject;
      if (!bo) {
        return '';
      }
      if (bo.$instanceOf('bpmn:Process')) {
        return bo.id || '';
      }
      const participants = (bo.get && bo.get('participants')) || [];
      const withProcess = participants.find((p) => p.processRef);
      return (withProcess && withProcess.processRef.id) || '';
    } catch (err) {
      return '';
    }
  }

  function safeName(name) {
    return (name || '').replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[._]+/, '');
  }

  function bpmnFilename() {
    return `${safeName(processId()) || safeName(diagramId()) || 'diagram'}.bpmn`;
  }

  /** The diagram as BPMN XML, or null when nothing can be exported. */
  async function exportXml() {
    try {
      const { xml } = await modeler.saveXML({ format: true });
      // moddle writes ' in attributes as &#39;; attributes are always "…"-quoted, so the
      // plain apostrophe is equivalent and keeps Python expressions readable.
      return restoreLoopRefs(xml, keptLoopRefs).replace(/&#39;/g, '\'');
    } catch (err) {
      return null;
    }
  }

  // ---- download link ---------------------------------------------------------------------

  let downloadUrl = null;
  let downloadTimer = null;

  async function updateDownload() {
    if (!downloadLink) {
      return;
    }
    const xml = await exportXml();
    if (xml === null) {
      return;
    }
    const url = URL.createObjectURL(new Blob([ xml ], { type: 'application/xml' }));
    if (downloadUrl) {
      URL.revokeObjectURL(downloadUrl);
    }
    downloadUrl = url;
    downloadLink.href = url;
    downloadLink.download = bpmnFilename();
  }

  function scheduleDownloadUpdate() {
    clearTimeout(downloadTimer);
    downloadTimer = setTimeout(updateDownload, 300);
  }

  modeler.on('commandStack.changed', scheduleDownloadUpdate);

  // ---- import ----------------------------------------------------------------------------

  /** Fit the whole diagram in view, clear of the palette on the left. */
  function fitViewport() {
    const canvas = modeler.get('canvas');
    const container = canvas.getContainer();
    if (container.clientWidth === 0 || container.clientHeight === 0) {
      return;
    }
    canvas.zoom('fit-viewport', 'auto');
    const { inner, scale } = canvas.viewbox();
    if (!inner || inner.width === 0 || !scale) {
      return;
    }
    const palette = container.querySelector('.djs-palette');
    const left = ((palette ? palette.offsetWidth : 0) + 24) / scale;
    const margin = 24 / scale;
    canvas.viewbox({
      x: inner.x - left,
      y: inner.y - margin,
      width: inner.width + left + margin,
      height: inner.height + 2 * margin,
    });
  }

  // multi-instance loop references to task-data variables, kept across import and export
  let keptLoopRefs = new Map();

  /** Import XML; returns { ok, warnings } or { ok: false, error }. */
  async function importXml(xml) {
    delete body.dataset.editorReady;
    problems.clear();
    try {
      keptLoopRefs = readLoopRefs(xml);
      const imported = await modeler.importXML(xml);
      const warnings = (imported.warnings || []).filter((w) => !isKeptRefWarning(w, keptLoopRefs));
      fitViewport();
      body.dataset.editorReady = 'true';
      updateDownload();
      return { ok: true, warnings: warnings || [] };
    } catch (err) {
      return { ok: false, error: err };
    }
  }

  function warningProblems(warnings) {
    return warnings.map((w) => ({
      message: `Import warning: ${(w && w.message) || String(w)}`,
      element_id: (w && w.element && w.element.id) || null,
      line: null,
    }));
  }

  async function createNew() {
    try {
      await modeler.createDiagram();
      // the server runs only executable processes
      const bo = modeler.get('canvas').getRootElement().businessObject;
      if (bo && bo.$instanceOf('bpmn:Process')) {
        bo.isExecutable = true;
      }
      fitViewport();
      body.dataset.editorReady = 'true';
      updateDownload();
      setStatus('New empty diagram: open a .bpmn file, or draw one and save it.');
      return true;
    } catch (err) {
      setStatus(`Could not create a diagram: ${err.message}`, 'error');
      return false;
    }
  }

  // ---- versions --------------------------------------------------------------------------

  function versionLabel(v) {
    return [ `v${v.version}`, v.source, v.created_by, formatDate(v.created_at) ]
      .filter((part) => part !== undefined && part !== null && part !== '')
      .join(' · ');
  }

  function fillVersions(versions, selectedId) {
    versionNumbers.clear();
    for (const v of versions) {
      versionNumbers.set(String(v.version_id), v.version);
    }
    fillVersionSelect(versionSelect, versions, selectedId, versionLabel);
  }

  /** Mark the version list as not matching the canvas (a file was opened). */
  function showOpenedFile(name) {
    if (!versionSelect) {
      return;
    }
    const old = versionSelect.querySelector('option[data-opened-file]');
    if (old) {
      old.remove();
    }
    const option = document.createElement('option');
    option.value = '';
    option.dataset.openedFile = 'true';
    option.textContent = `Opened file: ${name}`;
    versionSelect.prepend(option);
    versionSelect.value = '';
    versionSelect.disabled = false;
  }

  async function loadDiagram(id) {
    const response = await request(`/api/diagrams/${encodeURIComponent(id)}`);
    if (!response.ok || !response.data) {
      setStatus(`Could not load diagram ${id}: ${describeDetail(response.data, `HTTP ${response.status}`)}`, 'error');
      return false;
    }
    const data = response.data;
    const versions = data.versions || [];
    const newest = [ ...versions ].sort((a, b) => b.version - a.version)[0];
    fillVersions(versions, newest ? newest.version_id : undefined);
    if (typeof data.xml !== 'string') {
      setStatus(`Diagram ${id} has no stored XML.`, 'error');
      return false;
    }
    const result = await importXml(data.xml);
    if (!result.ok) {
      setStatus('The stored diagram could not be shown.', 'error');
      problems.show([ { message: `Import failed: ${result.error.message}`, element_id: null, line: null } ]);
      return false;
    }
    const label = newest ? `v${newest.version}` : '';
    if (result.warnings.length) {
      problems.show(warningProblems(result.warnings));
      setStatus(`Loaded ${id} ${label} with ${result.warnings.length} import warning(s)`.trim(), 'warning');
    } else {
      setStatus(`Loaded ${id} ${label}`.trim());
    }
    return true;
  }

  async function refreshVersions(id, selectedId) {
    const response = await request(`/api/diagrams/${encodeURIComponent(id)}`);
    if (response.ok && response.data) {
      fillVersions(response.data.versions || [], selectedId);
    }
  }

  if (versionSelect) {
    versionSelect.addEventListener('change', async () => {
      const versionId = versionSelect.value;
      if (!versionId) {
        return;
      }
      setStatus('Loading version…');
      const response = await request(`/api/diagram-versions/${encodeURIComponent(versionId)}`);
      if (!response.ok || !response.data || typeof response.data.xml !== 'string') {
        setStatus(`Could not load that version: ${describeDetail(response.data, `HTTP ${response.status}`)}`, 'error');
        return;
      }
      const opened = versionSelect.querySelector('option[data-opened-file]');
      if (opened) {
        opened.remove();
      }
      const result = await importXml(response.data.xml);
      if (!result.ok) {
        setStatus('That version could not be shown.', 'error');
        problems.show([ { message: `Import failed: ${result.error.message}`, element_id: null, line: null } ]);
        return;
      }
      if (result.warnings.length) {
        problems.show(warningProblems(result.warnings));
      }
      setStatus(`Loaded v${response.data.version}`);
    });
  }

  // ---- validation and save ---------------------------------------------------------------

  function showErrors(errors, extra = []) {
    const all = [ ...extra, ...(errors || []) ];
    problems.show(all);
    setStatus(`${all.length} problem${all.length === 1 ? '' : 's'}`, 'error');
  }

  async function validate(xml, filename, extra = []) {
    delete body.dataset.validated;
    setStatus('Validating…');
    const response = await postFile('/api/diagrams/check', xml, filename);
    if (response.ok) {
      if (extra.length) {
        problems.show(extra);
        setStatus(`${extra.length} problem${extra.length === 1 ? '' : 's'}`, 'error');
        body.dataset.validated = 'errors';
      } else {
        problems.clear();
        setStatus('No problems', 'ok');
        body.dataset.validated = 'ok';
      }
      return;
    }
    if (response.status === 422 && response.data && Array.isArray(response.data.errors)) {
      showErrors(response.data.errors, extra);
    } else {
      problems.show(extra);
      setStatus(`Validation failed: ${describeDetail(response.data, `HTTP ${response.status}`)}`, 'error');
    }
    body.dataset.validated = 'errors';
  }

  if (validateBtn) {
    validateBtn.addEventListener('click', () => busy(validateBtn, async () => {
      const xml = await exportXml();
      if (xml === null) {
        setStatus('Nothing to validate: no diagram is loaded.', 'error');
        return;
      }
      await validate(xml, bpmnFilename());
    }));
  }

  async function save() {
    const xml = await exportXml();
    if (xml === null) {
      setStatus('Nothing to save: no diagram is loaded.', 'error');
      return;
    }
    delete body.dataset.validated;
    setStatus('Saving…');
    // saving the diagram this page shows is a new version of it; any other process id must
    // be free (the server answers 409 naming the diagram that has it)
    const own = diagramId() !== '' && processId() === diagramId();
    const response = await postFile(own ? '/api/diagrams?new_version=true' : '/api/diagrams', xml, bpmnFilename());
    const data = response.data || {};
    if (response.ok) {
      problems.clear();
      body.dataset.validated = 'ok';
      const newId = data.diagram_id || diagramId();
      setStatus(data.created === false ?
        `No changes: still v${data.version}` : `Saved as ${newId} v${data.version}`, 'ok');
      if (newId && newId !== diagramId()) {
        root.dataset.diagramId = newId;
        history.replaceState(history.state, '', `/diagrams/${encodeURIComponent(newId)}`);
      }
      if (newId) {
        await refreshVersions(newId, data.version_id);
      }
      await updateDownload();
      return;
    }
    body.dataset.validated = 'errors';
    if (response.status === 422 && Array.isArray(data.errors)) {
      showErrors(data.errors);
      return;
    }
    setStatus(`Save failed: ${describeDetail(data, `HTTP ${response.status}`)}`, 'error');
  }

  if (saveBtn) {
    if (canSave) {
      saveBtn.addEventListener('click', () => busy(saveBtn, save));
    } else {
      saveBtn.hidden = true;
      saveBtn.disabled = true;
    }
  }

  // ---- open a file -----------------------------------------------------------------------

  if (uploadInput) {
    uploadInput.addEventListener('change', async () => {
      const file = uploadInput.files && uploadInput.files[0];
      if (!file) {
        return;
      }
      uploadInput.value = '';
      let text;
      try {
        text = await file.text();
      } catch (err) {
        setStatus(`Could not read ${file.name}: ${err.message}`, 'error');
        return;
      }
      const result = await importXml(text);
      const extra = [];
      if (result.ok) {
        showOpenedFile(file.name);
        extra.push(...warningProblems(result.warnings));
      } else {
        extra.push({ message: `Import failed: ${result.error.message}`, element_id: null, line: null });
      }
      problems.show(extra);
      const filename = /\.bpmn$/i.test(file.name) ? file.name : bpmnFilename();
      await validate(text, filename, extra);
    });
  }

  // ---- start -----------------------------------------------------------------------------

  async function loadOperators() {
    const response = await request('/api/operators');
    const provider = modeler.get('weavergenProperties');
    if (response.ok && Array.isArray(response.data)) {
      provider.setOperators(response.data);
      return true;
    }
    provider.setOperators([]);
    return false;
  }

  (async () => {
    const id = diagramId();
    const [ operatorsLoaded, imported ] = await Promise.all([
      loadOperators(),
      id ? loadDiagram(id) : createNew(),
    ]);
    if (!operatorsLoaded && imported) {
      setStatus(`${statusEl ? statusEl.textContent : ''} (operator list unavailable)`.trim(), 'warning');
    }
    resolveReady({ ok: imported });
  })();
}
