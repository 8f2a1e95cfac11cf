//! What a write request asks of the object it writes, beyond its body: the conditions it is
//! made on (If-Match / If-None-Match, as the engine checks them atomically), the digests its
//! body must have (Content-MD5), what is stored of its Content-Encoding, and the Location it
//! answers with. Encryption and storage classes are `s3/encryption.rs`.

use cairn_engine::{Engine, PutCondition};
use s3s::dto::{ETag, ETagCondition};
use s3s::{S3Result, s3_error};

use crate::checksum;
use crate::error::to_s3;
use crate::s3::{URL_PATH_ESCAPED, etag_md5};

/// A write condition as the engine checks it, and how its failure reads to the client.
pub(crate) struct WriteCondition {
    pub condition: PutCondition,
    /// `If-Match: *` was resolved to the current ETag before the write: if the engine then finds
    /// another ETag, the object changed meanwhile, which S3 calls a conflict (409), not a 412.
    resolved_any: bool,
}

impl WriteCondition {
    /// The S3 error for an engine error of the conditional write.
    pub fn refusal(&self, error: cairn_engine::Error) -> s3s::S3Error {
        match error {
            cairn_engine::Error::PreconditionFailed if self.resolved_any => s3_error!(
                ConditionalRequestConflict,
                "A conflicting operation occurred. If using PutObject you can retry the request."
            ),
            other => to_s3(other),
        }
    }
}

/// S3's conditional writes, in the forms clients send them: `If-None-Match: *` (create
/// only), `If-Match: <etag>` (quoted, unquoted or weak), `If-Match: *` (overwrite only), and
/// both at once (If-Match decides on a missing key, If-None-Match on a present one, so an
/// existing object always fails). If-None-Match with an ETag is a read condition S3 does not
/// take on writes: NotImplemented, as AWS.
pub(crate) fn write_condition(
    engine: &Engine,
    bucket: &str,
    key: &str,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<WriteCondition> {
    let plain = |condition| Ok(WriteCondition { condition, resolved_any: false });
    let no_match = PutCondition::IfMatch { etag_md5: [0; 16], parts: u32::MAX };
    match (if_match, if_none_match) {
        (None, None) => plain(PutCondition::None),
        (None, Some(ETagCondition::Any)) => plain(PutCondition::IfNoneMatch),
        (Some(_), Some(ETagCondition::Any)) => plain(no_match),
        (Some(ETagCondition::ETag(etag)), None) => plain(if_match_etag(etag)),
        (Some(ETagCondition::Any), None) => match engine.head_object(bucket, key, None) {
            Ok((_, info)) => Ok(WriteCondition {
                condition: PutCondition::IfMatch { etag_md5: info.etag_md5, parts: info.parts_count().unwrap_or(0) },
                resolved_any: true,
            }),
            Err(cairn_engine::Error::NoSuchKey { .. }) => Err(s3_error!(NoSuchKey)),
            Err(error) => Err(to_s3(error)),
        },
        (_, Some(ETagCondition::ETag(_))) => Err(s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented: If-None-Match takes only * on writes"
        )),
    }
}

/// `If-Match: <etag>` as the engine's condition. An ETag this store could not have made matches
/// no object: no object has u32::MAX parts (a missing key is still 404, decided with the write).
pub(crate) fn if_match_etag(etag: &ETag) -> PutCondition {
    let value = etag.value().trim_matches('"');
    let (hex, parts) = match value.split_once('-') {
        Some((hex, parts)) => (hex, parts.parse::<u32>().ok()),
        None => (value, Some(0)),
    };
    match (etag_md5(&ETag::Strong(hex.to_owned())), parts) {
        (Some(etag_md5), Some(parts)) => PutCondition::IfMatch { etag_md5, parts },
        _ => PutCondition::IfMatch { etag_md5: [0; 16], parts: u32::MAX },
    }
}

/// The Content-Encoding an object keeps: `aws-chunked` describes the request's framing, not the
/// object, so S3 drops it (`gzip, aws-chunked` is stored as `gzip`).
pub(crate) fn stored_content_encoding(encoding: Option<String>) -> Option<String> {
    let encoding = encoding?;
    let kept: Vec<&str> = encoding
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

/// The URL of an object as CompleteMultipartUpload's Location gives it: on the host the request
/// named, virtual-hosted when the request was, the key URL-escaped.
pub(crate) fn object_url(headers: &http::HeaderMap, bucket: &str, key: &str) -> String {
    let host = headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let key = percent_encoding::utf8_percent_encode(key, URL_PATH_ESCAPED);
    if host.starts_with(&format!("{bucket}.")) {
        format!("http://{host}/{key}")
    } else {
        format!("http://{host}/{bucket}/{key}")
    }
}

/// The request's Content-MD5, if it sent one: s3s reads an empty header as none, but an empty
/// Content-MD5 is no digest of anything (InvalidDigest, as AWS).
pub(crate) fn content_md5<'a>(parsed: Option<&'a str>, headers: &http::HeaderMap) -> Option<&'a str> {
    parsed.or_else(|| headers.contains_key("content-md5").then_some(""))
}

/// Whether a request sends a digest of its body: Content-MD5, an `x-amz-checksum-<alg>` header
/// or trailer (what S3 asks of uploads it cannot afford to get wrong).
pub(crate) fn digested(headers: &http::HeaderMap) -> bool {
    headers.contains_key("content-md5")
        || headers.contains_key("x-amz-trailer")
        || cairn_engine::ChecksumAlgorithm::ALL.into_iter().any(|a| headers.contains_key(checksum::header(a)))
}

/// `Content-MD5` is the base64 of the body's MD5; a mismatch is `BadDigest`, a malformed value
/// `InvalidDigest`.
pub(crate) fn check_content_md5(header: &str, actual: &[u8; 16]) -> S3Result<()> {
    let decoded = checksum::base64_decode(header).filter(|d| d.len() == 16).ok_or_else(|| s3_error!(InvalidDigest))?;
    if decoded != actual {
        return Err(s3_error!(BadDigest, "the Content-MD5 you specified did not match what was received"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_md5_is_checked() {
        use md5::Digest;
        let digest: [u8; 16] = md5::Md5::digest(b"hello").into();
        assert!(check_content_md5("XUFAKrxLKna5cZ2REBfFkg==", &digest).is_ok());
        assert!(check_content_md5("XUFAKrxLKna5cZ2REBfFkh==", &digest).is_err(), "non-canonical base64");
        assert!(check_content_md5("AAAAAAAAAAAAAAAAAAAAAA==", &digest).is_err());
        assert!(check_content_md5("not base64!", &digest).is_err());
    }
}
