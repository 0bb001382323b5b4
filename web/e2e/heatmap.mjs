// The statistics overlay on a diagram: ten quick runs started through the API, then a viewer
// opens /diagrams/quick, switches "Statistics" on and sees, on each element, the counts the
// API answers (from the learning store), coloured by p95 duration (then by tokens and by
// failure rate), and how often each outgoing flow of the gateways was taken.
// Prints `heatmap-counts {...}` (the visits shown per element) for the Python side to hold
// against the database.
import { api, assert, scenario } from './harness.mjs';

const OPERATOR = process.env.TOKEN_OPERATOR;
const VIEWER = process.env.TOKEN_VIEWER;
const RUNS = 10;

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function stats(version) {
  return api('GET', `/api/diagrams/quick/statistics?version=${version}&hours=168`, VIEWER);
}

function elementRuns(answer, id) {
  const found = answer.elements.find((e) => e.element_id === id);
  return found ? found.runs : 0;
}

await scenario('heatmap', async ({ page, signIn, visit, shot }) => {
  const { latest_version: version } = await api('GET', '/api/diagrams/quick', VIEWER);
  const before = elementRuns(await stats(version), 'start');

  // ten runs of the quick pattern, half of them through the improve loop
  const ids = [];
  for (let i = 0; i < RUNS; i += 1) {
    const text = `Write a function add(a, b) that returns their sum${i % 2 ? ' BROKEN-FIRST' : ''} (${i})`;
    const run = await api('POST', '/api/runs', OPERATOR, { text, language: 'python', pattern: 'quick' });
    ids.push(run.id);
  }
  const deadline = Date.now() + 180_000;
  for (const id of ids) {
    for (;;) {
      const run = await api('GET', `/api/runs/${id}`, VIEWER);
      if (run.status === 'completed') break;
      assert.ok(!['failed', 'incident'].includes(run.status), `run ${id} ended ${run.status}`);
      assert.ok(Date.now() < deadline, `run ${id} still ${run.status}`);
      await sleep(250);
    }
  }
  // finished runs are recorded just after they end: wait until all ten are counted
  let answer = await stats(version);
  while (elementRuns(answer, 'start') < before + RUNS) {
    assert.ok(Date.now() < deadline, `statistics count ${elementRuns(answer, 'start')} runs at start`);
    await sleep(250);
    answer = await stats(version);
  }

  await signIn(VIEWER, '/diagrams/quick');
  await visit('/diagrams/quick', 'body[data-editor-ready="true"]');
  assert.equal(await page.isVisible('#heatmap-legend'), false);
  await page.check('#heatmap-toggle');
  await page.waitForSelector('body[data-heatmap="shown"]');
  answer = await stats(version); // what the page asked for, again (nothing ran since)

  // a badge on every element with visits, showing exactly the API's counts
  const shown = await page.$$eval('.wg-heat-badges', (boxes) => Object.fromEntries(boxes.map((b) => [
    b.dataset.elementId,
    Object.fromEntries([ ...b.querySelectorAll('.wg-heat-count') ].map((c) => [ c.dataset.kind, Number(c.dataset.value) ])),
  ])));
  assert.deepEqual(Object.keys(shown).sort(), answer.elements.map((e) => e.element_id).sort());
  for (const e of answer.elements) {
    assert.equal(shown[e.element_id].visits, e.visits, `${e.element_id}: ${JSON.stringify(shown[e.element_id])}`);
    assert.equal(shown[e.element_id].failures ?? 0, e.failures, e.element_id);
    const text = await page.textContent(`.wg-heat-badges[data-element-id="${e.element_id}"] .wg-heat-visits`);
    assert.equal(text.trim(), String(e.visits));
  }
  const visited = answer.elements.filter((e) => e.visits > 0);
  assert.ok(shown.validate.visits >= RUNS + RUNS / 2, `validate: ${shown.validate.visits}`);
  assert.ok(shown.start.visits >= RUNS);

  // the gateways' flows: counts on the sequence flows, as the API answers them
  const flows = await page.$$eval('.wg-heat-flow', (labels) => Object.fromEntries(labels.map((l) => [ l.dataset.flowId, Number(l.dataset.taken) ])));
  assert.deepEqual(flows, Object.fromEntries(answer.flows.map((f) => [ f.flow, f.taken ])));
  assert.ok(flows.flow_next_step_to_recall >= RUNS / 2, JSON.stringify(flows));
  const nextStep = answer.elements.find((e) => e.element_id === 'next_step');
  const taken = answer.flows.filter((f) => f.gateway === 'next_step').reduce((n, f) => n + f.taken, 0);
  assert.equal(taken, nextStep.visits, 'each visit of next_step took one flow');

  // colour by p95 duration: the slowest element is the darkest, the legend says so
  const colours = async () => JSON.parse(await page.evaluate(() => document.body.dataset.heatmapClasses));
  const darkest = (value) => visited.filter((e) => value(e) !== null)
    .reduce((a, b) => (value(b) > value(a) ? b : a)).element_id;
  let classes = await colours();
  const slowest = darkest((e) => e.p95_ms);
  assert.equal(classes[slowest], 'wg-heat-4', JSON.stringify(classes));
  await page.waitForSelector(`.djs-element[data-element-id="${slowest}"].wg-heat-4`);
  assert.match(await page.textContent('#heatmap-legend'), /Colour: p95 duration/);
  assert.equal(classes.start, 'wg-heat-0', 'an instant event is the palest');
  await shot('p95-duration');

  // by tokens: the model steps
  const draws = Number(await page.evaluate(() => document.body.dataset.heatmapDraws));
  await page.selectOption('#heatmap-metric', 'tokens');
  await page.waitForFunction((n) => Number(document.body.dataset.heatmapDraws) > n, draws);
  classes = await colours();
  assert.equal(classes[darkest((e) => e.tokens_in + e.tokens_out)], 'wg-heat-4');
  assert.equal(classes.validate, 'wg-heat-0', 'validation uses no tokens');
  assert.match(await page.textContent('#heatmap-legend'), /Colour: tokens/);
  await shot('tokens');

  await page.selectOption('#heatmap-metric', 'failure_rate');
  await page.waitForFunction(() => document.body.dataset.heatmapMetric === 'failure_rate');
  assert.match(await page.textContent('#heatmap-legend'), /Colour: failure rate/);

  // off again: nothing left on the canvas
  await page.uncheck('#heatmap-toggle');
  await page.waitForFunction(() => !document.body.dataset.heatmap);
  assert.equal(await page.$('.wg-heat-badges'), null);
  assert.equal(await page.$('.djs-element.wg-heat-4'), null);
  assert.equal(await page.isVisible('#heatmap-legend'), false);

  console.log(`heatmap-counts ${JSON.stringify({ version, visits: Object.fromEntries(visited.map((e) => [ e.element_id, e.visits ])) })}`);
});
