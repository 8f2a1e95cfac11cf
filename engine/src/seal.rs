//! Sealed chunks (docs/format.md, "Sealed chunks"): a chunk's body bytes compressed with zstd
//! where that saves space, then encrypted with AES-256-GCM under its object's data key and bound
//! to where the chunk sits in the object; and the data keys, wrapped by a key-encryption key.
//!
//! Pure: no I/O, no keyring. The nonce of every seal is random (96 bits from the OS), so a part
//! uploaded again under the same data key never reuses one.

use std::cell::RefCell;
use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::Zeroizing;

use crate::format::{CHUNK_COMPRESSED, CHUNK_ENCRYPTED, CHUNK_FLAGS_KNOWN};

/// Bytes of an AES-256 key: data keys and key-encryption keys alike.
pub const KEY_BYTES: usize = 32;
/// Bytes of a GCM nonce.
pub const NONCE_BYTES: usize = 12;
/// Bytes of a GCM tag.
pub const TAG_BYTES: usize = 16;
/// What sealing adds to a payload: the tag and the nonce, after the ciphertext.
pub const SEAL_BYTES: usize = TAG_BYTES + NONCE_BYTES;
/// A wrapped data key: the key sealed like a chunk.
pub const WRAPPED_KEY_BYTES: usize = KEY_BYTES + SEAL_BYTES;
/// Compression is kept only if it saves at least 1/this of the chunk; otherwise the chunk is
/// stored raw (reading a frame back costs more than the bytes it saves).
const COMPRESSION_SAVING_DIVISOR: usize = 16;
/// Chunks smaller than this are never compressed: a zstd frame's overhead eats the gain.
pub const COMPRESSION_BYTES_MIN: usize = 512;
/// Bytes a chunk is sampled at before compression is tried: windows of this many bytes...
const SAMPLE_WINDOW_BYTES: usize = 64;
/// ...this many of them, spread over the chunk (1 KiB in all).
const SAMPLE_WINDOWS: usize = 16;
/// Highest zstd level a store may be configured with (zstd's own maximum).
pub const COMPRESSION_LEVEL_MAX: i32 = 22;

/// Domain separators of the associated data, so a chunk seal and a key wrap never verify as
/// each other.
const CHUNK_AAD_DOMAIN: &[u8; 8] = b"cairnchk";
const KEY_AAD_DOMAIN: &[u8; 8] = b"cairnkey";

/// Raw key bytes, wiped when dropped.
pub type KeyBytes = Zeroizing<[u8; KEY_BYTES]>;

/// Random bytes from the operating system.
pub fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

/// A fresh random key.
pub fn random_key() -> KeyBytes {
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    getrandom::fill(key.as_mut()).expect("the operating system's random source is available");
    key
}

/// An AES-256-GCM key ready to seal and open (its key schedule is wiped on drop by the aes crate).
pub struct DataKey {
    cipher: Aes256Gcm,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub fn new(key: &[u8; KEY_BYTES]) -> DataKey {
        DataKey { cipher: Aes256Gcm::new(key.into()) }
    }

    /// Encrypts `buf` in place and appends the tag and nonce.
    fn seal(&self, buf: &mut Vec<u8>, aad: &[u8]) {
        let nonce: [u8; NONCE_BYTES] = random();
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, buf.as_mut_slice())
            .expect("a chunk is far below GCM's length limit");
        buf.extend_from_slice(&tag);
        buf.extend_from_slice(&nonce);
    }

    /// Decrypts a sealed `buf` in place; returns the plaintext's length, or `None` if the
    /// seal does not verify (wrong key, damaged bytes, or a chunk moved from elsewhere).
    fn open(&self, buf: &mut [u8], aad: &[u8]) -> Option<usize> {
        let len = buf.len().checked_sub(SEAL_BYTES)?;
        let (text, seal) = buf.split_at_mut(len);
        let tag = Tag::clone_from_slice(&seal[..TAG_BYTES]);
        let nonce = Nonce::clone_from_slice(&seal[TAG_BYTES..]);
        self.cipher.decrypt_in_place_detached(&nonce, aad, text, &tag).ok()?;
        Some(len)
    }
}

/// Where a chunk sits in its object; its seal binds it there, so chunks cannot be reordered,
/// dropped from the end, or moved between parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkPosition {
    /// The part number (0 for a single PUT).
    pub part: u32,
    /// The chunk's index within its part.
    pub index: u32,
    /// Whether it is the part's last chunk.
    pub last: bool,
}

fn chunk_aad(position: ChunkPosition, flags: u16, len: u32) -> [u8; 23] {
    let mut aad = [0u8; 23];
    aad[..8].copy_from_slice(CHUNK_AAD_DOMAIN);
    aad[8..12].copy_from_slice(&position.part.to_le_bytes());
    aad[12..16].copy_from_slice(&position.index.to_le_bytes());
    aad[16] = u8::from(position.last);
    aad[17..19].copy_from_slice(&flags.to_le_bytes());
    aad[19..23].copy_from_slice(&len.to_le_bytes());
    aad
}

thread_local! {
    /// One compressor per thread and level: a zstd context costs far more to make than to use
    /// on a small chunk.
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

/// Whether `data` looks incompressible from a sample: its bytes nearly uniform and no sampled
/// window starting like another (a repeated block of noise compresses; noise does not). Costs a
/// few thousand instructions, against a failed zstd attempt's ~10 a byte.
///
/// Uniformity is judged by the sum of the squared byte counts (the sample's collision count, so
/// Rényi entropy, a lower bound of Shannon's): n bytes drawn uniformly give n + n²/256 on
/// average; this takes anything under 1.5 times that for noise. Skew that small leaves Huffman
/// coding less than the 1/16 saving compression must make, and text is ten times over.
fn looks_incompressible(data: &[u8]) -> bool {
    let windows = (data.len() / SAMPLE_WINDOW_BYTES).min(SAMPLE_WINDOWS);
    if windows < 2 {
        return false;
    }
    let stride = data.len() / windows;
    let mut counts = [0u32; 256];
    let mut starts = [0u64; SAMPLE_WINDOWS];
    for (i, start) in starts.iter_mut().enumerate().take(windows) {
        let window = &data[i * stride..i * stride + SAMPLE_WINDOW_BYTES];
        for &byte in window {
            counts[usize::from(byte)] += 1;
        }
        *start = u64::from_le_bytes(window[..8].try_into().expect("a window is 64 bytes"));
    }
    let starts = &mut starts[..windows];
    starts.sort_unstable();
    if starts.windows(2).any(|pair| pair[0] == pair[1]) {
        return false;
    }
    let n = (windows * SAMPLE_WINDOW_BYTES) as u64;
    let collisions: u64 = counts.iter().map(|&count| u64::from(count) * u64::from(count)).sum();
    // collisions < 1.5 (n + n² / 256), in integers.
    2 * 256 * collisions < 3 * (256 * n + n * n)
}

/// `plain` compressed at `level`, if that saves at least 1/`COMPRESSION_SAVING_DIVISOR`.
fn compress(plain: &[u8], level: i32) -> Option<Vec<u8>> {
    if level == 0 || plain.len() < COMPRESSION_BYTES_MIN || looks_incompressible(plain) {
        return None;
    }
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.as_ref().is_none_or(|(cached, _)| *cached != level) {
            *cell = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        let (_, compressor) = cell.as_mut().expect("set above");
        // Room for the saving wanted and no more: zstd gives up once the frame would not fit.
        // The seal's bytes are spare, so sealing does not grow the buffer.
        let limit = plain.len() - plain.len() / COMPRESSION_SAVING_DIVISOR;
        let mut out = Vec::with_capacity(limit + SEAL_BYTES);
        let written = compressor.compress_to_buffer(plain, &mut out).ok()?;
        (written <= limit).then_some(out)
    })
}

/// The data keys that seal an object's chunks: one, or two for DSSE-KMS (sealed by `inner`,
/// then again by `outer`).
#[derive(Debug)]
pub struct ChunkKeys {
    pub inner: DataKey,
    pub outer: Option<DataKey>,
}

impl ChunkKeys {
    pub fn single(key: DataKey) -> ChunkKeys {
        ChunkKeys { inner: key, outer: None }
    }
}

/// How a body's chunks are written: compressed at `level` (0: never) and, with `keys`,
/// encrypted.
#[derive(Debug, Default)]
pub struct Sealer {
    pub level: i32,
    pub keys: Option<std::sync::Arc<ChunkKeys>>,
}

impl Sealer {
    /// Whether chunks pass through unchanged.
    pub fn is_plain(&self) -> bool {
        self.level == 0 && self.keys.is_none()
    }

    /// The chunk record payload for body bytes `plain`, and its header flags.
    pub fn seal(&self, plain: Vec<u8>, position: ChunkPosition) -> (u16, Vec<u8>) {
        let len = u32::try_from(plain.len()).expect("a chunk is at most CHUNK_BYTES_MAX");
        let (mut flags, mut payload) = match compress(&plain, self.level) {
            Some(compressed) => (CHUNK_COMPRESSED, compressed),
            None => (0, plain),
        };
        if let Some(keys) = &self.keys {
            flags |= CHUNK_ENCRYPTED;
            let aad = chunk_aad(position, flags, len);
            payload.reserve_exact(if keys.outer.is_some() { 2 * SEAL_BYTES } else { SEAL_BYTES });
            keys.inner.seal(&mut payload, &aad);
            if let Some(outer) = &keys.outer {
                outer.seal(&mut payload, &aad);
            }
        }
        (flags, payload)
    }
}

/// Why a chunk could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenError(pub &'static str);

/// Opens a chunk record's payload (`payload`, header flags `flags`) that holds `len` body
/// bytes: verifies and decrypts it in place, then decompresses it. Returns the body bytes as a
/// range of `payload` (when only decrypted) or a new buffer (when decompressed).
pub fn open(
    flags: u16,
    payload: &mut [u8],
    len: u32,
    keys: Option<&ChunkKeys>,
    position: ChunkPosition,
) -> Result<Opened, OpenError> {
    if flags & !CHUNK_FLAGS_KNOWN != 0 {
        return Err(OpenError("unknown chunk flags"));
    }
    let mut text_len = payload.len();
    if flags & CHUNK_ENCRYPTED != 0 {
        let keys = keys.ok_or(OpenError("an encrypted chunk in an object without a data key"))?;
        let aad = chunk_aad(position, flags, len);
        let refused = OpenError("chunk seal does not verify: damaged, or not this object's chunk");
        if let Some(outer) = &keys.outer {
            text_len = outer.open(payload, &aad).ok_or(refused)?;
        }
        text_len = keys.inner.open(&mut payload[..text_len], &aad).ok_or(refused)?;
    } else if keys.is_some() {
        return Err(OpenError("an unencrypted chunk in an encrypted object"));
    }
    let text = &payload[..text_len];
    if flags & CHUNK_COMPRESSED != 0 {
        let body = zstd::bulk::decompress(text, len as usize).map_err(|_| OpenError("chunk does not decompress"))?;
        if body.len() != len as usize {
            return Err(OpenError("decompressed chunk has the wrong length"));
        }
        return Ok(Opened::Buffer(body));
    }
    if text_len != len as usize {
        return Err(OpenError("chunk has the wrong length"));
    }
    Ok(Opened::Prefix(text_len))
}

/// An opened chunk's body bytes.
#[derive(Debug)]
pub enum Opened {
    /// The first this many bytes of the payload buffer.
    Prefix(usize),
    /// A new buffer (the chunk was compressed).
    Buffer(Vec<u8>),
}

/// Wraps data key `key` under key-encryption key `kek`, bound to `context` (what the key is
/// for: its mode, key id, bucket and object key).
pub fn wrap(kek: &[u8; KEY_BYTES], key: &[u8; KEY_BYTES], context: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(WRAPPED_KEY_BYTES);
    buf.extend_from_slice(key);
    DataKey::new(kek).seal(&mut buf, &key_aad(context));
    buf
}

/// The data key `wrap` sealed, or `None` for the wrong key-encryption key or context.
pub fn unwrap(kek: &[u8; KEY_BYTES], wrapped: &[u8], context: &[u8]) -> Option<KeyBytes> {
    if wrapped.len() != WRAPPED_KEY_BYTES {
        return None;
    }
    let mut buf = Zeroizing::new([0u8; WRAPPED_KEY_BYTES]);
    buf.copy_from_slice(wrapped);
    let len = DataKey::new(kek).open(buf.as_mut(), &key_aad(context))?;
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    key.copy_from_slice(&buf[..len]);
    Some(key)
}

fn key_aad(context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(KEY_AAD_DOMAIN.len() + context.len());
    aad.extend_from_slice(KEY_AAD_DOMAIN);
    aad.extend_from_slice(context);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: ChunkPosition = ChunkPosition { part: 3, index: 7, last: false };

    fn open_vec(
        flags: u16,
        mut payload: Vec<u8>,
        len: u32,
        keys: Option<&ChunkKeys>,
        at: ChunkPosition,
    ) -> Result<Vec<u8>, OpenError> {
        Ok(match open(flags, &mut payload, len, keys, at)? {
            Opened::Prefix(n) => payload[..n].to_vec(),
            Opened::Buffer(body) => body,
        })
    }

    fn text(len: usize) -> Vec<u8> {
        b"the quick brown fox jumps over the lazy dog. ".iter().copied().cycle().take(len).collect()
    }

    #[test]
    fn every_mode_round_trips() {
        let one = std::sync::Arc::new(ChunkKeys::single(DataKey::new(&random())));
        let two =
            std::sync::Arc::new(ChunkKeys { inner: DataKey::new(&random()), outer: Some(DataKey::new(&random())) });
        let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for body in [Vec::new(), b"tiny".to_vec(), text(100_000), noise] {
            for level in [0, 3] {
                for keys in [None, Some(one.clone()), Some(two.clone())] {
                    let sealer = Sealer { level, keys: keys.clone() };
                    let (flags, payload) = sealer.seal(body.clone(), HERE);
                    let opened = open_vec(flags, payload, body.len() as u32, keys.as_deref(), HERE).unwrap();
                    assert_eq!(opened, body, "level {level}, keys {keys:?}");
                }
            }
        }
        // A DSSE chunk does not open with its inner key alone.
        let (flags, payload) = Sealer { level: 0, keys: Some(two.clone()) }.seal(text(100), HERE);
        let inner_only = ChunkKeys::single(DataKey::new(&[0; 32]));
        assert!(open_vec(flags, payload, 100, Some(&inner_only), HERE).is_err());
    }

    #[test]
    fn compression_is_kept_only_when_it_saves_space() {
        let sealer = Sealer { level: 3, keys: None };
        let (flags, payload) = sealer.seal(text(100_000), HERE);
        assert_eq!(flags, CHUNK_COMPRESSED);
        assert!(payload.len() < 10_000);
        let noise: Vec<u8> = (0..100_000).map(|_| random::<1>()[0]).collect();
        let (flags, payload) = sealer.seal(noise.clone(), HERE);
        assert_eq!((flags, payload), (0, noise));
        assert_eq!(sealer.seal(text(COMPRESSION_BYTES_MIN - 1), HERE).0, 0);
    }

    #[test]
    fn noise_is_recognised_from_a_sample_and_repeated_noise_is_not() {
        let random: Vec<u8> = (0..64 * 1024).flat_map(|_| random::<16>()).collect();
        assert!(looks_incompressible(&random));
        assert!(!looks_incompressible(&text(1024 * 1024)));
        // 4 KiB of noise, repeated: compresses, and is compressed.
        let block = &random[..4096];
        let repeated: Vec<u8> = block.iter().copied().cycle().take(1024 * 1024).collect();
        assert!(!looks_incompressible(&repeated));
        let (flags, payload) = Sealer { level: 1, keys: None }.seal(repeated.clone(), HERE);
        assert_eq!(flags, CHUNK_COMPRESSED);
        assert!(payload.len() < 64 * 1024);
        // Six bits a byte (base64 of noise): Huffman saves a quarter, so it is tried and kept.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let base64: Vec<u8> = random.iter().map(|b| alphabet[usize::from(b % 64)]).collect();
        assert!(!looks_incompressible(&base64));
        assert_eq!(Sealer { level: 1, keys: None }.seal(base64, HERE).0, CHUNK_COMPRESSED);
        // Too short to sample: tried.
        assert!(!looks_incompressible(&random[..100]));
    }

    #[test]
    fn a_seal_binds_key_position_length_and_bytes() {
        let key = std::sync::Arc::new(ChunkKeys::single(DataKey::new(&random())));
        let sealer = Sealer { level: 0, keys: Some(key.clone()) };
        let body = text(5000);
        let (flags, payload) = sealer.seal(body.clone(), HERE);
        assert!(!payload.windows(16).any(|w| body.windows(16).any(|b| b == w)), "plaintext visible");
        let other = ChunkKeys::single(DataKey::new(&random()));
        assert!(open_vec(flags, payload.clone(), 5000, Some(&other), HERE).is_err());
        for moved in [
            ChunkPosition { part: 4, ..HERE },
            ChunkPosition { index: 8, ..HERE },
            ChunkPosition { last: true, ..HERE },
        ] {
            assert!(open_vec(flags, payload.clone(), 5000, Some(&key), moved).is_err(), "{moved:?}");
        }
        assert!(open_vec(flags, payload.clone(), 4999, Some(&key), HERE).is_err());
        assert!(open_vec(flags, payload.clone(), 5000, None, HERE).is_err());
        for byte in [0, 2500, payload.len() - 20, payload.len() - 1] {
            let mut damaged = payload.clone();
            damaged[byte] ^= 1;
            assert!(open_vec(flags, damaged, 5000, Some(&key), HERE).is_err(), "flip at {byte}");
        }
        // Two seals of the same bytes differ (random nonces).
        assert_ne!(sealer.seal(body.clone(), HERE).1, payload);
        assert_eq!(open_vec(flags, payload, 5000, Some(&key), HERE).unwrap(), body);
    }

    #[test]
    fn a_plain_chunk_in_an_encrypted_object_is_refused() {
        let key = ChunkKeys::single(DataKey::new(&random()));
        assert!(open_vec(0, text(10), 10, Some(&key), HERE).is_err());
        assert!(open_vec(4, text(10), 10, None, HERE).is_err());
    }

    #[test]
    fn wrapped_keys_open_only_with_their_key_and_context() {
        let (kek, key) = (random_key(), random_key());
        let wrapped = wrap(&kek, &key, b"s3/bucket/key");
        assert_eq!(wrapped.len(), WRAPPED_KEY_BYTES);
        assert_eq!(*unwrap(&kek, &wrapped, b"s3/bucket/key").unwrap(), *key);
        assert!(unwrap(&kek, &wrapped, b"s3/bucket/other").is_none());
        assert!(unwrap(&random_key(), &wrapped, b"s3/bucket/key").is_none());
        assert!(unwrap(&kek, &wrapped[1..], b"s3/bucket/key").is_none());
    }
}
