// The statistics overlay of the diagram page: per element, what runs did there (counts on a
// badge, like Camunda Operate: visits, active now, failures), a colour by the metric the
// viewer picks (p95 duration, tokens or failure rate, with a legend), and on the outgoing
// flows of gateways how often each was taken. From GET /api/diagrams/{id}/statistics.
// Colours are CSS classes (canvas markers): no inline styles, as the CSP wants; server text
// only ever goes into textContent.
import './heatmap.css';
import { describeDetail, request } from '../page_api.js';

const MARKERS = [ 'wg-heat-0', 'wg-heat-1', 'wg-heat-2', 'wg-heat-3', 'wg-heat-4' ];
const OVERLAY = 'wg-heat';
const REFRESH_MS = 15_000;

// metric -> how to read it off an element, show it, and scale it (relative to the largest
// value shown, or fixed bounds)
const METRICS = {
  p95: {
    label: 'p95 duration',
    value: (e) => (e.p95_ms === null || e.p95_ms === undefined ? null : e.p95_ms),
    format: formatMs,
  },
  tokens: {
    label: 'tokens',
    value: (e) => (e.visits ? e.tokens_in + e.tokens_out : null),
    format: (n) => formatCount(Math.round(n)),
  },
  failure_rate: {
    label: 'failure rate',
    value: (e) => (e.visits ? e.failure_rate : null),
    format: (r) => `${Math.round(r * 100)} %`,
    bounds: [ 0, 0.05, 0.2, 0.5 ], // a class per range: 0, up to 5 %, 20 %, 50 %, above
  },
};

function formatMs(ms) {
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  if (ms < 120_000) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  return `${(ms / 60_000).toFixed(1)} min`;
}

function formatCount(n) {
  return n >= 10_000 ? `${(n / 1000).toFixed(0)}k` : String(n);
}

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** The class index (0 .. 4) of `value` on the metric's scale (`top`: the largest shown). */
function heatClass(metric, value, top) {
  if (metric.bounds) {
    return metric.bounds.filter((bound) => value > bound).length;
  }
  if (!(top > 0) || value <= 0) {
    return 0;
  }
  return Math.min(4, Math.max(1, Math.ceil((value / top) * 4)));
}

/** The legend's five ranges, as text. */
function legendRanges(metric, top) {
  if (metric.bounds) {
    const b = metric.bounds;
    return [ metric.format(0), ...b.slice(1).map((bound) => `≤ ${metric.format(bound)}`), `> ${metric.format(b[b.length - 1])}` ];
  }
  const ranges = [ metric.format(0) ];
  for (let i = 1; i <= 4; i += 1) {
    ranges.push(top > 0 ? `≤ ${metric.format((top * i) / 4)}` : '—');
  }
  return ranges;
}

function describe(e) {
  const lines = [
    `${e.element_id}: ${e.visits} visit${e.visits === 1 ? '' : 's'} by ${e.runs} run${e.runs === 1 ? '' : 's'}`,
    `completed ${e.completed} · failed ${e.failed} · cancelled ${e.cancelled} · with incidents ${e.incidents}`,
  ];
  if (e.mean_ms !== null && e.mean_ms !== undefined) {
    lines.push(`duration: mean ${formatMs(e.mean_ms)} · p95 ${formatMs(e.p95_ms)}`);
  }
  if (e.tokens_in || e.tokens_out) {
    lines.push(`tokens: ${e.tokens_in} in · ${e.tokens_out} out · model time ${formatMs(e.model_ms)}`);
  }
  lines.push(`failure rate ${Math.round(e.failure_rate * 100)} %`);
  if (e.active) {
    lines.push(`active now: ${e.active}${e.open_incidents ? ` (${e.open_incidents} with an open incident)` : ''}`);
  }
  return lines.join('\n');
}

/** The middle of a connection's middle segment, relative to its waypoints' box. */
function flowAnchor(connection) {
  const points = connection.waypoints || [];
  if (points.length < 2) {
    return null;
  }
  const i = Math.floor((points.length - 1) / 2);
  const [ a, b ] = [ points[i], points[i + 1] ];
  const left = Math.min(...points.map((p) => p.x));
  const top = Math.min(...points.map((p) => p.y));
  return { left: (a.x + b.x) / 2 - left, top: (a.y + b.y) / 2 - top };
}

/**
 * The overlay on the editor's canvas.
 *
 * @param {Object} modeler bpmn-js Modeler
 * @param {Object} options
 * @param {() => string} options.diagramId the diagram shown ('' for none)
 * @param {() => (number|null)} options.version the version number shown (null: every version)
 * @param {(text: string, kind?: string) => void} options.setStatus the page's status line
 */
export function createHeatmap(modeler, { diagramId, version, setStatus }) {
  const $ = (id) => document.getElementById(id);
  const toggle = $('heatmap-toggle');
  const metricSelect = $('heatmap-metric');
  const windowSelect = $('heatmap-window');
  const legend = $('heatmap-legend');
  const body = document.body;
  let marked = [];
  let shown = null; // the last answer drawn
  let timer = null;
  let loading = 0;

  if (!toggle) {
    return { refresh: () => {} };
  }

  function clear() {
    const canvas = modeler.get('canvas');
    const registry = modeler.get('elementRegistry');
    for (const [ id, marker ] of marked) {
      if (registry.get(id)) {
        canvas.removeMarker(id, marker);
      }
    }
    marked = [];
    try {
      modeler.get('overlays').remove({ type: OVERLAY });
    } catch (err) {
      // no diagram loaded: nothing to remove
    }
  }

  function onCanvas(id) {
    const registry = modeler.get('elementRegistry');
    const element = registry.get(id);
    const rootElement = modeler.get('canvas').getRootElement();
    if (!element || element === rootElement || element.type === 'label' || !element.parent) {
      return null;
    }
    return element;
  }

  function badges(e) {
    const box = make('div', 'wg-heat-badges');
    box.dataset.elementId = e.element_id;
    box.title = describe(e);
    const add = (kind, value, text) => {
      const badge = make('span', `wg-heat-count wg-heat-${kind}`, text);
      badge.dataset.kind = kind;
      badge.dataset.value = String(value);
      box.append(badge);
    };
    add('visits', e.visits, formatCount(e.visits));
    if (e.active) {
      add('active', e.active, `▶ ${formatCount(e.active)}`);
    }
    if (e.failures || e.open_incidents) {
      add('failures', e.failures, `⚠ ${formatCount(e.failures)}${e.open_incidents ? ` +${e.open_incidents}` : ''}`);
    }
    return box;
  }

  function drawLegend(metric, top, answer) {
    legend.replaceChildren();
    const title = make('span', 'wg-heat-legend-title', `Colour: ${metric.label}`);
    legend.append(title);
    legendRanges(metric, top).forEach((text, i) => {
      const item = make('span', 'wg-heat-legend-item');
      item.append(make('span', `wg-heat-swatch ${MARKERS[i]}`), make('span', '', text));
      legend.append(item);
    });
    const runs = Math.max(0, ...answer.elements.map((e) => e.runs));
    const versionText = answer.version === null ? 'every version' : `v${answer.version}`;
    const hours = Number(windowSelect ? windowSelect.value : 168);
    const windowText = hours % 24 === 0 ? `${hours / 24} day${hours === 24 ? '' : 's'}` : `${hours} h`;
    const summary = make('span', 'muted wg-heat-summary',
      `${versionText} · last ${windowText} · up to ${runs} run${runs === 1 ? '' : 's'} per element · from ${answer.backend}`);
    legend.append(summary);
    if (answer.unavailable) {
      legend.append(make('span', 'wg-heat-unavailable', `learning store unavailable: ${answer.unavailable}`));
    }
    legend.hidden = false;
  }

  function draw(answer) {
    clear();
    const canvas = modeler.get('canvas');
    const overlays = modeler.get('overlays');
    const metric = METRICS[metricSelect ? metricSelect.value : 'p95'] || METRICS.p95;
    const elements = answer.elements.filter((e) => onCanvas(e.element_id));
    const values = elements.map((e) => metric.value(e)).filter((v) => v !== null);
    const top = values.length ? Math.max(...values) : 0;
    const classes = {};
    for (const e of elements) {
      const element = onCanvas(e.element_id);
      const value = metric.value(e);
      if (value !== null) {
        const marker = MARKERS[heatClass(metric, value, top)];
        canvas.addMarker(element, marker);
        marked.push([ e.element_id, marker ]);
        classes[e.element_id] = marker;
      }
      overlays.add(element, OVERLAY, { position: { bottom: 10, left: -8 }, html: badges(e) });
    }
    const visits = Object.fromEntries(answer.elements.map((e) => [ e.element_id, e.visits ]));
    for (const f of answer.flows) {
      const connection = onCanvas(f.flow);
      const anchor = connection && flowAnchor(connection);
      if (!anchor) {
        continue;
      }
      const label = make('span', 'wg-heat-flow', formatCount(f.taken));
      label.dataset.flowId = f.flow;
      label.dataset.taken = String(f.taken);
      const of = visits[f.gateway];
      label.title = of ? `taken ${f.taken} of ${of} times through ${f.gateway}` : `taken ${f.taken} times`;
      overlays.add(connection, OVERLAY, { position: anchor, html: label });
    }
    drawLegend(metric, top, answer);
    shown = answer;
    body.dataset.heatmap = 'shown';
    body.dataset.heatmapMetric = metricSelect ? metricSelect.value : 'p95';
    body.dataset.heatmapClasses = JSON.stringify(classes);
    body.dataset.heatmapDraws = String(Number(body.dataset.heatmapDraws || 0) + 1);
  }

  async function refresh() {
    if (!toggle.checked || !diagramId()) {
      return;
    }
    const params = new URLSearchParams({ hours: windowSelect ? windowSelect.value : '168' });
    const number = version();
    if (number !== null && number !== undefined) {
      params.set('version', String(number));
    }
    loading += 1;
    const mine = loading;
    body.dataset.heatmap = 'loading';
    const response = await request(`/api/diagrams/${encodeURIComponent(diagramId())}/statistics?${params}`);
    if (mine !== loading || !toggle.checked) {
      return; // a newer request, or switched off meanwhile
    }
    if (!response.ok || !response.data) {
      body.dataset.heatmap = 'error';
      setStatus(`Statistics unavailable: ${describeDetail(response.data, `HTTP ${response.status}`)}`, 'error');
      return;
    }
    draw(response.data);
  }

  function schedule() {
    clearInterval(timer);
    timer = toggle.checked ? setInterval(() => {
      if (document.visibilityState === 'visible') {
        refresh();
      }
    }, REFRESH_MS) : null;
  }

  function switchOff() {
    loading += 1;
    clear();
    shown = null;
    legend.hidden = true;
    legend.replaceChildren();
    delete body.dataset.heatmap;
  }

  toggle.addEventListener('change', () => {
    schedule();
    if (toggle.checked) {
      refresh();
    } else {
      switchOff();
    }
  });
  if (metricSelect) {
    // the colour needs no new answer
    metricSelect.addEventListener('change', () => shown && draw(shown));
  }
  if (windowSelect) {
    windowSelect.addEventListener('change', refresh);
  }
  // a version (or a file) was imported: the old overlay went with the old elements
  modeler.on('import.done', () => {
    marked = [];
    if (toggle.checked) {
      refresh();
    }
  });

  return { refresh };
}
