// Bundles the browser pages' code into web/dist (not committed); run by `make install`.
// Everything the pages load comes from here: no CDN, nothing fetched at run time.
import { build } from 'esbuild';
import { mkdir, readFile, rm } from 'node:fs/promises';

const here = new URL('.', import.meta.url).pathname;
const out = `${here}dist`;

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

// CodeMirror 6 (the FEEL editor dmn-js opens in a decision table cell, and the properties
// panel's FEEL fields) mounts its styles with style-mod, which writes them into a <style>
// element in a document's <head>: an inline style the Content-Security-Policy blocks, and
// whose text changes with every CodeMirror module mounted, so no hash can allow it.
// style-mod already puts them in a constructed style sheet (document.adoptedStyleSheets,
// which the policy does not cover) for shadow roots; this makes it do so for documents too.
const STYLE_MOD_TEST = 'if (!root.head && root.adoptedStyleSheets && win.CSSStyleSheet) {';
const adoptedStyleSheets = {
  name: 'style-mod-adopted-style-sheets',
  setup(b) {
    b.onLoad({ filter: /[\\/]style-mod[\\/]src[\\/]style-mod\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes(STYLE_MOD_TEST)) {
        throw new Error(`${args.path} changed: check the CSP workaround in web/build.mjs`);
      }
      return { contents: source.replace(STYLE_MOD_TEST, 'if (root.adoptedStyleSheets && win.CSSStyleSheet) {'), loader: 'js' };
    });
  },
};

const started = Date.now();
await build({
  entryPoints: {
    editor: `${here}src/editor.js`,
    decision: `${here}src/decision.js`, // and decision.css, from the CSS it imports
    run: `${here}src/run.js`,
    learned: `${here}src/learned.js`, // the run page's learned decisions, and learned.css
    tasks: `${here}src/tasks.js`, // and tasks.css (forms.css)
    start: `${here}src/start.js`, // and start.css (forms.css)
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
  plugins: [adoptedStyleSheets],
});
console.log(`web/dist built in ${Date.now() - started} ms`);
