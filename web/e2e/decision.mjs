// A DMN decision table in the browser: the admin opens the uploaded discount decision
// (tests/fixtures/dmn/discount.dmn), sees its rules in the dmn-js table, changes one output
// cell by typing in it and saves the table as a new version.
import { assert, scenario } from './harness.mjs';

const ID = 'discount_decision';

await scenario('decision', async ({ page, signIn, visit, shot }) => {
  await signIn(process.env.TOKEN_ADMIN, `/decisions/${ID}`);
  await visit(`/decisions/${ID}`, 'body[data-decision="ready"]');

  // the decision table view (not the DRD), with the file's labels and rule cells
  const table = page.locator('#decision-canvas .tjs-table');
  await table.waitFor();
  const text = await table.innerText();
  for (const expected of ['Order amount', 'Discount %', 'Tier', '< 100', '>= 100', '"standard"', '"gold"']) {
    assert.ok(text.includes(expected), `the table lacks ${expected}:\n${text}`);
  }
  const cell = (id) => page.locator(`#decision-canvas td[data-element-id="${id}"]`);
  assert.equal((await cell('rule_large_discount').innerText()).trim(), '10');
  assert.equal(await page.$('#decision-canvas .dmn-drd-container .djs-container'), null, 'the DRD is shown');
  const options = await page.$$eval('#decision-version-select option', (os) => os.map((o) => o.textContent));
  assert.ok(options.length >= 1 && /^v\d+/.test(options[0]), options.join(' | '));
  await shot('decision-table');

  // edit the large orders' discount: 10 -> 15, typed into the cell
  const editable = cell('rule_large_discount').locator('[contenteditable]').first();
  await editable.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type('15');
  await page.keyboard.press('Tab'); // leave the cell: dmn-js commits the text
  const xml = await page.evaluate(() => window.weavergenDecision.exportXml());
  assert.match(xml, /<outputEntry id="rule_large_discount">\s*<text>15<\/text>/);
  assert.match(xml, /<outputEntry id="rule_small_discount">\s*<text>0<\/text>/);

  await page.click('#decision-save-btn');
  await page.waitForSelector('body[data-saved]');
  const status = await page.textContent('#decision-status');
  assert.match(status, new RegExp(`Saved as ${ID} v\\d+`));
  const saved = Number(await page.getAttribute('body', 'data-saved'));
  assert.ok(saved >= 2, `saved as v${saved}`);
  const selected = await page.$eval('#decision-version-select', (s) => s.selectedOptions[0].textContent);
  assert.match(selected, new RegExp(`^v${saved}( |$)`), 'the version list shows the saved version');
  await shot('decision-saved');
});
