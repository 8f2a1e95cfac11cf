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

/// S3: a presigned URL is valid for at most 7 days.
pub const PRESIGNED_EXPIRES_SECONDS_MAX: u64 = 7 * 24 * 60 * 60;

/// The service every connection is served by.
#[derive(Clone)]
pub struct Guard {
    inner: S3Service,
    next_request: Arc<AtomicU64>,
    /// Distinguishes this process's request ids from another run's.
    epoch: u64,
}

impl Guard {
    pub fn new(inner: S3Service) -> Guard {
        let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Guard { inner, next_request: Arc::new(AtomicU64::new(1)), epoch }
    }
}

/// Why a request is refused before `s3s` sees it: (status, S3 code, message).
fn refusal(request: &Request<Incoming>) -> Option<(StatusCode, &'static str, String)> {
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
    None
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
        if let Some((status, code, message)) = refusal(&request) {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
                escape_xml(&message)
            );
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
            response.headers_mut().insert("x-amz-request-id", header);
            return Box::pin(async move { Ok(response) });
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
