// A migration run waits at its approval step; the run page shows what is being approved (the
// migration plan and the scripts written so far), and a person approves it in its form.
import { api, assert, scenario } from './harness.mjs';
import { waitingMigration } from './waiting_migration.mjs';

await scenario('approval', async (tools) => {
  const { page, visit, shot } = tools;
  const token = process.env.TOKEN_OPERATOR;
  const id = await waitingMigration(tools, token, 'Migrate the users.email column to citext in the database schema');
  const card = '.card.waiting[data-element-id="approve_migration"]';
  const form = `${card} form.user-task[data-element-id="approve_migration"]`;
  await page.waitForSelector(form);

  // what is being approved: the plan, and the backup script with its code
  await page.waitForSelector(`${card}[data-review-shown="true"] details.review`);
  const plan = await page.textContent(`${card} .review-plan[data-element-id="plan_migration"]`);
  assert.match(plan, /alter column to citext/);
  const backup = `${card} .review-file[data-path="backup.py"]`;
  assert.ok(await page.isVisible(backup), 'the backup script is not shown');
  assert.match(await page.textContent(backup), /def backup\(rows, path\)/);
  assert.match(await page.textContent(backup), /Write backup script/);
  // the migration script is written by the migrate step, after the approval: not yet there
  const run = await api('GET', `/api/runs/${id}`, token);
  for (const a of run.artifacts) {
    assert.ok(await page.isVisible(`${card} .review-file[data-path="${a.path}"]`), `${a.path} is not shown`);
  }

  // the same approval in the task inbox opens with what it is about
  await visit('/tasks?diagram=migration', 'body[data-ready="true"]');
  const inbox = `article.task[data-run-id="${id}"]`;
  await page.click(`${inbox} button.task-open`);
  await page.waitForSelector(`${inbox} .review-plan[data-element-id="plan_migration"]`);
  assert.match(await page.textContent(`${inbox} .review-file[data-path="backup.py"]`), /def backup\(rows, path\)/);
  assert.ok(await page.isVisible(`${inbox} form.user-task button[value="approve"]`));
  await shot('inbox');
  await visit(`/runs/${id}`, 'body[data-ready="true"]');
  await page.waitForSelector(`${card}[data-review-shown="true"] ${form.slice(card.length + 1)}`);

  await page.fill(`${form} textarea[name="comment"]`, 'backup script checked in the browser');
  await shot('waiting-for-approval');
  await page.click(`${form} button[value="approve"]`);
  await page.waitForSelector('body[data-run-status="completed"]', { timeout: 90_000 });
  const done = await api('GET', `/api/runs/${id}`, token);
  const approval = done.steps.find((s) => s.element_id === 'approve_migration');
  assert.deepEqual(approval.result, { approved: true, comment: 'backup script checked in the browser' });
  assert.ok(done.steps.some((s) => s.element_id === 'migrate' && s.state === 'completed'));
  await page.waitForSelector('#history li[data-event="user_completed"]');
  await shot('approved');
});
