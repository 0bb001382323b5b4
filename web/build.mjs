// Bundles the browser pages' code into web/dist (not committed); run by `make install`.
// Everything the pages load comes from here: no CDN, nothing fetched at run time.
import { build } from 'esbuild';
import { mkdir, rm } from 'node:fs/promises';

const here = new URL('.', import.meta.url).pathname;
const out = `${here}dist`;

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

const started = Date.now();
await build({
  entryPoints: {
    editor: `${here}src/editor.js`,
    run: `${here}src/run.js`,
    dashboard: `${here}src/dashboard.js`,
    app: `${here}src/app.css`,
  },
  outdir: out,
  bundle: true,
  format: 'esm',
  minify: true,
  sourcemap: true,
  target: ['chrome110'],
  loader: { '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.eot': 'file', '.svg': 'file' },
  jsx: 'automatic',
  jsxImportSource: 'preact',
  logLevel: 'warning',
});
console.log(`web/dist built in ${Date.now() - started} ms`);
