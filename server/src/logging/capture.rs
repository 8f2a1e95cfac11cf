//! Taking a request's access log record: the guard opens a [`Pending`] record for a request to a
//! bucket that logs, the authorization step says who asked ([`Said`], through a task-local),
//! and the record is kept when the response's last byte is sent, or its connection goes.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use s3s::Body;

use super::record::{Record, operation};
use super::{AccessLog, Source};

tokio::task_local! {
    /// What the authorization step learned of the request being logged.
    pub static SAID: Arc<Said>;
}

/// The requester and whether an ACL granted the request, as the authorization step decided.
#[derive(Debug, Default)]
pub struct Said {
    requester: Mutex<Option<String>>,
    acl_required: AtomicBool,
}

/// Records the requester of the request being logged, if it is.
pub fn say_requester(requester: impl FnOnce() -> String) {
    let _ = SAID
        .try_with(|said| *said.requester.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(requester()));
}

/// Records that an ACL granted the request being logged, if it is.
pub fn say_acl_required() {
    let _ = SAID.try_with(|said| said.acl_required.store(true, Ordering::Relaxed));
}

/// A record being taken.
#[derive(Debug)]
pub struct Pending {
    log: Arc<AccessLog>,
    record: Record,
    started: Instant,
    /// When the request's body ended (set by its [`Timed`] wrapper).
    body_ended: Arc<Mutex<Option<Instant>>>,
    pub said: Arc<Said>,
}

/// The parts of a request a record is made of.
#[derive(Debug)]
pub struct Asked<'a> {
    pub method: &'a http::Method,
    pub uri: &'a http::Uri,
    pub version: http::Version,
    pub headers: &'a HeaderMap,
    pub bucket: &'a str,
    pub key: &'a str,
    pub peer: Option<IpAddr>,
    pub request_id: &'a str,
    pub host_id: &'a str,
    pub website: bool,
}

impl Pending {
    /// A record of the request `asked`, if its bucket logs.
    pub fn begin(log: &Arc<AccessLog>, asked: &Asked<'_>) -> Option<Pending> {
        if asked.bucket.is_empty() {
            return None;
        }
        let source = log.source(asked.bucket)?;
        Some(Pending {
            log: log.clone(),
            record: Self::request_fields(&source, asked),
            started: Instant::now(),
            body_ended: Arc::default(),
            said: Arc::default(),
        })
    }

    fn request_fields(source: &Source, asked: &Asked<'_>) -> Record {
        let headers = asked.headers;
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let query = asked.uri.query().unwrap_or("");
        let presigned = query.split('&').any(|pair| pair.starts_with("X-Amz-Algorithm="));
        let signed = headers.get(http::header::AUTHORIZATION).is_some_and(|v| v.as_bytes().starts_with(b"AWS4-"));
        let copy = headers.contains_key("x-amz-copy-source");
        let method = asked.method.as_str();
        let target = asked.uri.path_and_query().map_or("/", |p| p.as_str());
        let size = text("x-amz-decoded-content-length").or_else(|| text("content-length"));
        Record {
            bucket_owner: source.owner_canonical.clone(),
            bucket: asked.bucket.to_owned(),
            time_ms: super::now_ms(),
            remote_ip: asked.peer,
            request_id: asked.request_id.to_owned(),
            operation: operation(method, query, !asked.key.is_empty(), copy, asked.website),
            key: (!asked.key.is_empty()).then(|| asked.key.to_owned()),
            request_uri: format!("{method} {target} {:?}", asked.version),
            // A write's object size is its body's; a read's is filled from the response.
            object_size: if matches!(*asked.method, http::Method::PUT) && !copy {
                size.and_then(|s| s.parse().ok())
            } else {
                None
            },
            referer: text("referer"),
            user_agent: text("user-agent"),
            version_id: query.split('&').find_map(|p| p.strip_prefix("versionId=")).map(str::to_owned),
            host_id: asked.host_id.to_owned(),
            signature_version: (signed || presigned).then_some("SigV4"),
            auth_type: if signed {
                Some("AuthHeader")
            } else if presigned {
                Some("QueryString")
            } else {
                None
            },
            host: text("host"),
            ..Record::default()
        }
    }

    /// The request's body, timed: its end is the turn-around time's start.
    pub fn timed<B>(&self, request: Request<B>) -> Request<Body>
    where
        B: HttpBody<Data = Bytes> + Send + Sync + Unpin + 'static,
        s3s::StdError: From<B::Error>,
    {
        let ended = self.body_ended.clone();
        request.map(|body| Body::http_body(Timed { inner: body, ended }))
    }

    /// The response with its status, headers and error taken into the record, and its body
    /// wrapped to keep the record when it ends.
    pub fn respond(mut self: Box<Self>, response: Response<Body>) -> Response<Body> {
        let now = Instant::now();
        let record = &mut self.record;
        record.status = response.status().as_u16();
        let headers = response.headers();
        let number = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if record.status >= 400 {
            record.error_code = response.body().bytes().and_then(|body| error_code(&body));
            record.object_size = None;
        } else if record.object_size.is_none() && record.operation.ends_with(".OBJECT") {
            // The whole object's size: a range's total, else the length sent.
            let total = headers
                .get(http::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|range| range.rsplit_once('/'))
                .and_then(|(_, total)| total.parse().ok());
            record.object_size =
                total.or_else(|| number("content-length")).filter(|_| !record.operation.starts_with("REST.DELETE"));
        }
        if let Some(version) = headers.get("x-amz-version-id").and_then(|v| v.to_str().ok()) {
            record.version_id = Some(version.to_owned());
        }
        let body_ended = *self.body_ended.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let turned = now.saturating_duration_since(body_ended.unwrap_or(self.started).max(self.started));
        record.turnaround_ms = Some(turned.as_millis() as u64);
        let (parts, body) = response.into_parts();
        let body = Body::http_body(Logged { inner: body, sent: 0, pending: Some(self) });
        Response::from_parts(parts, body)
    }

    fn finish(mut self: Box<Self>, sent: u64) {
        self.record.bytes_sent = sent;
        self.record.total_ms = self.started.elapsed().as_millis() as u64;
        self.record.requester = self.said.requester.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        self.record.acl_required = self.said.acl_required.load(Ordering::Relaxed);
        self.log.keep(&self.record);
    }
}

/// The `<Code>` of an S3 error body.
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let (_, rest) = text.split_once("<Code>")?;
    let (code, _) = rest.split_once("</Code>")?;
    Some(code.to_owned())
}

/// A request body that notes when it ends.
struct Timed<B> {
    inner: B,
    ended: Arc<Mutex<Option<Instant>>>,
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for Timed<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || (polled.is_ready() && self.inner.is_end_stream()) {
            *self.ended.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its record once sent (or abandoned).
struct Logged {
    inner: Body,
    sent: u64,
    pending: Option<Box<Pending>>,
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, s3s::StdError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                self.sent += frame.data_ref().map_or(0, |data| data.len() as u64);
                if self.inner.is_end_stream() {
                    self.end();
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.end(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Logged {
    fn end(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.finish(self.sent);
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        self.end();
    }
}
