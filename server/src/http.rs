//! Accepting connections: TCP_NODELAY on each, HTTP/1.1 and HTTP/2 through hyper, graceful
//! shutdown that stops accepting and lets requests in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cairn_engine::{Engine, EngineConfig};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::account::Accounts;
use crate::authorization::{Access, Authorizer};
use crate::config::Config;
use crate::s3::Cairn;

/// The most a request's line and headers may take. S3 bounds a PUT's headers at 8 KB and a
/// URL at about 8 KB; a presigned URL plus headers stays well inside this. Larger requests are
/// refused with 431 before anything is parsed further.
pub const REQUEST_HEAD_BYTES_MAX: usize = 64 * 1024;

/// How long a shutdown waits for requests in flight before it closes their connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    website_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    engine: Engine,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    lifecycle: crate::lifecycle::Worker,
    access_log: crate::logging::delivery::Worker,
    notifications: crate::notify::delivery::Worker,
    replication: crate::replication::worker::Worker,
    admin: Option<tokio::task::JoinHandle<()>>,
    tls: Option<Arc<crate::tls::Tls>>,
}

impl ServerHandle {
    /// The address the server listens on (the real port when the configuration asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the website listener, if there is one.
    pub fn website_addr(&self) -> Option<SocketAddr> {
        self.website_addr
    }

    /// The address of the admin listener, if there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Reads the TLS certificate and key again (`cairn serve` does on SIGHUP); new connections get
    /// what they hold. `Ok(false)` when the server does not serve TLS; on an error the old
    /// certificate is kept.
    pub fn reload_tls(&self) -> std::io::Result<bool> {
        match &self.tls {
            Some(tls) => tls.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// The engine behind the server (tests inspect it).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stops accepting, waits for requests in flight (at most `SHUTDOWN_GRACE`), and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Some(admin) = &self.admin {
            admin.abort();
        }
        self.notifications.stop().await;
        self.replication.stop().await;
        let (lifecycle, access_log) = (self.lifecycle, self.access_log);
        let _ = tokio::task::spawn_blocking(move || {
            lifecycle.stop();
            // Spools the records of the requests just finished.
            access_log.stop();
        })
        .await;
    }
}

/// Opens the store and starts serving S3 on `config.address`.
pub async fn start(config: Config) -> std::io::Result<ServerHandle> {
    let engine_config = EngineConfig {
        io: config.io,
        compression_level: config.compression_level,
        compaction_bytes_per_sec: config.compaction_bytes_per_sec,
        space_amplification_target: config.space_amplification_target,
        ..EngineConfig::default()
    };
    let data_dir = config.data_dir.clone();
    let engine = tokio::task::spawn_blocking(move || Engine::open(data_dir, engine_config))
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
    start_with_engine(config, engine).await
}

/// Serves an engine already open (tests open one over a fault-injecting I/O backend);
/// `config.data_dir` and `config.io` are not used.
pub async fn start_with_engine(config: Config, engine: Engine) -> std::io::Result<ServerHandle> {
    let config = crate::users::with_stored(config, &engine).map_err(std::io::Error::other)?;
    let mut keys = SimpleAuth::from_single(config.root.access_key.clone(), config.root.secret_key.clone());
    let mut secrets =
        std::collections::HashMap::from([(config.root.access_key.clone(), config.root.secret_key.clone())]);
    for user in &config.users {
        keys.register(user.access_key.clone(), user.secret_key.clone().into());
        secrets.insert(user.access_key.clone(), user.secret_key.clone());
    }
    let auth = Keys(keys);
    let accounts = Arc::new(Accounts::new(&config));
    for account in accounts.all() {
        tracing::info!("account {}: id {}, canonical id {}", account.name, account.account_id, account.canonical_id);
    }
    let authorizer = Arc::new(Authorizer::new(engine.clone(), accounts.clone(), config.region.clone()));
    let tls = config.tls.clone().map(crate::tls::Tls::load).transpose()?.map(Arc::new);
    if config.allow_insecure_sse_c && tls.is_none() {
        tracing::warn!(
            "SSE-C is accepted over plain HTTP (--allow-insecure-sse-c): customer keys cross the network in the clear"
        );
    }
    let cairn = Cairn::new(engine.clone(), config.region.clone(), accounts.clone(), authorizer.clone())
        // Over TLS every request is secure transport, as SSE-C requires.
        .with_insecure_sse_c(config.allow_insecure_sse_c || tls.is_some())
        .with_unencrypted_default(config.default_encryption == crate::config::DefaultEncryption::None)
        .with_lifecycle_day(config.lifecycle_day_seconds)
        .with_notification_targets(&config.notification_targets)
        .with_replication_endpoints(&config.replication_endpoints);
    if config.default_encryption == crate::config::DefaultEncryption::None {
        tracing::warn!(
            "buckets without an encryption configuration store objects unencrypted (--default-encryption none)"
        );
    }
    let access_log = cairn.access_log().clone();
    let delivery = Duration::from_secs(config.log_delivery_seconds);
    let log_worker = crate::logging::delivery::Worker::start(access_log.clone(), cairn.clone(), delivery)?;
    let notifications = cairn.notifications().clone();
    let replication = cairn.replication().clone();
    let mut builder = S3ServiceBuilder::new(cairn);
    builder.set_route(crate::s3::control::Control { engine: engine.clone(), accounts: accounts.clone() });
    builder.set_auth(auth);
    let authorizer_for_replication = authorizer.clone();
    builder.set_access(Access(authorizer));
    let domain = config.domain.as_deref().map(Domain::new).transpose()?.map(Arc::new);
    if let Some(domain) = &domain {
        builder.set_host(DomainHost(domain.clone()));
    }
    let mut s3s_config = s3s::config::S3Config::default();
    s3s_config.xml_max_body_size = crate::guard::XML_BODY_BYTES_MAX;
    builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(s3s_config))));
    let requests = Arc::new(crate::metrics::RequestMetrics::default());
    let service = crate::guard::Guard::new(builder.build(), domain, engine.clone(), Arc::new(secrets))
        .with_metrics(requests.clone())
        .with_access_log(access_log)
        .with_notifications(notifications.clone());
    let listener = TcpListener::bind(config.address).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let website = match config.website_address {
        Some(address) => Some(TcpListener::bind(address).await?),
        None => None,
    };
    let website_addr = website.as_ref().map(TcpListener::local_addr).transpose()?;
    let admin = crate::admin::bind(config.admin_address).await?;
    let admin_addr = admin.as_ref().map(TcpListener::local_addr).transpose()?;
    let admin_stopped = stopped.clone();
    let website_loop =
        website.map(|listener| accept_loop(listener, service.clone().for_website(), None, stopped.clone()));
    let api_loop = accept_loop(listener, service, tls.clone(), stopped);
    let task = tokio::spawn(async move {
        match website_loop {
            Some(website_loop) => {
                tokio::join!(api_loop, website_loop);
            }
            None => api_loop.await,
        }
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("serving S3 on {scheme}://{addr} with the {} I/O backend", engine.io_backend_name());
    if let Some(website_addr) = website_addr {
        tracing::info!("serving bucket websites on http://{website_addr}");
    }
    let days = crate::lifecycle::Days::new(config.lifecycle_day_seconds);
    let lifecycle = crate::lifecycle::Worker::start(engine.clone(), days, notifications.clone())?;
    if config.lifecycle_day_seconds != crate::lifecycle::DAY_SECONDS_DEFAULT {
        tracing::warn!("lifecycle days last {} seconds (--lifecycle-day-seconds)", config.lifecycle_day_seconds);
    }
    let admin = admin.map(|listener| {
        let sources = crate::metrics::Sources {
            engine: engine.clone(),
            replication: replication.clone(),
            notifications: notifications.clone(),
            lifecycle: lifecycle.stats.clone(),
        };
        let metrics = crate::metrics::Metrics::new(requests, sources);
        let admin = crate::admin::Admin { replication: replication.clone(), metrics, stopped: admin_stopped };
        tokio::spawn(crate::admin::serve(listener, Arc::new(admin)))
    });
    let notifications = crate::notify::delivery::Worker::start(notifications);
    let replication = crate::replication::worker::Worker::start(replication, accounts, authorizer_for_replication);
    if let Some(admin_addr) = admin_addr {
        tracing::info!("serving the admin endpoints on http://{admin_addr}");
    }
    Ok(ServerHandle {
        addr,
        website_addr,
        admin_addr,
        engine,
        stop,
        task,
        lifecycle,
        access_log: log_worker,
        notifications,
        replication,
        admin,
        tls,
    })
}

/// The accounts' keys. An unknown access key is S3's `InvalidAccessKeyId` (s3s says
/// `NotSignedUp`).
struct Keys(SimpleAuth);

#[async_trait::async_trait]
impl s3s::auth::S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> s3s::S3Result<s3s::auth::SecretKey> {
        self.0.lookup(access_key).cloned().ok_or_else(|| {
            s3s::s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
        })
    }
}

/// Virtual-hosted-style addressing under one domain: `<bucket>.<domain>[:port]` names a bucket;
/// every other host (the domain itself, `localhost`, an IP) is path-style.
#[derive(Debug)]
pub(crate) struct Domain {
    base: String,
}

impl Domain {
    pub(crate) fn new(base: &str) -> std::io::Result<Domain> {
        let base = base.trim_end_matches('.').to_ascii_lowercase();
        let valid = |label: &str| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if base.len() > 253 || !base.split('.').all(valid) {
            return Err(std::io::Error::other(format!("{base:?} is not a domain name")));
        }
        Ok(Domain { base })
    }
}

impl Domain {
    /// The bucket a Host header names (`<bucket>.<domain>`, any port), if it names one.
    pub(crate) fn bucket<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let name = name.trim_end_matches('.');
        name.len()
            .checked_sub(self.base.len() + 1)
            .filter(|&at| name.is_char_boundary(at) && name[at..].eq_ignore_ascii_case(&format!(".{}", self.base)))
            .map(|at| &name[..at])
            .filter(|bucket| !bucket.is_empty())
    }
}

/// The domain as s3s's host parser (shared with the guard).
struct DomainHost(Arc<Domain>);

impl s3s::host::S3Host for DomainHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> s3s::S3Result<s3s::host::VirtualHost<'a>> {
        self.0.parse_host_header(host)
    }
}

impl s3s::host::S3Host for Domain {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> s3s::S3Result<s3s::host::VirtualHost<'a>> {
        Ok(match self.bucket(host) {
            Some(bucket) => s3s::host::VirtualHost::new(self.base.as_str()).with_bucket(bucket),
            None => s3s::host::VirtualHost::new(self.base.as_str()),
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    service: crate::guard::Guard,
    tls: Option<Arc<crate::tls::Tls>>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut builder = ConnBuilder::new(TokioExecutor::new());
    // The head timeout is `Paced`'s: hyper's would arm a timer for every request.
    builder.http1().max_buf_size(REQUEST_HEAD_BYTES_MAX).header_read_timeout(None);
    builder.http2().max_header_list_size(REQUEST_HEAD_BYTES_MAX as u32);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!("accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!("TCP_NODELAY on {peer}: {error}");
                }
                let in_flight = crate::pacing::InFlight::default();
                let service = service.clone().with_peer(peer.ip()).with_connection(in_flight.clone());
                let stream = crate::pacing::Paced::new(stream, in_flight);
                let (builder, watcher) = (builder.clone(), graceful.watcher());
                let acceptor = tls.as_ref().map(|tls| tls.acceptor());
                tokio::spawn(async move {
                    let served = match acceptor {
                        None => serve(&builder, watcher, stream, service).await,
                        Some(acceptor) => {
                            let handshake = tokio::time::timeout(crate::tls::TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                            let stream = match handshake.await {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(error)) => return tracing::debug!("TLS handshake with {peer}: {error}"),
                                Err(_) => return tracing::debug!("TLS handshake with {peer} timed out"),
                            };
                            serve(&builder, watcher, stream, service).await
                        }
                    };
                    if let Err(error) = served {
                        tracing::debug!("connection from {peer}: {error}");
                    }
                });
            }
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; closing them");
    }
}

/// Serves one connection's requests over `io` (a socket, or TLS over one), watched for shutdown.
async fn serve<I>(
    builder: &ConnBuilder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    io: I,
    service: crate::guard::Guard,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    watcher.watch(builder.serve_connection(TokioIo::new(io), service).into_owned()).await
}

#[cfg(test)]
mod tests {
    use s3s::host::S3Host;

    use super::Domain;

    #[test]
    fn virtual_hosts_name_buckets_and_other_hosts_are_path_style() {
        let domain = Domain::new("s3.example.com").unwrap();
        let bucket = |host: &str| domain.parse_host_header(host).unwrap().bucket().map(str::to_owned);
        assert_eq!(bucket("photos.s3.example.com").as_deref(), Some("photos"));
        assert_eq!(bucket("my.dotted.bucket.s3.example.com:9000").as_deref(), Some("my.dotted.bucket"));
        assert_eq!(bucket("photos.S3.Example.com.").as_deref(), Some("photos"));
        assert_eq!(bucket("s3.example.com:9000"), None);
        assert_eq!(bucket("localhost:9000"), None);
        assert_eq!(bucket("xs3.example.com"), None);
        assert!(Domain::new("bad domain").is_err());
    }
}
