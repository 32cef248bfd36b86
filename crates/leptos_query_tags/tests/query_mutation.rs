//! Mutations as TanStack Query v5 users know them: callbacks in order, `mutate_async`, the
//! status enum, and tags or patterns alike in `affects`.

#[path = "support/settle.rs"]
mod settle;
use futures::channel::oneshot;
use leptos::prelude::*;
use leptos_query_tags::prelude::*;
use settle::settle;
use std::sync::{Arc, Mutex};

tag_tree! {
    mod app_tags {
        todos {
            list;
        }
    }
}

fn app() -> (Owner, QueryClient) {
    let _ = any_spawner::Executor::init_tokio();
    let owner = Owner::new();
    owner.set();
    let client = QueryClient::new();
    provide_context(client.clone());
    (owner, client)
}

type Gate = Arc<Mutex<Vec<oneshot::Sender<Result<u32, ServerFnError>>>>>;

/// A mutation whose server answers when the test says so, logging its callbacks in order.
fn logged(
    owner: &Owner,
    log: &Arc<Mutex<Vec<String>>>,
) -> (Mutation<String, u32, ServerFnError>, Gate) {
    let gate: Gate = Arc::default();
    let server = gate.clone();
    let (success, error, settled) = (log.clone(), log.clone(), log.clone());
    let mutation = owner.with(|| {
        use_mutation(
            MutationOptions::new(move |_title: String| {
                let (reply, answer) = oneshot::channel();
                server.lock().unwrap().push(reply);
                async move {
                    answer
                        .await
                        .unwrap_or_else(|_| Err(ServerFnError::new("dropped")))
                }
            })
            // A tag, no `.into()`.
            .affects(|_| vec![app_tags::todos::list()])
            .on_success(move |title, id| {
                success
                    .lock()
                    .unwrap()
                    .push(format!("success {title} {id}"))
            })
            .on_error(move |title, e| error.lock().unwrap().push(format!("error {title} {e}")))
            .on_settled(move |title, result| {
                settled.lock().unwrap().push(format!(
                    "settled {title} {}",
                    if result.is_ok() { "ok" } else { "err" }
                ))
            }),
        )
    });
    (mutation, gate)
}

fn answer(gate: &Gate, reply: Result<u32, ServerFnError>) {
    let sender = gate.lock().unwrap().remove(0);
    sender.send(reply).unwrap();
}

#[tokio::test(start_paused = true)]
async fn callbacks_run_in_order_and_the_status_follows_each_run() {
    let (owner, _client) = app();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (save, gate) = logged(&owner, &log);
    assert_eq!(owner.with(|| save.status()), MutationStatus::Idle);

    save.dispatch("milk".into());
    settle().await;
    assert_eq!(owner.with(|| save.status()), MutationStatus::Pending);
    answer(&gate, Ok(7));
    settle().await;
    assert_eq!(owner.with(|| save.status()), MutationStatus::Success);

    save.dispatch("bread".into());
    settle().await;
    answer(&gate, Err(ServerFnError::new("no bread")));
    settle().await;
    assert_eq!(owner.with(|| save.status()), MutationStatus::Error);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "success milk 7",
            "settled milk ok",
            "error bread error running server function: no bread",
            "settled bread err"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn mutate_async_resolves_with_the_result_after_the_callbacks() {
    let (owner, _client) = app();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (save, gate) = logged(&owner, &log);

    let run = owner.with(|| save.mutate_async("milk".into()));
    let waiting = tokio::spawn(run);
    settle().await;
    assert!(
        owner.with(|| save.pending()),
        "the reactive state follows it"
    );
    answer(&gate, Ok(42));
    assert_eq!(waiting.await.unwrap().unwrap(), 42);
    assert_eq!(*log.lock().unwrap(), ["success milk 42", "settled milk ok"]);
    assert_eq!(owner.with(|| save.value()).unwrap().unwrap(), 42);

    let run = owner.with(|| save.mutate_async("bread".into()));
    let waiting = tokio::spawn(run);
    settle().await;
    answer(&gate, Err(ServerFnError::new("no bread")));
    let error = waiting.await.unwrap().unwrap_err();
    assert!(error.to_string().contains("no bread"), "{error}");
}
