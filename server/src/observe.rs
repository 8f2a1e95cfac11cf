//! What each request leaves for operators: its count, latency and bytes in the metrics, and a
//! `tracing` span (target `cairn::request`: request id, operation, bucket, key) whose closing
//! event carries its status, duration and bytes. Requests log at INFO, failures (5xx) at WARN;
//! the default filter shows only the failures (`RUST_LOG=info` shows every request).

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use http::{Request, Response};
use s3s::{Body, HttpError};
use tracing::Instrument;

use crate::metrics::RequestMetrics;

/// The target of request spans and events.
pub const REQUEST_TARGET: &str = "cairn::request";

/// A request being answered: counted in flight until answered or dropped.
pub struct Observed {
    metrics: Arc<RequestMetrics>,
    in_flight: crate::pacing::InFlight,
    operation: String,
    started: Instant,
    received: u64,
    head: bool,
    span: tracing::Span,
}

/// What a request names, as the guard has worked it out.
pub struct Asked<'a, F: FnOnce() -> (String, String)> {
    pub request_id: &'a str,
    pub has_key: bool,
    /// The request names no bucket: `REST.<method>.SERVICE`.
    pub service: bool,
    pub website: bool,
    pub bucket_and_key: F,
}

impl Observed {
    pub fn begin<B, F: FnOnce() -> (String, String)>(
        metrics: &Arc<RequestMetrics>,
        in_flight: &crate::pacing::InFlight,
        request: &Request<B>,
        asked: Asked<'_, F>,
    ) -> Observed {
        metrics.arrived();
        in_flight.begin();
        let headers = request.headers();
        let copy = headers.contains_key("x-amz-copy-source");
        let method = request.method().as_str();
        let query = request.uri().query().unwrap_or("");
        let operation = match asked.service {
            true => format!("REST.{method}.SERVICE"),
            false => crate::logging::record::operation(method, query, asked.has_key, copy, asked.website),
        };
        let length = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let received = length("x-amz-decoded-content-length").or_else(|| length("content-length")).unwrap_or(0);
        let span = if tracing::enabled!(target: REQUEST_TARGET, tracing::Level::INFO) {
            let (bucket, key) = (asked.bucket_and_key)();
            tracing::info_span!(target: REQUEST_TARGET, "request", id = asked.request_id, operation, bucket, key)
        } else {
            tracing::Span::none()
        };
        Observed {
            metrics: metrics.clone(),
            in_flight: in_flight.clone(),
            operation,
            started: Instant::now(),
            received,
            head: request.method() == http::Method::HEAD,
            span,
        }
    }

    /// `answer`, counted and logged when it is ready.
    pub fn follow(
        self,
        answer: BoxFuture<'static, Result<Response<Body>, HttpError>>,
    ) -> BoxFuture<'static, Result<Response<Body>, HttpError>> {
        let span = self.span.clone();
        Box::pin(
            async move {
                let result = answer.await;
                self.answered(&result);
                result
            }
            .instrument(span),
        )
    }

    fn answered(mut self, result: &Result<Response<Body>, HttpError>) {
        let (status, sent) = match result {
            Ok(response) => {
                let status = response.status();
                let length = response.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
                let bodiless = self.head || status == http::StatusCode::NOT_MODIFIED;
                let sent = if bodiless { 0 } else { length.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) };
                (status.as_u16(), sent)
            }
            Err(_) => (500, 0),
        };
        let seconds = self.started.elapsed().as_secs_f64();
        let (received, duration_ms) = (self.received, seconds * 1000.0);
        if status >= 500 {
            tracing::warn!(target: REQUEST_TARGET, status, duration_ms, received, sent, "answered");
        } else {
            tracing::info!(target: REQUEST_TARGET, status, duration_ms, received, sent, "answered");
        }
        let operation = std::mem::take(&mut self.operation);
        self.metrics.answered(operation, status, seconds, received, sent);
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        self.metrics.left();
        self.in_flight.end();
    }
}
