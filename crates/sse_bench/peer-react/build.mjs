// Bundles the React peer's page (`client.jsx`) into `dist/app.js` with esbuild, in production
// mode: minified, with `process.env.NODE_ENV` set to "production" so React drops its
// development checks. Run as `npm run build`.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

await build({
  entryPoints: [join(here, 'client.jsx')],
  outfile: join(here, 'dist', 'app.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2022',
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'info',
});
