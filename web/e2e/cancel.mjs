// A run waiting for a person is cancelled from its run page: the status says cancelled and
// the element it waited at is marked cancelled in the diagram.
import { api, assert, scenario } from './harness.mjs';
import { waitingMigration } from './waiting_migration.mjs';

await scenario('cancel', async (tools) => {
  const { page, shot } = tools;
  const token = process.env.TOKEN_OPERATOR;
  const id = await waitingMigration(tools, token, 'Migrate the orders.total column to numeric(12,2) in the database schema');
  assert.ok(await page.isVisible('#cancel-run'), 'no Cancel button');
  assert.equal(await page.isVisible('#retry-run'), false, 'a Retry button on a run that did not fail');
  await shot('waiting');

  let asked = '';
  page.once('dialog', (dialog) => { asked = dialog.message(); dialog.accept(); });
  await page.click('#cancel-run');
  await page.waitForSelector('body[data-run-status="cancelled"]');
  assert.match(asked, /Cancel this run/);
  assert.equal((await page.textContent('#run-status')).trim(), 'cancelled');
  assert.ok(await page.isVisible('#run-status.status-cancelled'));
  await page.waitForFunction(() => JSON.parse(document.body.dataset.markers || '{}').approve_migration === 'wg-cancelled');
  assert.ok(await page.isVisible('.djs-element[data-element-id="approve_migration"].wg-cancelled'));
  assert.equal(await page.isVisible('#cancel-run'), false, 'Cancel still offered');
  assert.equal(await page.$('form.user-task'), null, 'the approval form is still offered');
  await page.waitForSelector('#steps tr[data-element-id="approve_migration"][data-state="cancelled"]');
  await page.waitForSelector('#history li[data-event="cancelled"]');

  const run = await api('GET', `/api/runs/${id}`, token);
  assert.equal(run.status, 'cancelled');
  assert.equal(run.steps.find((s) => s.element_id === 'approve_migration').state, 'cancelled');
  await shot('cancelled');
});
