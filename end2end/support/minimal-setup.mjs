// Starts the server of examples/minimal (built by `cargo leptos build` there, into the
// repository's target/) on a free loopback port, and returns the teardown that stops it.
// E2E_MINIMAL_DIR points at another copy of the example (scripts/test.sh builds one outside the
// repository, on a git dependency, as a new user would).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitUntilServing, stop } from './processes.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const example = process.env.E2E_MINIMAL_DIR || join(root, 'examples', 'minimal');

export default async function minimalSetup() {
  const bin = process.env.E2E_MINIMAL_BIN || join(root, 'target', 'debug', 'counters');
  const site = join(example, 'target', 'site');
  for (const path of [bin, join(site, 'pkg', 'counters.wasm')]) {
    if (!existsSync(path)) {
      throw new Error(`${path} does not exist: run \`cargo leptos build\` in examples/minimal with CARGO_TARGET_DIR=target (scripts/test.sh does)`);
    }
  }
  const port = await freePort();
  const child = spawn(bin, [], {
    cwd: example,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: site,
      LEPTOS_OUTPUT_NAME: 'counters',
    },
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilServing(baseUrl + '/', child, 30_000);
  process.env.E2E_BASE_URL = baseUrl;
  return async () => stop(child);
}
