// Learned policies in the browser (issue 16): the admin exports the pattern policy as a DMN
// table, lands in the DMN editor showing its rules, comes back, pins the newest version and
// sees "pinned DMN vN"; a run started now shows, in its "Learned decisions", that the pinned
// table's rule chose its pattern; then the admin unpins and the policy learns again.
import { ARTIFACTS, BASE, api, assert, scenario } from './harness.mjs';

const card = '#policy-pattern';

await scenario('policies', async ({ page, signIn, visit, shot }) => {
  await signIn(process.env.TOKEN_ADMIN, '/policies');
  await visit('/policies', card);
  assert.equal(await page.getAttribute(card, 'data-state'), 'learning');
  assert.equal((await page.textContent(`${card} .policy-state`)).trim(), 'learning');
  assert.ok(await page.$('nav a[href="/policies"][aria-current="page"]'), 'the nav links the page');

  // export: a new version of learned_pattern, shown in the DMN editor
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/decisions/learned_pattern'),
    page.click(`${card} button.export`),
  ]);
  await page.waitForSelector('body[data-decision="ready"]');
  await page.locator('#decision-canvas .tjs-table tbody tr').first().waitFor();
  const rows = await page.locator('#decision-canvas .tjs-table tbody tr').count();
  assert.ok(rows >= 9, `the table shows ${rows} rules`);
  const text = await page.locator('#decision-canvas .tjs-table').innerText();
  for (const expected of ['Task type', 'Language', 'Pattern', '"function"', '"python"', '"quick"', '"standard"']) {
    assert.ok(text.includes(expected), `the table lacks ${expected}:\n${text.slice(0, 800)}`);
  }
  const status = await page.textContent('#decision-status');
  const version = Number((status.match(/learned_pattern v(\d+)/) ?? [])[1]);
  assert.ok(version >= 1, `the editor says: ${status}`);
  await page.screenshot({ path: `${ARTIFACTS}/policy-dmn.png`, fullPage: true });
  console.log(`screenshot ${ARTIFACTS}/policy-dmn.png`);

  // back to the policies: pin the newest version
  await page.goBack();
  await visit('/policies', card);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/policies'),
    page.click(`${card} button.pin`),
  ]);
  await page.waitForSelector(`${card}[data-state="pinned"]`);
  assert.equal((await page.textContent(`${card} .policy-state`)).trim(), `pinned DMN v${version}`);
  assert.match(await page.textContent(`${card} .drift-note`), new RegExp(`pinned DMN v${version}`));
  await shot('pinned');

  // a run now: its pattern decision names the table's rule on the run page
  const run = await api('POST', '/api/runs', process.env.TOKEN_OPERATOR, { text: 'Write a function add(a, b)', language: 'python' });
  await visit(`/runs/${run.id}`, 'body[data-ready="true"]');
  const row = page.locator('#learned tr[data-policy="pattern"]');
  await row.waitFor({ timeout: 60_000 });
  assert.equal((await row.locator('td.rule').innerText()).trim(), `pinned DMN v${version}: rule 1 says quick`);
  assert.match(await row.innerText(), new RegExp(`learned_pattern v${version}, rule 1`));
  await page.locator('#learned-decisions').screenshot({ path: `${ARTIFACTS}/policies-run-learned.png` });
  await fetch(`${BASE}/api/runs/${run.id}/cancel`, { method: 'POST', headers: { Authorization: `Bearer ${process.env.TOKEN_OPERATOR}` } });

  // a run whose step the router chose a model group for: the choice with each arm's estimates
  await visit(`/runs/${process.env.ROUTED_RUN}`, 'body[data-ready="true"]');
  const routed = page.locator('#learned tr[data-policy="route"]');
  await routed.waitFor();
  assert.match(await routed.innerText(), /Implement\s+route\s+coder-b/);
  const arms = await routed.locator('table.estimates tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.arm));
  assert.deepEqual(arms.sort(), ['coder', 'coder-b']);
  assert.equal(await routed.locator('table.estimates tr.chosen').getAttribute('data-arm'), 'coder-b');
  assert.ok((await routed.locator('td.rule').innerText()).trim().length > 0, 'the rule is shown');
  await page.locator('#learned-decisions').screenshot({ path: `${ARTIFACTS}/policies-run-route.png` });

  // unpin: the policy learns again
  await visit('/policies', card);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/policies'),
    page.click(`${card} button.unpin`),
  ]);
  await page.waitForSelector(`${card}[data-state="learning"]`);
  assert.equal((await page.textContent(`${card} .policy-state`)).trim(), 'learning');
  assert.equal(await page.$(`${card} button.unpin`), null, 'nothing to unpin');
  await shot('unpinned');
});
