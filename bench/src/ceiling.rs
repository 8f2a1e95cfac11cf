//! `cairn-bench ceiling`: a minimal HTTP server that answers S3 requests as cheaply as possible,
//! storing nothing: PUT bodies are read and dropped, a GET returns as many bytes as the
//! `x-cairn-bench-size` header asks for. Run beside Cairn with the same client, it is the HTTP
//! ceiling of the machine: what a server that did no work would reach.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::client::SIZE_HEADER;

/// The largest GET the ceiling serves (it streams zeros, so this bounds time, not memory).
pub const GET_BYTES_MAX: u64 = 5 << 40;
/// Zeros a GET body is streamed in.
const ZEROS_BYTES: usize = 1 << 20;

type Body = BoxBody<Bytes, Infallible>;

/// Binds `address` and serves until the process ends. Returns the bound address at once.
pub async fn start(address: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(handle);
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(bound)
}

async fn handle(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let (parts, mut body) = request.into_parts();
    // Read and drop whatever was sent.
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            break;
        }
    }
    let query = parts.uri.query().unwrap_or("");
    let segments = parts.uri.path().trim_start_matches('/').splitn(2, '/').count();
    let on_object = segments == 2 && !parts.uri.path().ends_with('/');
    let size = parts
        .headers
        .get(SIZE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        .min(GET_BYTES_MAX);
    let response = match (parts.method, on_object) {
        (Method::GET, true) => stream_zeros(size),
        (Method::HEAD, true) => empty(StatusCode::OK).with_length(size),
        (Method::GET, false) => xml(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>ceiling</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>",
        ),
        (Method::POST, true) if query.contains("uploads") => xml(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult><UploadId>ceiling</UploadId></InitiateMultipartUploadResult>",
        ),
        (Method::POST, true) => xml(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult><ETag>\"00000000000000000000000000000000-1\"</ETag></CompleteMultipartUploadResult>",
        ),
        (Method::DELETE, _) => empty(StatusCode::NO_CONTENT),
        (Method::PUT, true) => {
            let mut response = empty(StatusCode::OK);
            response
                .headers_mut()
                .insert("etag", http::HeaderValue::from_static("\"00000000000000000000000000000000\""));
            response
        }
        _ => empty(StatusCode::OK),
    };
    Ok(response)
}

trait WithLength {
    fn with_length(self, length: u64) -> Self;
}

impl WithLength for Response<Body> {
    fn with_length(mut self, length: u64) -> Self {
        self.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(length));
        self
    }
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(http_body_util::Empty::new().boxed());
    *response.status_mut() = status;
    response
}

fn xml(text: &'static str) -> Response<Body> {
    let mut response = Response::new(http_body_util::Full::new(Bytes::from_static(text.as_bytes())).boxed());
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    response
}

fn stream_zeros(size: u64) -> Response<Body> {
    static ZEROS: [u8; ZEROS_BYTES] = [0; ZEROS_BYTES];
    let mut left = size;
    let pieces = std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let take = left.min(ZEROS_BYTES as u64) as usize;
        left -= take as u64;
        Some(Ok::<_, Infallible>(Frame::data(Bytes::from_static(&ZEROS[..take]))))
    });
    Response::new(StreamBody::new(futures::stream::iter(pieces)).boxed()).with_length(size)
}
