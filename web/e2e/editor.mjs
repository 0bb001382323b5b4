// Upload a broken diagram and see its error marked on the right element; fix it in the
// editor (rename a task, change its operator) and save it as a new version.
import { readFile, writeFile } from 'node:fs/promises';
import { ARTIFACTS, assert, scenario } from './harness.mjs';

const broken = (await readFile(new URL('../../bpmn/quick.bpmn', import.meta.url), 'utf8'))
  .replace('<bpmn:process id="quick" name="Quick pattern"', '<bpmn:process id="browser_demo" name="Browser demo"')
  .replace('bpmnElement="quick"', 'bpmnElement="browser_demo"')
  .replace('<spiffworkflow:serviceTaskOperator id="llm.generate" resultVariable="code">', '<spiffworkflow:serviceTaskOperator id="llm.generat" resultVariable="code">');
assert.match(broken, /llm\.generat"/);
const file = `${ARTIFACTS}/browser_demo.bpmn`;
await writeFile(file, broken);

await scenario('editor', async ({ page, signIn, visit, shot, allowConsoleError }) => {
  allowConsoleError(/status of 422/); // Chrome logs every 4xx response; the 422 is expected
  await signIn(process.env.TOKEN_ADMIN, '/diagrams');
  await visit('/diagrams', '#diagrams');
  await page.click('#new-diagram');
  await page.waitForSelector('#canvas .djs-container');
  await page.setInputFiles('#upload-input', file);
  await page.waitForSelector('body[data-validated="errors"]');

  // the server's error is on the canvas at the element it names, and in the list
  const problem = page.locator('#problems li.problem[data-element-id="implement"]');
  await problem.waitFor();
  assert.match(await problem.textContent(), /llm\.generat/);
  await page.waitForSelector('.djs-element[data-element-id="implement"].wg-error');
  assert.match(await page.textContent('.wg-problem-note'), /llm\.generat/);
  const marked = await page.$$eval('.djs-element.wg-error', (els) => els.map((e) => e.dataset.elementId));
  assert.deepEqual(marked, ['implement']);
  await shot('error-marked');

  // fix it: select the task, rename it, choose the right operator
  await problem.click();
  await page.waitForSelector('[data-group-id="group-weavergen"]');
  await page.fill('#bio-properties-panel-name', 'Implement it (edited in the browser)');
  await page.keyboard.press('Tab');
  await page.selectOption('#bio-properties-panel-wg-operator', 'llm.generate');
  const xml = await page.evaluate(() => window.weavergenEditor.exportXml());
  assert.match(xml, /name="Implement it \(edited in the browser\)"/);
  assert.match(xml, /serviceTaskOperator id="llm\.generate"/);

  await page.click('#validate-btn');
  await page.waitForSelector('body[data-validated="ok"]');
  assert.equal(await page.$('.djs-element.wg-error'), null, 'the error marker stayed');
  await page.click('#save-btn');
  await page.waitForSelector('body[data-validated="ok"]');
  await page.waitForFunction(() => /Saved as browser_demo v\d+/.test(document.getElementById('editor-status').textContent));
  assert.match(page.url(), /\/diagrams\/browser_demo$/);
  await shot('saved');

  // the saved version opens again from the diagrams list
  await visit('/diagrams/browser_demo', 'body[data-editor-ready="true"]');
  const options = await page.$$eval('#version-select option', (os) => os.map((o) => o.textContent));
  assert.ok(options.length >= 1 && /^v\d+/.test(options[0]), options.join(' | '));
});
