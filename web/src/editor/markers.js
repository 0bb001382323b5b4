// Server problems on the canvas (red marker + note overlay) and in the #problems list.
// Server text only ever goes into textContent.
import { problemItem } from '../page_api.js';

const MARKER = 'wg-error';
const OVERLAY = 'wg-problem';

/**
 * @param {Object} modeler bpmn-js Modeler
 * @param {HTMLElement} list the #problems <ul>
 */
export function createProblemView(modeler, list) {
  let marked = [];

  function onCanvas(id) {
    if (!id) {
      return null;
    }
    const elementRegistry = modeler.get('elementRegistry');
    const canvas = modeler.get('canvas');
    const element = elementRegistry.get(id);
    if (!element || element === canvas.getRootElement() || element.type === 'label' || !element.parent) {
      return null;
    }
    return element;
  }

  function reveal(id) {
    const element = onCanvas(id);
    if (!element) {
      return;
    }
    modeler.get('selection').select(element);
    modeler.get('canvas').scrollToElement(element);
  }

  function clear() {
    const canvas = modeler.get('canvas');
    const elementRegistry = modeler.get('elementRegistry');
    for (const id of marked) {
      const element = elementRegistry.get(id);
      if (element) {
        canvas.removeMarker(element, MARKER);
      }
    }
    marked = [];
    try {
      modeler.get('overlays').remove({ type: OVERLAY });
    } catch (err) {
      // no diagram loaded: nothing to remove
    }
    list.replaceChildren();
  }

  function listItem(problem, element) {
    const li = problemItem(problem);
    if (element) {
      li.classList.add('on-canvas');
      li.tabIndex = 0;
      li.title = 'Show on the diagram';
      li.addEventListener('click', () => reveal(problem.element_id));
      li.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          reveal(problem.element_id);
        }
      });
    }
    return li;
  }

  /**
   * Replace what is shown with these problems.
   *
   * @param {Array<{message: string, element_id?: string|null, line?: number|null}>} problems
   */
  function show(problems) {
    clear();
    const canvas = modeler.get('canvas');
    const overlays = modeler.get('overlays');
    const notes = new Map();
    for (const problem of problems) {
      const element = onCanvas(problem.element_id);
      list.append(listItem(problem, element));
      if (element) {
        if (!notes.has(element.id)) {
          notes.set(element.id, []);
        }
        notes.get(element.id).push(problem.message || 'Problem');
      }
    }
    for (const [ id, messages ] of notes) {
      const element = onCanvas(id);
      canvas.addMarker(element, MARKER);
      marked.push(id);
      const note = document.createElement('div');
      note.className = 'wg-problem-note';
      for (const text of messages) {
        const line = document.createElement('div');
        line.textContent = text;
        note.append(line);
      }
      overlays.add(id, OVERLAY, { position: { bottom: -4, left: 0 }, html: note });
    }
  }

  return { show, clear, reveal };
}
