// The React peer of the end-to-end latency benchmark (`../e2e/latency.mjs`): the demo's todo
// page, served by express 5 + better-sse in the style of `../peer-node/server.mjs`.
//
// - `GET  /`            the HTML page (the client renders everything: there is no SSR)
// - `GET  /app.js`      the esbuild bundle of `client.jsx` (`npm run build` makes it)
// - `GET  /style.css`   the demo's own stylesheet (`style/main.css`), so both pages lay out alike
// - `GET  /api/todos`   the todo list, oldest first (JSON)
// - `POST /api/todos`   adds a todo (`{ "title": "…" }`); after the 2xx answer, every open
//                       page is sent an `invalidate` event with the tags `["todos"]`
// - `GET  /api/events`  the event stream: `hello` once, then `invalidate` events
// - `GET  /api/stats`   `{ "sessions": N }`, the event streams the server holds open now
//
// The todos live in memory: every start begins with an empty list, like the demo on a fresh
// database. `BENCH_ADDR` (default `127.0.0.1:0`) is where it listens; it prints
// `listening on http://…` once it does.
import express from 'express';
import { createChannel, createSession } from 'better-sse';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const stylesheet = resolve(here, '..', '..', '..', 'style', 'main.css');
const bundle = join(here, 'dist', 'app.js');
const [host, port] = (process.env.BENCH_ADDR || '127.0.0.1:0').split(':');

/** Longest title accepted, in characters (the demo's `MAX_TITLE_CHARS`). */
const MAX_TITLE_CHARS = 200;
const todos = [];
let nextId = 1;
let seq = 0;
/** Every open event stream is registered here; a broadcast reaches them all. */
const channel = createChannel();

const page = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>React peer</title>
    <link rel="stylesheet" href="/style.css" />
  </head>
  <body>
    <div id="root"></div>
    <script src="/app.js"></script>
  </body>
</html>
`;

const app = express();

app.get('/', (req, res) => res.type('html').send(page));
app.get('/app.js', (req, res) => res.sendFile(bundle));
app.get('/style.css', (req, res) => res.sendFile(stylesheet));

app.get('/api/todos', (req, res) => res.json(todos));

app.post('/api/todos', express.json({ limit: '16kb' }), (req, res) => {
  const title = typeof req.body?.title === 'string' ? req.body.title.trim() : '';
  if (!title) return res.status(400).json({ error: 'A todo needs a title.' });
  if ([...title].length > MAX_TITLE_CHARS) {
    return res.status(400).json({ error: `A title has at most ${MAX_TITLE_CHARS} characters.` });
  }
  const todo = { id: nextId++, title, done: false };
  todos.push(todo);
  res.status(201).json(todo);
  // After the answer, like the demo's server function: every page (this one included)
  // refetches the queries tagged `todos…`.
  seq += 1;
  channel.broadcast({ tags: ['todos'] }, 'invalidate', { eventId: String(seq) });
});

app.get('/api/events', async (req, res) => {
  const session = await createSession(req, res, { keepAlive: 15_000, retry: 2_000 });
  session.push({ protocol: 1, cursor: String(seq) }, 'hello');
  channel.register(session);
});

app.get('/api/stats', (req, res) => res.json({ sessions: channel.sessionCount }));

const server = app.listen(Number(port), host, () => {
  console.log(`listening on http://${host}:${server.address().port}`);
});
// Event streams are long-lived: no server-side timeouts (as in the Node peer).
server.keepAliveTimeout = 0;
server.requestTimeout = 0;
server.headersTimeout = 0;
