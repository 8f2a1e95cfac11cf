//! What stands in front of `s3s` for what it does not do: a request id on every response,
//! refusal of Signature Version 2 (its comparisons are not constant-time), and a 7-day cap on
//! presigned URLs (S3's limit).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use s3s::service::S3Service;
use s3s::{Body, HttpError};

use crate::http::Domain;

/// S3: a presigned URL is valid for at most 7 days.
pub const PRESIGNED_EXPIRES_SECONDS_MAX: u64 = 7 * 24 * 60 * 60;

/// The service every connection is served by.
#[derive(Clone)]
pub struct Guard {
    inner: S3Service,
    next_request: Arc<AtomicU64>,
    /// Distinguishes this process's request ids from another run's.
    epoch: u64,
    /// The virtual-hosted-style domain, if configured.
    domain: Option<Arc<Domain>>,
}

impl Guard {
    pub fn new(inner: S3Service, domain: Option<Arc<Domain>>) -> Guard {
        let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Guard { inner, next_request: Arc::new(AtomicU64::new(1)), epoch, domain }
    }
}

/// Why a request is refused before `s3s` sees it: (status, S3 code, message).
fn refusal(request: &Request<Incoming>, domain: Option<&Domain>) -> Option<(StatusCode, &'static str, String)> {
    let unsupported = || {
        Some((
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.".to_owned(),
        ))
    };
    if let Some(authorization) = request.headers().get(http::header::AUTHORIZATION) {
        let text = authorization.as_bytes();
        if text.starts_with(b"AWS ") {
            return unsupported();
        }
        // SigV4 with a Credential, SignedHeaders and Signature component, as S3 requires.
        let text = String::from_utf8_lossy(text);
        if let Some(rest) = text.strip_prefix("AWS4-HMAC-SHA256 ")
            && ["Credential=", "SignedHeaders=", "Signature="].iter().any(|part| !rest.contains(part))
        {
            return Some((
                StatusCode::BAD_REQUEST,
                "AuthorizationHeaderMalformed",
                "The authorization header is malformed; it must have Credential, SignedHeaders and Signature components."
                    .to_owned(),
            ));
        }
    }
    let query = request.uri().query().unwrap_or("");
    let mut signature_v2 = (false, false);
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "AWSAccessKeyId" => signature_v2.0 = true,
            "Signature" => signature_v2.1 = true,
            "X-Amz-Expires" => {
                let valid = value.parse::<u64>().is_ok_and(|seconds| seconds <= PRESIGNED_EXPIRES_SECONDS_MAX);
                if !valid {
                    return Some((
                        StatusCode::BAD_REQUEST,
                        "AuthorizationQueryParametersError",
                        format!(
                            "X-Amz-Expires must be less than a week (in seconds) that is {PRESIGNED_EXPIRES_SECONDS_MAX}"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    if signature_v2 == (true, true) {
        return unsupported();
    }
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > XML_BODY_BYTES_MAX as u64)
        && carries_xml(request, virtual_host(request, domain))
    {
        return Some((
            StatusCode::BAD_REQUEST,
            "MaxMessageLengthExceeded",
            format!("Your request was too big: XML request bodies are at most {XML_BODY_BYTES_MAX} bytes."),
        ));
    }
    None
}

/// Subresources whose PUT body is a document (XML, or JSON for `policy`) rather than object data.
const XML_SUBRESOURCES: [&str; 21] = [
    "tagging",
    "versioning",
    "acl",
    "cors",
    "lifecycle",
    "website",
    "encryption",
    "replication",
    "logging",
    "notification",
    "policy",
    "accelerate",
    "requestPayment",
    "ownershipControls",
    "publicAccessBlock",
    "object-lock",
    "retention",
    "legal-hold",
    "intelligent-tiering",
    "analytics",
    "inventory",
];

/// Whether the Host header is `<bucket>.<domain>` (any port).
fn virtual_host(request: &Request<Incoming>, domain: Option<&Domain>) -> bool {
    let host = request.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    domain.is_some_and(|domain| domain.bucket(host).is_some())
}

/// The most of a refused request's body read before the error is sent.
pub const REFUSED_BODY_DRAIN_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The most an XML request body may hold (s3s is configured with the same limit).
pub const XML_BODY_BYTES_MAX: usize = 20 * 1024 * 1024;

/// Whether a request's body is an XML document (every POST; a PUT on a bucket or on a
/// subresource such as `?tagging`), not object data (a PUT of an object or a part).
/// `virtual_host`: the request names its bucket in the Host header.
fn carries_xml(request: &Request<Incoming>, virtual_host: bool) -> bool {
    match *request.method() {
        http::Method::POST => true,
        http::Method::PUT => {
            let query = request.uri().query().unwrap_or("");
            let subresource = query
                .split('&')
                .map(|pair| pair.split_once('=').map_or(pair, |(name, _)| name))
                .any(|name| XML_SUBRESOURCES.contains(&name));
            let path = request.uri().path().trim_start_matches('/');
            let bucket_only = if virtual_host { path.is_empty() } else { !path.trim_end_matches('/').contains('/') };
            subresource || bucket_only
        }
        _ => false,
    }
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl hyper::service::Service<Request<Incoming>> for Guard {
    type Response = Response<Body>;
    type Error = HttpError;
    type Future = BoxFuture<'static, Result<Response<Body>, HttpError>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let number = self.next_request.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("{:08X}{:08X}", self.epoch as u32, number);
        let header = HeaderValue::from_str(&request_id).expect("hex digits are a valid header value");
        if let Some((status, code, message)) = refusal(&request, self.domain.as_deref()) {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
                escape_xml(&message)
            );
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
            response.headers_mut().insert("x-amz-request-id", header);
            // A refused body is read (up to a bound) before the answer, so a client still
            // sending it sees the error instead of a connection closed under it.
            let drain = code == "MaxMessageLengthExceeded";
            return Box::pin(async move {
                if drain {
                    use http_body_util::BodyExt;
                    let mut body = request.into_body();
                    let mut seen = 0usize;
                    while seen < REFUSED_BODY_DRAIN_BYTES_MAX {
                        match body.frame().await {
                            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
                            _ => break,
                        }
                    }
                }
                Ok(response)
            });
        }
        let inner = self.inner.clone();
        Box::pin(async move {
            let mut response = hyper::service::Service::call(&inner, request).await?;
            response.headers_mut().insert("x-amz-request-id", header);
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn xml_is_escaped() {
        assert_eq!(super::escape_xml("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
    }
}
