// Starts the demo server built by `cargo leptos build --release` on a free loopback port with a
// fresh database, waits until it answers, and returns the teardown that stops it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

async function waitUntilServing(url, child, deadlineMs) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`demo server exited early with code ${child.exitCode}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`demo server did not answer at ${url} within ${deadlineMs} ms`);
}

export default async function globalSetup() {
  const bin = process.env.E2E_SERVER_BIN || join(root, 'target', 'release', 'query_tags_demo');
  if (!existsSync(bin)) {
    throw new Error(`${bin} does not exist: run \`cargo leptos build --release\` first (scripts/test.sh does)`);
  }
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'query-tags-e2e-'));
  const baseUrl = `http://127.0.0.1:${port}`;
  const child = spawn(bin, [], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: join(root, 'target', 'site'),
      LEPTOS_OUTPUT_NAME: 'query_tags_demo',
      LEPTOS_ENV: 'PROD',
      DEMO_DATABASE_PATH: join(dataDir, 'todos.sqlite3'),
      RUST_LOG: process.env.RUST_LOG || 'warn',
    },
  });
  await waitUntilServing(baseUrl + '/', child, 30_000);
  process.env.E2E_BASE_URL = baseUrl;

  return async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
}
