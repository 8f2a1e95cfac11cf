//! `cairn`: the S3 server's command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use cairn_server::config::{Config, FileConfig, Overrides};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "cairn", version, about = "Cairn: an S3-compatible object store")]
struct Cli {
    /// How log lines are written: text (for people) or json (one object per line, with the
    /// request span's fields); which lines is RUST_LOG's filter [default: info, requests that
    /// fail only]
    #[arg(long, global = true, env = "CAIRN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

/// The log filter when neither RUST_LOG nor CAIRN_LOG is set: INFO, but of requests only those
/// that fail (`RUST_LOG=info` logs every request).
const LOG_FILTER_DEFAULT: &str = "info,cairn::request=warn";

fn init_logging(format: LogFormat) {
    let filter = ["RUST_LOG", "CAIRN_LOG"]
        .iter()
        .find_map(|name| tracing_subscriber::EnvFilter::try_from_env(name).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(LOG_FILTER_DEFAULT));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve S3 over HTTP.
    Serve(Box<ServeArgs>),
    /// Check every record of a store (the server must not have it open) and name the objects
    /// whose data is damaged. Exits 1 when anything is damaged.
    Verify {
        /// Data directory [default: ./cairn-data]
        #[arg(long, env = "CAIRN_DATA_DIR", default_value = "cairn-data")]
        data_dir: PathBuf,
    },
    /// Run compaction passes by hand until no sealed segment has dead bytes to free (the server
    /// must not have the store open; `cairn serve` compacts in the background).
    Compact {
        /// Data directory [default: ./cairn-data]
        #[arg(long, env = "CAIRN_DATA_DIR", default_value = "cairn-data")]
        data_dir: PathBuf,
    },
    /// Print a presigned POST form for browser uploads (as boto3's generate_presigned_post):
    /// JSON with the URL and the form's fields, or an HTML form with --html.
    PresignPost(Box<PresignPostArgs>),
    /// Manage the store's encryption keys (the server must not have the store open).
    Key {
        /// Data directory [default: ./cairn-data]
        #[arg(long, global = true, env = "CAIRN_DATA_DIR", default_value = "cairn-data")]
        data_dir: PathBuf,
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Manage the accounts kept in the store (the server reads them at start; it must not have
    /// the store open). Exit codes: 0 done, 1 no such (or already such) account, 3 the store
    /// could not be opened.
    User {
        /// Data directory [default: ./cairn-data]
        #[arg(long, global = true, env = "CAIRN_DATA_DIR", default_value = "cairn-data")]
        data_dir: PathBuf,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Look at the store's buckets (the server must not have the store open). Exit codes: 0
    /// done, 1 no such bucket, 3 the store could not be opened.
    Bucket {
        /// Data directory [default: ./cairn-data]
        #[arg(long, global = true, env = "CAIRN_DATA_DIR", default_value = "cairn-data")]
        data_dir: PathBuf,
        #[command(subcommand)]
        command: BucketCommand,
    },
    /// Print the store's figures: buckets, segments, live and dead bytes, checkpoint, index (the
    /// server must not have the store open; a running server's are at the admin /metrics).
    Stats {
        /// Data directory [default: ./cairn-data]
        #[arg(long, env = "CAIRN_DATA_DIR", default_value = "cairn-data")]
        data_dir: PathBuf,
        /// Print one JSON object instead of lines of text
        #[arg(long)]
        json: bool,
    },
    /// Manage accounts' MFA devices (TOTP), whose codes MFA delete asks for in `x-amz-mfa` (the
    /// server must not have the store open).
    Mfa {
        /// Data directory [default: ./cairn-data]
        #[arg(long, global = true, env = "CAIRN_DATA_DIR", default_value = "cairn-data")]
        data_dir: PathBuf,
        #[command(subcommand)]
        command: MfaCommand,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Make an account with new keys and print them (the secret is shown only here).
    Add {
        /// The account's name: 1 to 64 letters, digits, '_', '.', '-' or '@'
        name: String,
        /// The address ACL grants may name the account by
        #[arg(long)]
        email: Option<String>,
    },
    /// List the accounts: name, access key, email (tab-separated).
    List,
    /// Remove an account (its buckets stay).
    Remove { name: String },
    /// Give an account new keys and print them; the old keys stop working at the next start.
    Rotate { name: String },
}

#[derive(Subcommand, Debug)]
enum BucketCommand {
    /// List the buckets: name, region, creation time, owner (tab-separated).
    Ls,
    /// A bucket's settings and how many objects, versions and bytes it holds.
    Stat { name: String },
}

#[derive(Subcommand, Debug)]
enum MfaCommand {
    /// Add a device to an account: prints its serial (for `x-amz-mfa`), its secret, and an
    /// otpauth:// URI for an authenticator app.
    Add {
        /// The account's name: `root`, or a `[[user]]` of the configuration
        #[arg(long, default_value = cairn_server::account::ROOT_ACCOUNT)]
        account: String,
        /// The device's name (letters, digits and +=,.@-_)
        #[arg(long)]
        device: String,
    },
    /// List an account's devices by serial.
    List {
        #[arg(long, default_value = cairn_server::account::ROOT_ACCOUNT)]
        account: String,
    },
    /// Remove a device.
    Remove {
        #[arg(long, default_value = cairn_server::account::ROOT_ACCOUNT)]
        account: String,
        #[arg(long)]
        device: String,
    },
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Add a master key: SSE-S3 objects written from now on are wrapped by it; older ones keep
    /// theirs and stay readable.
    Rotate,
    /// List the master keys and the KMS keys.
    List,
    /// Create a key of the local KMS (for SSE-KMS), with an alias if given (without `alias/`).
    KmsCreate {
        #[arg(long)]
        alias: Option<String>,
    },
    /// Disable a KMS key (by id, ARN or alias/<name>): its objects cannot be read until enabled.
    KmsDisable { key: String },
    /// Enable a KMS key again.
    KmsEnable { key: String },
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:9000]
    #[arg(long, env = "CAIRN_ADDRESS")]
    address: Option<SocketAddr>,
    /// Data directory [default: ./cairn-data]
    #[arg(long, env = "CAIRN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (region, io, domain, [[user]] tables)
    #[arg(long, env = "CAIRN_CONFIG")]
    config: Option<PathBuf>,
    /// Region this endpoint serves [default: us-east-1]
    #[arg(long, env = "CAIRN_REGION")]
    region: Option<String>,
    /// I/O backend: auto, uring or threads [default: auto]
    #[arg(long, env = "CAIRN_IO")]
    io: Option<String>,
    /// Domain for virtual-hosted-style requests (<bucket>.<domain>)
    #[arg(long, env = "CAIRN_DOMAIN")]
    domain: Option<String>,
    /// Root access key (with --secret-key; else generated and stored in the data directory)
    #[arg(long, env = "CAIRN_ACCESS_KEY")]
    access_key: Option<String>,
    /// Root secret key
    #[arg(long, env = "CAIRN_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Accept SSE-C (customer-provided keys) over plain HTTP, which AWS refuses; local testing only
    #[arg(long, env = "CAIRN_ALLOW_INSECURE_SSE_C")]
    allow_insecure_sse_c: bool,
    /// zstd level for chunks of the hot storage classes, 0 (off) to 22 [default: 1]
    #[arg(long, env = "CAIRN_COMPRESSION_LEVEL")]
    compression_level: Option<i32>,
    /// Encryption of buckets that have no configuration: sse-s3 (AWS's default) or none
    #[arg(long, env = "CAIRN_DEFAULT_ENCRYPTION")]
    default_encryption: Option<String>,
    /// I/O budget of background compaction and checkpoints, bytes per second, 0 for none
    /// [default: 268435456]
    #[arg(long, env = "CAIRN_COMPACTION_BYTES_PER_SEC")]
    compaction_bytes_per_sec: Option<u64>,
    /// Compaction keeps sealed segments under this many bytes per live byte [default: 1.2]
    #[arg(long, env = "CAIRN_SPACE_AMPLIFICATION_TARGET")]
    space_amplification_target: Option<f64>,
    /// Also serve buckets as static websites (anonymous GET/HEAD, HTML errors) on this address
    #[arg(long, env = "CAIRN_WEBSITE_ADDRESS")]
    website_address: Option<SocketAddr>,
    /// Also serve the admin endpoints (GET /metrics for Prometheus, /health, /ready, and
    /// /replication) on this address, without S3 credentials: bind it where only operators reach it
    #[arg(long, env = "CAIRN_ADMIN_ADDRESS")]
    admin_address: Option<SocketAddr>,
    /// Serve S3 over HTTPS with this PEM certificate chain (with --tls-key); read again on SIGHUP
    #[arg(long, env = "CAIRN_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert; read again on SIGHUP
    #[arg(long, env = "CAIRN_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Length of a lifecycle day in seconds, 1 to 86400 (shorter days for testing lifecycle
    /// rules) [default: 86400]
    #[arg(long, env = "CAIRN_LIFECYCLE_DAY_SECONDS")]
    lifecycle_day_seconds: Option<u64>,
    /// How often server access logs are delivered into their target buckets, in seconds, 1 to
    /// 3600 [default: 60]
    #[arg(long, env = "CAIRN_LOG_DELIVERY_SECONDS")]
    log_delivery_seconds: Option<u64>,
    /// A destination event notifications may name, `ARN=URL` (an SNS, SQS or Lambda ARN and the
    /// http:// webhook its messages are POSTed to); repeatable, comma-separated in the env
    #[arg(long = "notification-target", env = "CAIRN_NOTIFICATION_TARGETS", value_delimiter = ',')]
    notification_targets: Vec<String>,
    /// Another Cairn server replication may copy to,
    /// `REGION=http://ACCESS_KEY:SECRET_KEY@HOST:PORT` (one per region); repeatable,
    /// comma-separated in the env
    #[arg(long = "replication-endpoint", env = "CAIRN_REPLICATION_ENDPOINTS", value_delimiter = ',')]
    replication_endpoints: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct PresignPostArgs {
    /// The S3 endpoint the form posts to
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    #[arg(long)]
    bucket: String,
    /// The object key; a trailing ${filename} stands for the uploaded file's name
    #[arg(long)]
    key: String,
    /// Seconds the form stays valid (at most 7 days)
    #[arg(long, default_value_t = 3600)]
    expires: u64,
    /// A field the form carries, fixed by the policy: NAME=VALUE (repeatable)
    #[arg(long = "field", value_parser = name_value)]
    fields: Vec<(String, String)>,
    /// The file sizes allowed, in bytes: MIN,MAX
    #[arg(long, value_parser = size_range)]
    content_length_range: Option<(u64, u64)>,
    /// Region of the signing scope
    #[arg(long, env = "CAIRN_REGION", default_value = cairn_server::config::DEFAULT_REGION)]
    region: String,
    /// Access key that signs the form (with --secret-key; else the store's root credentials)
    #[arg(long, env = "CAIRN_ACCESS_KEY")]
    access_key: Option<String>,
    #[arg(long, env = "CAIRN_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Data directory whose root credentials sign the form when no key is given
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = "cairn-data")]
    data_dir: PathBuf,
    /// Print an HTML form instead of JSON
    #[arg(long)]
    html: bool,
}

fn name_value(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or("expected NAME=VALUE")?;
    Ok((name.to_owned(), value.to_owned()))
}

fn size_range(text: &str) -> Result<(u64, u64), String> {
    let (min, max) = text.split_once(',').ok_or("expected MIN,MAX")?;
    let (min, max) = (min.trim().parse::<u64>(), max.trim().parse::<u64>());
    match (min, max) {
        (Ok(min), Ok(max)) if min <= max => Ok((min, max)),
        _ => Err("expected MIN,MAX with MIN <= MAX".to_owned()),
    }
}

fn presign_post(args: PresignPostArgs) -> Result<(), Box<dyn std::error::Error>> {
    let (access_key, secret_key) = match (args.access_key, args.secret_key) {
        (Some(access_key), Some(secret_key)) => (access_key, secret_key),
        (None, None) => {
            let path = args.data_dir.join(cairn_server::config::CREDENTIALS_FILE);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            let stored: cairn_server::Credentials = toml::from_str(&text)?;
            (stored.access_key, stored.secret_key)
        }
        _ => return Err("give both --access-key and --secret-key, or neither".into()),
    };
    let request = cairn_server::PostFormRequest {
        endpoint: args.endpoint,
        bucket: args.bucket,
        key: args.key,
        access_key,
        secret_key,
        region: args.region,
        expires_seconds: args.expires,
        fields: args.fields,
        content_length_range: args.content_length_range,
    };
    let form = cairn_server::presigned_post(&request, time::OffsetDateTime::now_utc())?;
    println!("{}", if args.html { form.to_html() } else { form.to_json() });
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    use cairn_server::cli;
    let result: cli::Outcome = match cli.command {
        Command::Serve(args) => serve(*args).map_err(cli::Failure::Error),
        Command::Verify { data_dir } => cli::store::verify(&data_dir),
        Command::Compact { data_dir } => cli::store::compact(&data_dir),
        Command::Stats { data_dir, json } => cli::store::stats(&data_dir, json),
        Command::User { data_dir, command } => match command {
            UserCommand::Add { name, email } => cli::users::add(&data_dir, &name, email),
            UserCommand::List => cli::users::list(&data_dir),
            UserCommand::Remove { name } => cli::users::remove(&data_dir, &name),
            UserCommand::Rotate { name } => cli::users::rotate(&data_dir, &name),
        },
        Command::Bucket { data_dir, command } => match command {
            BucketCommand::Ls => cli::buckets::ls(&data_dir),
            BucketCommand::Stat { name } => cli::buckets::stat(&data_dir, &name),
        },
        Command::Key { data_dir, command } => key(&data_dir, command).map_err(cli::Failure::Error),
        Command::Mfa { data_dir, command } => mfa(&data_dir, command).map_err(cli::Failure::Error),
        Command::PresignPost(args) => presign_post(*args).map_err(cli::Failure::Error),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("cairn: {failure}");
            std::process::ExitCode::from(failure.exit_code())
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let overrides = Overrides {
        address: args.address,
        data_dir: args.data_dir,
        region: args.region,
        io: args.io,
        domain: args.domain,
        access_key: args.access_key,
        secret_key: args.secret_key,
        allow_insecure_sse_c: args.allow_insecure_sse_c.then_some(true),
        compression_level: args.compression_level,
        default_encryption: args.default_encryption,
        compaction_bytes_per_sec: args.compaction_bytes_per_sec,
        space_amplification_target: args.space_amplification_target,
        website_address: args.website_address,
        admin_address: args.admin_address,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        lifecycle_day_seconds: args.lifecycle_day_seconds,
        log_delivery_seconds: args.log_delivery_seconds,
        notification_targets: args.notification_targets,
        replication_endpoints: args.replication_endpoints,
    };
    let config = Config::resolve(file, overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let server = cairn_server::start(config.clone()).await?;
        let addr = server.local_addr();
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        println!("Cairn is serving S3 on {scheme}://{addr} (data in {})", config.data_dir.display());
        if let Some(website) = server.website_addr() {
            println!("Bucket websites are served on http://{website} (Host: <bucket>.s3-website.<anything>)");
        }
        println!("Try it with the AWS CLI:");
        println!(
            "  AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_DEFAULT_REGION={} aws --endpoint-url {scheme}://{addr} s3 ls",
            config.root.access_key, config.root.secret_key, config.region
        );
        shutdown_signal(&server).await;
        println!("Stopping: finishing requests in flight.");
        let engine = server.engine().clone();
        server.shutdown().await;
        let log = engine.log_stats();
        println!(
            "Log writer: {} commits and {} chunks in {} groups, {} syncs, {} bytes",
            log.commits, log.chunks, log.groups, log.syncs, log.bytes
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

fn key(data_dir: &std::path::Path, command: KeyCommand) -> Result<(), Box<dyn std::error::Error>> {
    let keyring = cairn_engine::keyring::OfflineKeyring::open(data_dir)?;
    let show = |key: &cairn_engine::KmsKeyInfo| {
        let aliases: Vec<String> = key.aliases.iter().map(|a| format!("alias/{a}")).collect();
        let state = if key.enabled { "enabled" } else { "disabled" };
        println!("kms key {} {state} {}", key.id, aliases.join(" "));
    };
    match command {
        KeyCommand::Rotate => println!("master key {} now wraps new objects", keyring.rotate()?),
        KeyCommand::List => {
            let masters = keyring.master_key_ids();
            for id in &masters {
                let active = if Some(id) == masters.last() { " (active)" } else { "" };
                println!("master key {id}{active}");
            }
            keyring.kms_keys().iter().for_each(show);
        }
        KeyCommand::KmsCreate { alias } => show(&keyring.create_kms_key(alias.as_deref())?),
        KeyCommand::KmsDisable { key } => show(&keyring.set_kms_key_enabled(&key, false)?),
        KeyCommand::KmsEnable { key } => show(&keyring.set_kms_key_enabled(&key, true)?),
    }
    Ok(())
}

fn mfa(data_dir: &std::path::Path, command: MfaCommand) -> Result<(), Box<dyn std::error::Error>> {
    use cairn_server::{account, mfa};
    if !data_dir.is_dir() {
        return Err(format!("{} is not a directory", data_dir.display()).into());
    }
    let config = cairn_engine::EngineConfig { background: false, ..Default::default() };
    let engine = cairn_engine::Engine::open(data_dir, config)?;
    match command {
        MfaCommand::Add { account, device } => {
            let id = account::account_id(&account);
            let added = mfa::add(&engine, &id, &device)?;
            println!("serial: {}", mfa::serial(&id, &added.name));
            println!("secret: {}", added.secret_base32());
            println!("uri:    {}", added.otpauth_uri(&account));
        }
        MfaCommand::List { account } => {
            let id = account::account_id(&account);
            for device in mfa::devices(&engine, &id) {
                println!("{}", mfa::serial(&id, &device.name));
            }
        }
        MfaCommand::Remove { account, device } => mfa::remove(&engine, &account::account_id(&account), &device)?,
    }
    Ok(())
}

/// Waits for SIGINT or SIGTERM; on each SIGHUP meanwhile reads the TLS certificate again.
async fn shutdown_signal(server: &cairn_server::ServerHandle) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut hangup = signal(SignalKind::hangup()).expect("install SIGHUP handler");
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = terminate.recv() => return,
            _ = hangup.recv() => match server.reload_tls() {
                Ok(true) => tracing::info!("SIGHUP: the TLS certificate was read again"),
                Ok(false) => tracing::info!("SIGHUP: no TLS certificate to read again"),
                Err(error) => tracing::error!("SIGHUP: the TLS certificate was not read again, the old one is kept: {error}"),
            },
        }
    }
}
