// SpiffWorkflow names task-data variables in a multi-instance task's loopDataInputRef and
// loopDataOutputRef (e.g. "groups", "candidates"). bpmn-moddle reads those as references to
// elements by id; no element has such an id, so a plain import and export would drop them.
// These two functions keep them, by the id of their task, across an import and an export.

const BPMN = 'http://www.omg.org/spec/BPMN/20100524/MODEL';
const REFS = ['loopDataInputRef', 'loopDataOutputRef'];

function loops(doc) {
  return Array.from(doc.getElementsByTagNameNS(BPMN, 'multiInstanceLoopCharacteristics'));
}

/** Map of task id -> { loopDataInputRef, loopDataOutputRef } texts found in `xml`. */
export function readLoopRefs(xml) {
  const found = new Map();
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  if (doc.getElementsByTagName('parsererror').length) return found;
  for (const loop of loops(doc)) {
    const owner = loop.parentElement && loop.parentElement.getAttribute('id');
    if (!owner) continue;
    const refs = {};
    for (const name of REFS) {
      const ref = Array.from(loop.children).find((c) => c.namespaceURI === BPMN && c.localName === name);
      if (ref && ref.textContent.trim()) refs[name] = ref.textContent.trim();
    }
    if (Object.keys(refs).length) found.set(owner, refs);
  }
  return found;
}

/** `xml` with the kept references put back where an export left them out. */
export function restoreLoopRefs(xml, kept) {
  if (!kept.size) return xml;
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  if (doc.getElementsByTagName('parsererror').length) return xml;
  let changed = false;
  for (const loop of loops(doc)) {
    const owner = loop.parentElement && loop.parentElement.getAttribute('id');
    const refs = owner && kept.get(owner);
    if (!refs) continue;
    // schema order: loopCardinality?, loopDataInputRef?, loopDataOutputRef?, inputDataItem? ...
    for (const name of [...REFS].reverse()) {
      const present = Array.from(loop.children).some((c) => c.localName === name);
      if (present || !refs[name]) continue;
      const ref = doc.createElementNS(BPMN, loop.prefix ? `${loop.prefix}:${name}` : name);
      ref.textContent = refs[name];
      const cardinality = Array.from(loop.children).find((c) => c.localName === 'loopCardinality');
      loop.insertBefore(ref, cardinality ? cardinality.nextSibling : loop.firstChild);
      changed = true;
    }
  }
  return changed ? new XMLSerializer().serializeToString(doc) : xml;
}

/** Whether an import warning is about a reference these kept texts account for. */
export function isKeptRefWarning(warning, kept) {
  const match = /unresolved reference <([^>]+)>/.exec((warning && warning.message) || '');
  if (!match) return false;
  return Array.from(kept.values()).some((refs) => Object.values(refs).includes(match[1]));
}
