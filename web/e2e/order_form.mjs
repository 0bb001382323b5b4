// The order diagrams' journey through the pages, shared by forms-spiff and forms-camunda:
// the diagram page's "Start a run", the start page, the task inbox filtered to the task,
// claim, the form sent without its required amount (the server's field error shows next to
// the field), then with 250: the run ends at end_big, seen through the API and the run page.
import { api, assert, scenario } from './harness.mjs';

/** `filter`: the inbox filter that finds the task ({lane: 'Sales'} or {group: 'accounting'});
 * `fill(page, form)`: fills the other fields; `expected`: the answer the run must record. */
export function orderScenario(name, { diagram, filter, fill, expected }) {
  return scenario(name, async ({ page, signIn, visit, shot, allowConsoleError }) => {
    allowConsoleError(/status of 422/); // the first answer is refused on purpose
    const token = process.env.TOKEN_OPERATOR;
    await signIn(token, `/diagrams/${diagram}`);
    await page.waitForSelector('#start-run-link');
    await Promise.all([page.waitForURL(new RegExp(`/diagrams/${diagram}/start$`)), page.click('#start-run-link')]);
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.getAttribute('body', 'data-start-form'), 'none');
    await page.fill('#start-text', `An order for ${diagram}, entered in the browser`);
    await shot('start');
    await Promise.all([page.waitForURL(/\/runs\/[0-9a-f-]{36}$/), page.click('#start-btn')]);
    const runId = new URL(page.url()).pathname.split('/').pop();
    console.log(`${name} run ${runId}`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.waitForFunction(() => JSON.parse(document.body.dataset.markers || '{}').enter_order === 'wg-waiting');

    // the inbox, filtered: every task shown matches, ours among them
    await visit('/tasks', 'body[data-ready="true"]');
    const [key, value] = Object.entries(filter)[0];
    await page.fill(`#task-filters input[name="${key}"]`, value);
    await page.waitForFunction((v) => new URL(location.href).searchParams.get(Object.keys(v)[0]) === Object.values(v)[0], filter);
    const card = `article.task[data-run-id="${runId}"]`;
    await page.waitForSelector(card);
    // the filtered list replaces the unfiltered one when the stream sends it: wait for it
    const wanted = `${key === 'lane' ? 'lane' : 'groups'} .*${value.toLowerCase()}`;
    await page.waitForFunction((re) => [...document.querySelectorAll('article.task')]
      .every((c) => new RegExp(re).test(c.querySelector('.task-where').textContent.toLowerCase())), wanted);
    const shown = await page.$$eval('article.task', (cards) => cards.map((c) => c.querySelector('.task-where').textContent));
    for (const where of shown) assert.match(where.toLowerCase(), new RegExp(wanted), where);
    await page.click(`#task-filters input[name="${key}"]`, { clickCount: 3 });
    await page.fill(`#task-filters input[name="${key}"]`, 'no such one');
    await page.waitForSelector(`${card}`, { state: 'detached' });
    await page.fill(`#task-filters input[name="${key}"]`, value);
    await page.waitForSelector(card);

    // pages of one task (?limit=1): "More" reads the next page by its cursor
    const other = await api('POST', '/api/runs', token, { text: `Another order for ${diagram}`, diagram });
    for (let i = 0; i < 100 && !(await api('GET', `/api/tasks?run_id=${other.id}`, token)).length; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await visit(`/tasks?limit=1&${key}=${encodeURIComponent(value)}`, 'body[data-tasks-shown="1"]');
    await page.waitForSelector('body[data-tasks-more="true"]');
    while (await page.isVisible('#tasks-more')) {
      const before = Number(await page.getAttribute('body', 'data-tasks-shown'));
      await page.click('#tasks-more');
      await page.waitForFunction((n) => Number(document.body.dataset.tasksShown) > n, before);
    }
    assert.ok(await page.$(card), 'our task is not on any page');
    assert.ok(await page.$(`article.task[data-run-id="${other.id}"]`), 'the other task is not on any page');
    await api('POST', `/api/runs/${other.id}/cancel`, token);
    await page.waitForSelector(`article.task[data-run-id="${other.id}"]`, { state: 'detached' });

    // claim it: the claim shows here and in the API
    await page.click(`${card} button.claim-claim`);
    await page.waitForSelector(`${card} .claim .claimed:text("claimed by you")`);
    await page.waitForSelector(`${card} button.claim-unclaim`);
    const claimed = await api('GET', `/api/tasks?run_id=${runId}`, token);
    assert.ok(claimed[0].claimed_by, 'the claim did not reach the server');

    // the form: no amount first, then 250
    await page.click(`${card} button.task-open`);
    const form = `${card} form.task-form[data-kind="schema"]`;
    await page.waitForSelector(`${form} .schema-form[data-form-ready="true"]`);
    const amount = `${form} [name="root[amount]"]`;
    assert.ok(await page.isVisible(amount), 'no amount field');
    await fill(page, form);
    await page.click(`${form} button[type="submit"]`);
    const error = `${form} [data-schemapath="root.amount"] .field-error[data-field="/amount"]`;
    await page.waitForSelector(error);
    assert.match(await page.textContent(error), /amount/);
    await shot('field-error');
    await page.fill(amount, '250');
    await page.click(`${form} button[type="submit"]`);
    await page.waitForSelector(`${form}[data-done="true"]`);
    assert.equal(await page.$(`${form} .field-error`), null, 'the old error is still shown');
    await shot('sent');
    await page.waitForSelector(card, { state: 'detached' });

    // the run went on to end_big with the answer given
    let run;
    for (let i = 0; i < 100; i += 1) {
      run = await api('GET', `/api/runs/${runId}`, token);
      if (run.status === 'completed') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(run.status, 'completed');
    assert.ok(run.steps.some((s) => s.element_id === 'end_big' && s.state === 'completed'), 'the run did not end at end_big');
    assert.deepEqual(run.steps.find((s) => s.element_id === 'enter_order').result, expected);
    await visit(`/runs/${runId}`, 'body[data-ready="true"]');
    await page.waitForSelector('body[data-run-status="completed"]');
    await page.waitForFunction(() => JSON.parse(document.body.dataset.markers || '{}').end_big === 'wg-completed');
    await page.waitForSelector('#history li[data-event="user_completed"]');
    await shot('completed');
  });
}
