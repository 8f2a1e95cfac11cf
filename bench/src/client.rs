//! A lean S3 client: one HTTP/1.1 connection per worker (hyper, no pool), SigV4 by `aws-sigv4`,
//! bodies streamed from the data pool, responses hashed as they arrive and never collected.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use sha2::Digest;

use crate::data;

/// The longest a request may take before it counts as failed and its connection is dropped.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Bytes of an error response kept for the report.
pub const ERROR_BODY_BYTES_MAX: usize = 512;
/// Header the built-in ceiling server reads to know how many bytes a GET returns; Cairn and
/// other servers ignore it.
pub const SIZE_HEADER: &str = "x-cairn-bench-size";

type Body = BoxBody<Bytes, std::convert::Infallible>;

/// Where requests go and how they are signed.
#[derive(Clone, Debug)]
pub struct Target {
    /// `http://host[:port]`, as given.
    pub endpoint: String,
    /// The `Host` authority (`host[:port]`).
    pub authority: String,
    /// The address connected to.
    pub connect: SocketAddr,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub bucket: String,
    pub virtual_hosted: bool,
    /// Sign the payload's SHA-256 (else `UNSIGNED-PAYLOAD`).
    pub signed_payload: bool,
}

impl Target {
    /// A target for `endpoint`, connected at `connect` or the endpoint's resolved address.
    /// Anything but loopback is refused unless `allow_remote`.
    pub fn resolve(endpoint: &str, connect: Option<SocketAddr>, allow_remote: bool) -> Result<Target, String> {
        let uri: http::Uri = endpoint.parse().map_err(|e| format!("endpoint {endpoint:?}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("endpoint {endpoint:?}: only http:// endpoints are supported"));
        }
        let authority = uri.authority().ok_or_else(|| format!("endpoint {endpoint:?} has no host"))?.to_string();
        let connect = match connect {
            Some(address) => address,
            None => {
                let port = uri.port_u16().unwrap_or(80);
                let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
                (host, port)
                    .to_socket_addrs()
                    .map_err(|e| format!("resolving {host}: {e}"))?
                    .next()
                    .ok_or_else(|| format!("{host} resolves to no address"))?
            }
        };
        if !connect.ip().is_loopback() && !allow_remote {
            return Err(format!("{connect} is not a loopback address; pass --allow-remote to load a remote endpoint"));
        }
        Ok(Target {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            authority,
            connect,
            access_key: String::new(),
            secret_key: String::new(),
            region: "us-east-1".into(),
            bucket: "cairn-bench".into(),
            virtual_hosted: false,
            signed_payload: false,
        })
    }

    fn host(&self) -> String {
        if self.virtual_hosted { format!("{}.{}", self.bucket, self.authority) } else { self.authority.clone() }
    }

    /// The path and query of a request on `key` (or on the bucket when `key` is empty).
    fn path(&self, key: &str, query: &str) -> String {
        const KEEP: &percent_encoding::AsciiSet =
            &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
        let key = percent_encoding::utf8_percent_encode(key, KEEP);
        let mut path = if self.virtual_hosted { format!("/{key}") } else { format!("/{}/{key}", self.bucket) };
        if key.to_string().is_empty() && !self.virtual_hosted {
            path.pop();
        }
        if !query.is_empty() {
            path.push('?');
            path.push_str(query);
        }
        path
    }
}

/// What a request returned.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    pub status: u16,
    /// Body bytes sent and received.
    pub bytes: u64,
    /// The xxh3 of the response body, when asked for.
    pub hash: Option<u64>,
    /// The start of an error response's body.
    pub error: Option<String>,
    /// A response header asked for (an ETag, an upload id in XML...).
    pub captured: Option<String>,
}

/// Why a request failed without a response.
#[derive(Debug)]
pub struct TransportError(pub String);

/// One connection's client.
pub struct Client {
    target: Arc<Target>,
    sender: Option<SendRequest<Body>>,
    identity: aws_smithy_runtime_api::client::identity::Identity,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("target", &self.target.endpoint).finish_non_exhaustive()
    }
}

/// One request: what to send and what to keep of the answer.
#[derive(Clone, Debug)]
pub struct Call<'a> {
    method: Method,
    key: &'a str,
    query: &'a str,
    payload: Payload,
    extra: &'a [(&'static str, String)],
    hash: bool,
    capture: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// A request on `key`, or on the bucket when `key` is empty.
    pub fn new(method: Method, key: &'a str) -> Call<'a> {
        Call { method, key, query: "", payload: Payload::Empty, extra: &[], hash: false, capture: None }
    }

    pub fn query(self, query: &'a str) -> Call<'a> {
        Call { query, ..self }
    }

    pub fn payload(self, payload: Payload) -> Call<'a> {
        Call { payload, ..self }
    }

    /// Headers sent beside the signed ones.
    pub fn headers(self, extra: &'a [(&'static str, String)]) -> Call<'a> {
        Call { extra, ..self }
    }

    /// Hash the response body (xxh3) as it arrives.
    pub fn hash(self, hash: bool) -> Call<'a> {
        Call { hash, ..self }
    }

    /// Keep this response header, or the whole (small) body when it is `"body"`.
    pub fn capture(self, capture: &'a str) -> Call<'a> {
        Call { capture: Some(capture), ..self }
    }
}

/// A request body to send.
#[derive(Clone, Debug)]
pub enum Payload {
    Empty,
    Small(Bytes),
    /// `size` bytes of the body named by `seed`, streamed from the data pool.
    Generated {
        seed: u64,
        size: u64,
    },
}

impl Client {
    pub fn new(target: Arc<Target>) -> Client {
        let credentials = aws_credential_types::Credentials::new(
            target.access_key.clone(),
            target.secret_key.clone(),
            None,
            None,
            "cairn-bench",
        );
        Client { target, sender: None, identity: credentials.into() }
    }

    async fn connection(&mut self) -> Result<&mut SendRequest<Body>, TransportError> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = tokio::net::TcpStream::connect(self.target.connect)
                .await
                .map_err(|e| TransportError(format!("connect {}: {e}", self.target.connect)))?;
            stream.set_nodelay(true).map_err(|e| TransportError(e.to_string()))?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| TransportError(format!("handshake: {e}")))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("connected above"))
    }

    /// Sends one signed request and reads its response to the end.
    pub async fn request(&mut self, call: Call<'_>) -> Result<Reply, TransportError> {
        let exchange = self.exchange(call);
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => {
                self.sender = None;
                Err(error)
            }
            Err(_) => {
                self.sender = None;
                Err(TransportError(format!("no answer within {REQUEST_TIMEOUT:?}")))
            }
        }
    }

    async fn exchange(&mut self, call: Call<'_>) -> Result<Reply, TransportError> {
        let Call { method, key, query, payload, extra, hash, capture } = call;
        let path = self.target.path(key, query);
        let host = self.target.host();
        let (body, length, payload_hash): (Body, u64, Option<String>) = match payload {
            Payload::Empty => (Full::new(Bytes::new()).boxed(), 0, None),
            Payload::Small(bytes) => {
                let digest = self.target.signed_payload.then(|| hex(&sha2::Sha256::digest(&bytes)));
                let len = bytes.len() as u64;
                (Full::new(bytes).boxed(), len, digest)
            }
            Payload::Generated { seed, size } => {
                let digest = self.target.signed_payload.then(|| {
                    let mut sha = sha2::Sha256::new();
                    data::body(seed, size).for_each(|piece| sha.update(&piece));
                    hex(&sha.finalize())
                });
                let stream = futures::stream::iter(
                    data::body(seed, size).map(|piece| Ok::<_, std::convert::Infallible>(Frame::data(piece))),
                );
                (StreamBody::new(stream).boxed(), size, digest)
            }
        };
        let mut request = Request::builder().method(method.clone()).uri(&path).body(body).expect("valid request");
        let headers = request.headers_mut();
        headers.insert(http::header::HOST, HeaderValue::from_str(&host).map_err(|e| TransportError(e.to_string()))?);
        if length > 0 || method == Method::PUT || method == Method::POST {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        for (name, value) in extra {
            headers.insert(*name, HeaderValue::from_str(value).map_err(|e| TransportError(e.to_string()))?);
        }
        self.sign(&mut request, &host, &path, payload_hash)?;
        let sender = self.connection().await?;
        sender.ready().await.map_err(|e| TransportError(format!("connection: {e}")))?;
        let response: Response<Incoming> =
            sender.send_request(request).await.map_err(|e| TransportError(format!("request: {e}")))?;
        let status = response.status().as_u16();
        let mut captured = capture
            .filter(|c| *c != "body")
            .and_then(|name| response.headers().get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let keep_body = status >= 300 || capture == Some("body");
        let mut body = response.into_body();
        let mut hasher = hash.then(xxhash_rust::xxh3::Xxh3Default::new);
        let mut received = 0u64;
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| TransportError(format!("response body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                received += data.len() as u64;
                if let Some(hasher) = &mut hasher {
                    hasher.update(&data);
                }
                if keep_body && kept.len() < ERROR_BODY_BYTES_MAX.max(64 << 10) {
                    kept.extend_from_slice(&data);
                }
            }
        }
        let text = || String::from_utf8_lossy(&kept).into_owned();
        if capture == Some("body") {
            captured = Some(text());
        }
        let error = (status >= 300).then(|| text().chars().take(ERROR_BODY_BYTES_MAX).collect());
        Ok(Reply { status, bytes: length + received, hash: hasher.map(|h| h.digest()), error, captured })
    }

    fn sign(
        &self,
        request: &mut Request<Body>,
        host: &str,
        path: &str,
        payload_hash: Option<String>,
    ) -> Result<(), TransportError> {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.target.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| TransportError(format!("signing: {e}")))?
            .into();
        let body = match &payload_hash {
            Some(hash) => SignableBody::Precomputed(hash.clone()),
            None => SignableBody::UnsignedPayload,
        };
        let url = format!("http://{host}{path}");
        let headers = request.headers().iter().filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)));
        let signable = SignableRequest::new(request.method().as_str(), &url, headers, body)
            .map_err(|e| TransportError(format!("signing: {e}")))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|e| TransportError(format!("signing: {e}")))?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The text of the first `<tag>` element in a small XML document.
pub fn xml_element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_without_allow_remote() {
        assert!(Target::resolve("http://127.0.0.1:9000", None, false).is_ok());
        assert!(Target::resolve("http://localhost:9000", None, false).is_ok());
        assert!(Target::resolve("http://[::1]:9000", None, false).is_ok());
        let remote: SocketAddr = "192.0.2.1:9000".parse().unwrap();
        let refused = Target::resolve("http://192.0.2.1:9000", None, false).unwrap_err();
        assert!(refused.contains("--allow-remote"), "{refused}");
        assert!(Target::resolve("http://192.0.2.1:9000", None, true).is_ok());
        assert!(Target::resolve("http://s3.example:9000", Some(remote), false).is_err());
        assert!(Target::resolve("https://127.0.0.1:9000", None, false).is_err());
    }

    #[test]
    fn paths_in_both_styles() {
        let mut target = Target::resolve("http://127.0.0.1:9000", None, false).unwrap();
        target.bucket = "b".into();
        assert_eq!(target.path("dir/a b", ""), "/b/dir/a%20b");
        assert_eq!(target.path("", "list-type=2"), "/b?list-type=2");
        assert_eq!(target.host(), "127.0.0.1:9000");
        target.virtual_hosted = true;
        assert_eq!(target.path("k", "uploads"), "/k?uploads");
        assert_eq!(target.host(), "b.127.0.0.1:9000");
    }

    #[test]
    fn xml_elements() {
        let xml = "<R><UploadId>u1</UploadId><Key>k</Key></R>";
        assert_eq!(xml_element(xml, "UploadId"), Some("u1"));
        assert_eq!(xml_element(xml, "Missing"), None);
    }
}
