// The benchmark's peer: the minimal subset of the leptos_query_tags protocol (hello, invalidate,
// publish) in express 5 + better-sse, the usual Node stack for SSE. One channel; every session
// registered on it receives every broadcast.
import express from 'express';
import { createChannel, createSession } from 'better-sse';

const secret = process.env.BENCH_SECRET || 'bench-secret';
const [host, port] = (process.env.BENCH_ADDR || '127.0.0.1:0').split(':');
const epoch = Date.now();
let seq = 0;
const channel = createChannel();
const app = express();

app.get('/api/query-tags/events', async (req, res) => {
  const session = await createSession(req, res, { keepAlive: 15_000, retry: 2_000 });
  session.push({ protocol: 1, epoch, cursor: `${epoch}-${seq}`, heartbeat_ms: 15_000 }, 'hello');
  channel.register(session);
});

app.post('/api/query-tags/publish', express.json({ limit: '64kb' }), (req, res) => {
  if (req.get('authorization') !== `Bearer ${secret}`) {
    return res.status(401).json({ error: 'unauthorized', message: 'bad secret' });
  }
  if (!Array.isArray(req.body?.tags) || req.body.tags.length === 0) {
    return res.status(400).json({ error: 'bad_tags', message: 'tags must be a non-empty array' });
  }
  seq += 1;
  const id = `${epoch}-${seq}`;
  channel.broadcast({ tags: req.body.tags, scope: 'global' }, 'invalidate', { eventId: id });
  res.json({ id });
});

const server = app.listen(Number(port), host, () => {
  console.log(`listening on http://${host}:${server.address().port}`);
});
server.keepAliveTimeout = 0;
server.requestTimeout = 0;
server.headersTimeout = 0;
server.maxConnections = 1_000_000;
