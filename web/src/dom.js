// Small DOM helpers shared by the pages. Server text only ever becomes textContent.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? '';
}

export async function getJSON(url) {
  const resp = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (resp.status === 401) {
    window.location.assign(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new Error('signed out');
  }
  if (!resp.ok) {
    let detail = resp.statusText;
    try { detail = (await resp.json()).detail ?? detail; } catch { /* not JSON */ }
    throw new Error(`${url}: ${resp.status} ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  }
  return resp.json();
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return m < 120 ? `${m} min ${Math.round(seconds % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function elapsed(run) {
  if (run.duration_s !== null && run.duration_s !== undefined) return run.duration_s;
  return (Date.now() - new Date(run.created_at).getTime()) / 1000;
}

export function statusBadge(status) {
  return el('span', { class: `badge status-${status}` }, status);
}
