//! Cross-region replication: copies made on another Cairn server (`[[replication_endpoint]]`),
//! over HTTP with SigV4 and the endpoint's credentials. A copy is the S3 request a client would
//! make (PutObject; or CreateMultipartUpload, UploadPart and CompleteMultipartUpload, part for
//! part; DeleteObject for a marker), with the source's metadata, tags, storage class, Object
//! Lock state, encryption kind and checksums as S3 headers, and `x-cairn-replica` naming the
//! version id it keeps (and `x-cairn-replica-last-modified` its time). The destination decides
//! it as `s3:ReplicateObject` (or `s3:ReplicateDelete`) and verifies every checksum. Bodies
//! stream from the engine's reader; nothing holds a whole object.

use std::time::Duration;

use bytes::Bytes;
use cairn_engine::{ChecksumKind, Engine, Layout, ObjectInfo, SseMode, Version, VersionKind};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use serde::Deserialize;

use super::copy::Outcome;
use super::{Entry, Target};
use crate::web::sigv4::Scope;

/// Endpoints a server's configuration may define.
pub const ENDPOINTS_MAX: usize = 16;
/// The header naming the version id a replica keeps, and the one with its time (Unix ms).
pub const REPLICA_HEADER: &str = "x-cairn-replica";
pub const REPLICA_TIME_HEADER: &str = "x-cairn-replica-last-modified";
/// A destination that does not connect in this long is down.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A request's answer, after its body is sent, comes in this long or the copy is tried again.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// Bodies are sent at least this fast (bytes per second), or the copy is tried again.
pub const BODY_RATE_MIN: u64 = 1024 * 1024;
/// Chunks read from the engine ahead of the connection (bounded memory per copy).
pub const BODY_CHUNKS_AHEAD: usize = 4;
/// An answer's body is read up to this many bytes (an error document, an upload id).
pub const ANSWER_BYTES_MAX: usize = 64 * 1024;

/// Another Cairn server replicas may go to: its region, URL and credentials.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub region: String,
    pub url: String,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("region", &self.region).field("url", &self.url).finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint from `REGION=http://ACCESS_KEY:SECRET_KEY@HOST:PORT` (the flag).
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let bad = || format!("{text:?} is not REGION=http://ACCESS_KEY:SECRET_KEY@HOST:PORT");
        let (region, url) = text.split_once('=').ok_or_else(bad)?;
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (credentials, host) = rest.rsplit_once('@').ok_or_else(bad)?;
        let (access_key, secret_key) = credentials.split_once(':').ok_or_else(bad)?;
        Ok(Endpoint {
            region: region.to_owned(),
            url: format!("http://{host}"),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
        })
    }

    /// Checks the URL is `http://host:port` and the other fields are set.
    pub fn check(&self) -> Result<Remote, String> {
        let authority = self.url.strip_prefix("http://").map(|a| a.trim_end_matches('/'));
        match authority {
            Some(authority) if !authority.is_empty() && !authority.contains('/') => {}
            _ => return Err(format!("{:?}: an endpoint is http://host:port", self.url)),
        }
        if self.region.is_empty() || self.access_key.is_empty() || self.secret_key.is_empty() {
            return Err(format!("{:?}: an endpoint has a region and credentials", self.url));
        }
        let authority = authority.unwrap_or_default().to_owned();
        Ok(Remote { endpoint: self.clone(), authority })
    }
}

/// A request's body: empty, in memory, or streamed from the engine.
type Body = BoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// What an exchange came to, when it came to an answer.
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    /// A 2xx answer, or the outcome of another: a 5xx (or 429) may pass, a 4xx will not.
    fn success(self) -> Result<Answer, Outcome> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let text = String::from_utf8_lossy(&self.body);
        let code = xml_text(&text, "Code").unwrap_or("no error code").to_owned();
        let why = format!("the destination answered {} {code}", self.status);
        Err(if self.status >= 500 || self.status == 429 { Outcome::Retry(why) } else { Outcome::Refused(why) })
    }
}

/// The text of the first `<tag>` element of a small XML document.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

/// The characters S3 leaves unencoded in a path segment and a query value (SigV4's rule).
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn encoded(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

/// A configured endpoint, checked.
#[derive(Clone, Debug)]
pub struct Remote {
    endpoint: Endpoint,
    authority: String,
}

impl Remote {
    pub fn region(&self) -> &str {
        &self.endpoint.region
    }

    /// Whether the endpoint has `bucket` (`None` if not) and whether its versioning is enabled.
    pub async fn versioning(&self, bucket: &str) -> Result<Option<bool>, String> {
        let answer =
            self.exchange("GET", bucket, None, &[("versioning", String::new())], Vec::new(), full(""), 0).await;
        match answer {
            Ok(answer) if answer.status == 200 => {
                Ok(Some(xml_text(&String::from_utf8_lossy(&answer.body), "Status") == Some("Enabled")))
            }
            Ok(answer) if answer.status == 404 => Ok(None),
            Ok(answer) => Err(format!("the endpoint answered {}", answer.status)),
            Err(outcome) => Err(format!("{outcome:?}")),
        }
    }

    /// One signed request; the answer, or the outcome of not getting one (a retry).
    #[allow(clippy::too_many_arguments)]
    async fn exchange(
        &self,
        method: &str,
        bucket: &str,
        key: Option<&str>,
        query: &[(&str, String)],
        mut headers: Vec<(String, String)>,
        body: Body,
        length: u64,
    ) -> Result<Answer, Outcome> {
        let path = match key {
            Some(key) => format!("/{bucket}/{}", key.split('/').map(encoded).collect::<Vec<_>>().join("/")),
            None => format!("/{bucket}"),
        };
        let mut pairs: Vec<String> = query.iter().map(|(name, value)| format!("{name}={}", encoded(value))).collect();
        pairs.sort();
        let query = pairs.join("&");
        let amz_date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
            .map_err(|e| Outcome::Retry(e.to_string()))?;
        headers.extend([
            ("host".to_owned(), self.authority.clone()),
            ("x-amz-content-sha256".to_owned(), "UNSIGNED-PAYLOAD".to_owned()),
            ("x-amz-date".to_owned(), amz_date.clone()),
            ("content-length".to_owned(), length.to_string()),
        ]);
        headers.sort();
        let scope = Scope {
            access_key: self.endpoint.access_key.clone(),
            date: amz_date[..8].to_owned(),
            region: self.endpoint.region.clone(),
            service: "s3".to_owned(),
        };
        let signed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let authorization = scope.authorize(&self.endpoint.secret_key, method, (&path, &query), &signed, &amz_date);
        let target = if query.is_empty() { path } else { format!("{path}?{query}") };
        let mut request = http::Request::builder().method(method).uri(target);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let request = request
            .header(http::header::AUTHORIZATION, authorization)
            .header(http::header::USER_AGENT, "cairn-replication")
            .body(body)
            .map_err(|e| Outcome::Refused(format!("the request cannot be made: {e}")))?;
        let allowed = ANSWER_TIMEOUT + Duration::from_secs(length / BODY_RATE_MIN);
        match tokio::time::timeout(allowed, self.send(request)).await {
            Ok(answer) => answer,
            Err(_) => Err(Outcome::Retry(format!("no answer from {} in {} s", self.authority, allowed.as_secs()))),
        }
    }

    async fn send(&self, request: http::Request<Body>) -> Result<Answer, Outcome> {
        let retry = |e: &dyn std::fmt::Display| Outcome::Retry(format!("{}: {e}", self.authority));
        let connect = tokio::net::TcpStream::connect(&self.authority);
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(stream) => stream.map_err(|e| retry(&e))?,
            Err(_) => return Err(retry(&"no connection")),
        };
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.map_err(|e| retry(&e))?;
        let connection = tokio::spawn(connection);
        let answered = sender.send_request(request).await.map_err(|e| retry(&e));
        let result = match answered {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let body = http_body_util::Limited::new(body, ANSWER_BYTES_MAX).collect().await;
                let body = body.map_err(|e| retry(&e))?.to_bytes();
                Ok(Answer { status: parts.status.as_u16(), headers: parts.headers, body })
            }
            Err(outcome) => Err(outcome),
        };
        drop(sender);
        connection.abort();
        result
    }

    /// Copies the version of `entry` in `source` to `target` on this endpoint.
    pub async fn replicate(&self, engine: &Engine, source: &str, entry: &Entry, target: &Target) -> Outcome {
        let version = match engine.version(source, &entry.key, entry.version) {
            Ok(version) => version,
            Err(cairn_engine::Error::NoSuchVersion | cairn_engine::Error::NoSuchBucket(_)) => return Outcome::Gone,
            Err(error) => return Outcome::Retry(error.to_string()),
        };
        let replica = replica_headers(entry, &version);
        let result = match &version.kind {
            VersionKind::DeleteMarker { .. } => {
                let answer = self.exchange("DELETE", &target.bucket, Some(&entry.key), &[], replica, full(""), 0).await;
                answer.and_then(Answer::success).map(|_| 0)
            }
            VersionKind::Object(info) => {
                let (info, unread) = (info.clone(), Default::default());
                let copy =
                    Copy { engine, source, bucket: &target.bucket, key: &entry.key, version, info, replica, unread };
                self.object(&copy, target).await.map_err(|outcome| copy.outcome(outcome))
            }
        };
        match result {
            Ok(bytes) => Outcome::Replicated { bytes },
            Err(outcome) => outcome,
        }
    }

    async fn object(&self, copy: &Copy<'_>, target: &Target) -> Result<u64, Outcome> {
        let info = &copy.info;
        if info.attributes.encryption.as_ref().is_some_and(|e| e.mode == SseMode::Customer) {
            return Err(Outcome::Refused("an SSE-C source cannot be read without its customer's key".into()));
        }
        if info.attributes.storage_class.is_archive() && !info.readable_at(crate::logging::now_ms()) {
            return Err(Outcome::Refused("an archived source cannot be read until it is restored".into()));
        }
        let mut headers = object_headers(info, target).map_err(Outcome::Refused)?;
        headers.extend(copy.replica.iter().cloned());
        let (bucket, key) = (copy.bucket, copy.key);
        let Layout::Parts(parts) = &info.layout else {
            headers.extend(info.checksum.as_ref().map(checksum_header));
            let answer = self.exchange("PUT", bucket, Some(key), &[], headers, copy.body(None), info.size).await?;
            answer.success()?;
            return Ok(info.size);
        };
        if let Some(checksum) = &info.checksum {
            headers.push(("x-amz-checksum-algorithm".into(), crate::checksum::name(checksum.algorithm).to_uppercase()));
            let kind = if checksum.kind == ChecksumKind::FullObject { "FULL_OBJECT" } else { "COMPOSITE" };
            headers.push(("x-amz-checksum-type".into(), kind.into()));
        }
        let uploads = [("uploads", String::new())];
        let created = self.exchange("POST", bucket, Some(key), &uploads, headers, full(""), 0).await?.success()?;
        let text = String::from_utf8_lossy(&created.body);
        let upload = xml_text(&text, "UploadId").ok_or_else(|| Outcome::Retry("no UploadId in the answer".into()))?;
        let result = self.parts(copy, parts, upload).await;
        if result.is_err() {
            let query = [("uploadId", upload.to_owned())];
            let _ = self.exchange("DELETE", bucket, Some(key), &query, Vec::new(), full(""), 0).await;
        }
        result
    }

    /// Uploads the parts of a multipart source and completes the upload as the replica.
    async fn parts(&self, copy: &Copy<'_>, parts: &[cairn_engine::PartLayout], upload: &str) -> Result<u64, Outcome> {
        let (bucket, key) = (copy.bucket, copy.key);
        let mut listed = String::from("<CompleteMultipartUpload>");
        let mut first = 0u64;
        for part in parts {
            let mut headers = copy.replica.clone();
            headers.extend(part.checksum.as_ref().map(checksum_header));
            let range = cairn_engine::ByteRange::From { first, last: Some(first + part.size.max(1) - 1) };
            let body = if part.size == 0 { full("") } else { copy.body(Some(range)) };
            let query = [("partNumber", part.number.to_string()), ("uploadId", upload.to_owned())];
            let answer = self.exchange("PUT", bucket, Some(key), &query, headers, body, part.size).await?.success()?;
            let etag = answer.headers.get(http::header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or_default();
            listed.push_str(&format!("<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag>", part.number));
            if let Some(checksum) = &part.checksum {
                let tag = checksum_tag(checksum.algorithm);
                listed.push_str(&format!("<{tag}>{}</{tag}>", crate::checksum::base64(&checksum.digest)));
            }
            listed.push_str("</Part>");
            first += part.size;
        }
        listed.push_str("</CompleteMultipartUpload>");
        let length = listed.len() as u64;
        let query = [("uploadId", upload.to_owned())];
        let replica = copy.replica.clone();
        let answer = self.exchange("POST", bucket, Some(key), &query, replica, full(listed), length).await?;
        let answer = answer.success()?;
        // A completion's error can come in a 200 (S3's rule): its document says.
        if String::from_utf8_lossy(&answer.body).contains("<Error>") {
            return Err(Outcome::Retry("the completion answered an error".into()));
        }
        Ok(copy.info.size)
    }
}

/// One version being copied: where it is read and where it goes.
struct Copy<'a> {
    engine: &'a Engine,
    source: &'a str,
    bucket: &'a str,
    key: &'a str,
    version: Version,
    info: std::sync::Arc<ObjectInfo>,
    /// The headers that make each write a replica.
    replica: Vec<(String, String)>,
    /// Why the source could not be read, if a body's read failed.
    unread: Unread,
}

/// Where a body's reader says why it failed.
type Unread = std::sync::Arc<std::sync::Mutex<Option<String>>>;

impl Copy<'_> {
    /// The version's bytes (or `range` of them), streamed from the engine.
    fn body(&self, range: Option<cairn_engine::ByteRange>) -> Body {
        let unread = self.unread.clone();
        streamed(self.engine, self.source, self.key, (self.version.clone(), self.info.clone(), range), unread)
    }

    /// A failed copy whose body could not be read is refused for good: a damaged source is
    /// never sent, and waiting will not mend it.
    fn outcome(&self, outcome: Outcome) -> Outcome {
        match self.unread.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            Some(why) => Outcome::Refused(format!("the source could not be read: {why}")),
            None => outcome,
        }
    }
}

/// The `x-amz-checksum-<algorithm>` header that has the destination verify `checksum`.
fn checksum_header(checksum: &cairn_engine::Checksum) -> (String, String) {
    let name = format!("x-amz-checksum-{}", crate::checksum::name(checksum.algorithm));
    (name, crate::checksum::base64(&checksum.digest))
}

/// The element of a part's checksum in a CompleteMultipartUpload document.
fn checksum_tag(algorithm: cairn_engine::ChecksumAlgorithm) -> &'static str {
    match algorithm {
        cairn_engine::ChecksumAlgorithm::Crc32 => "ChecksumCRC32",
        cairn_engine::ChecksumAlgorithm::Crc32c => "ChecksumCRC32C",
        cairn_engine::ChecksumAlgorithm::Sha1 => "ChecksumSHA1",
        cairn_engine::ChecksumAlgorithm::Sha256 => "ChecksumSHA256",
        cairn_engine::ChecksumAlgorithm::Crc64Nvme => "ChecksumCRC64NVME",
    }
}

/// The headers that make a write a replica of `version`.
fn replica_headers(entry: &Entry, version: &Version) -> Vec<(String, String)> {
    let last_modified_ms = match &version.kind {
        VersionKind::DeleteMarker { last_modified_ms } => *last_modified_ms,
        VersionKind::Object(info) => info.last_modified_ms,
    };
    vec![
        (REPLICA_HEADER.to_owned(), entry.version.to_string()),
        (REPLICA_TIME_HEADER.to_owned(), last_modified_ms.to_string()),
    ]
}

/// The S3 headers of a replica's PUT (or CreateMultipartUpload): the source's system and user
/// metadata, tags, storage class (or the rule's), Object Lock state and encryption kind.
fn object_headers(info: &ObjectInfo, target: &Target) -> Result<Vec<(String, String)>, String> {
    let attributes = &info.attributes;
    let system = &attributes.system;
    let mut headers = Vec::new();
    let fields = [
        ("content-type", &system.content_type),
        ("content-encoding", &system.content_encoding),
        ("content-disposition", &system.content_disposition),
        ("content-language", &system.content_language),
        ("cache-control", &system.cache_control),
        ("expires", &system.expires),
        ("x-amz-website-redirect-location", &system.website_redirect_location),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            headers.push((name.to_owned(), value.clone()));
        }
    }
    for (name, value) in &attributes.user {
        headers.push((format!("x-amz-meta-{}", name.to_ascii_lowercase()), value.clone()));
    }
    if !attributes.tags.is_empty() {
        let tags: Vec<String> = attributes.tags.iter().map(|(k, v)| format!("{}={}", encoded(k), encoded(v))).collect();
        headers.push(("x-amz-tagging".to_owned(), tags.join("&")));
    }
    let class = target.storage_class.clone().unwrap_or_else(|| attributes.storage_class.as_str().to_owned());
    headers.push(("x-amz-storage-class".to_owned(), class));
    if let Some(retention) = &attributes.lock.retention {
        headers.push(("x-amz-object-lock-mode".to_owned(), retention.mode.as_str().to_owned()));
        headers.push(("x-amz-object-lock-retain-until-date".to_owned(), rfc3339(retention.until_ms)?));
    }
    if let Some(hold) = attributes.lock.legal_hold {
        headers.push(("x-amz-object-lock-legal-hold".to_owned(), if hold { "ON" } else { "OFF" }.to_owned()));
    }
    if let Some(encryption) = &attributes.encryption {
        let kind = match encryption.mode {
            SseMode::S3 => "AES256",
            SseMode::Kms => "aws:kms",
            SseMode::KmsDsse => "aws:kms:dsse",
            SseMode::Customer => return Err("an SSE-C source cannot be replicated".into()),
        };
        headers.push(("x-amz-server-side-encryption".to_owned(), kind.to_owned()));
        if encryption.mode != SseMode::S3 {
            if let Some(key) = &target.kms_key {
                headers.push(("x-amz-server-side-encryption-aws-kms-key-id".to_owned(), key.clone()));
            }
            if !encryption.context.is_empty() {
                let context = crate::checksum::base64(encryption.context.as_bytes());
                headers.push(("x-amz-server-side-encryption-context".to_owned(), context));
            }
        }
    }
    if headers.iter().any(|(_, value)| http::HeaderValue::from_str(value).is_err()) {
        return Err("a metadata value cannot travel in a header".into());
    }
    Ok(headers)
}

fn rfc3339(ms: u64) -> Result<String, String> {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|e| e.to_string())?;
    at.format(&time::format_description::well_known::Rfc3339).map_err(|e| e.to_string())
}

/// A body streamed from the engine: read on the blocking pool, at most `BODY_CHUNKS_AHEAD`
/// chunks ahead of the connection. A read that fails ends the body short, so the destination
/// refuses it (IncompleteBody): damaged bytes are never sent as whole.
fn streamed(
    engine: &Engine,
    bucket: &str,
    key: &str,
    (version, info, range): (Version, std::sync::Arc<ObjectInfo>, Option<cairn_engine::ByteRange>),
    unread: Unread,
) -> Body {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(BODY_CHUNKS_AHEAD);
    let (engine, bucket, key) = (engine.clone(), bucket.to_owned(), key.to_owned());
    tokio::task::spawn_blocking(move || {
        let failed = |error: cairn_engine::Error| {
            let why = error.to_string();
            *unread.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why.clone());
            let _ = sender.blocking_send(Err(std::io::Error::other(why)));
        };
        let reader = match engine.read_version(&bucket, &key, version, info, range, None) {
            Ok(reader) => reader,
            Err(error) => return failed(error),
        };
        for chunk in reader {
            match chunk {
                Ok(chunk) => {
                    if sender.blocking_send(Ok(chunk)).is_err() {
                        return;
                    }
                }
                Err(error) => return failed(error),
            }
        }
    });
    let frames = futures::stream::unfold(receiver, |mut receiver| async move {
        let item = receiver.recv().await?;
        Some((item.map(hyper::body::Frame::data), receiver))
    });
    StreamBody::new(frames).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_comes_from_a_flag_and_hides_its_secret() {
        let endpoint = Endpoint::parse("eu-west-1=http://AK:S/K+1@127.0.0.1:9001").unwrap();
        assert_eq!((endpoint.region.as_str(), endpoint.url.as_str()), ("eu-west-1", "http://127.0.0.1:9001"));
        assert_eq!((endpoint.access_key.as_str(), endpoint.secret_key.as_str()), ("AK", "S/K+1"));
        assert!(!format!("{endpoint:?}").contains("S/K"));
        assert!(endpoint.check().is_ok());
        assert!(Endpoint::parse("eu-west-1=https://AK:SK@host").is_err());
        assert!(Endpoint::parse("http://AK:SK@host").is_err());
        let pathed = Endpoint { url: "http://host:1/path".into(), ..endpoint };
        assert!(pathed.check().is_err());
    }

    #[test]
    fn a_key_is_encoded_as_sigv4_encodes_it() {
        assert_eq!(encoded("a b+c~d"), "a%20b%2Bc~d");
        assert_eq!(xml_text("<A><UploadId>u1</UploadId></A>", "UploadId"), Some("u1"));
    }
}
