// The React peer's page: the demo's Todos page (`src/app/todos.rs`) in React 19 + TanStack
// Query 5, kept live the way leptos_query_tags does it: one EventSource per page, and each
// `invalidate` event invalidates the cached queries whose tags it matches.
//
// The markup and behaviour follow the demo's (same classes, same label and button; the add is
// optimistic with a provisional row, the list says `aria-busy` while it refetches, the card
// says `saving` while a write is pending). One difference is TanStack Query's and is measured
// as such: the writing tab fetches the list twice per change (the event's invalidation and the
// mutation's `onSettled` one, which cancels and restarts the first by default; both reach the
// server), where the demo fetches once (its own write's event is covered by its refetch). One
// driver
// (`../e2e/latency.mjs`) measures both pages:
// - `.app[data-hydrated=true]` once React has mounted the page,
// - `.live[data-state=open]` once the event stream said hello,
// - rows are `li.todo` with a `.title`.
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import {
  QueryClient,
  QueryClientProvider,
  useMutation,
  useQuery,
  useQueryClient,
} from '@tanstack/react-query';

/** A query tag matches an event's tag if it equals it or lies below it (`todos` covers
 * `todos.list`): the prefix match of leptos_query_tags, on dot-separated segments. */
function tagMatches(queryTag, eventTag) {
  return queryTag === eventTag || queryTag.startsWith(`${eventTag}.`);
}

async function json(response) {
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  return response.json();
}

/** Ids of rows shown before the server has stored them (negative: never a database id). */
let nextProvisionalId = -1;

const fetchTodos = () => fetch('/api/todos').then(json);

const addTodo = (title) =>
  fetch('/api/todos', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title }),
  }).then(json);

/** Keeps one event stream open for the page's lifetime; reports its state. */
function useLiveInvalidation(queryClient) {
  const [state, setState] = useState('connecting');
  useEffect(() => {
    const source = new EventSource('/api/events');
    source.addEventListener('hello', () => setState('open'));
    source.addEventListener('invalidate', (event) => {
      const { tags } = JSON.parse(event.data);
      queryClient.invalidateQueries({
        predicate: (query) =>
          query.meta?.tags?.some((queryTag) => tags.some((tag) => tagMatches(queryTag, tag))) ??
          false,
      });
    });
    // EventSource reconnects by itself; `error` means it is between attempts.
    source.addEventListener('error', () => setState('reconnecting'));
    return () => source.close();
  }, [queryClient]);
  return state;
}

function LiveBadge({ state }) {
  const label = state === 'open' ? 'Live' : state === 'reconnecting' ? 'Reconnecting' : 'Connecting';
  return (
    <span className="live" data-state={state}>
      <span className="dot"></span>
      {label}
    </span>
  );
}

function TodoRow({ todo }) {
  // A provisional row exists only in this browser until the server confirms it (as the demo's).
  const provisional = todo.id < 0;
  const className = ['todo', todo.done && 'done', provisional && 'provisional'].filter(Boolean).join(' ');
  return (
    <li className={className} data-id={todo.id}>
      <label>
        <input type="checkbox" checked={todo.done} disabled={provisional} readOnly />
        <span className="title">{todo.title}</span>
      </label>
      <button className="delete" aria-label="Delete" title="Delete" disabled={provisional}>
        ×
      </button>
    </li>
  );
}

function TodosPage() {
  const queryClient = useQueryClient();
  const todos = useQuery({ queryKey: ['todos'], queryFn: fetchTodos, meta: { tags: ['todos'] } });
  // The demo's add is optimistic: the row shows at once, provisional, and the list is refetched
  // when the server answers. The same here, in TanStack Query's documented way (onMutate
  // cancels fetches in flight and writes the cache; onError rolls back; onSettled refetches).
  const add = useMutation({
    mutationFn: addTodo,
    onMutate: async (title) => {
      await queryClient.cancelQueries({ queryKey: ['todos'] });
      const previous = queryClient.getQueryData(['todos']);
      queryClient.setQueryData(['todos'], (todos = []) => [
        ...todos,
        { id: nextProvisionalId--, title: title.trim(), done: false },
      ]);
      return { previous };
    },
    onError: (_error, _title, context) => {
      if (context?.previous) queryClient.setQueryData(['todos'], context.previous);
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['todos'] }),
  });
  const [title, setTitle] = useState('');

  const onSubmit = (event) => {
    event.preventDefault();
    if (title.trim()) {
      add.mutate(title);
      setTitle('');
    }
  };

  let body;
  if (todos.isPending) {
    body = <p className="muted">Loading…</p>;
  } else if (todos.isError) {
    body = (
      <p className="error" role="alert">
        {todos.error.message}
      </p>
    );
  } else if (todos.data.length === 0) {
    body = <p className="empty">Nothing to do. Add a todo above.</p>;
  } else {
    const open = todos.data.filter((t) => !t.done).length;
    body = (
      <>
        <ul className="todo-list" aria-busy={String(todos.isFetching)}>
          {todos.data.map((todo) => (
            <TodoRow key={todo.id} todo={todo} />
          ))}
        </ul>
        <p className="muted count">{open} open</p>
      </>
    );
  }

  return (
    <section className={add.isPending ? 'card todos saving' : 'card todos'}>
      <header className="card-header">
        <h1>Todos</h1>
        <p className="muted">Shared by everyone. Open this page in two windows: changes appear in both.</p>
      </header>
      <form className="add-form" onSubmit={onSubmit}>
        <input
          type="text"
          name="title"
          placeholder="What needs doing?"
          maxLength={200}
          autoComplete="off"
          aria-label="New todo"
          value={title}
          onChange={(event) => setTitle(event.target.value)}
        />
        <button type="submit" disabled={add.isPending}>
          Add
        </button>
      </form>
      {add.isError && (
        <p className="error" role="alert">
          {add.error.message}
        </p>
      )}
      {body}
    </section>
  );
}

function App({ queryClient }) {
  const live = useLiveInvalidation(queryClient);
  // Effects run after the first commit: from then on the page is interactive.
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);
  return (
    <div className="app" data-hydrated={String(hydrated)}>
      <header className="topbar">
        <a className="brand" href="/">
          query<span>tags</span>
        </a>
        <nav>
          <a href="/">Todos</a>
        </nav>
        <LiveBadge state={live} />
      </header>
      <main>
        <TodosPage />
      </main>
      <footer className="muted">React 19 + TanStack Query 5 peer of the leptos_query_tags demo.</footer>
    </div>
  );
}

const queryClient = new QueryClient();
createRoot(document.getElementById('root')).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App queryClient={queryClient} />
    </QueryClientProvider>
  </StrictMode>,
);
