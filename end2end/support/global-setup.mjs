// Starts a redis-server and two instances of the demo server built by `cargo leptos build
// --release` on free loopback ports, sharing one fresh database and one Redis (as a deployment
// with two instances behind a load balancer would), waits until they answer, and returns the
// teardown that stops them. Tests use instance A (`E2E_BASE_URL`); the multi-instance tests also
// use instance B (`E2E_BASE_URL_B`) and a small TCP proxy in front of both (`E2E_PROXY_URL`, like
// a load balancer: new connections go to the first instance that is up), whose control endpoint
// (`E2E_CONTROL_URL`: `POST /stop/A`, `POST /start/A`) stops and starts instance A.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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

async function stop(child) {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

async function waitForPort(port, child, deadlineMs) {
  const { connect } = await import('node:net');
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited early with code ${child.exitCode}`);
    const ok = await new Promise((r) => {
      const socket = connect(port, '127.0.0.1', () => { socket.end(); r(true); });
      socket.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis-server did not listen on ${port} within ${deadlineMs} ms`);
}

export default async function globalSetup() {
  const bin = process.env.E2E_SERVER_BIN || join(root, 'target', 'release', 'query_tags_demo');
  if (!existsSync(bin)) {
    throw new Error(`${bin} does not exist: run \`cargo leptos build --release\` first (scripts/test.sh does)`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'query-tags-e2e-'));
  const redisPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dataDir], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForPort(redisPort, redis, 10_000);

  // For tests that publish in a user's scope through `POST <base>/publish`.
  const publishSecret = randomBytes(24).toString('hex');
  process.env.E2E_PUBLISH_SECRET = publishSecret;
  const instances = {};
  const start = async (name, port) => {
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
        QUERY_TAGS_REDIS_URL: `redis://127.0.0.1:${redisPort}/`,
        QUERY_TAGS_PUBLISH_SECRET: publishSecret,
        RUST_LOG: process.env.RUST_LOG || 'warn',
      },
    });
    instances[name] = { child, port, up: false };
    await waitUntilServing(baseUrl + '/', child, 30_000);
    instances[name].up = true;
    process.env[name === 'A' ? 'E2E_BASE_URL' : 'E2E_BASE_URL_B'] = baseUrl;
  };
  for (const name of ['A', 'B']) await start(name, await freePort());

  // The "load balancer": each new connection goes to A if it is up, else to B.
  const { createServer: createTcpServer, connect } = await import('node:net');
  const proxy = createTcpServer((client) => {
    const target = instances.A.up ? instances.A : instances.B;
    const upstream = connect(target.port, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const close = () => { client.destroy(); upstream.destroy(); };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  const proxyPort = await freePort();
  await new Promise((r) => proxy.listen(proxyPort, '127.0.0.1', r));
  process.env.E2E_PROXY_URL = `http://127.0.0.1:${proxyPort}`;

  const { createServer: createHttpServer } = await import('node:http');
  const control = createHttpServer(async (req, res) => {
    const [, action, name] = req.url.split('/');
    const instance = instances[name];
    if (req.method !== 'POST' || !instance || !['stop', 'start'].includes(action)) {
      res.writeHead(404).end();
      return;
    }
    if (action === 'stop') {
      instance.up = false;
      await stop(instance.child);
    } else if (!instance.up) {
      await start(name, instance.port);
    }
    res.writeHead(204).end();
  });
  const controlPort = await freePort();
  await new Promise((r) => control.listen(controlPort, '127.0.0.1', r));
  process.env.E2E_CONTROL_URL = `http://127.0.0.1:${controlPort}`;

  return async () => {
    proxy.close();
    control.close();
    for (const { child } of Object.values(instances)) await stop(child);
    await stop(redis);
    rmSync(dataDir, { recursive: true, force: true });
  };
}
