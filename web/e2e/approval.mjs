// A migration run waits at its approval step; a person approves it in the run page's form.
import { api, assert, scenario } from './harness.mjs';

await scenario('approval', async ({ page, signIn, visit, shot }) => {
  const token = process.env.TOKEN_OPERATOR;
  const { id } = await api('POST', '/api/runs', token, {
    text: 'Migrate the users.email column to citext in the database schema', language: 'python', pattern: 'migration',
  });
  await signIn(token, `/runs/${id}`);
  await visit(`/runs/${id}`, 'body[data-ready="true"]');
  const form = 'form.user-task[data-element-id="approve_migration"]';
  await page.waitForSelector(form, { timeout: 90_000 });
  await page.waitForFunction(() => JSON.parse(document.body.dataset.markers || '{}').approve_migration === 'wg-waiting');
  await page.fill(`${form} textarea[name="comment"]`, 'backup script checked in the browser');
  await shot('waiting-for-approval');
  await Promise.all([page.waitForURL(new RegExp(`/runs/${id}`)), page.click(`${form} button[value="approve"]`)]);
  await page.waitForSelector('body[data-run-status="completed"]', { timeout: 90_000 });
  const run = await api('GET', `/api/runs/${id}`, token);
  const approval = run.steps.find((s) => s.element_id === 'approve_migration');
  assert.deepEqual(approval.result, { approved: true, comment: 'backup script checked in the browser' });
  assert.ok(run.steps.some((s) => s.element_id === 'migrate' && s.state === 'completed'));
  await shot('approved');
});
