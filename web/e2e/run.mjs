// Start a run from the form and watch its markers reach the end without reloading;
// then find it on the live dashboard.
import { assert, scenario } from './harness.mjs';

await scenario('run', async ({ page, signIn, visit, shot }) => {
  await signIn(process.env.TOKEN_OPERATOR, '/runs/new');
  await visit('/runs/new', '#run-form');
  await page.fill('#run-text', 'Write a function add(a, b) that returns their sum BROKEN-FIRST');
  await page.selectOption('#run-language', 'python');
  await page.selectOption('#run-pattern', 'quick');
  const started = Date.now();
  await Promise.all([page.waitForURL(/\/runs\/[0-9a-f-]{36}$/), page.click('#start-run')]);
  await page.waitForSelector('body[data-ready="true"]');
  const loads = await page.evaluate(() => performance.getEntriesByType('navigation').length);
  await page.evaluate(() => { window.__sameDocument = true; });

  // live: markers change while we watch, then the run completes, all on the same document
  await page.waitForSelector('body[data-run-status="completed"]', { timeout: 90_000 });
  await page.waitForFunction(() => JSON.parse(document.body.dataset.markers || '{}').end === 'wg-completed');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page reloaded');
  assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), loads);
  const markers = await page.evaluate(() => JSON.parse(document.body.dataset.markers));
  for (const id of ['start', 'implement', 'validate', 'decide_next', 'improve', 'accept', 'end']) {
    assert.equal(markers[id], 'wg-completed', `${id}: ${JSON.stringify(markers)}`);
  }
  assert.ok(Number(await page.evaluate(() => document.body.dataset.markerUpdates)) > 1, 'markers never updated live');
  // the improve loop visited validate twice: a count on the element
  const count = await page.textContent('.djs-overlay-container .wg-visit-count');
  assert.equal(count?.trim(), '×2');
  assert.ok(await page.isVisible('.djs-element[data-element-id="validate"].wg-completed'));
  console.log(`run completed in the browser after ${Date.now() - started} ms`);

  // click the first validation: its report, with the failing test, shows in the panel
  await page.click('#steps tr[data-element-id="validate"] >> nth=0');
  await page.waitForSelector('#step-panel h3:text("Validation report")');
  assert.match(await page.textContent('#step-panel'), /failed · score/);
  // the model's answer and the highlighted code of the implement step
  await page.click('.djs-element[data-element-id="implement"]');
  await page.waitForSelector('#step-panel h3:text("Model\'s answer")');
  assert.ok(await page.isVisible('#step-panel pre.code code.hljs .hljs-keyword'), 'code is not highlighted');
  assert.ok(await page.isVisible('#artifacts a[download]'));
  await shot('run-page');

  const runId = new URL(page.url()).pathname.split('/').pop();
  await visit('/', 'body[data-runs-shown]');
  await page.waitForSelector(`#runs tr[data-run-id="${runId}"][data-status="completed"]`);
  await page.waitForSelector('body[data-learning-loaded="true"]');
  await page.fill('input[name="q"]', 'no request has this text 4f2a');
  await page.waitForSelector('body[data-runs-shown="0"]');
  await page.fill('input[name="q"]', 'BROKEN-FIRST');
  await page.waitForSelector(`#runs tr[data-run-id="${runId}"]`);
  await shot('dashboard');

  // pages of one run (?limit=1): the live page holds the newest run, Older reads the next
  // page by its cursor, Newer goes back to the live list; a run id's start finds the run
  const second = await page.evaluate(async () => {
    const { csrf } = await (await fetch('/api/session')).json();
    const body = JSON.stringify({ text: 'Write a function add(a, b) that returns their sum', pattern: 'quick' });
    const resp = await fetch('/api/runs', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body });
    return (await resp.json()).id;
  });
  await visit('/?limit=1', `#runs tr[data-run-id="${second}"]`);
  assert.equal(await page.getAttribute('body', 'data-runs-page'), '1');
  await page.click('#runs-older');
  await page.waitForSelector(`body[data-runs-page="2"] #runs tr[data-run-id="${runId}"]`);
  assert.equal(await page.textContent('#live'), 'paused: older runs');
  assert.equal(await page.isDisabled('#runs-newer'), false);
  await page.click('#runs-newer');
  await page.waitForSelector(`body[data-runs-page="1"] #runs tr[data-run-id="${second}"]`);
  await page.fill('input[name="id_prefix"]', runId.slice(0, 8));
  await page.waitForSelector(`#runs tr[data-run-id="${runId}"]`);
  assert.equal(await page.getAttribute('body', 'data-runs-shown'), '1');
  await page.fill('input[name="id_prefix"]', 'not hex'); // not sent: the list stays as it was
  await page.fill('input[name="id_prefix"]', '');
  await page.waitForSelector(`#runs tr[data-run-id="${second}"]`);
  await visit(`/runs/${runId}`, 'body[data-ready="true"]');
});
