//! Configuration: defaults, then the TOML file, then flags and their `CAIRN_*` environment twins.
//! The root credentials come from flags or the environment, else from `<data dir>/credentials`,
//! else they are generated on first start and stored there.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cairn_engine::IoMode;
use serde::Deserialize;

use crate::acl::PublicAccessBlock;

/// Where `cairn serve` listens by default.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9000";
/// The data directory `cairn serve` uses by default, relative to where it starts.
pub const DEFAULT_DATA_DIR: &str = "cairn-data";
/// The region buckets are created in unless a request names another.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The file in the data directory that holds generated root credentials.
pub const CREDENTIALS_FILE: &str = "credentials";
/// Extra users a configuration may define.
pub const USERS_MAX: usize = 1000;
/// Access keys are 3 to 128 letters and digits (AWS issues 20); secrets 8 to 128 characters.
pub const ACCESS_KEY_CHARS: std::ops::RangeInclusive<usize> = 3..=128;
pub const SECRET_KEY_CHARS: std::ops::RangeInclusive<usize> = 8..=128;
/// Account names (an account's canonical id derives from its name).
pub const USER_NAME_CHARS: std::ops::RangeInclusive<usize> = 1..=64;

/// An access key and its secret.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
}

/// An account: a name and its credentials. Each user is its own S3 account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct User {
    pub name: String,
    pub access_key: String,
    pub secret_key: String,
    /// The address ACL grants may name the account by.
    #[serde(default)]
    pub email: Option<String>,
    /// The account's Block Public Access (`[user.public_access_block]`).
    #[serde(default)]
    pub public_access_block: PublicAccessBlock,
}

/// The server's configuration, complete.
#[derive(Clone, Debug)]
pub struct Config {
    pub address: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub io: IoMode,
    /// Virtual-hosted-style requests use `<bucket>.<domain>`.
    pub domain: Option<String>,
    pub root: Credentials,
    pub users: Vec<User>,
    /// The root account's Block Public Access (`[public_access_block]`).
    pub public_access_block: PublicAccessBlock,
    /// Takes SSE-C over plain HTTP, which AWS refuses (the key would cross the network in the
    /// clear); for local testing only, and logged at start.
    pub allow_insecure_sse_c: bool,
    /// The zstd level of chunks in the hot storage classes (0: no compression).
    pub compression_level: i32,
    /// What a bucket without an encryption configuration does: `SseS3` (AWS's default) or
    /// `None` (objects unencrypted unless a request asks; for measuring the engine without AES).
    pub default_encryption: DefaultEncryption,
    /// The I/O budget of compaction's copies and checkpoint writes, bytes per second (0: none).
    pub compaction_bytes_per_sec: u64,
    /// Compaction runs while sealed segments hold more than this many bytes per live byte.
    pub space_amplification_target: f64,
    /// A second listener that serves buckets as websites (AWS's website endpoint), if set.
    pub website_address: Option<SocketAddr>,
    /// The admin listener (`crate::admin`: metrics, health, replication), off the S3 port, if set.
    pub admin_address: Option<SocketAddr>,
    /// The certificate and key the S3 listener serves TLS with, if set (`--tls-cert`, `--tls-key`).
    pub tls: Option<crate::tls::TlsFiles>,
    /// The length of a lifecycle day in seconds (86,400; shorter for tests).
    pub lifecycle_day_seconds: u64,
    /// How often server access logs are delivered into their target buckets, in seconds.
    pub log_delivery_seconds: u64,
    /// The destinations event notifications may name (`[[notification_target]]`).
    pub notification_targets: Vec<crate::notify::Target>,
    /// The other servers replication may copy to (`[[replication_endpoint]]`), one per region.
    pub replication_endpoints: Vec<crate::replication::Endpoint>,
}

/// `--default-encryption`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DefaultEncryption {
    #[default]
    SseS3,
    None,
}

impl std::str::FromStr for DefaultEncryption {
    type Err = String;

    fn from_str(text: &str) -> Result<DefaultEncryption, String> {
        match text {
            "sse-s3" => Ok(DefaultEncryption::SseS3),
            "none" => Ok(DefaultEncryption::None),
            other => Err(format!("default encryption must be sse-s3 or none, not {other:?}")),
        }
    }
}

/// The TOML configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub address: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub io: Option<String>,
    pub domain: Option<String>,
    #[serde(default, rename = "user")]
    pub users: Vec<User>,
    #[serde(default)]
    pub public_access_block: PublicAccessBlock,
    /// `--allow-insecure-sse-c`.
    pub allow_insecure_sse_c: Option<bool>,
    /// `--compression-level`.
    pub compression_level: Option<i32>,
    /// `--default-encryption`: `sse-s3` or `none`.
    pub default_encryption: Option<String>,
    /// `--compaction-bytes-per-sec`.
    pub compaction_bytes_per_sec: Option<u64>,
    /// `--space-amplification-target`.
    pub space_amplification_target: Option<f64>,
    /// `--website-address`.
    pub website_address: Option<SocketAddr>,
    /// `--admin-address`.
    pub admin_address: Option<SocketAddr>,
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
    /// `--lifecycle-day-seconds`.
    pub lifecycle_day_seconds: Option<u64>,
    /// `--log-delivery-seconds`.
    pub log_delivery_seconds: Option<u64>,
    /// `--notification-target`.
    #[serde(default, rename = "notification_target")]
    pub notification_targets: Vec<crate::notify::Target>,
    /// `--replication-endpoint`.
    #[serde(default, rename = "replication_endpoint")]
    pub replication_endpoints: Vec<crate::replication::Endpoint>,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("parsing {path}: {source}")]
    Parse { path: String, source: Box<toml::de::Error> },
    #[error("{0}")]
    Invalid(String),
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        toml::from_str(&text)
            .map_err(|source| ConfigError::Parse { path: path.display().to_string(), source: Box::new(source) })
    }
}

/// Settings given on the command line or in the environment; each overrides the file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub address: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub io: Option<String>,
    pub domain: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub allow_insecure_sse_c: Option<bool>,
    pub compression_level: Option<i32>,
    pub default_encryption: Option<String>,
    pub compaction_bytes_per_sec: Option<u64>,
    pub space_amplification_target: Option<f64>,
    pub website_address: Option<SocketAddr>,
    pub admin_address: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub lifecycle_day_seconds: Option<u64>,
    pub log_delivery_seconds: Option<u64>,
    /// `ARN=URL`s: each adds a destination, or replaces the file's of the same ARN.
    pub notification_targets: Vec<String>,
    /// `REGION=http://ACCESS_KEY:SECRET_KEY@HOST:PORT`s: each adds an endpoint, or replaces the
    /// file's of the same region.
    pub replication_endpoints: Vec<String>,
}

impl Config {
    /// Builds the configuration, creating the data directory and root credentials if needed.
    pub fn resolve(file: FileConfig, overrides: Overrides) -> Result<Config, ConfigError> {
        let address = overrides.address.or(file.address).unwrap_or_else(|| DEFAULT_ADDRESS.parse().expect("valid"));
        let data_dir = overrides.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let region = overrides.region.or(file.region).unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let io = match overrides.io.or(file.io) {
            Some(io) => io.parse().map_err(ConfigError::Invalid)?,
            None => IoMode::Auto,
        };
        let domain = overrides.domain.or(file.domain);
        std::fs::create_dir_all(&data_dir)
            .map_err(|source| ConfigError::Read { path: data_dir.display().to_string(), source })?;
        let root = match (overrides.access_key, overrides.secret_key) {
            (Some(access_key), Some(secret_key)) => Credentials { access_key, secret_key },
            (None, None) => stored_or_generated(&data_dir)?,
            _ => return Err(ConfigError::Invalid("set both the access key and the secret key, or neither".into())),
        };
        let config = Config {
            address,
            data_dir,
            region,
            io,
            domain,
            root,
            users: file.users,
            public_access_block: file.public_access_block,
            allow_insecure_sse_c: overrides.allow_insecure_sse_c.or(file.allow_insecure_sse_c).unwrap_or(false),
            compression_level: overrides
                .compression_level
                .or(file.compression_level)
                .unwrap_or(cairn_engine::COMPRESSION_LEVEL_DEFAULT),
            default_encryption: match overrides.default_encryption.or(file.default_encryption) {
                Some(text) => text.parse().map_err(ConfigError::Invalid)?,
                None => DefaultEncryption::SseS3,
            },
            compaction_bytes_per_sec: overrides
                .compaction_bytes_per_sec
                .or(file.compaction_bytes_per_sec)
                .unwrap_or(cairn_engine::limits::COMPACTION_BYTES_PER_SEC_DEFAULT),
            space_amplification_target: overrides
                .space_amplification_target
                .or(file.space_amplification_target)
                .unwrap_or(cairn_engine::limits::SPACE_AMPLIFICATION_TARGET_DEFAULT),
            website_address: overrides.website_address.or(file.website_address),
            admin_address: overrides.admin_address.or(file.admin_address),
            tls: match (overrides.tls_cert.or(file.tls_cert), overrides.tls_key.or(file.tls_key)) {
                (Some(cert), Some(key)) => Some(crate::tls::TlsFiles { cert, key }),
                (None, None) => None,
                _ => return Err(ConfigError::Invalid("set both the TLS certificate and its key, or neither".into())),
            },
            lifecycle_day_seconds: overrides
                .lifecycle_day_seconds
                .or(file.lifecycle_day_seconds)
                .unwrap_or(crate::lifecycle::DAY_SECONDS_DEFAULT),
            log_delivery_seconds: overrides
                .log_delivery_seconds
                .or(file.log_delivery_seconds)
                .unwrap_or(crate::logging::DELIVERY_SECONDS_DEFAULT),
            notification_targets: notification_targets(file.notification_targets, &overrides.notification_targets)?,
            replication_endpoints: replication_endpoints(file.replication_endpoints, &overrides.replication_endpoints)?,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.lifecycle_day_seconds == 0 || self.lifecycle_day_seconds > crate::lifecycle::DAY_SECONDS_DEFAULT {
            return Err(ConfigError::Invalid("a lifecycle day is 1 to 86400 seconds".into()));
        }
        if !(1..=crate::logging::DELIVERY_SECONDS_MAX).contains(&self.log_delivery_seconds) {
            return Err(ConfigError::Invalid(format!(
                "log delivery is every 1 to {} seconds",
                crate::logging::DELIVERY_SECONDS_MAX
            )));
        }
        if !(1.0..=100.0).contains(&self.space_amplification_target) {
            return Err(ConfigError::Invalid("the space amplification target must be 1 to 100".into()));
        }
        validate_accounts(&self.root, &self.users)
    }
}

/// Checks the accounts: names and keys well formed, none shared, at most `USERS_MAX` users.
pub(crate) fn validate_accounts(root: &Credentials, users: &[User]) -> Result<(), ConfigError> {
    {
        if users.len() > USERS_MAX {
            return Err(ConfigError::Invalid(format!("at most {USERS_MAX} users")));
        }
        let mut keys = vec![root.access_key.as_str()];
        let mut names = vec![crate::account::ROOT_ACCOUNT];
        for user in users {
            let valid = |b: u8| b.is_ascii_alphanumeric() || b"_.-@".contains(&b);
            if !USER_NAME_CHARS.contains(&user.name.len()) || !user.name.bytes().all(valid) {
                return Err(ConfigError::Invalid(format!(
                    "user name {:?}: 1 to 64 letters, digits, '_', '.', '-' or '@'",
                    user.name
                )));
            }
            keys.push(&user.access_key);
            names.push(&user.name);
        }
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(ConfigError::Invalid("two accounts share a name (\"root\" is the root account's)".into()));
        }
        let secrets = std::iter::once(&root.secret_key).chain(users.iter().map(|u| &u.secret_key));
        for (key, secret) in keys.iter().zip(secrets) {
            if !ACCESS_KEY_CHARS.contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ConfigError::Invalid(format!("access key {key:?}: 3 to 128 letters and digits")));
            }
            if !SECRET_KEY_CHARS.contains(&secret.len()) {
                return Err(ConfigError::Invalid(format!("the secret of {key:?} must be 8 to 128 characters")));
            }
        }
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(ConfigError::Invalid("two accounts share an access key".into()));
        }
        Ok(())
    }
}

/// Reads `<data dir>/credentials`, or generates root credentials and writes them there (mode 0600).
/// The file's destinations, with the flags' added (or replacing one of the same ARN), checked.
fn notification_targets(
    mut targets: Vec<crate::notify::Target>,
    flags: &[String],
) -> Result<Vec<crate::notify::Target>, ConfigError> {
    for flag in flags {
        let target = crate::notify::Target::parse(flag).map_err(ConfigError::Invalid)?;
        targets.retain(|t| t.arn != target.arn);
        targets.push(target);
    }
    if targets.len() > crate::notify::TARGETS_MAX {
        return Err(ConfigError::Invalid(format!("at most {} notification targets", crate::notify::TARGETS_MAX)));
    }
    for (n, target) in targets.iter().enumerate() {
        target.check().map_err(|why| ConfigError::Invalid(format!("notification target: {why}")))?;
        if targets[..n].iter().any(|t| t.arn == target.arn) {
            return Err(ConfigError::Invalid(format!("notification target {:?} is defined twice", target.arn)));
        }
    }
    Ok(targets)
}

/// The file's replication endpoints, with the flags' added (or replacing one of the same
/// region), checked.
fn replication_endpoints(
    mut endpoints: Vec<crate::replication::Endpoint>,
    flags: &[String],
) -> Result<Vec<crate::replication::Endpoint>, ConfigError> {
    for flag in flags {
        let endpoint = crate::replication::Endpoint::parse(flag).map_err(ConfigError::Invalid)?;
        endpoints.retain(|e| e.region != endpoint.region);
        endpoints.push(endpoint);
    }
    let most = crate::replication::remote::ENDPOINTS_MAX;
    if endpoints.len() > most {
        return Err(ConfigError::Invalid(format!("at most {most} replication endpoints")));
    }
    for (n, endpoint) in endpoints.iter().enumerate() {
        endpoint.check().map_err(|why| ConfigError::Invalid(format!("replication endpoint: {why}")))?;
        if endpoints[..n].iter().any(|e| e.region == endpoint.region) {
            return Err(ConfigError::Invalid(format!("replication endpoint {:?} is defined twice", endpoint.region)));
        }
    }
    Ok(endpoints)
}

/// The root credentials in `<data dir>/credentials`, if the store has them yet.
pub fn stored_credentials(data_dir: &Path) -> Result<Option<Credentials>, ConfigError> {
    let path = data_dir.join(CREDENTIALS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text)
            .map(Some)
            .map_err(|source| ConfigError::Parse { path: path.display().to_string(), source: Box::new(source) }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read { path: path.display().to_string(), source }),
    }
}

fn stored_or_generated(data_dir: &Path) -> Result<Credentials, ConfigError> {
    let path = data_dir.join(CREDENTIALS_FILE);
    match stored_credentials(data_dir)? {
        Some(credentials) => Ok(credentials),
        None => {
            let credentials = generate();
            write_private(&path, &format!(
                "# Root credentials of this Cairn store, generated on first start.\naccess_key = \"{}\"\nsecret_key = \"{}\"\n",
                credentials.access_key, credentials.secret_key
            ))
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
            Ok(credentials)
        }
    }
}

pub(crate) fn generate() -> Credentials {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    let mut rng = rand::rng();
    let mut text = |len: usize| (&mut rng).sample_iter(Alphanumeric).take(len).map(char::from).collect::<String>();
    Credentials { access_key: text(20).to_uppercase(), secret_key: text(40) }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/configuration.md's example sets every key, and its table names every key.
    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("../../docs/configuration.md");
        let example = doc.split("```toml\n").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
        let file: FileConfig = toml::from_str(example).unwrap();
        assert_eq!(file.users.len(), 1);
        assert!(file.users[0].public_access_block.block_public_policy);
        assert_eq!((file.notification_targets.len(), file.replication_endpoints.len()), (1, 1));
        let table: toml::Table = toml::from_str(example).unwrap();
        let keys: Vec<&String> = table.keys().collect();
        assert_eq!(keys.len(), 20, "every key of FileConfig is set: {keys:?}");
        for key in keys {
            let named = if table[key].is_array() { format!("`[[{key}]]`") } else { format!("`{key}`") };
            assert!(doc.contains(&named) || doc.contains(&format!("`[{key}]`")), "{key} is in the table");
        }
        let dir = tempfile::tempdir().unwrap();
        let overrides = Overrides { data_dir: Some(dir.path().to_owned()), ..Overrides::default() };
        let config = Config::resolve(file, overrides).unwrap();
        assert!(config.tls.is_some());
    }

    #[test]
    fn credentials_are_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let overrides = Overrides { data_dir: Some(dir.path().to_owned()), ..Overrides::default() };
        let first = Config::resolve(FileConfig::default(), overrides.clone()).unwrap();
        let second = Config::resolve(FileConfig::default(), overrides).unwrap();
        assert_eq!(first.root, second.root);
        assert_eq!(first.root.access_key.len(), 20);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(CREDENTIALS_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn encryption_and_compression_settings_come_from_the_file_or_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = Some(dir.path().to_owned());
        let defaults =
            Config::resolve(FileConfig::default(), Overrides { data_dir: data_dir.clone(), ..Overrides::default() })
                .unwrap();
        assert_eq!(defaults.default_encryption, DefaultEncryption::SseS3);
        assert_eq!(defaults.compression_level, cairn_engine::COMPRESSION_LEVEL_DEFAULT);
        assert!(!defaults.allow_insecure_sse_c);
        let file: FileConfig =
            toml::from_str("default_encryption = \"none\"\ncompression_level = 3\nallow_insecure_sse_c = true\n")
                .unwrap();
        let overrides = Overrides { data_dir: data_dir.clone(), compression_level: Some(0), ..Overrides::default() };
        let config = Config::resolve(file, overrides).unwrap();
        assert_eq!(config.default_encryption, DefaultEncryption::None);
        assert_eq!(config.compression_level, 0, "the flag overrides the file");
        assert!(config.allow_insecure_sse_c);
        let bad = Overrides { data_dir, default_encryption: Some("aes".into()), ..Overrides::default() };
        assert!(matches!(Config::resolve(FileConfig::default(), bad), Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn compaction_settings_come_from_the_file_or_the_flags_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = Some(dir.path().to_owned());
        let defaults =
            Config::resolve(FileConfig::default(), Overrides { data_dir: data_dir.clone(), ..Overrides::default() })
                .unwrap();
        assert_eq!(defaults.compaction_bytes_per_sec, cairn_engine::limits::COMPACTION_BYTES_PER_SEC_DEFAULT);
        assert_eq!(defaults.space_amplification_target, cairn_engine::limits::SPACE_AMPLIFICATION_TARGET_DEFAULT);
        let file: FileConfig = toml::from_str(
            "compaction_bytes_per_sec = 1000
space_amplification_target = 1.5
",
        )
        .unwrap();
        let overrides =
            Overrides { data_dir: data_dir.clone(), compaction_bytes_per_sec: Some(7), ..Overrides::default() };
        let config = Config::resolve(file, overrides).unwrap();
        assert_eq!((config.compaction_bytes_per_sec, config.space_amplification_target), (7, 1.5));
        for bad in [0.5, 101.0, f64::NAN] {
            let overrides =
                Overrides { data_dir: data_dir.clone(), space_amplification_target: Some(bad), ..Overrides::default() };
            assert!(matches!(Config::resolve(FileConfig::default(), overrides), Err(ConfigError::Invalid(_))));
        }
    }

    #[test]
    fn notification_targets_come_from_the_file_and_the_flags_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = Some(dir.path().to_owned());
        let file = || -> FileConfig {
            toml::from_str(
                "[[notification_target]]
arn = \"arn:aws:sqs:us-east-1:123456789012:jobs\"
url = \"http://127.0.0.1:8080/jobs\"
",
            )
            .unwrap()
        };
        let flags = |targets: &[&str]| Overrides {
            data_dir: data_dir.clone(),
            notification_targets: targets.iter().map(|t| (*t).to_owned()).collect(),
            ..Overrides::default()
        };
        let config = Config::resolve(file(), flags(&[])).unwrap();
        assert_eq!(config.notification_targets[0].url, "http://127.0.0.1:8080/jobs");
        // A flag adds a destination, or replaces the file's of the same ARN.
        let topic = "arn:aws:sns:us-east-1:123456789012:news=http://127.0.0.1:9/news";
        let replaced = "arn:aws:sqs:us-east-1:123456789012:jobs=http://127.0.0.1:7/jobs";
        let config = Config::resolve(file(), flags(&[topic, replaced])).unwrap();
        let urls: Vec<&str> = config.notification_targets.iter().map(|t| t.url.as_str()).collect();
        assert_eq!(urls, ["http://127.0.0.1:9/news", "http://127.0.0.1:7/jobs"]);
        for bad in ["no-equals", "arn:aws:s3:::bucket=http://127.0.0.1:1/", "arn:aws:sqs:r:1:q=https://x/"] {
            assert!(matches!(Config::resolve(file(), flags(&[bad])), Err(ConfigError::Invalid(_))), "{bad}");
        }
        let many: Vec<String> = (0..=crate::notify::TARGETS_MAX)
            .map(|n| format!("arn:aws:sqs:us-east-1:123456789012:q{n}=http://127.0.0.1:1/"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(matches!(Config::resolve(FileConfig::default(), flags(&many)), Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn replication_endpoints_come_from_the_file_and_the_flags_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = || -> FileConfig {
            toml::from_str(
                "[[replication_endpoint]]
region = \"eu-west-1\"
url = \"http://127.0.0.1:9001\"
access_key = \"AK\"
secret_key = \"SK\"
",
            )
            .unwrap()
        };
        let flags = |endpoints: &[String]| Overrides {
            data_dir: Some(dir.path().to_owned()),
            replication_endpoints: endpoints.to_vec(),
            ..Overrides::default()
        };
        let config = Config::resolve(file(), flags(&[])).unwrap();
        assert_eq!(config.replication_endpoints[0].url, "http://127.0.0.1:9001");
        // A flag adds an endpoint, or replaces the file's of the same region.
        let added = vec!["eu-west-1=http://B:S@127.0.0.1:7".to_owned(), "ap-south-1=http://C:T@127.0.0.1:8".to_owned()];
        let config = Config::resolve(file(), flags(&added)).unwrap();
        let urls: Vec<&str> = config.replication_endpoints.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(urls, ["http://127.0.0.1:7", "http://127.0.0.1:8"]);
        for bad in ["no-equals", "r=https://A:B@host:1", "r=http://host:1", "r=http://A:B@host:1/path"] {
            let refused = Config::resolve(FileConfig::default(), flags(&[bad.to_owned()]));
            assert!(matches!(refused, Err(ConfigError::Invalid(_))), "{bad}");
        }
        let most = crate::replication::remote::ENDPOINTS_MAX;
        let many: Vec<String> = (0..=most).map(|n| format!("r{n}=http://A:B@127.0.0.1:{}", 1000 + n)).collect();
        assert!(Config::resolve(FileConfig::default(), flags(&many[..most])).is_ok());
        assert!(matches!(Config::resolve(FileConfig::default(), flags(&many)), Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn flags_override_the_file_and_users_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file: FileConfig = toml::from_str(&format!(
            "address = \"127.0.0.1:9100\"\nregion = \"eu-west-1\"\ndata_dir = {:?}\n[[user]]\nname = \"alice\"\naccess_key = \"ALICEKEY\"\nsecret_key = \"alicesecret\"\n",
            dir.path()
        ))
        .unwrap();
        let overrides = Overrides {
            region: Some("ap-south-1".into()),
            access_key: Some("ROOTKEY".into()),
            secret_key: Some("rootsecret".into()),
            ..Overrides::default()
        };
        let config = Config::resolve(file, overrides.clone()).unwrap();
        assert_eq!(config.address.port(), 9100);
        assert_eq!(config.region, "ap-south-1");
        assert_eq!(config.users[0].name, "alice");
        let clash: FileConfig = toml::from_str(&format!(
            "data_dir = {:?}\n[[user]]\nname = \"bob\"\naccess_key = \"ROOTKEY\"\nsecret_key = \"bobsecret1\"\n",
            dir.path()
        ))
        .unwrap();
        assert!(matches!(Config::resolve(clash, overrides.clone()), Err(ConfigError::Invalid(_))));
        for name in ["root", "", "has space", &"x".repeat(65)] {
            let user = User {
                name: name.into(),
                access_key: "OTHERKEY".into(),
                secret_key: "othersecret".into(),
                email: None,
                public_access_block: Default::default(),
            };
            let file = FileConfig { data_dir: Some(dir.path().into()), users: vec![user], ..FileConfig::default() };
            assert!(Config::resolve(file, overrides.clone()).is_err(), "user name {name:?}");
        }
        assert!(toml::from_str::<FileConfig>("colour = 1").is_err(), "unknown settings are refused");
    }
}
