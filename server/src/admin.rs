//! The admin listener (`--admin-address`): what an operator reads of a running server, off the
//! S3 port and without S3 credentials (bind it where only operators reach it).
//!
//! - `GET /replication`: the replication queue and what the worker has done, as JSON:
//!   `backlog_entries` and `backlog_bytes` (entries waiting, over every bucket, and their
//!   payload bytes), `lag_seconds` (the age of the oldest version waiting: how far the
//!   destinations are behind; 0 with no backlog), and since the server started `replicated`,
//!   `replicated_bytes`, `failed` (copies a destination refused) and `retries` (batches tried
//!   again).
//! - `GET /metrics`: every metric in the Prometheus text format (see [`crate::metrics`]).
//! - `GET /health`: 200 while the process answers (liveness).
//! - `GET /ready`: 200 while the S3 listener takes requests; 503 once a shutdown has begun
//!   (readiness: a load balancer sends no more requests).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::replication::{Entry, OUTBOX_PREFIX, Replication};

/// Connections the admin listener serves at once (it answers small documents).
pub const ADMIN_CONNECTIONS_MAX: usize = 64;

/// The figures of `GET /replication`.
pub fn replication_report(replication: &Replication) -> serde_json::Value {
    let (entries, bytes) = replication.backlog();
    let counters = &replication.counters;
    serde_json::json!({
        "backlog_entries": entries,
        "backlog_bytes": bytes,
        "lag_seconds": lag_ms(replication) as f64 / 1000.0,
        "replicated": counters.replicated.load(Ordering::Relaxed),
        "replicated_bytes": counters.replicated_bytes.load(Ordering::Relaxed),
        "failed": counters.failed.load(Ordering::Relaxed),
        "retries": counters.retries.load(Ordering::Relaxed),
    })
}

/// The age of the oldest version waiting in any bucket's queue, in ms.
pub(crate) fn lag_ms(replication: &Replication) -> u64 {
    let engine = replication.engine();
    let now = crate::logging::now_ms();
    let mut oldest = now;
    for (outbox, _, _) in engine.outboxes(OUTBOX_PREFIX) {
        let bucket = &outbox[OUTBOX_PREFIX.len()..];
        let Some((seq, payload)) = engine.outbox_entries(&outbox, 1).into_iter().next() else { continue };
        let Some(entry) = Entry::parse(seq, &payload) else { continue };
        let written = match engine.version(bucket, &entry.key, entry.version).map(|v| v.kind) {
            Ok(cairn_engine::VersionKind::Object(info)) => info.last_modified_ms,
            Ok(cairn_engine::VersionKind::DeleteMarker { last_modified_ms }) => last_modified_ms,
            Err(_) => continue,
        };
        oldest = oldest.min(written);
    }
    now.saturating_sub(oldest)
}

/// What the admin listener reports on.
#[derive(Debug)]
pub struct Admin {
    pub replication: Arc<Replication>,
    pub metrics: crate::metrics::Metrics,
    /// True once a shutdown has begun.
    pub stopped: watch::Receiver<bool>,
}

/// Serves the admin listener until the task is aborted (it answers through a shutdown, which
/// `/ready` reports).
pub async fn serve(listener: TcpListener, admin: Arc<Admin>) {
    let open = Arc::new(tokio::sync::Semaphore::new(ADMIN_CONNECTIONS_MAX));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!("admin accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else { continue };
        let admin = admin.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| answer(request, admin.clone()));
            let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!("admin connection from {peer}: {error}");
            }
            drop(permit);
        });
    }
}

/// The OpenMetrics text format (prometheus-client writes it; Prometheus reads it).
const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn answer(
    request: http::Request<Incoming>,
    admin: Arc<Admin>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    const JSON: &str = "application/json";
    let (status, kind, body) = match (request.method(), request.uri().path()) {
        (&http::Method::GET, "/replication") => (200, JSON, replication_report(&admin.replication).to_string()),
        (&http::Method::GET, "/metrics") => (200, METRICS_CONTENT_TYPE, admin.metrics.render()),
        (&http::Method::GET, "/health") => (200, JSON, r#"{"status":"ok"}"#.to_owned()),
        (&http::Method::GET, "/ready") if *admin.stopped.borrow() => (503, JSON, r#"{"status":"stopping"}"#.to_owned()),
        (&http::Method::GET, "/ready") => (200, JSON, r#"{"status":"ready"}"#.to_owned()),
        (&http::Method::GET, _) => (404, JSON, r#"{"error":"no such admin resource"}"#.to_owned()),
        _ => (405, JSON, r#"{"error":"the admin listener answers GET"}"#.to_owned()),
    };
    let response = http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, kind)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response");
    Ok(response)
}

/// Binds the admin listener, if one is configured.
pub async fn bind(address: Option<SocketAddr>) -> std::io::Result<Option<TcpListener>> {
    match address {
        Some(address) => Ok(Some(TcpListener::bind(address).await?)),
        None => Ok(None),
    }
}
