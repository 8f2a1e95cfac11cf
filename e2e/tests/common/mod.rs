//! A server started in-process on an ephemeral 127.0.0.1 port, and an aws-sdk-s3 client for it.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use cairn_server::{Config, ServerHandle};

pub const ACCESS_KEY: &str = "CAIRNTESTROOT";
pub const SECRET_KEY: &str = "cairn-test-secret-key";

pub struct TestServer {
    pub handle: Option<ServerHandle>,
    pub client: Client,
    pub addr: std::net::SocketAddr,
    config: Config,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(Vec::new(), None).await
    }

    /// A server with extra accounts and, if `domain` is set, virtual-hosted-style addressing.
    pub async fn start_with(users: Vec<cairn_server::User>, domain: Option<&str>) -> TestServer {
        TestServer::start_in("us-east-1", users, domain).await
    }

    /// A server in `region` (clients still sign for us-east-1, as S3 accepts for bucket creation).
    pub async fn start_in(region: &str, users: Vec<cairn_server::User>, domain: Option<&str>) -> TestServer {
        TestServer::start_configured(region, users, domain, true, Default::default()).await
    }

    /// A server that refuses SSE-C over plain HTTP, as AWS does (the others take it, for tests).
    pub async fn start_refusing_insecure_sse_c() -> TestServer {
        TestServer::start_configured("us-east-1", Vec::new(), None, false, Default::default()).await
    }

    /// A server whose buckets without an encryption configuration do not encrypt.
    pub async fn start_unencrypted_by_default() -> TestServer {
        let none = cairn_server::config::DefaultEncryption::None;
        TestServer::start_configured("us-east-1", Vec::new(), None, true, none).await
    }

    /// A server whose lifecycle days last `day_seconds`.
    pub async fn start_with_lifecycle_day(day_seconds: u64) -> TestServer {
        let mut server = TestServer::start().await;
        server.config.lifecycle_day_seconds = day_seconds;
        server.restart().await;
        server
    }

    /// A server that delivers access logs every `seconds`.
    pub async fn start_with_log_delivery(seconds: u64) -> TestServer {
        let mut server = TestServer::start().await;
        server.config.log_delivery_seconds = seconds;
        server.restart().await;
        server
    }

    /// A server whose configuration `change` alters.
    pub async fn start_reconfigured(change: impl FnOnce(&mut Config)) -> TestServer {
        let mut server = TestServer::start().await;
        change(&mut server.config);
        server.restart().await;
        server
    }

    /// The data directory the server keeps its store in.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }

    async fn start_configured(
        region: &str,
        users: Vec<cairn_server::User>,
        domain: Option<&str>,
        allow_insecure_sse_c: bool,
        default_encryption: cairn_server::config::DefaultEncryption,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            address: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            region: region.into(),
            io: cairn_engine_io(),
            domain: domain.map(str::to_owned),
            root: cairn_server::Credentials { access_key: ACCESS_KEY.into(), secret_key: SECRET_KEY.into() },
            users,
            public_access_block: Default::default(),
            allow_insecure_sse_c,
            compression_level: cairn_engine::COMPRESSION_LEVEL_DEFAULT,
            default_encryption,
            compaction_bytes_per_sec: cairn_engine::limits::COMPACTION_BYTES_PER_SEC_DEFAULT,
            space_amplification_target: cairn_engine::limits::SPACE_AMPLIFICATION_TARGET_DEFAULT,
            website_address: Some("127.0.0.1:0".parse().unwrap()),
            lifecycle_day_seconds: cairn_server::lifecycle::DAY_SECONDS_DEFAULT,
            log_delivery_seconds: cairn_server::logging::DELIVERY_SECONDS_DEFAULT,
            notification_targets: Vec::new(),
            replication_endpoints: Vec::new(),
            admin_address: None,
            tls: None,
        };
        let handle = cairn_server::start(config.clone()).await.unwrap();
        let addr = handle.local_addr();
        TestServer { client: client(addr, ACCESS_KEY, SECRET_KEY), addr, handle: Some(handle), config, _dir: dir }
    }

    /// Stops the server and starts it again on the same data directory (a new port: clients
    /// made from `addr` before must be made again).
    pub async fn restart(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
        let handle = cairn_server::start(self.config.clone()).await.unwrap();
        self.addr = handle.local_addr();
        self.client = client(self.addr, ACCESS_KEY, SECRET_KEY);
        self.handle = Some(handle);
    }

    /// Stops the server, keeping its data directory and port for `resume` (another server that
    /// names its address finds it there again).
    pub async fn pause(&mut self) {
        self.config.address = self.addr;
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
    }

    /// Starts a paused server again on its port.
    pub async fn resume(&mut self) {
        let handle = cairn_server::start(self.config.clone()).await.unwrap();
        self.handle = Some(handle);
    }

    pub async fn stop(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
    }
}

fn cairn_engine_io() -> cairn_engine::IoMode {
    std::env::var("CAIRN_IO").ok().and_then(|io| io.parse().ok()).unwrap_or_default()
}

/// A path-style client over plain HTTP, the way tests and benchmarks reach a local server.
pub fn client(addr: std::net::SocketAddr, access_key: &str, secret_key: &str) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{addr}"))
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "cairn-e2e"))
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(config)
}

/// A virtual-hosted-style client: requests go to `<bucket>.<domain>`, which resolves to the
/// server's loopback address.
pub fn virtual_hosted_client(addr: std::net::SocketAddr, domain: &str) -> Client {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .build_with_resolver(Loopback);
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{domain}:{}", addr.port()))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "cairn-e2e"))
        .force_path_style(false)
        .http_client(http)
        .build();
    Client::from_conf(config)
}

/// Resolves every name to 127.0.0.1.
#[derive(Clone, Debug)]
struct Loopback;

impl aws_smithy_runtime_api::client::dns::ResolveDns for Loopback {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> aws_smithy_runtime_api::client::dns::DnsFuture<'a> {
        aws_smithy_runtime_api::client::dns::DnsFuture::ready(Ok(vec![std::net::Ipv4Addr::LOCALHOST.into()]))
    }
}

/// The HTTP status of a failed SDK call.
pub fn status<E>(error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    error.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

/// A response header of a failed SDK call.
pub fn error_header<'a, E>(
    error: &'a aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    name: &str,
) -> Option<&'a str> {
    error.raw_response().and_then(|r| r.headers().get(name))
}

/// Path and query of a presigned request's URI.
pub fn path_and_query(uri: &str) -> String {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    after_scheme.find('/').map_or("/".to_owned(), |at| after_scheme[at..].to_owned())
}

/// cairn-bench's client for `bucket` with the root credentials: it signs any header or body,
/// for requests the SDK will not make.
pub fn bench_client(addr: std::net::SocketAddr, bucket: &str) -> cairn_bench::client::Client {
    use cairn_bench::client::{Client, Target};
    let mut target = Target::resolve(&format!("http://{addr}"), None, false).unwrap();
    (target.access_key, target.secret_key, target.bucket) = (ACCESS_KEY.into(), SECRET_KEY.into(), bucket.into());
    Client::new(std::sync::Arc::new(target))
}

/// The S3 error code of a failed SDK call.
pub fn code<E, R>(error: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    error.as_service_error().and_then(|e| e.code()).unwrap_or("<no service error>").to_owned()
}

pub use cairn_engine::testing::body;

/// Sends `request` (a whole HTTP/1.1 request, head and body) on a fresh connection and parses
/// the answer: status, headers, body.
pub fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    parse_response(&response)
}

fn parse_response(response: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut body = response[split + 4..].to_vec();
    if headers.iter().any(|(name, value)| name == "transfer-encoding" && value.contains("chunked")) {
        body = dechunk(&body);
    }
    (status, headers, body)
}

/// The value of header `name` in a raw response's headers.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A minimal HTTP/1.1 exchange over a plain TCP socket, for what the SDK will not send
/// (presigned URLs, Signature Version 2, anonymous requests). Returns status, headers, body.
pub fn raw_http(
    addr: std::net::SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut request = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    raw_exchange(addr, &bytes)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Uploads `parts` (numbered from 1) to an upload and returns them ready for completion.
pub async fn upload_parts(
    s3: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: &[Vec<u8>],
) -> Vec<aws_sdk_s3::types::CompletedPart> {
    let mut completed = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let number = i as i32 + 1;
        let part = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(aws_sdk_s3::primitives::ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        completed
            .push(aws_sdk_s3::types::CompletedPart::builder().part_number(number).e_tag(part.e_tag().unwrap()).build());
    }
    completed
}
