// The decision page (/decisions/{id}): a DMN decision table in dmn-js, an editor for admins
// (dmn-js Modeler) and a read-only table for everyone else (dmn-js Viewer), with version
// history and, for admins, save as a new version. DOM ids and the HTTP API: see the page
// template (templates/pages/decision.html).

import './decision.css';

import DmnModeler from 'dmn-js/lib/Modeler';
import DmnViewer from 'dmn-js/lib/Viewer';

import {
  busy, describeDetail, fillVersionSelect, formatDate, postFile, problemItem, request,
  setStatus as showStatus,
} from './page_api.js';

const body = document.body;
const page = document.getElementById('decision');

if (page) {
  start(page);
}

function start(root) {
  const $ = (id) => document.getElementById(id);
  const nameEl = root.querySelector('.decision-name');
  const versionSelect = $('decision-version-select');
  const saveBtn = $('decision-save-btn');
  const statusEl = $('decision-status');
  const problemsEl = $('decision-problems');
  const canSave = root.dataset.canSave === 'true';

  const Dmn = canSave ? DmnModeler : DmnViewer;
  const modeler = new Dmn({ container: $('decision-canvas') });

  let resolveReady;
  const ready = new Promise((resolve) => {
    resolveReady = resolve;
  });
  window.weavergenDecision = { modeler, ready, exportXml };

  // ---- small helpers -------------------------------------------------------------------

  const setStatus = (text, kind) => showStatus(statusEl, text, kind);

  function decisionId() {
    return root.dataset.decisionId || '';
  }

  function safeName(name) {
    return (name || '').replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[._]+/, '');
  }

  /** The decision as DMN XML, or null when nothing can be exported. */
  async function exportXml() {
    try {
      const { xml } = await modeler.saveXML({ format: true });
      return xml;
    } catch (err) {
      return null;
    }
  }

  // ---- problems --------------------------------------------------------------------------

  function clearProblems() {
    if (problemsEl) {
      problemsEl.replaceChildren();
    }
  }

  function showProblems(problems) {
    if (problemsEl) {
      problemsEl.replaceChildren(...problems.map(problemItem));
    }
  }

  function warningProblems(warnings) {
    return (warnings || []).map((w) => ({
      message: `Import warning: ${(w && w.message) || String(w)}`,
      element_id: (w && w.element && w.element.id) || null,
      line: null,
    }));
  }

  // ---- import ----------------------------------------------------------------------------

  /** The decision table view to show: the one of this decision, else the first. */
  function tableView() {
    const views = modeler.getViews().filter((v) => v.type === 'decisionTable');
    return views.find((v) => v.element && v.element.id === decisionId()) || views[0] || null;
  }

  function nextFrame() {
    return new Promise((resolve) => requestAnimationFrame(() => resolve()));
  }

  /** Import XML and open its decision table (not the DRD); { ok, warnings } or { ok: false, error }. */
  async function importXml(xml) {
    delete body.dataset.decision;
    clearProblems();
    try {
      // open: false keeps dmn-js from rendering its first view (the DRD) on the way
      const imported = await modeler.importXML(xml, { open: false });
      const view = tableView();
      if (!view) {
        return { ok: false, error: new Error('the file has no decision table') };
      }
      const opened = await modeler.open(view);
      await nextFrame();
      body.dataset.decision = 'ready';
      return { ok: true, warnings: [ ...(imported.warnings || []), ...((opened && opened.warnings) || []) ] };
    } catch (err) {
      return { ok: false, error: err };
    }
  }

  // ---- versions --------------------------------------------------------------------------

  function versionLabel(v) {
    return [ `v${v.version}`, v.created_by, formatDate(v.created_at) ]
      .filter((part) => part !== undefined && part !== null && part !== '')
      .join(' · ');
  }

  let knownVersions = [];

  function fillVersions(versions, selectedId) {
    knownVersions = fillVersionSelect(versionSelect, versions, selectedId, versionLabel);
  }

  function showName(data) {
    if (nameEl && data && data.name && data.name !== data.id) {
      nameEl.textContent = `${data.name} (${data.id})`;
    }
  }

  async function loadDecision(id) {
    const response = await request(`/api/decisions/${encodeURIComponent(id)}`);
    if (!response.ok || !response.data) {
      setStatus(`Could not load decision ${id}: ${describeDetail(response.data, `HTTP ${response.status}`)}`, 'error');
      return false;
    }
    const data = response.data;
    showName(data);
    fillVersions(data.versions || []);
    const latest = data.latest_version !== undefined && data.latest_version !== null ?
      data.latest_version : (knownVersions[0] && knownVersions[0].version);
    const shown = knownVersions.find((v) => v.version === latest);
    if (shown && versionSelect) {
      versionSelect.value = String(shown.version_id);
    }
    if (typeof data.xml !== 'string') {
      setStatus(`Decision ${id} has no stored XML.`, 'error');
      return false;
    }
    const result = await importXml(data.xml);
    const label = latest !== undefined && latest !== null ? `v${latest}` : '';
    if (!result.ok) {
      setStatus('The stored decision could not be shown.', 'error');
      showProblems([ { message: `Import failed: ${result.error.message}`, element_id: null, line: null } ]);
      return false;
    }
    if (result.warnings.length) {
      showProblems(warningProblems(result.warnings));
      setStatus(`Loaded ${id} ${label} with ${result.warnings.length} import warning(s)`.trim(), 'warning');
    } else {
      setStatus(`Loaded ${id} ${label}`.trim());
    }
    return true;
  }

  async function refreshVersions(id, version) {
    const response = await request(`/api/decisions/${encodeURIComponent(id)}`);
    if (response.ok && response.data) {
      const versions = response.data.versions || [];
      const saved = versions.find((v) => v.version === version);
      fillVersions(versions, saved ? saved.version_id : undefined);
    }
  }

  if (versionSelect) {
    versionSelect.addEventListener('change', async () => {
      const versionId = versionSelect.value;
      if (!versionId) {
        return;
      }
      setStatus('Loading version…');
      const response = await request(`/api/decision-versions/${encodeURIComponent(versionId)}`);
      if (!response.ok || !response.data || typeof response.data.xml !== 'string') {
        setStatus(`Could not load that version: ${describeDetail(response.data, `HTTP ${response.status}`)}`, 'error');
        return;
      }
      const result = await importXml(response.data.xml);
      if (!result.ok) {
        setStatus('That version could not be shown.', 'error');
        showProblems([ { message: `Import failed: ${result.error.message}`, element_id: null, line: null } ]);
        return;
      }
      if (result.warnings.length) {
        showProblems(warningProblems(result.warnings));
      }
      const known = knownVersions.find((v) => String(v.version_id) === versionId);
      const version = response.data.version !== undefined ? response.data.version : known && known.version;
      setStatus(version !== undefined ? `Loaded v${version}` : 'Loaded');
    });
  }

  // ---- save ------------------------------------------------------------------------------

  function describeRebound(rebound) {
    if (!Array.isArray(rebound) || rebound.length === 0) {
      return '';
    }
    const names = rebound.map((r) => {
      if (r && typeof r === 'object') {
        return r.diagram_id || r.process_id || r.id || r.name || JSON.stringify(r);
      }
      return String(r);
    });
    return ` (now used by ${names.join(', ')})`;
  }

  async function save() {
    const xml = await exportXml();
    if (xml === null) {
      setStatus('Nothing to save: no decision is loaded.', 'error');
      return;
    }
    const id = decisionId();
    setStatus('Saving…');
    const response = await postFile('/api/decisions?new_version=true', xml, `${safeName(id) || 'decision'}.dmn`);
    const data = response.data || {};
    if (response.ok) {
      clearProblems();
      const savedId = data.decision_id || id;
      setStatus(data.created === false ?
        `No changes: still v${data.version}` :
        `Saved as ${savedId} v${data.version}${describeRebound(data.rebound)}`, 'ok');
      if (savedId) {
        await refreshVersions(savedId, data.version);
      }
      body.dataset.saved = String(data.version);
      return;
    }
    if (response.status === 422 && Array.isArray(data.errors)) {
      showProblems(data.errors);
      const n = data.errors.length;
      setStatus(`Not saved: ${n} problem${n === 1 ? '' : 's'}${data.detail ? ` (${data.detail})` : ''}`, 'error');
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

  // ---- start -----------------------------------------------------------------------------

  (async () => {
    const id = decisionId();
    let ok = false;
    if (id) {
      ok = await loadDecision(id);
    } else {
      setStatus('No decision given.', 'error');
    }
    resolveReady({ ok });
  })();
}
