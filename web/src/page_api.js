// What the editor pages share: talking to the JSON API with the session cookie and its
// CSRF token, a status line, and the list item of a problem the server reported.

/** Show `text` in a status element (role=status); `kind` is info, ok, warning or error. */
export function setStatus(el, text, kind = 'info') {
  if (el) {
    el.textContent = text;
    el.dataset.kind = kind;
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute('content') || '' : '';
}

/** The `detail` of an error answer as one line, else `fallback`. */
export function describeDetail(data, fallback) {
  const detail = data && data.detail;
  if (typeof detail === 'string' && detail) {
    return detail;
  }
  if (Array.isArray(detail) && detail.length) {
    return detail.map((d) => (d && d.msg) || String(d)).join('; ');
  }
  return fallback;
}

/** fetch() returning { ok, status, data, headers } (data: parsed JSON or null); never throws. */
export async function request(url, options = {}) {
  try {
    const response = await fetch(url, {
      credentials: 'same-origin',
      ...options,
      headers: { Accept: 'application/json', ...(options.headers || {}) },
    });
    let data = null;
    const type = response.headers.get('content-type') || '';
    if (type.includes('json')) {
      try {
        data = await response.json();
      } catch (err) {
        data = null;
      }
    }
    if (response.status === 401) {
      data = { detail: 'you are signed out: sign in again in another tab, then press the button here again (your changes stay in this page)' };
    }
    return { ok: response.ok, status: response.status, data, headers: response.headers };
  } catch (err) {
    return { ok: false, status: 0, data: { detail: `network error: ${err.message}` }, headers: new Headers() };
  }
}

/** `send()` once more with a fresh CSRF token when the person signed in again in another tab
 * (the page's token then belongs to the old session). */
async function withFreshCsrf(send) {
  let result = await send();
  if (result.status === 403 && /CSRF/.test(describeDetail(result.data, ''))) {
    const session = await request('/api/session');
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (session.ok && session.data && session.data.csrf && meta) {
      meta.setAttribute('content', session.data.csrf);
      result = await send();
    }
  }
  return result;
}

/** POST `xml` as the multipart field `file`, with the session's CSRF token. */
export function postFile(url, xml, filename) {
  const form = () => {
    const data = new FormData();
    data.append('file', new Blob([ xml ], { type: 'application/xml' }), filename);
    return data;
  };
  return withFreshCsrf(() => request(url, { method: 'POST', body: form(), headers: { 'X-CSRF-Token': csrfToken() } }));
}

/** Send `body` as JSON (POST unless `method` says otherwise; no body when undefined), with
 * the session's CSRF token. */
export function sendJSON(url, body, method = 'POST') {
  const headers = () => ({ 'X-CSRF-Token': csrfToken(), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) });
  return withFreshCsrf(() => request(url, {
    method,
    headers: headers(),
    body: body === undefined ? undefined : JSON.stringify(body),
  }));
}

/** A problem ({message, element_id, line}) as a list item; server text only ever goes into
 * textContent. */
export function problemItem(problem) {
  const li = document.createElement('li');
  li.className = 'problem';
  const message = document.createElement('span');
  message.className = 'problem-message';
  message.textContent = (problem && problem.message) || 'Problem';
  li.append(message);
  const where = [];
  if (problem && problem.element_id) {
    where.push(problem.element_id);
    li.dataset.elementId = problem.element_id;
  }
  if (problem && problem.line) {
    where.push(`line ${problem.line}`);
  }
  if (where.length) {
    const meta = document.createElement('span');
    meta.className = 'problem-where';
    meta.textContent = ` (${where.join(', ')})`;
    li.append(meta);
  }
  return li;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

/** An ISO time as local `YYYY-MM-DD HH:MM`. */
export function formatDate(value) {
  if (!value) {
    return '';
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    return String(value);
  }
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/**
 * Fill a version <select> (newest first) with one option per stored version (value: its
 * version id, text: `label(v)`); select `selectedId`, else the newest. Returns the sorted
 * versions.
 */
export function fillVersionSelect(select, versions, selectedId, label) {
  const sorted = [ ...(versions || []) ].sort((a, b) => b.version - a.version);
  if (!select) {
    return sorted;
  }
  select.replaceChildren();
  for (const v of sorted) {
    const option = document.createElement('option');
    option.value = String(v.version_id);
    option.textContent = label(v);
    select.append(option);
  }
  const wanted = selectedId !== undefined && selectedId !== null ?
    String(selectedId) : (sorted[0] ? String(sorted[0].version_id) : '');
  select.value = wanted;
  select.disabled = sorted.length === 0;
  return sorted;
}

/** Run `work` with `button` disabled until it ends (no double submits). */
export async function busy(button, work) {
  if (button) {
    button.disabled = true;
  }
  try {
    await work();
  } finally {
    if (button) {
      button.disabled = false;
    }
  }
}
