//! The agent's local API, served over HTTP on a Unix socket:
//! `GET /v1/status`; `POST /v1/events` (body: an `EventFilter`; response: a
//! stream of event JSON lines); `GET /v1/tables`; `POST /v1/query/sql` (body:
//! a `SqlRequest`) and `POST /v1/query/pxl` (body: a `ScriptRequest`), both
//! answering with a `QueryResponse`; `POST /v1/flows` (body: a
//! `FlowsRequest`; response: flow JSON lines, as `hubble observe -o json`);
//! `GET /metrics` (Prometheus text, see `metrics`); `GET /v1/policies`,
//! `POST /v1/policies` (body: TracingPolicy YAML) and
//! `POST /v1/policies/{delete,enable,disable}` (body: `{"name": …}`).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use scry_model::event::{Event, EventEnvelope, LostEvents};
use scry_model::filter::EventFilter;
use scry_model::status::AgentStatus;

use scry_query::QueryEngine;
use scry_query::wire::{self, QueryResponse, ResultTable, ScriptRequest, SqlRequest, TableInfo};

use scry_model::flow::filter::FlowsRequest;
use scry_model::flow::{FlowBody, FlowResponse, LostFlows, LostSource};

use crate::events::{EventBus, Subscription};
use crate::flows::hub::{FlowHub, Matcher, Window};
use crate::metrics::Metrics;
use crate::policies::PolicyManager;

/// A stream chunk stops growing at this size.
const CHUNK_BYTES: usize = 256 << 10;

/// How often an idle stream checks for drops to announce.
const LOSS_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

#[derive(Clone)]
pub struct ApiState {
    pub bus: Arc<EventBus>,
    pub status: Arc<dyn Fn() -> AgentStatus + Send + Sync>,
    pub node_name: String,
    /// Per-subscriber queue length.
    pub queue: usize,
    pub engine: Arc<QueryEngine>,
    /// The flow buffer; `None` when the flow source could not start.
    pub flows: Option<Arc<FlowHub>>,
    pub metrics: Arc<Metrics>,
    /// The policy engine; `None` when it could not load.
    pub policies: Option<PolicyManager>,
}

pub fn router(state: ApiState) -> axum::Router {
    axum::Router::new()
        .route("/v1/status", get(status))
        .route("/v1/events", post(events))
        .route("/v1/tables", get(tables))
        .route("/v1/query/sql", post(sql))
        .route("/v1/query/pxl", post(pxl))
        .route("/v1/flows", post(flows))
        .route("/metrics", get(metrics))
        .route("/v1/policies", get(list_policies).post(add_policy))
        .route("/v1/policies/{command}", post(policy_command))
        .with_state(state)
}

fn no_policy_engine() -> Response {
    let why = "the policy engine is not available on this agent (`scry status` says why)";
    (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
}

async fn list_policies(State(st): State<ApiState>) -> Response {
    match st.policies {
        Some(m) => Json(tokio::task::spawn_blocking(move || m.list()).await.unwrap_or_default()).into_response(),
        None => no_policy_engine(),
    }
}

async fn add_policy(State(st): State<ApiState>, body: Bytes) -> Response {
    let Some(m) = st.policies else { return no_policy_engine() };
    let yaml = String::from_utf8_lossy(&body).into_owned();
    match tokio::task::spawn_blocking(move || m.add(yaml)).await {
        Ok(Ok(info)) => Json(info).into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, e).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct PolicyName {
    name: String,
}

async fn policy_command(
    State(st): State<ApiState>,
    axum::extract::Path(command): axum::extract::Path<String>,
    body: Bytes,
) -> Response {
    let Some(m) = st.policies else { return no_policy_engine() };
    let name = match serde_json::from_slice::<PolicyName>(&body) {
        Ok(n) => n.name,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid policy request: {e}")).into_response(),
    };
    let done = tokio::task::spawn_blocking(move || match command.as_str() {
        "delete" => m.delete(name),
        "enable" => m.set_enabled(name, true).map(drop),
        "disable" => m.set_enabled(name, false).map(drop),
        other => Err(format!("unknown policy command {other:?} (delete, enable, disable)")),
    })
    .await;
    match done {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, e).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn metrics(State(st): State<ApiState>) -> impl IntoResponse {
    crate::metrics::handler(State(st.metrics)).await
}

async fn status(State(st): State<ApiState>) -> Json<AgentStatus> {
    Json((st.status)())
}

async fn tables(State(st): State<ApiState>) -> Json<Vec<TableInfo>> {
    let tables = st.engine.store().tables();
    Json(tables.iter().map(|t| TableInfo { columns: wire::columns(&t.schema()), stats: t.stats() }).collect())
}

async fn sql(State(st): State<ApiState>, body: Bytes) -> Response {
    let req: SqlRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid query request: {e}")).into_response(),
    };
    let max_rows = req.max_rows.unwrap_or(wire::DEFAULT_MAX_ROWS);
    let result = match st.engine.sql(&req.query, max_rows).await {
        Ok(out) => ResultTable::from_output(&out),
        Err(e) => Err(e),
    };
    match result {
        Ok(table) => Json(QueryResponse { tables: vec![table] }).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn pxl(State(st): State<ApiState>, body: Bytes) -> Response {
    let req: ScriptRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid script request: {e}")).into_response(),
    };
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let tables = match scry_pxl::run(&st.engine, &req, now).await {
        Ok(outputs) => outputs.iter().map(ResultTable::from_output).collect::<Result<Vec<_>, _>>(),
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    match tables {
        Ok(tables) => Json(QueryResponse { tables }).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn events(State(st): State<ApiState>, body: Bytes) -> Response {
    let filter: EventFilter = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("invalid event filter: {e}")).into_response();
        }
    };
    let compiled = match filter.compile() {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let sub = st.bus.subscribe(Box::new(move |e| compiled.matches(&e.event)), st.queue);
    let node = st.node_name.clone();
    let notice = move |lost| EventEnvelope {
        event: Event::LostEvents(LostEvents { count: lost, source: "stream_queue".into() }),
        node_name: node.as_str().into(),
        time: chrono::Utc::now(),
    };
    ndjson(Body::from_stream(follow(sub, notice)))
}

/// A subscriber's items as JSON lines, with a lost-items line (made by
/// `notice`) whenever its queue overflowed since the last one. Items come in
/// bursts (collectors drain their rings on a timer): each chunk carries
/// every item already queued, up to a bound, so a burst costs one write.
fn follow<T, N>(
    sub: Subscription<T>,
    notice: impl Fn(u64) -> N + Send + 'static,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send
where
    T: serde::Serialize + Send + Sync + 'static,
    N: serde::Serialize,
{
    let lost_line = move |sub: &Subscription<T>| {
        let lost = sub.lost.swap(0, Ordering::Relaxed);
        if lost == 0 {
            return Vec::new();
        }
        let mut out = serde_json::to_vec(&notice(lost)).unwrap_or_default();
        out.push(b'\n');
        out
    };
    futures::stream::unfold((sub, lost_line), |(mut sub, lost_line)| async move {
        let first = loop {
            tokio::select! {
                item = sub.rx.recv() => break item?,
                // Drops after the last delivered item are announced even if
                // no further item comes.
                () = tokio::time::sleep(LOSS_CHECK) => {
                    let line = lost_line(&sub);
                    if !line.is_empty() {
                        return Some((Ok(Bytes::from(line)), (sub, lost_line)));
                    }
                }
            }
        };
        let mut item = Some(first);
        let mut out = lost_line(&sub);
        while let Some(it) = item.take() {
            // Serializing our own types to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, &*it);
            out.push(b'\n');
            if out.len() < CHUNK_BYTES {
                item = sub.rx.try_recv().ok();
            }
        }
        Some((Ok(Bytes::from(out)), (sub, lost_line)))
    })
}

/// Buffered flows a request selects, then (with `follow`) new ones as they come.
async fn flows(State(st): State<ApiState>, body: Bytes) -> Response {
    let Some(hub) = st.flows.clone() else {
        let why = "network flows are not available on this agent (`scry status` says why)";
        return (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    };
    let req: FlowsRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid flows request: {e}")).into_response(),
    };
    let filters = match req.compile() {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let window = match (req.number, req.first) {
        (Some(n), true) => Window::First(n as usize),
        (Some(n), false) => Window::Last(n as usize),
        // Following alone shows what comes from now on.
        (None, _) if req.follow && req.since.is_none() => Window::Last(0),
        (None, _) => Window::All,
    };
    let (since, until) = (req.since, req.until);
    let in_range = move |f: &scry_model::flow::Flow| {
        f.time.is_none_or(|t| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u))
    };
    let matcher: Matcher = Box::new(move |f| in_range(f) && filters.matches(f));
    let (past, sub) = hub.read(window, matcher, req.follow.then_some(st.queue));
    let mut head = Vec::new();
    for f in &past {
        let _ = serde_json::to_writer(&mut head, &**f);
        head.push(b'\n');
    }
    let first = futures::stream::once(async move { Ok::<_, Infallible>(Bytes::from(head)) });
    let Some(sub) = sub else {
        return ndjson(Body::from_stream(first));
    };
    let node = st.node_name.clone();
    let notice = move |lost| FlowResponse {
        body: FlowBody::LostEvents(LostFlows { source: LostSource::ObserverEventsQueue, num_events_lost: lost }),
        node_name: node.as_str().into(),
        time: chrono::Utc::now(),
    };
    ndjson(Body::from_stream(futures::StreamExt::chain(first, follow(sub, notice))))
}

fn ndjson(body: Body) -> Response {
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
