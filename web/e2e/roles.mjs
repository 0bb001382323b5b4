// Roles in the browser: a viewer cannot start runs or save diagrams; an operator cannot save.
import { assert, scenario } from './harness.mjs';

await scenario('roles', async ({ page, context, signIn, visit, allowConsoleError }) => {
  allowConsoleError(/status of 403/);
  await signIn(process.env.TOKEN_VIEWER, '/');
  assert.equal(await page.$('nav a[href="/runs/new"]'), null, 'a viewer sees "New run"');
  const resp = await page.goto(`${process.env.BASE_URL}/runs/new`);
  assert.equal(resp.status(), 403);
  assert.match(await page.textContent('#error-message'), /needs operator/);
  await visit('/diagrams/quick', 'body[data-editor-ready="true"]');
  assert.equal(await page.$('#save-btn'), null, 'a viewer sees the save button');
  const csrf = await page.getAttribute('meta[name="csrf-token"]', 'content');
  const viewerStart = await page.evaluate(async (token) => (await fetch('/api/runs', {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token },
    body: JSON.stringify({ text: 'x', language: 'python' }),
  })).status, csrf);
  assert.equal(viewerStart, 403);

  await context.clearCookies();
  await signIn(process.env.TOKEN_OPERATOR, '/diagrams/quick');
  await page.waitForSelector('body[data-editor-ready="true"]');
  assert.equal(await page.$('#save-btn'), null, 'an operator sees the save button');
  const csrf2 = await page.getAttribute('meta[name="csrf-token"]', 'content');
  const operatorSave = await page.evaluate(async (token) => {
    const form = new FormData();
    form.append('file', new Blob(['<x/>']), 'x.bpmn');
    return (await fetch('/api/diagrams', { method: 'POST', headers: { 'X-CSRF-Token': token }, body: form })).status;
  }, csrf2);
  assert.equal(operatorSave, 403);
});
