// A migration run started through the API and shown on its run page once it waits at its
// approval step (approve_migration): shared by the approval, cancel and variables scenarios.
import { api } from './harness.mjs';

export async function waitingMigration({ page, signIn, visit }, token, text) {
  const { id } = await api('POST', '/api/runs', token, { text, language: 'python', pattern: 'migration' });
  await signIn(token, `/runs/${id}`);
  await visit(`/runs/${id}`, 'body[data-ready="true"]');
  await page.waitForFunction(() => JSON.parse(document.body.dataset.markers || '{}').approve_migration === 'wg-waiting', null, { timeout: 90_000 });
  return id;
}
