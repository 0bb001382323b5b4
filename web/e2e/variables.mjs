// An admin reads and edits a waiting run's variables on its run page: a new variable is
// saved (PATCH), the run's history records it, the API sees it; the run's own start
// variables stay read-only.
import { api, assert, scenario } from './harness.mjs';
import { waitingMigration } from './waiting_migration.mjs';

await scenario('variables', async (tools) => {
  const { page, shot } = tools;
  const token = process.env.TOKEN_ADMIN;
  const id = await waitingMigration(tools, token, 'Migrate the invoices.number column to bigint in the database schema');

  await page.click('#variables-panel > summary');
  await page.waitForSelector('body[data-variables]');
  assert.match(await page.textContent('#variables-where'), /approve_migration/);
  assert.ok(await page.isVisible('.variable[data-name="plan"] textarea'), 'plan cannot be edited');
  assert.equal(await page.$('.variable[data-name="request"] textarea'), null, 'request can be edited');
  await page.click('#variables-add');
  await page.fill('.variable.new .variable-new-name', 'reviewer_note');
  await page.fill('.variable.new textarea', '"looks fine"');
  await page.click('#variables-save');
  await page.waitForSelector('body[data-variables-saved="1"]');
  assert.match(await page.textContent('#variables-status'), /Saved at approve_migration/);
  await page.waitForSelector('.variable[data-name="reviewer_note"] textarea');
  await page.waitForSelector('#history li[data-event="variables_edited"]');
  assert.match(await page.textContent('#history li[data-event="variables_edited"]'), /set reviewer_note/);
  const { variables } = await api('GET', `/api/runs/${id}/variables`, token);
  assert.equal(variables.reviewer_note, 'looks fine');

  // a value that is not JSON is refused here, next to its variable
  await page.fill('.variable[data-name="reviewer_note"] textarea', 'not json');
  await page.click('#variables-save');
  await page.waitForSelector('.variable[data-name="reviewer_note"] .field-error');
  await shot('edited');
  await api('POST', `/api/runs/${id}/cancel`, token);
});
