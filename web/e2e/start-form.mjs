// A diagram whose start event has a form (Camunda formData, the API tests' diagram, uploaded with a layout by the test): its start
// page shows the form; started without the required amount, the server's field error shows
// next to the field; with 500 the run starts, and its page shows it ending at end_big.
import { api, assert, scenario } from './harness.mjs';

await scenario('start-form', async ({ page, signIn, visit, shot, allowConsoleError }) => {
  allowConsoleError(/status of 422/); // the first start is refused on purpose
  const token = process.env.TOKEN_OPERATOR;
  await signIn(token, '/diagrams/start_with_form/start');
  await visit('/diagrams/start_with_form/start', 'body[data-ready="true"]');
  assert.equal(await page.getAttribute('body', 'data-start-form'), 'order_placed');
  const amount = '#start-fields [name="root[amount]"]';
  assert.equal(await page.inputValue(amount), '');
  await page.click('#start-btn');
  const error = '#start-fields [data-schemapath="root.amount"] .field-error[data-field="/amount"]';
  await page.waitForSelector(error);
  assert.match(await page.textContent(error), /amount/);
  await shot('field-error');
  await page.fill(amount, '500');
  await Promise.all([page.waitForURL(/\/runs\/[0-9a-f-]{36}$/), page.click('#start-btn')]);
  const runId = new URL(page.url()).pathname.split('/').pop();
  await page.waitForSelector('body[data-run-status="completed"]');
  await page.waitForFunction(() => JSON.parse(document.body.dataset.markers || '{}').end_big === 'wg-completed');
  assert.equal((await page.textContent('#run-pattern')).trim(), 'start_with_form');
  const run = await api('GET', `/api/runs/${runId}`, token); // amount > 100 chose end_big
  assert.ok(run.steps.some((s) => s.element_id === 'end_big' && s.state === 'completed'));
  await shot('completed');
});
