// A SpiffWorkflow diagram whose user task has a JSON Schema form (order.schema.json and
// order.uischema.json, uploaded with it by the test): started from its diagram page, found in
// the task inbox by its lane, claimed, answered; a wrong answer's field error shows first.
import { orderScenario } from './order_form.mjs';

await orderScenario('forms-spiff', {
  diagram: 'spiff_order',
  filter: { lane: 'Sales' },
  fill: async (page, form) => {
    // note is a textarea (the UI schema's "ui:widget"), after amount ("ui:order")
    const fields = await page.$$eval(`${form} [data-schemapath^="root."]`, (els) => els.map((e) => e.dataset.schemapath));
    if (fields.indexOf('root.amount') > fields.indexOf('root.note')) throw new Error(`ui:order not kept: ${fields}`);
    await page.fill(`${form} textarea[name="root[note]"]`, 'rush order');
  },
  expected: { amount: 250, note: 'rush order' },
});
