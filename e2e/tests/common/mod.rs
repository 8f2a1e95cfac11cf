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
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            address: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            region: "us-east-1".into(),
            io: cairn_engine_io(),
            domain: None,
            root: cairn_server::Credentials { access_key: ACCESS_KEY.into(), secret_key: SECRET_KEY.into() },
            users: Vec::new(),
        };
        let handle = cairn_server::start(config).await.unwrap();
        let addr = handle.local_addr();
        TestServer { client: client(addr, ACCESS_KEY, SECRET_KEY), addr, handle: Some(handle), _dir: dir }
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

/// The S3 error code of a failed SDK call.
pub fn code<E, R>(error: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    error.as_service_error().and_then(|e| e.code()).unwrap_or("<no service error>").to_owned()
}

/// Deterministic bytes for a seed.
pub fn body(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
