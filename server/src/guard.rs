//! What stands in front of `s3s` for what it does not do as AWS does: a request id on every
//! response and in every error body, refusal of Signature Version 2 (its comparisons are not
//! constant-time), AWS's errors for malformed presigned URLs and missing dates, a 7-day cap on
//! presigned URLs (S3's limit), `Date` as the signing time when `x-amz-date` is absent, and bodies
//! of unknown length (`Transfer-Encoding: chunked`) for unsigned payloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::pacing::RequestBody;
use bytes::Bytes;
use cairn_engine::Engine;
use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response, StatusCode};
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
    /// The connection's peer (`aws:SourceIp`).
    peer: Option<std::net::IpAddr>,
    /// The store, for what browsers ask before and beside S3 (CORS rules).
    engine: Engine,
    /// This is the website listener: every request is a website request.
    website: bool,
    /// Every account's secret by access key, to check a browser form's signature.
    secrets: Arc<std::collections::HashMap<String, String>>,
    /// Where requests to buckets that log are recorded.
    access_log: Option<Arc<crate::logging::AccessLog>>,
    /// Which buckets publish events (their requests carry their ids to the handlers).
    notifications: Option<Arc<crate::notify::Notifications>>,
    /// Where each request is counted.
    metrics: Arc<crate::metrics::RequestMetrics>,
    /// The connection's requests in flight (its idle timer runs while there are none).
    in_flight: crate::pacing::InFlight,
}

impl Guard {
    pub fn new(
        inner: S3Service,
        domain: Option<Arc<Domain>>,
        engine: Engine,
        secrets: Arc<std::collections::HashMap<String, String>>,
    ) -> Guard {
        let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let next_request = Arc::new(AtomicU64::new(1));
        Guard {
            inner,
            next_request,
            epoch,
            domain,
            peer: None,
            engine,
            website: false,
            secrets,
            access_log: None,
            notifications: None,
            metrics: Arc::default(),
            in_flight: crate::pacing::InFlight::default(),
        }
    }

    /// Counts requests in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::RequestMetrics>) -> Guard {
        self.metrics = metrics;
        self
    }

    /// Hands each request's ids to the handlers while some bucket publishes events.
    pub fn with_notifications(mut self, notifications: Arc<crate::notify::Notifications>) -> Guard {
        self.notifications = Some(notifications);
        self
    }

    /// `ids` for the handlers' events, if some bucket publishes them (or the request may be
    /// the first to configure some: its test message names it).
    fn event_ids(&self, ids: &Ids, query: Option<&str>) -> Option<crate::notify::RequestIds> {
        let configures = || query.is_some_and(|query| query.contains("notification"));
        self.notifications.as_ref().filter(|n| n.enabled() || configures()).map(|_| crate::notify::RequestIds {
            request: ids.request.clone(),
            host: ids.host.to_str().unwrap_or_default().to_owned(),
        })
    }

    /// Records requests to buckets that log into `access_log`.
    pub fn with_access_log(mut self, access_log: Arc<crate::logging::AccessLog>) -> Guard {
        self.access_log = Some(access_log);
        self
    }

    /// An access log record for `request`, if its bucket logs (one atomic load when none does).
    fn pending(
        &self,
        request: &Request<RequestBody>,
        ids: &Ids,
        named: &Named,
        website: Option<&str>,
    ) -> Option<Box<crate::logging::capture::Pending>> {
        let log = self.access_log.as_ref().filter(|log| log.enabled())?;
        let (bucket, key) = match website {
            Some(bucket) => (bucket.to_owned(), request.uri().path().trim_start_matches('/').to_owned()),
            None => named.bucket_and_key(),
        };
        let asked = crate::logging::capture::Asked {
            method: request.method(),
            uri: request.uri(),
            version: request.version(),
            headers: request.headers(),
            bucket: &bucket,
            key: &key,
            peer: self.peer,
            request_id: &ids.request,
            host_id: ids.host.to_str().unwrap_or_default(),
            website: website.is_some(),
        };
        crate::logging::capture::Pending::begin(log, &asked).map(Box::new)
    }

    /// This guard for the website listener.
    pub fn for_website(mut self) -> Guard {
        self.website = true;
        self
    }

    /// The bucket whose website a request asks for: every request to the website listener, and
    /// on the API listener a host `<bucket>.s3-website.<domain>`.
    fn website_bucket(&self, request: &Request<RequestBody>) -> Option<String> {
        let host = request.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if self.website {
            return Some(crate::web::endpoint::website_bucket(host));
        }
        let named = self.domain.as_deref()?.bucket(host)?;
        named.strip_suffix(".s3-website").filter(|bucket| !bucket.is_empty()).map(str::to_owned)
    }

    /// This guard for a connection whose requests in flight `in_flight` counts.
    pub fn with_connection(mut self, in_flight: crate::pacing::InFlight) -> Guard {
        self.in_flight = in_flight;
        self
    }

    /// This guard for one connection from `peer`.
    pub fn with_peer(mut self, peer: std::net::IpAddr) -> Guard {
        self.peer = Some(peer);
        self
    }
}

/// Why a request is refused before `s3s` sees it: (status, S3 code, message).
fn refusal(request: &Request<RequestBody>, domain: Option<&Domain>) -> Option<(StatusCode, &'static str, String)> {
    let unsupported = || {
        Some((
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.".to_owned(),
        ))
    };
    if let Some(authorization) = request.headers().get(http::header::AUTHORIZATION) {
        let text = authorization.as_bytes();
        // An empty Authorization authenticates nobody, whatever other auth headers say.
        if text.iter().all(u8::is_ascii_whitespace) {
            return Some((StatusCode::FORBIDDEN, "AccessDenied", "Access Denied".to_owned()));
        }
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
    if let Some(refused) = date_refusal(request) {
        return Some(refused);
    }
    let query = request.uri().query().unwrap_or("");
    if let Some(reason) = presigned_v4_malformed(query) {
        return Some((StatusCode::BAD_REQUEST, "AuthorizationQueryParametersError", reason));
    }
    if missing_length(request, virtual_host(request, domain)) {
        return Some((
            StatusCode::LENGTH_REQUIRED,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.".to_owned(),
        ));
    }
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

/// The error AWS gives a SigV4 header-signed request without a usable signing time: neither an
/// `x-amz-date` nor (when that is absent) a `Date` it can read. `x-amz-date` wins when both are
/// sent, so a malformed `x-amz-date` is refused even beside a good `Date`.
fn date_refusal(request: &Request<RequestBody>) -> Option<(StatusCode, &'static str, String)> {
    let headers = request.headers();
    let sigv4 = headers.get(http::header::AUTHORIZATION).is_some_and(|v| v.as_bytes().starts_with(b"AWS4-"));
    if !sigv4 {
        return None;
    }
    let valid = match headers.get("x-amz-date") {
        Some(value) => value.to_str().ok().and_then(amz_date).is_some(),
        None => headers.get(http::header::DATE).and_then(|v| v.to_str().ok()).and_then(http_date_as_amz).is_some(),
    };
    (!valid).then(|| {
        (
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "AWS authentication requires a valid Date or x-amz-date header".to_owned(),
        )
    })
}

/// `yyyymmddThhmmssZ`, SigV4's timestamp, as a time.
pub(crate) fn amz_date(text: &str) -> Option<time::PrimitiveDateTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(text, &format).ok()
}

/// An HTTP `Date` (RFC 7231 IMF-fixdate) as SigV4's timestamp.
pub(crate) fn http_date_as_amz(text: &str) -> Option<String> {
    let parsed = s3s::dto::Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, text).ok()?;
    let time = time::OffsetDateTime::from(parsed);
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time.format(&format).ok()
}

/// The query parameters a SigV4 presigned URL must carry.
const PRESIGNED_V4_PARAMETERS: [&str; 6] =
    ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"];

/// Why a SigV4 presigned URL is malformed, as AWS's AuthorizationQueryParametersError says it:
/// a parameter missing, an algorithm other than AWS4-HMAC-SHA256, a credential that is not
/// `<key>/<yyyymmdd>/<region>/<service>/aws4_request`, a date not `yyyymmddThhmmssZ`, an expiry
/// that is not 0 to 7 days in seconds.
pub(crate) fn presigned_v4_malformed(query: &str) -> Option<String> {
    let mut values: [Option<String>; 6] = Default::default();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let Some(at) = PRESIGNED_V4_PARAMETERS.iter().position(|p| *p == name) {
            values[at] = Some(percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned());
        }
    }
    if values.iter().all(Option::is_none) {
        return None;
    }
    if let Some(at) = values.iter().position(Option::is_none) {
        return Some(format!(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters; {} is missing.",
            PRESIGNED_V4_PARAMETERS[at]
        ));
    }
    let [algorithm, credential, date, expires, _, _] = values.map(Option::unwrap_or_default);
    if algorithm != "AWS4-HMAC-SHA256" {
        return Some("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"".to_owned());
    }
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" || scope[1].len() != 8 || scope.iter().any(|s| s.is_empty()) {
        return Some(
            "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
                .to_owned(),
        );
    }
    if amz_date(&date).is_none() {
        return Some("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"".to_owned());
    }
    match expires.parse::<i64>() {
        Ok(seconds) if seconds < 0 => Some("X-Amz-Expires must be non-negative".to_owned()),
        Ok(seconds) if seconds as u64 <= PRESIGNED_EXPIRES_SECONDS_MAX => None,
        Ok(_) => {
            Some(format!("X-Amz-Expires must be less than a week (in seconds) that is {PRESIGNED_EXPIRES_SECONDS_MAX}"))
        }
        Err(_) => Some("X-Amz-Expires should be a number".to_owned()),
    }
}

/// Whether a PUT of object data over HTTP/1 frames no body at all: neither Content-Length nor
/// Transfer-Encoding. AWS answers 411 MissingContentLength (a copy, which has no body, excepted).
fn missing_length(request: &Request<RequestBody>, virtual_host: bool) -> bool {
    let headers = request.headers();
    request.method() == http::Method::PUT
        && request.version() <= http::Version::HTTP_11
        && !headers.contains_key(http::header::CONTENT_LENGTH)
        && !headers.contains_key(http::header::TRANSFER_ENCODING)
        && !headers.contains_key("x-amz-copy-source")
        && !carries_xml(request, virtual_host)
}

/// A request whose body length is not known before it arrives: `Transfer-Encoding: chunked`
/// without Content-Length, on an unsigned payload. s3s refuses such bodies; Cairn streams them
/// like any other and checks no length. (A body with a signed SHA-256 needs its length up front,
/// as s3s verifies the hash against it, and stays MissingContentLength.)
#[derive(Clone, Copy, Debug)]
pub(crate) struct LengthUnknown;

/// Adapts a request to what s3s expects, without touching anything a signature covers:
/// `x-amz-date` from `Date` when only `Date` was sent (not a signed header then, so adding it
/// changes no canonical request), and a placeholder Content-Length for a chunked unsigned body,
/// marked `LengthUnknown` so the handler checks no length.
fn adapt(request: &mut Request<RequestBody>) {
    let headers = request.headers();
    let sigv4 = headers.get(http::header::AUTHORIZATION).is_some_and(|v| v.as_bytes().starts_with(b"AWS4-"));
    if sigv4 && !headers.contains_key("x-amz-date") {
        let date = headers.get(http::header::DATE).and_then(|v| v.to_str().ok()).and_then(http_date_as_amz);
        if let Some(value) = date.and_then(|d| HeaderValue::from_str(&d).ok()) {
            request.headers_mut().insert("x-amz-date", value);
        }
    }
    let headers = request.headers();
    let chunked = headers
        .get(http::header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let unsigned = headers.get("x-amz-content-sha256").is_none_or(|v| v.as_bytes() == b"UNSIGNED-PAYLOAD");
    if chunked && unsigned && !headers.contains_key(http::header::CONTENT_LENGTH) {
        request.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        request.extensions_mut().insert(LengthUnknown);
    }
}

/// Whether a request claims a digest of its body (Content-MD5 or an `x-amz-checksum-*` value) that
/// is sent whole (not aws-chunked, whose frames s3s decodes and whose checksums ride in trailers).
fn claims_digest(request: &Request<RequestBody>) -> bool {
    let headers = request.headers();
    let streaming = headers.get("x-amz-content-sha256").is_some_and(|v| v.as_bytes().starts_with(b"STREAMING-"));
    // A browser form upload (POST Object) is object data, not a document.
    let form =
        headers.get(http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"multipart/form-data"));
    let claims = headers.contains_key("content-md5")
        || cairn_engine::ChecksumAlgorithm::ALL
            .into_iter()
            .any(|algorithm| headers.contains_key(crate::checksum::header(algorithm)));
    claims && !streaming && !form
}

/// Reads an XML document body (at most `XML_BODY_BYTES_MAX`) and checks the digests it claims,
/// as S3 checks them on every request (s3s checks them on object data only): a mismatch is
/// BadDigest, a malformed Content-MD5 InvalidDigest, a malformed checksum InvalidRequest.
async fn verified_document(request: Request<RequestBody>) -> Result<Request<Body>, s3s::S3Error> {
    use http_body_util::BodyExt;
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, XML_BODY_BYTES_MAX);
    let bytes = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return Err(s3s::s3_error!(MaxMessageLengthExceeded, "Your request was too big."));
        }
        Err(error) => return Err(s3s::s3_error!(IncompleteBody, "the body ended early: {error}")),
    };
    if let Some(value) = parts.headers.get("content-md5") {
        use md5::Digest;
        let claimed = value.to_str().ok().and_then(crate::checksum::base64_decode).filter(|d| d.len() == 16);
        let claimed = claimed.ok_or_else(|| s3s::s3_error!(InvalidDigest))?;
        if claimed != md5::Md5::digest(&bytes).as_slice() {
            return Err(s3s::s3_error!(BadDigest, "The Content-MD5 you specified did not match what was received."));
        }
    }
    if let Some(claim) = crate::checksum::claim(&parts.headers)? {
        let algorithm = claim.algorithm;
        let mut sums = crate::checksum::BodyChecksums::new(Some(claim), algorithm);
        sums.update(&bytes);
        sums.finish(None)?;
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// What a request named, kept to fill in an error body: its URI and, for virtual-hosted style,
/// the bucket its Host header named.
struct Named {
    uri: http::Uri,
    host_bucket: Option<String>,
}

impl Named {
    fn of(request: &Request<RequestBody>, domain: Option<&Domain>) -> Named {
        let host = request.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let host_bucket = domain.and_then(|d| d.bucket(host)).map(str::to_owned);
        Named { uri: request.uri().clone(), host_bucket }
    }

    /// Whether the request names no bucket (ListBuckets).
    fn is_service(&self) -> bool {
        self.host_bucket.is_none() && self.uri.path().trim_start_matches('/').is_empty()
    }

    /// Whether the path names a key (not only a bucket, or the service).
    fn has_key(&self) -> bool {
        let path = self.uri.path().trim_start_matches('/');
        match &self.host_bucket {
            Some(_) => !path.is_empty(),
            None => path.split_once('/').is_some_and(|(_, key)| !key.is_empty()),
        }
    }

    /// The bucket and key the path names (either may be empty).
    fn bucket_and_key(&self) -> (String, String) {
        let path = self.uri.path().trim_start_matches('/');
        let decode = |text: &str| percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned();
        match &self.host_bucket {
            Some(bucket) => (bucket.clone(), decode(path)),
            None => {
                let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
                (decode(bucket), decode(key))
            }
        }
    }

    fn query(&self, name: &str) -> String {
        let query = self.uri.query().unwrap_or("");
        let value = query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')).unwrap_or("");
        percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned()
    }

    /// The elements AWS's error body adds for `code`: the bucket, key, version or upload it
    /// names.
    fn elements(&self, code: &str) -> String {
        let (bucket, key) = self.bucket_and_key();
        let element = |name: &str, value: &str| format!("<{name}>{}</{name}>", escape_xml(value));
        match code {
            "NoSuchBucket"
            | "BucketAlreadyExists"
            | "BucketAlreadyOwnedByYou"
            | "BucketNotEmpty"
            | "InvalidBucketName" => element("BucketName", &bucket),
            "NoSuchKey" => element("Key", &key),
            "NoSuchVersion" => element("Key", &key) + &element("VersionId", &self.query("versionId")),
            "NoSuchUpload" => element("UploadId", &self.query("uploadId")),
            _ => String::new(),
        }
    }
}

/// Stamps a response with the request's ids, in the headers and, for an S3 error, in its XML body
/// (`RequestId` and `HostId`, as AWS's error documents carry them, and the resource the error is
/// about: `BucketName`, `Key`, `VersionId`, `UploadId`).
fn stamp(response: &mut Response<Body>, request_id: &HeaderValue, host_id: &HeaderValue, named: Option<&Named>) {
    response.headers_mut().insert("x-amz-request-id", request_id.clone());
    response.headers_mut().insert("x-amz-id-2", host_id.clone());
    if response.status().as_u16() < 400 {
        return;
    }
    let Some(bytes) = response.body().bytes() else { return };
    let Some(at) = bytes.windows(8).rposition(|w| w == b"</Error>") else { return };
    if bytes.windows(11).any(|w| w == b"<RequestId>") {
        return;
    }
    let text = String::from_utf8_lossy(&bytes);
    let code = text.split_once("<Code>").and_then(|(_, rest)| rest.split_once("</Code>")).map_or("", |(code, _)| code);
    let resource = named.map(|named| named.elements(code)).unwrap_or_default();
    let ids = format!(
        "{resource}<RequestId>{}</RequestId><HostId>{}</HostId>",
        request_id.to_str().unwrap_or_default(),
        host_id.to_str().unwrap_or_default()
    );
    let mut stamped = Vec::with_capacity(bytes.len() + ids.len());
    stamped.extend_from_slice(&bytes[..at]);
    stamped.extend_from_slice(ids.as_bytes());
    stamped.extend_from_slice(&bytes[at..]);
    replace_body(response, stamped);
}

/// What s3s writes into an XML document differently from AWS, mended before it is sent:
/// characters XML 1.0 cannot hold raw (a key may contain any of U+0001 to U+001F) become
/// character references, as AWS writes them; GetObjectAttributes' ETag is unquoted in AWS's
/// answer (s3s quotes every ETag).
fn mend_xml(response: &mut Response<Body>, attributes: bool) {
    let is_xml = response.headers().get(http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == b"application/xml");
    let Some(bytes) = response.body().bytes().filter(|_| is_xml) else { return };
    let raw_control = |b: &u8| *b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r');
    let quoted_etag = attributes && bytes.windows(7).any(|w| w == b"<ETag>\"");
    if !quoted_etag && !bytes.iter().any(raw_control) {
        return;
    }
    let mut mended = Vec::with_capacity(bytes.len() + 16);
    for &byte in bytes.iter() {
        if raw_control(&byte) {
            mended.extend_from_slice(format!("&#x{byte:X};").as_bytes());
        } else {
            mended.push(byte);
        }
    }
    if quoted_etag {
        let text = String::from_utf8_lossy(&mended).replace("<ETag>\"", "<ETag>").replace("\"</ETag>", "</ETag>");
        mended = text.into_bytes();
    }
    replace_body(response, mended);
}

/// Puts a rewritten body in a response, its Content-Length (if it declared one) to match.
fn replace_body(response: &mut Response<Body>, body: Vec<u8>) {
    if response.headers().contains_key(http::header::CONTENT_LENGTH) {
        response.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    *response.body_mut() = Body::from(Bytes::from(body));
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
fn virtual_host(request: &Request<RequestBody>, domain: Option<&Domain>) -> bool {
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
fn carries_xml(request: &Request<RequestBody>, virtual_host: bool) -> bool {
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

pub(crate) fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl hyper::service::Service<Request<hyper::body::Incoming>> for Guard {
    type Response = Response<Body>;
    type Error = HttpError;
    type Future = Answer;

    fn call(&self, request: Request<hyper::body::Incoming>) -> Self::Future {
        let request = request.map(RequestBody::new);
        let number = self.next_request.fetch_add(1, Ordering::Relaxed);
        let request_id = request_id(self.epoch as u32, number);
        let ids = Ids {
            header: HeaderValue::from_str(&request_id).expect("hex digits are a valid header value"),
            host: host_id(&request_id),
            request: request_id,
        };
        let named = Named::of(&request, self.domain.as_deref());
        let website = self.website_bucket(&request);
        let asked = crate::observe::Asked {
            request_id: &ids.request,
            has_key: named.has_key(),
            service: website.is_none() && named.is_service(),
            website: website.is_some(),
            bucket_and_key: || match &website {
                Some(bucket) => (bucket.clone(), request.uri().path().trim_start_matches('/').to_owned()),
                None => named.bucket_and_key(),
            },
        };
        let observed = crate::observe::Observed::begin(&self.metrics, &self.in_flight, &request, asked);
        observed.follow(self.answer(request, ids, named, website))
    }
}

impl Guard {
    /// The answer to a request, by what it asks for.
    fn answer(&self, request: Request<RequestBody>, ids: Ids, named: Named, website: Option<String>) -> Answer {
        // What only browsers send (preflights, forms, Origin) and website visits need the
        // request's bucket and key before s3s; every other request skips working them out.
        let browser = website.is_some()
            || matches!(*request.method(), http::Method::OPTIONS | http::Method::POST)
            || request.headers().contains_key(http::header::ORIGIN);
        let mut cors = CorsAsk(None);
        if browser {
            let (bucket, key) = match &website {
                Some(bucket) => (bucket.clone(), request.uri().path().trim_start_matches('/').to_owned()),
                None => named.bucket_and_key(),
            };
            if request.method() == http::Method::OPTIONS {
                let mut response =
                    crate::web::preflight(&self.engine, Some(&bucket), !key.is_empty(), request.headers());
                stamp(&mut response, &ids.header, &ids.host, None);
                return Box::pin(std::future::ready(Ok(response)));
            }
            cors = CorsAsk::of(&request, bucket.clone());
            if let Some(bucket) = website {
                let pending = self.pending(&request, &ids, &named, Some(&bucket));
                return logged(self.visit(request, bucket, ids, cors), pending);
            }
            if crate::web::post::is_form(&request, &key) && !bucket.is_empty() {
                let pending = self.pending(&request, &ids, &named, None);
                return logged(self.upload(request, bucket, ids, named, cors), pending);
            }
        }
        let pending = self.pending(&request, &ids, &named, None);
        if let Some(refused) = refusal(&request, self.domain.as_deref()) {
            return logged(refuse(request, refused, ids, cors, &self.engine), pending);
        }
        self.forward(request, ids, named, cors, pending)
    }
}

/// A request's id as a header, and its host id.
struct Ids {
    request: String,
    header: HeaderValue,
    host: HeaderValue,
}

type Answer = BoxFuture<'static, Result<Response<Body>, HttpError>>;

/// `answer`, its response recorded in the access log when `pending` is a record.
fn logged(answer: Answer, pending: Option<Box<crate::logging::capture::Pending>>) -> Answer {
    match pending {
        None => answer,
        Some(pending) => Box::pin(async move { Ok(pending.respond(answer.await?)) }),
    }
}

impl Guard {
    /// A request for a bucket's website: answered by the website endpoint.
    fn visit(&self, request: Request<RequestBody>, bucket: String, ids: Ids, cors: CorsAsk) -> Answer {
        let visit = crate::web::endpoint::Visit {
            inner: self.inner.clone(),
            engine: self.engine.clone(),
            peer: self.peer,
            bucket,
            request_id: ids.request.clone(),
            host_id: ids.host.to_str().unwrap_or_default().to_owned(),
        };
        let engine = self.engine.clone();
        Box::pin(async move {
            let (method, path, headers) =
                (request.method().clone(), request.uri().path().to_owned(), request.headers().clone());
            let mut response = visit.serve(method, &path, &headers).await?;
            stamp(&mut response, &ids.header, &ids.host, None);
            cors.grant(&engine, &mut response);
            Ok(response)
        })
    }

    /// A browser form upload (POST Object).
    fn upload(&self, request: Request<RequestBody>, bucket: String, ids: Ids, named: Named, cors: CorsAsk) -> Answer {
        let upload = crate::web::post::Upload {
            inner: self.inner.clone(),
            secrets: self.secrets.clone(),
            peer: self.peer,
            bucket,
            event_ids: self.event_ids(&ids, None),
        };
        let engine = self.engine.clone();
        Box::pin(async move {
            let mut response = upload.serve(request).await;
            stamp(&mut response, &ids.header, &ids.host, Some(&named));
            cors.grant(&engine, &mut response);
            Ok(response)
        })
    }

    /// Every other request: through s3s (and its one authorization step) to the handlers.
    fn forward(
        &self,
        mut request: Request<RequestBody>,
        ids: Ids,
        named: Named,
        cors: CorsAsk,
        pending: Option<Box<crate::logging::capture::Pending>>,
    ) -> Answer {
        adapt(&mut request);
        if let Some(event_ids) = self.event_ids(&ids, request.uri().query()) {
            request.extensions_mut().insert(event_ids);
        }
        let attributes = request.method() == http::Method::GET
            && request.uri().query().unwrap_or("").split('&').any(|pair| pair == "attributes" || pair == "attributes=");
        let digested = carries_xml(&request, virtual_host(&request, self.domain.as_deref())) && claims_digest(&request);
        let inner = self.inner.clone();
        let peer = self.peer;
        let engine = self.engine.clone();
        Box::pin(async move {
            let request = if digested {
                match verified_document(request).await {
                    Ok(request) => request,
                    Err(error) => {
                        let mut response = error.to_http_response().map_err(|e| HttpError::new(Box::new(e)))?;
                        stamp(&mut response, &ids.header, &ids.host, Some(&named));
                        cors.grant(&engine, &mut response);
                        return Ok(match pending {
                            Some(pending) => pending.respond(response),
                            None => response,
                        });
                    }
                }
            } else {
                match &pending {
                    Some(pending) => pending.timed(request),
                    None => request.map(Body::from),
                }
            };
            let call = inner.call(request);
            let said = pending.as_ref().map(|pending| pending.said.clone());
            let mut response = match (said, peer) {
                (None, Some(peer)) => crate::authorization::PEER.scope(peer, call).await?,
                (None, None) => call.await?,
                (Some(said), Some(peer)) => {
                    let call = crate::authorization::PEER.scope(peer, call);
                    crate::logging::capture::SAID.scope(said, call).await?
                }
                (Some(said), None) => crate::logging::capture::SAID.scope(said, call).await?,
            };
            if let Some(StatusOverride(status)) = response.extensions().get::<StatusOverride>().copied() {
                *response.status_mut() = status;
            }
            mend_xml(&mut response, attributes);
            stamp(&mut response, &ids.header, &ids.host, Some(&named));
            cors.grant(&engine, &mut response);
            Ok(match pending {
                Some(pending) => pending.respond(response),
                None => response,
            })
        })
    }
}

/// A request refused before s3s sees it, with AWS's XML error.
fn refuse(
    request: Request<RequestBody>,
    (status, code, message): (http::StatusCode, &'static str, String),
    ids: Ids,
    cors: CorsAsk,
    engine: &Engine,
) -> Answer {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message></Error>",
        escape_xml(&message)
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    stamp(&mut response, &ids.header, &ids.host, None);
    cors.grant(engine, &mut response);
    // A refused body is read (up to a bound) before the answer, so a client still sending it
    // sees the error instead of a connection closed under it.
    let drain = code == "MaxMessageLengthExceeded";
    Box::pin(async move {
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
    })
}

/// A cross-origin request (one with an `Origin`) to a bucket, whose answer the bucket's CORS
/// rules may grant; `None` for any other request, which costs nothing more.
struct CorsAsk(Option<(String, String, http::Method)>);

impl CorsAsk {
    fn of(request: &Request<RequestBody>, bucket: String) -> CorsAsk {
        let Some(origin) = request.headers().get("origin").and_then(|v| v.to_str().ok()) else { return CorsAsk(None) };
        CorsAsk((!bucket.is_empty()).then(|| (bucket, origin.to_owned(), request.method().clone())))
    }

    fn grant(&self, engine: &Engine, response: &mut Response<Body>) {
        if let Some((bucket, origin, method)) = &self.0 {
            crate::web::grant(engine, bucket, method, origin, response);
        }
    }
}

/// A success status other than the one s3s gives an operation (which ignores
/// `S3Response::status`): a handler puts it in the response's extensions and the guard sets it
/// (RestoreObject's `202 Accepted`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StatusOverride(pub http::StatusCode);

/// The `x-amz-id-2` of a request: AWS's is an opaque base64 token; Cairn's is the base64 of the
/// request id with the server's name, so it too names one request.
fn host_id(request_id: &str) -> HeaderValue {
    let mut named = String::with_capacity(6 + request_id.len());
    named.push_str("cairn/");
    named.push_str(request_id);
    let token = base64_simd::STANDARD.encode_to_string(named);
    HeaderValue::from_str(&token).expect("base64 is a valid header value")
}

/// A request's id: the server's epoch and the request's number, in upper-case hex, 8 digits each
/// at least (as `{:08X}{:08X}` writes them; built by hand, as every request makes one).
fn request_id(epoch: u32, number: u64) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut id = String::with_capacity(32);
    for value in [u64::from(epoch), number] {
        let digits = ((64 - value.leading_zeros() as usize).div_ceil(4)).max(8);
        for at in (0..digits).rev() {
            id.push(DIGITS[((value >> (4 * at)) & 15) as usize] as char);
        }
    }
    id
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_read_as_format_writes_them() {
        for (epoch, number) in [(0, 0), (0xDEAD_BEEF, 1), (7, 0xFFFF_FFFF), (1, 0x1_0000_0000), (u32::MAX, u64::MAX)] {
            assert_eq!(super::request_id(epoch, number), format!("{epoch:08X}{number:08X}"));
        }
    }

    #[test]
    fn dates_read_as_sigv4_does() {
        assert_eq!(super::http_date_as_amz("Thu, 03 Dec 2026 07:20:49 GMT").as_deref(), Some("20261203T072049Z"));
        assert_eq!(super::http_date_as_amz("yesterday"), None);
        assert!(super::amz_date("20261203T072049Z").is_some());
        assert!(super::amz_date("20261303T072049Z").is_none(), "month 13");
        assert!(super::amz_date("2026-12-03T07:20:49Z").is_none());
    }

    #[test]
    fn presigned_queries_are_checked_whole() {
        let good = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261128%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261128T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
        assert_eq!(super::presigned_v4_malformed(good), None);
        assert_eq!(super::presigned_v4_malformed("versioning&max-keys=2"), None, "not presigned at all");
        let bad = |from: &str, to: &str| super::presigned_v4_malformed(&good.replacen(from, to, 1));
        assert!(bad("X-Amz-Date=", "X-Nope=").is_some_and(|m| m.contains("X-Amz-Date is missing")));
        assert!(bad("X-Amz-Expires=60", "X-Amz-Expires=604801").is_some());
        assert!(bad("X-Amz-Expires=60", "X-Amz-Expires=604800").is_none(), "7 days is allowed");
        assert!(bad("%2Faws4_request", "%2Faws5_request").is_some());
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(super::escape_xml("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
    }
}
