// Shared set-up for the browser tests: Debian's Chromium driven by playwright-core.
// Every page is watched for console errors, uncaught exceptions and requests that leave
// 127.0.0.1; any of them fails the scenario. Screenshots and page load times are written
// to $ARTIFACTS (test-artifacts/browser by default).
import { chromium } from 'playwright-core';
import { appendFile, mkdir } from 'node:fs/promises';
import assert from 'node:assert/strict';

export { assert };
export const BASE = process.env.BASE_URL ?? 'http://127.0.0.1:8080';
export const ARTIFACTS = process.env.ARTIFACTS ?? 'test-artifacts/browser';
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost']);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function scenario(name, body) {
  await mkdir(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: FLAGS });
  const context = await browser.newContext({ viewport: { width: 1440, height: 960 }, acceptDownloads: true });
  context.setDefaultTimeout(30_000);
  const problems = [];
  const offsite = [];
  const allowed = []; // console errors a step expects (e.g. the 403 of a forbidden page)
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (LOCAL_HOSTS.has(url.hostname)) return route.continue();
    offsite.push(url.href);
    return route.abort();
  });
  const watch = (page) => {
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const text = `${page.url()}: ${msg.text()}`;
      if (!allowed.some((re) => re.test(text))) problems.push(text);
    });
    page.on('pageerror', (err) => problems.push(`${page.url()}: uncaught ${err.message}`));
  };
  context.on('page', watch);
  const page = await context.newPage();
  const tools = {
    page,
    context,
    allowConsoleError: (re) => allowed.push(re),
    shot: async (label) => {
      const path = `${ARTIFACTS}/${name}-${label}.png`;
      await page.screenshot({ path, fullPage: true });
      console.log(`screenshot ${path}`);
      return path;
    },
    // navigate and measure: navigation timing plus the time until `ready` (a selector) shows
    visit: async (path, ready) => {
      const started = Date.now();
      await page.goto(`${BASE}${path}`);
      if (ready) await page.waitForSelector(ready, { state: 'attached' });
      const readyMs = Date.now() - started;
      const nav = await page.evaluate(() => {
        const n = performance.getEntriesByType('navigation')[0];
        return { dom_content_loaded_ms: Math.round(n.domContentLoadedEventEnd), load_ms: Math.round(n.loadEventEnd), transfer_kb: Math.round(n.transferSize / 1024) };
      });
      const line = { scenario: name, page: path.replace(/[0-9a-f-]{36}/g, '{id}'), ready_ms: readyMs, ...nav };
      await appendFile(`${ARTIFACTS}/page-load.jsonl`, `${JSON.stringify(line)}\n`);
      console.log(`page-load ${JSON.stringify(line)}`);
      return line;
    },
    signIn: async (token, next = '/') => {
      await page.goto(`${BASE}/signin?next=${encodeURIComponent(next)}`);
      await page.fill('#token', token);
      await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/signin')), page.click('#signin-btn')]);
    },
  };
  let failed = null;
  try {
    await body(tools);
  } catch (err) {
    failed = err;
    await page.screenshot({ path: `${ARTIFACTS}/${name}-FAILED.png`, fullPage: true }).catch(() => {});
  } finally {
    await browser.close();
  }
  if (failed) throw failed;
  assert.deepEqual(offsite, [], `pages tried to reach beyond 127.0.0.1: ${offsite.join(', ')}`);
  assert.deepEqual(problems, [], `console errors:\n${problems.join('\n')}`);
  console.log(`scenario ${name} passed`);
}

export async function api(method, path, token, body) {
  const resp = await fetch(`${BASE}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await resp.text();
  assert.ok(resp.ok, `${method} ${path}: ${resp.status} ${text}`);
  return JSON.parse(text);
}
