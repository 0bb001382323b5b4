// A step that failed for good is an incident on the run page; retrying it from the page
// finishes the run. The test driver made the model fail, then healthy again (INCIDENT_RUN).
import { assert, scenario } from './harness.mjs';

await scenario('incident', async ({ page, signIn, visit, shot }) => {
  const id = process.env.INCIDENT_RUN;
  await signIn(process.env.TOKEN_OPERATOR, `/runs/${id}`);
  await visit(`/runs/${id}`, 'body[data-ready="true"]');
  const card = '.incident[data-element-id="implement"]';
  await page.waitForSelector(card);
  assert.match(await page.textContent(card), /model group 'coder'/);
  await page.waitForFunction(() => JSON.parse(document.body.dataset.markers || '{}').implement === 'wg-failed');
  await shot('incident');
  await Promise.all([page.waitForURL(new RegExp(`/runs/${id}$`)), page.click(`${card} button`)]);
  await page.waitForSelector('body[data-run-status="completed"]', { timeout: 90_000 });
  await page.waitForFunction(() => JSON.parse(document.body.dataset.markers || '{}').implement === 'wg-completed');
  assert.equal(await page.$(card), null, 'the incident card is still shown');
  await shot('retried');
});
