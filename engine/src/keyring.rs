//! The store's keys (docs/format.md, "Keyring"): master keys that wrap SSE-S3 data keys, and the
//! local key management service's keys (SSE-KMS) with their aliases and enabled state. One file,
//! `keyring`, in the store directory: created at first open with mode 0600, replaced atomically
//! (written beside, synced, renamed, directory synced) on every change.
//!
//! Rotation adds a master key; new objects are wrapped by the newest, old ones name theirs.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use parking_lot::{Mutex, RwLock};
use sha2::Sha256;
use xxhash_rust::xxh3::xxh3_64;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::format::codec::{Dec, DecodeError, DecodeResult, Enc};
use crate::limits;
use crate::seal::{self, ChunkKeys, DataKey, KEY_BYTES, KeyBytes, WRAPPED_KEY_BYTES};
use crate::types::{Encryption, SseMode};

const KEYRING_FILE: &str = "keyring";
const KEYRING_TEMP_FILE: &str = "keyring.tmp";
const KEYRING_MAGIC: [u8; 8] = *b"CAIRNKEY";
const KEYRING_VERSION: u32 = 1;
/// The alias of the key SSE-KMS uses when a write names none (AWS's managed key for S3).
pub const DEFAULT_KMS_ALIAS: &str = "aws/s3";
/// Bytes of an SSE-C key check: a salt and HMAC-SHA256 of the key under it.
const KEY_CHECK_SALT_BYTES: usize = 16;
const KEY_CHECK_BYTES: usize = KEY_CHECK_SALT_BYTES + 32;

/// A server-side encryption request for a new object or upload.
#[derive(Clone, PartialEq, Eq)]
pub enum Sse {
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS (`aws:kms`) or, with `dsse`, DSSE-KMS (`aws:kms:dsse`).
    Kms {
        /// A key id, key ARN, alias (`alias/name`) or alias ARN; `None` for the default key.
        key: Option<String>,
        /// The encryption context (S3's JSON text), bound to the data keys.
        context: String,
        bucket_key: bool,
        dsse: bool,
    },
    /// SSE-C: the customer's 256-bit key.
    Customer(KeyBytes),
}

impl std::fmt::Debug for Sse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sse::S3 => f.write_str("S3"),
            Sse::Kms { key, bucket_key, dsse, .. } => {
                f.debug_struct("Kms").field("key", key).field("bucket_key", bucket_key).field("dsse", dsse).finish()
            }
            Sse::Customer(_) => f.write_str("Customer(..)"),
        }
    }
}

/// A key of the local KMS as the engine describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsKeyInfo {
    /// The key id: a UUID, as AWS KMS prints them.
    pub id: String,
    /// Alias names without the `alias/` prefix.
    pub aliases: Vec<String>,
    pub enabled: bool,
    pub created_ms: u64,
}

struct MasterKey {
    id: u32,
    created_ms: u64,
    material: KeyBytes,
}

struct KmsKey {
    info: KmsKeyInfo,
    material: KeyBytes,
}

#[derive(Default)]
struct State {
    masters: Vec<MasterKey>,
    kms: Vec<KmsKey>,
}

/// The keys of one store.
pub struct Keyring {
    dir: PathBuf,
    state: RwLock<State>,
    /// Serialises changes: each writes the whole file.
    change: Mutex<()>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.read();
        f.debug_struct("Keyring").field("masters", &state.masters.len()).field("kms", &state.kms.len()).finish()
    }
}

impl Keyring {
    /// Opens the store's keyring, creating it (with one master key) if the store has none.
    pub(crate) fn open(dir: &Path) -> Result<Keyring> {
        let path = dir.join(KEYRING_FILE);
        let keyring = Keyring { dir: dir.to_owned(), state: RwLock::default(), change: Mutex::new(()) };
        match fs::read(&path) {
            Ok(bytes) => {
                *keyring.state.write() = decode(&bytes)
                    .map_err(|e| Error::InvalidConfig(format!("keyring {} is damaged: {}", path.display(), e.0)))?;
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let _guard = keyring.change.lock();
                let state = State {
                    masters: vec![MasterKey { id: 1, created_ms: crate::now_ms(), material: seal::random_key() }],
                    kms: Vec::new(),
                };
                keyring.store(state)?;
            }
            Err(error) => return Err(Error::Io(error)),
        }
        Ok(keyring)
    }

    /// Writes `state` as the keyring file, then makes it the one in use.
    fn store(&self, state: State) -> Result<()> {
        let bytes = encode(&state);
        let temp = self.dir.join(KEYRING_TEMP_FILE);
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&temp, self.dir.join(KEYRING_FILE))?;
        File::open(&self.dir)?.sync_all()?;
        *self.state.write() = state;
        Ok(())
    }

    /// Applies `change` to a copy of the keys and stores the result.
    fn modify<T>(&self, change: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let _guard = self.change.lock();
        let mut next = {
            let state = self.state.read();
            State {
                masters: state
                    .masters
                    .iter()
                    .map(|k| MasterKey { id: k.id, created_ms: k.created_ms, material: k.material.clone() })
                    .collect(),
                kms: state.kms.iter().map(|k| KmsKey { info: k.info.clone(), material: k.material.clone() }).collect(),
            }
        };
        let value = change(&mut next)?;
        self.store(next)?;
        Ok(value)
    }

    /// Adds a master key, which wraps the data keys of SSE-S3 objects from now on; older
    /// objects stay readable by theirs. Returns its id.
    pub fn rotate(&self) -> Result<u32> {
        self.modify(|state| {
            if state.masters.len() >= limits::MASTER_KEYS_MAX {
                return Err(Error::InvalidArgument(format!(
                    "the keyring holds {} master keys, the most it may",
                    limits::MASTER_KEYS_MAX
                )));
            }
            let id = state.masters.iter().map(|k| k.id).max().unwrap_or(0) + 1;
            state.masters.push(MasterKey { id, created_ms: crate::now_ms(), material: seal::random_key() });
            Ok(id)
        })
    }

    /// Master key ids, oldest first; the last wraps new objects.
    pub fn master_key_ids(&self) -> Vec<u32> {
        self.state.read().masters.iter().map(|k| k.id).collect()
    }

    /// Creates a KMS key, with `alias` (without `alias/`) if given.
    pub fn create_kms_key(&self, alias: Option<&str>) -> Result<KmsKeyInfo> {
        if let Some(alias) = alias {
            validate_alias(alias)?;
        }
        self.modify(|state| {
            if state.kms.len() >= limits::KMS_KEYS_MAX {
                return Err(Error::InvalidArgument(format!("the keyring holds {} KMS keys", limits::KMS_KEYS_MAX)));
            }
            if let Some(alias) = alias
                && state.kms.iter().any(|k| k.info.aliases.iter().any(|a| a == alias))
            {
                return Err(Error::InvalidArgument(format!("alias {alias:?} is already in use")));
            }
            let id = uuid(seal::random());
            let info = KmsKeyInfo {
                id,
                aliases: alias.map(str::to_owned).into_iter().collect(),
                enabled: true,
                created_ms: crate::now_ms(),
            };
            state.kms.push(KmsKey { info: info.clone(), material: seal::random_key() });
            Ok(info)
        })
    }

    /// Enables or disables a KMS key (named as `describe_kms_key` takes it). A disabled key
    /// wraps no new data keys and opens none: reads of its objects fail until it is enabled.
    pub fn set_kms_key_enabled(&self, key: &str, enabled: bool) -> Result<KmsKeyInfo> {
        let id = self.describe_kms_key(key)?.id;
        self.modify(|state| {
            let key = state.kms.iter_mut().find(|k| k.info.id == id).expect("described above");
            key.info.enabled = enabled;
            Ok(key.info.clone())
        })
    }

    /// Every KMS key.
    pub fn kms_keys(&self) -> Vec<KmsKeyInfo> {
        self.state.read().kms.iter().map(|k| k.info.clone()).collect()
    }

    /// The KMS key `key` names: a key id, a key ARN (`arn:...:key/<id>`), an alias
    /// (`alias/<name>`) or an alias ARN (`arn:...:alias/<name>`).
    pub fn describe_kms_key(&self, key: &str) -> Result<KmsKeyInfo> {
        let state = self.state.read();
        find_kms(&state, key).map(|k| k.info.clone()).ok_or_else(|| Error::KmsKeyNotFound(key.to_owned()))
    }

    /// The key SSE-KMS uses when a write names none, created on first use.
    fn default_kms_key(&self) -> Result<KmsKeyInfo> {
        let name = format!("alias/{DEFAULT_KMS_ALIAS}");
        match self.describe_kms_key(&name) {
            Err(Error::KmsKeyNotFound(_)) => match self.create_kms_key(Some(DEFAULT_KMS_ALIAS)) {
                // Created by another writer meanwhile.
                Err(Error::InvalidArgument(_)) => self.describe_kms_key(&name),
                created => created,
            },
            found => found,
        }
    }

    /// Makes the data keys for a new object or upload at `bucket`/`key` under `sse`: returns
    /// what is stored with it and the keys that seal its chunks.
    pub(crate) fn seal_new(&self, sse: &Sse, bucket: &str, key: &str) -> Result<(Encryption, ChunkKeys)> {
        let inner = seal::random_key();
        let (mode, key_id, context, bucket_key, kek, key_check) = match sse {
            Sse::S3 => {
                let state = self.state.read();
                let master = state.masters.last().expect("a keyring has a master key");
                (SseMode::S3, master.id.to_string(), String::new(), false, master.material.clone(), Vec::new())
            }
            Sse::Kms { key: name, context, bucket_key, dsse } => {
                let info = match name {
                    Some(name) => self.describe_kms_key(name)?,
                    None => self.default_kms_key()?,
                };
                let kek = self.kms_kek(&info.id, *bucket_key, bucket)?;
                let mode = if *dsse { SseMode::KmsDsse } else { SseMode::Kms };
                (mode, info.id, context.clone(), *bucket_key, kek, Vec::new())
            }
            Sse::Customer(customer) => {
                let salt: [u8; KEY_CHECK_SALT_BYTES] = seal::random();
                let mut check = salt.to_vec();
                check.extend_from_slice(&key_check_mac(&salt, customer));
                (SseMode::Customer, String::new(), String::new(), false, customer.clone(), check)
            }
        };
        let mut encryption = Encryption { mode, key_id, context, bucket_key, wrapped: Vec::new(), key_check };
        let aad = wrap_context(&encryption, bucket, key);
        encryption.wrapped = seal::wrap(&kek, &inner, &aad);
        // DSSE-KMS: a second data key for the second layer.
        let outer = (mode == SseMode::KmsDsse).then(seal::random_key);
        if let Some(outer) = &outer {
            encryption.wrapped.extend_from_slice(&seal::wrap(&kek, outer, &aad));
        }
        let keys = ChunkKeys { inner: DataKey::new(&inner), outer: outer.map(|key| DataKey::new(&key)) };
        Ok((encryption, keys))
    }

    /// The data keys of an existing object or upload at `bucket`/`key` (`customer`: the SSE-C
    /// key the request carries).
    pub(crate) fn open_keys(
        &self,
        encryption: &Encryption,
        bucket: &str,
        key: &str,
        customer: Option<&[u8; KEY_BYTES]>,
    ) -> Result<ChunkKeys> {
        let kek: KeyBytes = match encryption.mode {
            SseMode::S3 => {
                let state = self.state.read();
                let id: u32 = encryption.key_id.parse().map_err(|_| damaged("names no master key"))?;
                let master =
                    state.masters.iter().find(|k| k.id == id).ok_or_else(|| damaged("names a missing master key"))?;
                master.material.clone()
            }
            SseMode::Kms | SseMode::KmsDsse => self.kms_kek(&encryption.key_id, encryption.bucket_key, bucket)?,
            SseMode::Customer => {
                let customer = customer.ok_or(Error::CustomerKeyRequired)?;
                if !customer_key_matches(encryption, customer) {
                    return Err(Error::CustomerKeyMismatch);
                }
                Zeroizing::new(*customer)
            }
        };
        let aad = wrap_context(encryption, bucket, key);
        let wrapped = &encryption.wrapped;
        let open = |range: std::ops::Range<usize>| {
            wrapped
                .get(range)
                .and_then(|bytes| seal::unwrap(&kek, bytes, &aad))
                .map(|k| DataKey::new(&k))
                .ok_or_else(|| damaged("data key does not unwrap: damaged, or not this object's"))
        };
        let dsse = encryption.mode == SseMode::KmsDsse;
        let expected = if dsse { 2 * WRAPPED_KEY_BYTES } else { WRAPPED_KEY_BYTES };
        if wrapped.len() != expected {
            return Err(damaged("wrapped data keys have the wrong length"));
        }
        Ok(ChunkKeys {
            inner: open(0..WRAPPED_KEY_BYTES)?,
            outer: if dsse { Some(open(WRAPPED_KEY_BYTES..2 * WRAPPED_KEY_BYTES)?) } else { None },
        })
    }

    /// The key-encryption key of KMS key `id`: its material or, with bucket keys, a key derived
    /// from it for `bucket` (AWS's S3 Bucket Key: one KMS-derived key serves a bucket's objects).
    fn kms_kek(&self, id: &str, bucket_key: bool, bucket: &str) -> Result<KeyBytes> {
        let state = self.state.read();
        let key = find_kms(&state, id).ok_or_else(|| Error::KmsKeyNotFound(id.to_owned()))?;
        if !key.info.enabled {
            return Err(Error::KmsKeyDisabled(key.info.id.clone()));
        }
        if !bucket_key {
            return Ok(key.material.clone());
        }
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.material.as_ref()).expect("HMAC takes any key");
        mac.update(b"cairn bucket key\0");
        mac.update(bucket.as_bytes());
        let mut derived = Zeroizing::new([0u8; KEY_BYTES]);
        derived.copy_from_slice(&mac.finalize().into_bytes());
        Ok(derived)
    }
}

/// A store's keyring opened by a tool while no server has the store (`cairn key ...`): it holds
/// the store's lock, so no engine can change the keyring meanwhile and overwrite the change.
#[derive(Debug)]
pub struct OfflineKeyring {
    keyring: Keyring,
    _lock: File,
}

impl OfflineKeyring {
    /// Opens the keyring of the store in `dir` (creating it if the store has none); `Locked`
    /// while a server or another tool has the store open.
    pub fn open(dir: &Path) -> Result<OfflineKeyring> {
        if !dir.is_dir() {
            return Err(Error::InvalidConfig(format!("{} is not a directory", dir.display())));
        }
        let lock = crate::io::lock_dir(dir)?.ok_or_else(|| Error::Locked { path: dir.display().to_string() })?;
        Ok(OfflineKeyring { keyring: Keyring::open(dir)?, _lock: lock })
    }
}

impl std::ops::Deref for OfflineKeyring {
    type Target = Keyring;

    fn deref(&self) -> &Keyring {
        &self.keyring
    }
}

/// Whether `customer` is the SSE-C key an object was written with.
pub fn customer_key_matches(encryption: &Encryption, customer: &[u8; KEY_BYTES]) -> bool {
    if encryption.mode != SseMode::Customer || encryption.key_check.len() != KEY_CHECK_BYTES {
        return false;
    }
    let (salt, stored) = encryption.key_check.split_at(KEY_CHECK_SALT_BYTES);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(salt).expect("HMAC takes any key");
    mac.update(customer);
    mac.verify_slice(stored).is_ok()
}

fn key_check_mac(salt: &[u8], customer: &[u8; KEY_BYTES]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(salt).expect("HMAC takes any key");
    mac.update(customer);
    mac.finalize().into_bytes().into()
}

/// What a data key is bound to: how it is kept, by which key, for which object, in which
/// context. An object's record moved onto another key does not open.
fn wrap_context(encryption: &Encryption, bucket: &str, key: &str) -> Vec<u8> {
    let mut enc = Enc::with_capacity(64 + bucket.len() + key.len());
    enc.u8(encryption.mode.to_byte());
    enc.str(&encryption.key_id);
    enc.u8(u8::from(encryption.bucket_key));
    enc.str(&encryption.context);
    enc.str(bucket);
    enc.str(key);
    enc.buf
}

fn damaged(reason: &str) -> Error {
    Error::InvalidConfig(format!("an object's encryption record {reason}"))
}

fn find_kms<'a>(state: &'a State, name: &str) -> Option<&'a KmsKey> {
    // ARNs: arn:aws:kms:<region>:<account>:key/<id> or ...:alias/<name>.
    let name = match name.strip_prefix("arn:") {
        Some(arn) => arn.rsplit_once(':').map_or(name, |(_, resource)| resource),
        None => name,
    };
    if let Some(alias) = name.strip_prefix("alias/") {
        return state.kms.iter().find(|k| k.info.aliases.iter().any(|a| a == alias));
    }
    let id = name.strip_prefix("key/").unwrap_or(name);
    state.kms.iter().find(|k| k.info.id == id)
}

fn validate_alias(alias: &str) -> Result<()> {
    let valid = !alias.is_empty()
        && alias.len() <= limits::KMS_ALIAS_BYTES_MAX
        && alias.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b));
    if valid { Ok(()) } else { Err(Error::InvalidArgument(format!("invalid KMS alias {alias:?}"))) }
}

fn uuid(bytes: [u8; 16]) -> String {
    let hex = crate::types::hex(&bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn encode(state: &State) -> Vec<u8> {
    let mut enc = Enc::with_capacity(256);
    enc.fixed(&KEYRING_MAGIC);
    enc.u32(KEYRING_VERSION);
    enc.u32(state.masters.len() as u32);
    for key in &state.masters {
        enc.u32(key.id);
        enc.u64(key.created_ms);
        enc.fixed(key.material.as_ref());
    }
    enc.u32(state.kms.len() as u32);
    for key in &state.kms {
        enc.str(&key.info.id);
        enc.u64(key.info.created_ms);
        enc.u8(u8::from(key.info.enabled));
        enc.u32(key.info.aliases.len() as u32);
        for alias in &key.info.aliases {
            enc.str(alias);
        }
        enc.fixed(key.material.as_ref());
    }
    let checksum = xxh3_64(&enc.buf);
    enc.u64(checksum);
    enc.buf
}

/// Whether `bytes` decode as a keyring file (the fuzz target's entry).
pub(crate) fn check_file(bytes: &[u8]) -> bool {
    decode(bytes).is_ok()
}

/// Decodes a keyring file; every count and length is checked, so damage is refused, not trusted.
fn decode(bytes: &[u8]) -> DecodeResult<State> {
    let body = bytes.len().checked_sub(8).ok_or(DecodeError("keyring is truncated"))?;
    let stored = u64::from_le_bytes(bytes[body..].try_into().expect("8"));
    if stored != xxh3_64(&bytes[..body]) {
        return Err(DecodeError("keyring checksum mismatch"));
    }
    let mut dec = Dec::new(&bytes[..body]);
    if dec.array::<8>()? != KEYRING_MAGIC {
        return Err(DecodeError("bad keyring magic"));
    }
    if dec.u32()? != KEYRING_VERSION {
        return Err(DecodeError("unknown keyring version"));
    }
    let mut state = State::default();
    let masters = dec.count(4 + 8 + KEY_BYTES)?;
    for _ in 0..masters {
        let (id, created_ms) = (dec.u32()?, dec.u64()?);
        state.masters.push(MasterKey { id, created_ms, material: Zeroizing::new(dec.array()?) });
    }
    if state.masters.is_empty() {
        return Err(DecodeError("keyring has no master key"));
    }
    let kms = dec.count(4 + 8 + 1 + 4 + KEY_BYTES)?;
    for _ in 0..kms {
        let id = dec.str()?;
        let created_ms = dec.u64()?;
        let enabled = match dec.u8()? {
            0 => false,
            1 => true,
            _ => return Err(DecodeError("enabled flag is not a bool")),
        };
        let aliases = (0..dec.count(4)?).map(|_| dec.str()).collect::<DecodeResult<_>>()?;
        let material = Zeroizing::new(dec.array()?);
        state.kms.push(KmsKey { info: KmsKeyInfo { id, aliases, enabled, created_ms }, material });
    }
    dec.finish()?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyring_is_created_private_and_reopens_with_its_keys() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::open(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(KEYRING_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(keyring.rotate().unwrap(), 2);
        let kms = keyring.create_kms_key(Some("team/photos")).unwrap();
        keyring.set_kms_key_enabled("alias/team/photos", false).unwrap();
        let reopened = Keyring::open(dir.path()).unwrap();
        assert_eq!(reopened.master_key_ids(), [1, 2]);
        let found = reopened.describe_kms_key(&format!("arn:aws:kms:us-east-1:123456789012:key/{}", kms.id)).unwrap();
        assert!(!found.enabled);
        assert_eq!(found.aliases, ["team/photos"]);
        assert!(matches!(reopened.describe_kms_key("alias/other"), Err(Error::KmsKeyNotFound(_))));
    }

    #[test]
    fn an_offline_keyring_is_refused_while_the_store_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let offline = OfflineKeyring::open(dir.path()).unwrap();
        assert!(matches!(OfflineKeyring::open(dir.path()), Err(Error::Locked { .. })));
        assert_eq!(offline.rotate().unwrap(), 2);
        drop(offline);
        assert_eq!(OfflineKeyring::open(dir.path()).unwrap().master_key_ids(), [1, 2]);
    }

    #[test]
    fn every_byte_of_a_keyring_file_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::open(dir.path()).unwrap();
        keyring.create_kms_key(Some("a")).unwrap();
        let bytes = fs::read(dir.path().join(KEYRING_FILE)).unwrap();
        assert!(decode(&bytes).is_ok());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for byte in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[byte] ^= 0x10;
            assert!(decode(&damaged).is_err(), "flip at {byte}");
        }
    }

    #[test]
    fn data_keys_open_only_for_their_object_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::open(dir.path()).unwrap();
        let customer = Zeroizing::new([7u8; KEY_BYTES]);
        let kms = Sse::Kms { key: None, context: "{}".into(), bucket_key: true, dsse: true };
        for sse in [Sse::S3, kms, Sse::Customer(customer.clone())] {
            let (encryption, _) = keyring.seal_new(&sse, "b", "k").unwrap();
            let given = Some(&*customer);
            let keys = keyring.open_keys(&encryption, "b", "k", given).unwrap();
            assert_eq!(keys.outer.is_some(), encryption.mode == SseMode::KmsDsse);
            assert!(keyring.open_keys(&encryption, "b", "other", given).is_err(), "{sse:?}");
            assert!(keyring.open_keys(&encryption, "other", "k", given).is_err(), "{sse:?}");
        }
        let (encryption, _) = keyring.seal_new(&Sse::Customer(customer.clone()), "b", "k").unwrap();
        assert!(matches!(keyring.open_keys(&encryption, "b", "k", None), Err(Error::CustomerKeyRequired)));
        assert!(matches!(keyring.open_keys(&encryption, "b", "k", Some(&[8; 32])), Err(Error::CustomerKeyMismatch)));
        // The key itself is nowhere in what is stored.
        let stored = [encryption.wrapped.as_slice(), &encryption.key_check].concat();
        assert!(!stored.windows(8).any(|w| w == [7u8; 8]));
    }

    #[test]
    fn a_rotated_keyring_still_opens_old_objects_and_a_disabled_kms_key_opens_none() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::open(dir.path()).unwrap();
        let (old, _) = keyring.seal_new(&Sse::S3, "b", "k").unwrap();
        keyring.rotate().unwrap();
        let (new, _) = keyring.seal_new(&Sse::S3, "b", "k").unwrap();
        assert_eq!((old.key_id.as_str(), new.key_id.as_str()), ("1", "2"));
        assert!(keyring.open_keys(&old, "b", "k", None).is_ok());
        let info = keyring.create_kms_key(Some("k1")).unwrap();
        let sse = Sse::Kms { key: Some("alias/k1".into()), context: String::new(), bucket_key: false, dsse: false };
        let (encryption, _) = keyring.seal_new(&sse, "b", "k").unwrap();
        keyring.set_kms_key_enabled(&info.id, false).unwrap();
        assert!(matches!(keyring.open_keys(&encryption, "b", "k", None), Err(Error::KmsKeyDisabled(_))));
        assert!(matches!(keyring.seal_new(&sse, "b", "k"), Err(Error::KmsKeyDisabled(_))));
        keyring.set_kms_key_enabled(&info.id, true).unwrap();
        assert!(keyring.open_keys(&encryption, "b", "k", None).is_ok());
    }
}
