//! `GET <base>/metrics`: the hub's [`stats`](super::Hub::stats) in the Prometheus text format,
//! through the `metrics` and `metrics-exporter-prometheus` crates (feature `prometheus`).
//!
//! The hub keeps its own recorder (not the process-wide one), so it works beside whatever
//! recorder the application installs. Only aggregate numbers are exported: streams are counted
//! per scope *kind* (`user`, `tenant`, `global`), never per scope key, so the endpoint reveals
//! nothing about who is connected.

use super::hub::Hub;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics::{counter, gauge, with_local_recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Path of the endpoint under the hub's base path.
pub(crate) const METRICS_PATH: &str = "/metrics";

pub(crate) fn route(router: Router<Hub>, hub: &Hub) -> Router<Hub> {
    let recorder = Arc::new(PrometheusBuilder::new().build_recorder());
    router.route(
        &format!("{}{METRICS_PATH}", hub.base_path()),
        get(
            move |axum::extract::State(hub): axum::extract::State<Hub>| {
                let recorder = recorder.clone();
                async move { render(&hub, &recorder) }
            },
        ),
    )
}

fn render(hub: &Hub, recorder: &PrometheusRecorder) -> Response {
    let stats = hub.stats();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for (scope, n) in &stats.streams_per_scope {
        let kind = scope.split(':').next().unwrap_or(scope).to_owned();
        *by_kind.entry(kind).or_default() += n;
    }
    with_local_recorder(recorder, || {
        gauge!("query_tags_streams").set(stats.streams as f64);
        for (kind, n) in by_kind {
            gauge!("query_tags_streams_by_scope_kind", "kind" => kind).set(n as f64);
        }
        counter!("query_tags_events_published_total").absolute(stats.events_published);
        counter!("query_tags_events_delivered_total").absolute(stats.events_delivered);
        for (reason, n) in [
            ("unknown_epoch", stats.resets.unknown_epoch),
            ("cursor_too_old", stats.resets.cursor_too_old),
            ("lagged", stats.resets.lagged),
        ] {
            counter!("query_tags_resets_total", "reason" => reason).absolute(n);
        }
        counter!("query_tags_write_timeouts_total").absolute(stats.write_timeouts);
        gauge!("query_tags_backend_info", "backend" => stats.backend).set(1.0);
        gauge!("query_tags_backend_connected").set(if stats.backend_connected { 1.0 } else { 0.0 });
        gauge!("query_tags_backend_behind_events").set(stats.backend_behind as f64);
        gauge!("query_tags_backend_outbox_events").set(stats.backend_outbox as f64);
    });
    let mut response = recorder.handle().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
