//! S3's additional checksums (CRC32, CRC32C, SHA1, SHA256, CRC64NVME): which one a request
//! claims, computing it over a streamed body, verifying the value the client sent in a header or
//! a trailer, and combining part checksums into a multipart object's. The engine only stores
//! what this module computes.
//!
//! Like S3, Cairn gives every object a checksum: CRC64NVME (full object) when the client asked
//! for none.

use cairn_engine::{Checksum, ChecksumAlgorithm, ChecksumKind, ChecksumSpec, PartLayout};
use http::{HeaderMap, HeaderName};
use s3s::crypto::Checksum as _;
use s3s::dto::{self, ChecksumAlgorithm as DtoAlgorithm, ChecksumType};
use s3s::{S3Result, s3_error};

/// The algorithm S3 uses when a request names none.
pub const DEFAULT_ALGORITHM: ChecksumAlgorithm = ChecksumAlgorithm::Crc64Nvme;

/// S3's lowercase name, as in `x-amz-checksum-<name>`.
pub fn name(algorithm: ChecksumAlgorithm) -> &'static str {
    match algorithm {
        ChecksumAlgorithm::Crc32 => "crc32",
        ChecksumAlgorithm::Crc32c => "crc32c",
        ChecksumAlgorithm::Sha1 => "sha1",
        ChecksumAlgorithm::Sha256 => "sha256",
        ChecksumAlgorithm::Crc64Nvme => "crc64nvme",
    }
}

/// The `x-amz-checksum-<name>` header of each algorithm, as constants: every PUT looks for all
/// of them, and a name built per request (format!, then parsed) cost more than the lookups.
pub fn header(algorithm: ChecksumAlgorithm) -> HeaderName {
    const CRC32: HeaderName = HeaderName::from_static("x-amz-checksum-crc32");
    const CRC32C: HeaderName = HeaderName::from_static("x-amz-checksum-crc32c");
    const SHA1: HeaderName = HeaderName::from_static("x-amz-checksum-sha1");
    const SHA256: HeaderName = HeaderName::from_static("x-amz-checksum-sha256");
    const CRC64NVME: HeaderName = HeaderName::from_static("x-amz-checksum-crc64nvme");
    match algorithm {
        ChecksumAlgorithm::Crc32 => CRC32,
        ChecksumAlgorithm::Crc32c => CRC32C,
        ChecksumAlgorithm::Sha1 => SHA1,
        ChecksumAlgorithm::Sha256 => SHA256,
        ChecksumAlgorithm::Crc64Nvme => CRC64NVME,
    }
}

fn by_name(text: &str) -> Option<ChecksumAlgorithm> {
    ChecksumAlgorithm::ALL.into_iter().find(|a| name(*a).eq_ignore_ascii_case(text))
}

pub fn to_dto(algorithm: ChecksumAlgorithm) -> DtoAlgorithm {
    DtoAlgorithm::from(name(algorithm).to_ascii_uppercase())
}

pub fn from_dto(algorithm: &DtoAlgorithm) -> S3Result<ChecksumAlgorithm> {
    by_name(algorithm.as_str())
        .ok_or_else(|| s3_error!(InvalidRequest, "Checksum algorithm {} is not supported", algorithm.as_str()))
}

pub fn kind_to_dto(kind: ChecksumKind) -> ChecksumType {
    ChecksumType::from_static(match kind {
        ChecksumKind::FullObject => ChecksumType::FULL_OBJECT,
        ChecksumKind::Composite => ChecksumType::COMPOSITE,
    })
}

pub fn base64(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

/// Strict base64 (padded, canonical), as S3 checks digests.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let decoded = base64_simd::STANDARD.decode_to_vec(text).ok()?;
    (base64(&decoded) == text).then_some(decoded)
}

/// A checksum as S3 prints it: base64, and `-<parts>` for a composite one.
pub fn printed(checksum: &Checksum, parts: Option<u32>) -> String {
    match (checksum.kind, parts) {
        (ChecksumKind::Composite, Some(parts)) => format!("{}-{parts}", base64(&checksum.digest)),
        _ => base64(&checksum.digest),
    }
}

/// A running digest of one algorithm.
pub enum Hasher {
    Crc32(s3s::crypto::Crc32),
    Crc32c(s3s::crypto::Crc32c),
    Sha1(s3s::crypto::Sha1),
    Sha256(s3s::crypto::Sha256),
    Crc64Nvme(s3s::crypto::Crc64Nvme),
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    pub fn new(algorithm: ChecksumAlgorithm) -> Hasher {
        match algorithm {
            ChecksumAlgorithm::Crc32 => Hasher::Crc32(s3s::crypto::Crc32::new()),
            ChecksumAlgorithm::Crc32c => Hasher::Crc32c(s3s::crypto::Crc32c::new()),
            ChecksumAlgorithm::Sha1 => Hasher::Sha1(s3s::crypto::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Hasher::Sha256(s3s::crypto::Sha256::new()),
            ChecksumAlgorithm::Crc64Nvme => Hasher::Crc64Nvme(s3s::crypto::Crc64Nvme::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Crc64Nvme(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Crc32(h) => h.finalize().to_vec(),
            Hasher::Crc32c(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().as_slice().to_vec(),
            Hasher::Sha256(h) => h.finalize().as_slice().to_vec(),
            Hasher::Crc64Nvme(h) => h.finalize().to_vec(),
        }
    }
}

/// A finished full-object checksum.
pub fn full_object(algorithm: ChecksumAlgorithm, hasher: Hasher) -> Checksum {
    Checksum::new(algorithm, ChecksumKind::FullObject, &hasher.finish()).expect("digest lengths match")
}

/// Where the client's value for a body's checksum is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expected {
    /// In an `x-amz-checksum-<algorithm>` header: verified when the body ends.
    Header(Vec<u8>),
    /// In the trailer of an aws-chunked body (`x-amz-trailer`): read and verified when it ends.
    Trailer,
}

/// A checksum a request claims for its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub algorithm: ChecksumAlgorithm,
    expected: Expected,
}

/// Reads the checksum a request claims for its body from its headers. `None` if it claims none.
pub fn claim(headers: &HeaderMap) -> S3Result<Option<Claim>> {
    let mut found = None;
    for algorithm in ChecksumAlgorithm::ALL {
        let header = header(algorithm);
        let Some(value) = headers.get(&header) else { continue };
        if found.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
            ));
        }
        let digest = value
            .to_str()
            .ok()
            .and_then(base64_decode)
            .filter(|d| d.len() == algorithm.digest_len())
            .ok_or_else(|| s3_error!(InvalidRequest, "Value for {header} header is invalid."))?;
        found = Some(Claim { algorithm, expected: Expected::Header(digest) });
    }
    if let Some(trailer) = headers.get("x-amz-trailer") {
        let algorithm =
            trailer.to_str().ok().and_then(|t| t.trim().strip_prefix("x-amz-checksum-")).and_then(by_name).ok_or_else(
                || s3_error!(InvalidRequest, "The value specified in the x-amz-trailer header is not supported"),
            )?;
        if found.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
            ));
        }
        found = Some(Claim { algorithm, expected: Expected::Trailer });
    }
    if found.is_none() {
        let sdk = headers.get("x-amz-sdk-checksum-algorithm").or_else(|| headers.get("x-amz-checksum-algorithm"));
        if let Some(sdk) = sdk {
            let named = sdk.to_str().unwrap_or_default();
            return Err(s3_error!(
                InvalidRequest,
                "x-amz-sdk-checksum-algorithm specified ({named}) but no x-amz-checksum-{} header or trailer was sent",
                named.to_ascii_lowercase()
            ));
        }
    }
    Ok(found)
}

/// Hashes a body for the checksum it claims and the one to be stored (one hasher when they are
/// the same algorithm), then verifies the claim.
#[derive(Debug)]
pub struct BodyChecksums {
    claim: Option<(Claim, Option<Hasher>)>,
    store: (ChecksumAlgorithm, Hasher),
}

impl BodyChecksums {
    /// `store` is the algorithm the stored checksum uses.
    pub fn new(claim: Option<Claim>, store: ChecksumAlgorithm) -> BodyChecksums {
        let claim = claim.map(|claim| {
            let own = (claim.algorithm != store).then(|| Hasher::new(claim.algorithm));
            (claim, own)
        });
        BodyChecksums { claim, store: (store, Hasher::new(store)) }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.store.1.update(data);
        if let Some((_, Some(hasher))) = &mut self.claim {
            hasher.update(data);
        }
    }

    /// Verifies the claim (`trailers`: the body's trailing headers, once it has ended) and returns
    /// the checksum to store and the one claimed, both full object.
    pub fn finish(self, trailers: Option<&HeaderMap>) -> S3Result<(Checksum, Option<Checksum>)> {
        let (store_algorithm, store_hasher) = self.store;
        let stored = store_hasher.finish();
        let mut claimed = None;
        if let Some((claim, own)) = self.claim {
            let actual = match own {
                Some(hasher) => hasher.finish(),
                None => stored.clone(),
            };
            let header = header(claim.algorithm);
            let expected = match claim.expected {
                Expected::Header(digest) => digest,
                Expected::Trailer => trailers
                    .and_then(|t| t.get(&header))
                    .and_then(|v| v.to_str().ok())
                    .and_then(base64_decode)
                    .filter(|d| d.len() == claim.algorithm.digest_len())
                    .ok_or_else(|| s3_error!(InvalidRequest, "Value for {header} trailing header is invalid."))?,
            };
            if expected != actual {
                return Err(s3_error!(
                    BadDigest,
                    "The {} you specified did not match the calculated checksum.",
                    name(claim.algorithm).to_ascii_uppercase()
                ));
            }
            claimed = Checksum::new(claim.algorithm, ChecksumKind::FullObject, &actual);
        }
        let stored = Checksum::new(store_algorithm, ChecksumKind::FullObject, &stored).expect("digest lengths match");
        Ok((stored, claimed))
    }
}

/// The checksum spec of a new multipart upload (S3's `x-amz-checksum-algorithm` and
/// `x-amz-checksum-type` on CreateMultipartUpload).
pub fn upload_spec(algorithm: Option<&DtoAlgorithm>, kind: Option<&ChecksumType>) -> S3Result<Option<ChecksumSpec>> {
    let Some(algorithm) = algorithm else {
        if kind.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
            ));
        }
        return Ok(None);
    };
    let algorithm = from_dto(algorithm)?;
    let kind = match kind.map(ChecksumType::as_str) {
        None if algorithm == ChecksumAlgorithm::Crc64Nvme => ChecksumKind::FullObject,
        None => ChecksumKind::Composite,
        Some(ChecksumType::FULL_OBJECT) if algorithm.combines() => ChecksumKind::FullObject,
        Some(ChecksumType::COMPOSITE) if algorithm != ChecksumAlgorithm::Crc64Nvme => ChecksumKind::Composite,
        Some(other) => {
            return Err(s3_error!(
                InvalidRequest,
                "The {other} checksum type cannot be used with the {} checksum algorithm.",
                name(algorithm)
            ));
        }
    };
    Ok(Some(ChecksumSpec { algorithm, kind }))
}

/// The algorithm a part of an upload with `spec` is checksummed with, after checking that the
/// part's claim (if any) uses it.
pub fn part_algorithm(spec: Option<ChecksumSpec>, claim: Option<&Claim>) -> S3Result<ChecksumAlgorithm> {
    match (spec, claim) {
        (Some(spec), Some(claim)) if spec.algorithm != claim.algorithm => Err(s3_error!(
            InvalidRequest,
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            name(spec.algorithm),
            name(claim.algorithm)
        )),
        (Some(spec), _) => Ok(spec.algorithm),
        (None, _) => Ok(DEFAULT_ALGORITHM),
    }
}

/// The checksum values a CompleteMultipartUpload lists for one part.
pub fn listed(part: &dto::CompletedPart) -> Vec<(ChecksumAlgorithm, &str)> {
    [
        (ChecksumAlgorithm::Crc32, part.checksum_crc32.as_deref()),
        (ChecksumAlgorithm::Crc32c, part.checksum_crc32c.as_deref()),
        (ChecksumAlgorithm::Sha1, part.checksum_sha1.as_deref()),
        (ChecksumAlgorithm::Sha256, part.checksum_sha256.as_deref()),
        (ChecksumAlgorithm::Crc64Nvme, part.checksum_crc64nvme.as_deref()),
    ]
    .into_iter()
    .filter_map(|(algorithm, value)| Some((algorithm, value?)))
    .collect()
}

/// A multipart object's checksum from its parts': checks what the completion listed for each
/// part against what was stored, then combines (S3's composite checksum-of-checksums, or a
/// full-object CRC). Uploads without a spec get a full-object CRC64NVME when every part has one.
pub fn combine(
    parts: &[std::sync::Arc<PartLayout>],
    spec: Option<ChecksumSpec>,
    listed: &std::collections::HashMap<u32, Vec<(ChecksumAlgorithm, String)>>,
) -> S3Result<Option<Checksum>> {
    let explicit = spec.is_some();
    let spec = match spec {
        Some(spec) => spec,
        None => ChecksumSpec { algorithm: DEFAULT_ALGORITHM, kind: ChecksumKind::FullObject },
    };
    let mut digests = Vec::with_capacity(parts.len());
    for part in parts {
        let stored = part.checksum.as_ref().filter(|c| c.algorithm == spec.algorithm);
        let claims = listed.get(&part.number).map(Vec::as_slice).unwrap_or_default();
        for (algorithm, value) in claims {
            // Without a spec, parts store the default CRC64NVME: a part claimed under another
            // algorithm was verified when it was uploaded and cannot be checked again here.
            if !explicit && *algorithm != spec.algorithm {
                continue;
            }
            let matches = stored.is_some_and(|s| s.algorithm == *algorithm && base64(&s.digest) == *value);
            if !matches {
                return Err(s3_error!(
                    InvalidPart,
                    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag or checksum may not match the part's."
                ));
            }
        }
        match stored {
            Some(stored) => digests.push((stored.digest.clone(), part.size)),
            // A part stored before checksums were: the object gets none.
            None => return Ok(None),
        }
    }
    let digest = match spec.kind {
        ChecksumKind::Composite => {
            let mut hasher = Hasher::new(spec.algorithm);
            for (digest, _) in &digests {
                hasher.update(digest);
            }
            hasher.finish()
        }
        ChecksumKind::FullObject => combine_crcs(spec.algorithm, &digests)
            .ok_or_else(|| s3_error!(InvalidRequest, "{} cannot be combined", name(spec.algorithm)))?,
    };
    Ok(Checksum::new(spec.algorithm, spec.kind, &digest))
}

/// The CRC of a concatenation from its pieces' CRCs and lengths.
fn combine_crcs(algorithm: ChecksumAlgorithm, pieces: &[(Box<[u8]>, u64)]) -> Option<Vec<u8>> {
    let crc_algorithm = match algorithm {
        ChecksumAlgorithm::Crc32 => crc_fast::CrcAlgorithm::Crc32IsoHdlc,
        ChecksumAlgorithm::Crc32c => crc_fast::CrcAlgorithm::Crc32Iscsi,
        ChecksumAlgorithm::Crc64Nvme => crc_fast::CrcAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => return None,
    };
    let as_u64 = |digest: &[u8]| digest.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut pieces = pieces.iter();
    let (first, _) = pieces.next()?;
    let mut crc = as_u64(first);
    for (digest, len) in pieces {
        crc = crc_fast::checksum_combine(crc_algorithm, crc, as_u64(digest), *len);
    }
    let bytes = crc.to_be_bytes();
    Some(bytes[8 - algorithm.digest_len()..].to_vec())
}

/// Fills S3's checksum fields (`ChecksumCRC32` and so on) from a stored checksum.
pub struct Fields {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub crc64nvme: Option<String>,
    pub kind: Option<ChecksumType>,
}

impl Fields {
    pub fn of(checksum: Option<&Checksum>, parts: Option<u32>) -> Fields {
        let mut fields = Fields { crc32: None, crc32c: None, sha1: None, sha256: None, crc64nvme: None, kind: None };
        if let Some(checksum) = checksum {
            let value = Some(printed(checksum, parts));
            match checksum.algorithm {
                ChecksumAlgorithm::Crc32 => fields.crc32 = value,
                ChecksumAlgorithm::Crc32c => fields.crc32c = value,
                ChecksumAlgorithm::Sha1 => fields.sha1 = value,
                ChecksumAlgorithm::Sha256 => fields.sha256 = value,
                ChecksumAlgorithm::Crc64Nvme => fields.crc64nvme = value,
            }
            fields.kind = Some(kind_to_dto(checksum.kind));
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(algorithm: ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
        let mut hasher = Hasher::new(algorithm);
        hasher.update(data);
        hasher.finish()
    }

    #[test]
    fn known_values() {
        // The CRC catalogue's check values, over "123456789".
        assert_eq!(digest(ChecksumAlgorithm::Crc32, b"123456789"), 0xcbf4_3926u32.to_be_bytes());
        assert_eq!(digest(ChecksumAlgorithm::Crc32c, b"123456789"), 0xe306_9283u32.to_be_bytes());
        assert_eq!(digest(ChecksumAlgorithm::Crc64Nvme, b"123456789"), 0xae8b_1486_0a79_9888u64.to_be_bytes());
        assert_eq!(base64(&digest(ChecksumAlgorithm::Sha1, b"abc")), "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
    }

    #[test]
    fn crcs_combine_like_the_whole() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for algorithm in [ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Crc64Nvme] {
            let pieces: Vec<(Box<[u8]>, u64)> = data
                .chunks(3000)
                .map(|piece| (digest(algorithm, piece).into_boxed_slice(), piece.len() as u64))
                .collect();
            assert_eq!(combine_crcs(algorithm, &pieces).unwrap(), digest(algorithm, &data), "{algorithm:?}");
        }
    }

    #[test]
    fn claims_are_read_and_checked() {
        let mut headers = HeaderMap::new();
        assert_eq!(claim(&headers).unwrap(), None);
        headers.insert("x-amz-checksum-crc32", base64(&digest(ChecksumAlgorithm::Crc32, b"hi")).parse().unwrap());
        let found = claim(&headers).unwrap().unwrap();
        let mut body = BodyChecksums::new(Some(found.clone()), DEFAULT_ALGORITHM);
        body.update(b"hi");
        let (stored, claimed) = body.finish(None).unwrap();
        assert_eq!(stored.algorithm, DEFAULT_ALGORITHM);
        assert_eq!(claimed.unwrap().algorithm, ChecksumAlgorithm::Crc32);
        let mut body = BodyChecksums::new(Some(found), ChecksumAlgorithm::Crc32);
        body.update(b"ho");
        assert_eq!(body.finish(None).unwrap_err().code().as_str(), "BadDigest");
        headers.insert("x-amz-checksum-sha1", "AAAA".parse().unwrap());
        assert_eq!(claim(&headers).unwrap_err().code().as_str(), "InvalidRequest");
        headers.remove("x-amz-checksum-crc32");
        assert_eq!(claim(&headers).unwrap_err().code().as_str(), "InvalidRequest", "wrong length");
    }

    #[test]
    fn trailers_are_verified() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-trailer", "x-amz-checksum-sha256".parse().unwrap());
        let found = claim(&headers).unwrap().unwrap();
        let mut trailers = HeaderMap::new();
        trailers.insert("x-amz-checksum-sha256", base64(&digest(ChecksumAlgorithm::Sha256, b"body")).parse().unwrap());
        let mut body = BodyChecksums::new(Some(found.clone()), DEFAULT_ALGORITHM);
        body.update(b"body");
        assert!(body.finish(Some(&trailers)).is_ok());
        let body = BodyChecksums::new(Some(found), DEFAULT_ALGORITHM);
        assert_eq!(body.finish(None).unwrap_err().code().as_str(), "InvalidRequest", "missing trailer");
    }

    #[test]
    fn upload_specs_follow_s3() {
        let alg = |name: &str| DtoAlgorithm::from(name.to_owned());
        let kind = |name: &str| ChecksumType::from(name.to_owned());
        let spec = upload_spec(Some(&alg("SHA256")), None).unwrap().unwrap();
        assert_eq!(spec.kind, ChecksumKind::Composite);
        let spec = upload_spec(Some(&alg("CRC64NVME")), None).unwrap().unwrap();
        assert_eq!(spec.kind, ChecksumKind::FullObject);
        assert!(upload_spec(Some(&alg("SHA1")), Some(&kind("FULL_OBJECT"))).is_err());
        assert!(upload_spec(Some(&alg("CRC64NVME")), Some(&kind("COMPOSITE"))).is_err());
        assert!(upload_spec(None, Some(&kind("COMPOSITE"))).is_err());
        assert!(upload_spec(Some(&alg("MD5")), None).is_err());
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert!(base64_decode("aGl=").is_none(), "non-canonical");
        assert!(base64_decode("aGk").is_none(), "unpadded");
        assert!(base64_decode("a Gk=").is_none());
    }
}
