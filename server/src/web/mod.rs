//! The web side of S3: what browsers ask of a bucket. CORS (preflights answered and actual
//! responses granted from the bucket's rules), static website hosting (the website endpoint,
//! `website.rs` and `endpoint.rs`) and browser form uploads (POST Object, `post.rs`).

pub mod cors;
pub(crate) mod endpoint;
pub(crate) mod policy;
pub mod post;
pub mod presign;
pub(crate) mod sigv4;
pub mod website;

use bytes::Bytes;
use cairn_engine::Engine;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use s3s::Body;

use self::cors::{BUCKET_CORS, CORS_METHODS, CORS_VARY, Cors};

/// An S3 error document, as the guard writes the errors it answers itself.
/// Why a configuration is refused: (S3 error code, message).
pub type Invalid = (&'static str, String);

/// An S3 error with `code` (one s3s does not know is sent as it is written) and `message`.
pub(crate) fn s3_error(code: &str, message: &str) -> s3s::S3Error {
    let known = s3s::S3ErrorCode::from_bytes(code.as_bytes());
    let code = known.unwrap_or_else(|| s3s::S3ErrorCode::Custom(code.to_owned().into()));
    s3s::S3Error::with_message(code, message.to_owned())
}

pub(crate) fn xml_error(status: StatusCode, code: &str, message: &str, extra: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message>{extra}</Error>",
        crate::guard::escape_xml(message)
    );
    let mut response = Response::new(Body::from(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

/// The answer to a CORS preflight (`OPTIONS`) for `bucket` (`None`: the request named none),
/// `object` telling whether it named an object, from the first of the bucket's rules that allows
/// the origin, the method and every header asked for; AWS's errors otherwise.
pub(crate) fn preflight(engine: &Engine, bucket: Option<&str>, object: bool, headers: &HeaderMap) -> Response<Body> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(origin) = text("origin") else {
        let message = "Insufficient information. Origin request header needed.";
        return xml_error(StatusCode::BAD_REQUEST, "BadRequest", message, "");
    };
    let method = text("access-control-request-method").unwrap_or("");
    if !CORS_METHODS.contains(&method) {
        let shown = if method.is_empty() { "null" } else { method };
        let message = format!("Invalid Access-Control-Request-Method: {shown}");
        return xml_error(StatusCode::BAD_REQUEST, "BadRequest", &message, "");
    }
    let resource = format!(
        "<Method>{}</Method><ResourceType>{}</ResourceType>",
        crate::guard::escape_xml(method),
        if object { "OBJECT" } else { "BUCKET" }
    );
    let forbidden = |message: &str| xml_error(StatusCode::FORBIDDEN, "AccessForbidden", message, &resource);
    let Some(bucket) = bucket.filter(|b| !b.is_empty()) else {
        return forbidden("CORSResponse: Bucket not found");
    };
    let stored = match engine.get_bucket_config(bucket, BUCKET_CORS) {
        Ok(stored) => stored,
        Err(cairn_engine::Error::NoSuchBucket { .. }) => {
            let extra = format!("<BucketName>{}</BucketName>", crate::guard::escape_xml(bucket));
            return xml_error(StatusCode::NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist", &extra);
        }
        Err(error) => return xml_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &error.to_string(), ""),
    };
    let Some(cors) = stored.and_then(|stored| Cors::decode(&stored)) else {
        return forbidden("CORSResponse: CORS is not enabled for this bucket.");
    };
    let requested = text("access-control-request-headers").unwrap_or("");
    match cors.matching(origin, method, &cors::requested_headers(requested)) {
        Some(rule) => {
            let mut response = Response::new(Body::empty());
            rule.grant(origin, Some(requested), response.headers_mut());
            response
        }
        None => forbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        ),
    }
}

/// Adds to a response to an actual cross-origin request (one with an `Origin`) what the bucket's
/// first rule allowing its origin and method grants, errors included; a bucket with CORS rules
/// that allow nothing here still says what its answers vary by.
pub(crate) fn grant(engine: &Engine, bucket: &str, method: &Method, origin: &str, response: &mut Response<Body>) {
    let Some(stored) = engine.get_bucket_config(bucket, BUCKET_CORS).ok().flatten() else { return };
    let Some(cors) = Cors::decode(&stored) else { return };
    match cors.matching(origin, method.as_str(), &[]) {
        Some(rule) => rule.grant(origin, None, response.headers_mut()),
        None => {
            response.headers_mut().insert(http::header::VARY, HeaderValue::from_static(CORS_VARY));
        }
    }
}
