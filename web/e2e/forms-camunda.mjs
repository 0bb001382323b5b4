// A Camunda Modeler diagram whose user task has camunda:formData (amount long required,
// express boolean, tier enum): started from its diagram page, found in the task inbox by its
// candidate group, claimed, answered; a wrong answer's field error shows first.
import { assert } from './harness.mjs';
import { orderScenario } from './order_form.mjs';

await orderScenario('forms-camunda', {
  diagram: 'camunda_order',
  filter: { group: 'accounting' },
  fill: async (page, form) => {
    await page.check(`${form} input[type="checkbox"][name="root[express]"]`);
    const tier = `${form} select[name="root[tier]"]`;
    const options = await page.$$eval(`${tier} option`, (os) => os.map((o) => o.textContent.trim()));
    assert.deepEqual(options.filter((o) => o), ['Gold', 'Standard']);
    await page.selectOption(tier, 'standard');
  },
  expected: { amount: 250, express: true, tier: 'standard' },
});
