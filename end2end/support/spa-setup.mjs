// Starts the REST backend of examples/spa (built by its build.sh into the repository's
// target/) on a free loopback port, serving the built app; returns the teardown.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitUntilServing, stop } from './processes.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const example = join(root, 'examples', 'spa');

export default async function spaSetup() {
  const bin = process.env.E2E_SPA_BIN || join(root, 'target', 'debug', 'spa-server');
  const site = join(example, 'target', 'site');
  for (const path of [bin, join(site, 'index.html'), join(site, 'pkg', 'spa_bg.wasm')]) {
    if (!existsSync(path)) {
      throw new Error(`${path} does not exist: run CARGO_TARGET_DIR=target examples/spa/build.sh (scripts/test.sh does)`);
    }
  }
  const port = await freePort();
  const child = spawn(bin, [], {
    cwd: example,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, SPA_ADDR: `127.0.0.1:${port}`, SPA_SITE_DIR: site },
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilServing(baseUrl + '/', child, 30_000);
  process.env.E2E_BASE_URL = baseUrl;
  return async () => stop(child);
}
