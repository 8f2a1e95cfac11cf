//! Server-side encryption and storage classes: what a write asks for (SSE-S3, SSE-KMS,
//! DSSE-KMS, SSE-C, or the bucket's default), the customer key a read or part carries, the
//! headers every write and read answers with, Put/Get/DeleteBucketEncryption, and the
//! `x-amz-storage-class` of writes. The engine does the sealing; this is S3's grammar for it.

use cairn_engine::seal::KeyBytes;
use cairn_engine::{Encryption, Sse, SseMode, StorageClass};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::*;

/// The bucket configuration record of a bucket's default encryption (absent: SSE-S3, AWS's
/// default for every bucket since 2023).
pub(crate) const BUCKET_ENCRYPTION: &str = "encryption";

pub(crate) const SSE: &str = "x-amz-server-side-encryption";
const SSE_KMS_KEY_ID: &str = "x-amz-server-side-encryption-aws-kms-key-id";
const SSE_CONTEXT: &str = "x-amz-server-side-encryption-context";
const SSE_BUCKET_KEY: &str = "x-amz-server-side-encryption-bucket-key-enabled";
const SSE_C_ALGORITHM: &str = "x-amz-server-side-encryption-customer-algorithm";
const SSE_C_KEY: &str = "x-amz-server-side-encryption-customer-key";
const SSE_C_KEY_MD5: &str = "x-amz-server-side-encryption-customer-key-md5";
/// The copy source's customer key (CopyObject, UploadPartCopy).
const COPY_SOURCE_SSE_C: [&str; 3] = [
    "x-amz-copy-source-server-side-encryption-customer-algorithm",
    "x-amz-copy-source-server-side-encryption-customer-key",
    "x-amz-copy-source-server-side-encryption-customer-key-md5",
];
const SSE_C: [&str; 3] = [SSE_C_ALGORITHM, SSE_C_KEY, SSE_C_KEY_MD5];
/// The longest encryption context header accepted (AWS KMS bounds a context at 8 KB).
pub(crate) const ENCRYPTION_CONTEXT_BYTES_MAX: usize = 8 * 1024;
/// A KMS key id as a request may name it (a key ARN is about 80 bytes; an alias ARN up to 300).
pub(crate) const KMS_KEY_ID_BYTES_MAX: usize = 2048;

/// A customer-provided key a request carries, and the MD5 (base64) S3 echoes back.
pub(crate) struct CustomerKey {
    pub key: KeyBytes,
    pub md5: String,
}

/// A bucket's default encryption as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BucketDefault {
    /// `AES256`, `aws:kms` or `aws:kms:dsse`.
    pub algorithm: String,
    pub kms_key: Option<String>,
    pub bucket_key: bool,
}

impl BucketDefault {
    fn sse_s3() -> BucketDefault {
        BucketDefault { algorithm: ServerSideEncryption::AES256.into(), kms_key: None, bucket_key: false }
    }
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> S3Result<Option<&'a str>> {
    headers
        .get(name)
        .map(|value| value.to_str().map_err(|_| s3_error!(InvalidArgument, "the header {name} is not valid text")))
        .transpose()
}

/// S3's error for SSE-C over a connection that is not TLS.
fn insecure() -> s3s::S3Error {
    s3_error!(
        InvalidRequest,
        "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
    )
}

/// The customer key the headers `names` (algorithm, key, key MD5) carry: all three or none.
fn customer_key_from(headers: &http::HeaderMap, names: [&str; 3], secure: bool) -> S3Result<Option<CustomerKey>> {
    let [algorithm, key, md5] = [header(headers, names[0])?, header(headers, names[1])?, header(headers, names[2])?];
    if algorithm.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    if !secure {
        return Err(insecure());
    }
    let algorithm = algorithm.ok_or_else(|| {
        s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
        )
    })?;
    if algorithm != "AES256" {
        return Err(s3_error!(
            InvalidEncryptionAlgorithmError,
            "The encryption request you specified is not valid. The valid value is AES256."
        ));
    }
    let key = key.ok_or_else(|| {
        s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key."
        )
    })?;
    let md5 = md5.ok_or_else(|| {
        s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key."
        )
    })?;
    let decoded = checksum::base64_decode(key)
        .filter(|bytes| bytes.len() == cairn_engine::seal::KEY_BYTES)
        .ok_or_else(|| s3_error!(InvalidArgument, "The secret key was invalid for the specified algorithm."))?;
    let digest = Md5::digest(&decoded);
    if checksum::base64_decode(md5).as_deref() != Some(&digest[..]) {
        return Err(s3_error!(
            InvalidArgument,
            "The calculated MD5 hash of the key did not match the hash that was provided."
        ));
    }
    let mut bytes = KeyBytes::default();
    bytes.copy_from_slice(&decoded);
    Ok(Some(CustomerKey { key: bytes, md5: md5.to_owned() }))
}

impl Cairn {
    /// Whether SSE-C may be used on this connection: only over TLS, as AWS, unless the server
    /// was started with `--allow-insecure-sse-c` (Cairn has no TLS listener yet).
    fn sse_c_allowed(&self) -> bool {
        self.insecure_sse_c
    }

    /// The customer key of a read or part (`x-amz-server-side-encryption-customer-*`).
    pub(super) fn customer_key(&self, headers: &http::HeaderMap) -> S3Result<Option<CustomerKey>> {
        customer_key_from(headers, SSE_C, self.sse_c_allowed())
    }

    /// The copy source's customer key (`x-amz-copy-source-server-side-encryption-customer-*`).
    pub(super) fn copy_source_key(&self, headers: &http::HeaderMap) -> S3Result<Option<CustomerKey>> {
        customer_key_from(headers, COPY_SOURCE_SSE_C, self.sse_c_allowed())
    }

    /// The encryption a write (PutObject, CopyObject, CreateMultipartUpload) asks for, else the
    /// bucket's default (`None`: the bucket has none and the server was started with
    /// `--default-encryption none`); and the customer key when it is SSE-C.
    pub(super) fn write_encryption(
        &self,
        headers: &http::HeaderMap,
        bucket: &str,
        key: &str,
    ) -> S3Result<(Option<Sse>, Option<CustomerKey>)> {
        let algorithm = header(headers, SSE)?;
        let kms_key = header(headers, SSE_KMS_KEY_ID)?;
        let context = header(headers, SSE_CONTEXT)?;
        let bucket_key = match header(headers, SSE_BUCKET_KEY)? {
            None => None,
            Some(text) => Some(text.parse::<bool>().map_err(|_| {
                s3_error!(InvalidArgument, "x-amz-server-side-encryption-bucket-key-enabled must be true or false")
            })?),
        };
        let customer = self.customer_key(headers)?;
        if let Some(customer) = customer {
            if algorithm.is_some() || kms_key.is_some() || context.is_some() {
                return Err(s3_error!(
                    InvalidArgument,
                    "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
                ));
            }
            return Ok((Some(Sse::Customer(customer.key.clone())), Some(customer)));
        }
        let kms = matches!(algorithm, Some("aws:kms" | "aws:kms:dsse"));
        if !kms && (kms_key.is_some() || context.is_some()) {
            return Err(s3_error!(
                InvalidArgument,
                "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
            ));
        }
        let default = match algorithm {
            Some(_) => None,
            None => match self.bucket_default(bucket)? {
                Some(default) => Some(default),
                None => return Ok((None, None)),
            },
        };
        let (algorithm, kms_key, bucket_key) = match &default {
            Some(default) => {
                (default.algorithm.as_str(), default.kms_key.as_deref(), bucket_key.unwrap_or(default.bucket_key))
            }
            None => (algorithm.unwrap_or_default(), kms_key, bucket_key.unwrap_or(false)),
        };
        let dsse = match algorithm {
            "AES256" => return Ok((Some(Sse::S3), None)),
            "aws:kms" => false,
            "aws:kms:dsse" => true,
            _ => return Err(s3_error!(InvalidArgument, "The encryption method specified is not supported")),
        };
        if kms_key.is_some_and(|k| k.is_empty() || k.len() > KMS_KEY_ID_BYTES_MAX) {
            return Err(s3_error!(InvalidArgument, "Invalid arguments provided for the KMS key id"));
        }
        let context = match context {
            Some(encoded) => decode_context(encoded)?,
            // AWS's default context: the object's ARN, or with a bucket key the bucket's.
            None if bucket_key => format!(r#"{{"aws:s3:arn":"arn:aws:s3:::{bucket}"}}"#),
            None => format!(r#"{{"aws:s3:arn":"arn:aws:s3:::{bucket}/{}"}}"#, json_escape(key)),
        };
        Ok((Some(Sse::Kms { key: kms_key.map(str::to_owned), context, bucket_key, dsse }), None))
    }

    /// The bucket's default encryption: its configuration, else SSE-S3 (AWS's), or none when
    /// the server was started with `--default-encryption none`.
    fn bucket_default(&self, bucket: &str) -> S3Result<Option<BucketDefault>> {
        match self.engine.get_bucket_config(bucket, BUCKET_ENCRYPTION).map_err(to_s3)? {
            None if self.unencrypted_default => Ok(None),
            None => Ok(Some(BucketDefault::sse_s3())),
            Some(stored) => serde_json::from_slice(&stored)
                .map(Some)
                .map_err(|e| s3_error!(InternalError, "the bucket's encryption configuration is damaged: {e}")),
        }
    }

    /// The response headers of an object's encryption (writes and reads alike): the mode, the
    /// KMS key's ARN, the bucket key, and for SSE-C the algorithm and the key's MD5 (from the
    /// request: the key is never stored). `context`: whether to echo the encryption context
    /// (PutObject, CopyObject, CreateMultipartUpload).
    pub(super) fn encryption_headers(
        &self,
        headers: &mut http::HeaderMap,
        encryption: Option<&Encryption>,
        customer: Option<&CustomerKey>,
        context: bool,
    ) {
        let Some(encryption) = encryption else { return };
        let mut set = |name: &'static str, value: &str| {
            if let Ok(value) = http::HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        };
        match encryption.mode {
            SseMode::S3 => set(SSE, "AES256"),
            SseMode::Kms | SseMode::KmsDsse => {
                set(SSE, if encryption.mode == SseMode::Kms { "aws:kms" } else { "aws:kms:dsse" });
                set(SSE_KMS_KEY_ID, &self.kms_key_arn(&encryption.key_id));
                if encryption.bucket_key {
                    set(SSE_BUCKET_KEY, "true");
                }
                if context {
                    set(SSE_CONTEXT, &checksum::base64(encryption.context.as_bytes()));
                }
            }
            SseMode::Customer => {
                set(SSE_C_ALGORITHM, "AES256");
                if let Some(customer) = customer {
                    set(SSE_C_KEY_MD5, &customer.md5);
                }
            }
        }
    }

    /// A local KMS key's ARN, as AWS KMS names keys.
    pub(super) fn kms_key_arn(&self, id: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.accounts.root_account_id())
    }

    /// What a read (GET, HEAD, a copy's source) must carry for an object's encryption, as AWS:
    /// the SSE-C key it was written with (400 without, 403 with another), nothing for others.
    pub(super) fn check_read_key(
        &self,
        headers: &http::HeaderMap,
        encryption: Option<&Encryption>,
        customer: Option<&CustomerKey>,
    ) -> S3Result<()> {
        if headers.contains_key(SSE) {
            return Err(s3_error!(
                InvalidArgument,
                "x-amz-server-side-encryption header is not supported for this operation."
            ));
        }
        check_key(encryption, customer)
    }

    pub(super) async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let input = req.input;
        let rules = &input.server_side_encryption_configuration.rules;
        let [rule] = rules.as_slice() else {
            return Err(s3_error!(MalformedXML, "a server-side encryption configuration has exactly one rule"));
        };
        let by_default = rule
            .apply_server_side_encryption_by_default
            .as_ref()
            .ok_or_else(|| s3_error!(MalformedXML, "the rule has no ApplyServerSideEncryptionByDefault"))?;
        let algorithm = by_default.sse_algorithm.as_str();
        if !["AES256", "aws:kms", "aws:kms:dsse"].contains(&algorithm) {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let kms_key = by_default.kms_master_key_id.clone().filter(|k| !k.is_empty());
        if kms_key.is_some() && algorithm == "AES256" {
            return Err(s3_error!(
                InvalidArgument,
                "a KMSMasterKeyID is allowed only if the SSEAlgorithm is aws:kms or aws:kms:dsse"
            ));
        }
        if kms_key.as_ref().is_some_and(|k| k.len() > KMS_KEY_ID_BYTES_MAX) {
            return Err(s3_error!(InvalidArgument, "Invalid arguments provided for the KMS key id"));
        }
        let stored = BucketDefault {
            algorithm: algorithm.to_owned(),
            kms_key,
            bucket_key: rule.bucket_key_enabled.unwrap_or(false) && algorithm != "AES256",
        };
        let value = serde_json::to_vec(&stored).expect("serializable");
        let bucket = input.bucket;
        self.blocking(move |engine| engine.put_bucket_config(&bucket, BUCKET_ENCRYPTION, &value)).await?;
        Ok(S3Response::new(PutBucketEncryptionOutput::default()))
    }

    pub(super) async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        // Without a default (only under `--default-encryption none`), AWS's answer from before
        // SSE-S3 became every bucket's default.
        let default = self.bucket_default(&req.input.bucket)?.ok_or_else(|| {
            let mut error = s3_error!(
                ServerSideEncryptionConfigurationNotFoundError,
                "The server side encryption configuration was not found"
            );
            // AWS answers 404 (s3s's table says 400).
            error.set_status_code(http::StatusCode::NOT_FOUND);
            error
        })?;
        let rule = ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                kms_master_key_id: default.kms_key.clone(),
                sse_algorithm: ServerSideEncryption::from(default.algorithm.clone()),
            }),
            bucket_key_enabled: Some(default.bucket_key),
        };
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration { rules: vec![rule] }),
        }))
    }

    pub(super) async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        // Deleting it puts the bucket back on SSE-S3, AWS's default (or on none, as above).
        let bucket = req.input.bucket;
        self.blocking(move |engine| engine.delete_bucket_config(&bucket, BUCKET_ENCRYPTION)).await?;
        Ok(S3Response::new(DeleteBucketEncryptionOutput::default()))
    }
}

/// A read's key against the object's encryption (`check_read_key` without the header rule:
/// UploadPart and copy sources use it too).
pub(super) fn check_key(encryption: Option<&Encryption>, customer: Option<&CustomerKey>) -> S3Result<()> {
    let sse_c = encryption.filter(|e| e.mode == SseMode::Customer);
    match (sse_c, customer) {
        (None, None) => Ok(()),
        (None, Some(_)) => {
            Err(s3_error!(InvalidRequest, "The encryption parameters are not applicable to this object."))
        }
        (Some(_), None) => Err(s3_error!(
            InvalidRequest,
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
        )),
        (Some(encryption), Some(customer)) => {
            if cairn_engine::keyring::customer_key_matches(encryption, &customer.key) {
                Ok(())
            } else {
                Err(s3_error!(AccessDenied, "Access Denied"))
            }
        }
    }
}

/// The encryption context header: base64 of a JSON object of strings (AWS's rule).
fn decode_context(encoded: &str) -> S3Result<String> {
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map"
        )
    };
    if encoded.len() > ENCRYPTION_CONTEXT_BYTES_MAX {
        return Err(invalid());
    }
    let bytes = checksum::base64_decode(encoded).ok_or_else(invalid)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).map_err(|_| invalid())?;
    if !map.values().all(serde_json::Value::is_string) {
        return Err(invalid());
    }
    Ok(text)
}

fn json_escape(text: &str) -> String {
    let quoted = serde_json::to_string(text).expect("a string serializes");
    quoted[1..quoted.len() - 1].to_owned()
}

/// The storage class a write asks for (`x-amz-storage-class`; STANDARD without). A class S3 does
/// not have on general purpose buckets is InvalidStorageClass.
pub(super) fn storage_class(headers: &http::HeaderMap) -> S3Result<StorageClass> {
    let Some(name) = header(headers, "x-amz-storage-class")? else { return Ok(StorageClass::Standard) };
    StorageClass::parse(name)
        .ok_or_else(|| s3_error!(InvalidStorageClass, "The storage class you specified is not valid"))
}

/// The most days a restored copy may be asked to last (AWS documents no bound; a century).
pub(crate) const RESTORE_DAYS_MAX: i32 = 36_500;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// When a restored copy of `days` made at `now_ms` expires: `days` later, rounded up to the next
/// midnight UTC, as AWS computes it.
pub(super) fn restore_expiry_ms(now_ms: u64, days: u64) -> u64 {
    (now_ms + days * DAY_MS).div_ceil(DAY_MS) * DAY_MS
}

/// S3's `x-amz-restore` for an archived object's state: absent before any restore, else done
/// (restores are immediate here) with the expiry date, also once it has passed.
pub(super) fn restore_header(info: &ObjectInfo) -> Option<String> {
    if !info.attributes.storage_class.is_archive() || info.restored_until_ms == 0 {
        return None;
    }
    let expiry = http_date(&timestamp(info.restored_until_ms)).ok()?;
    Some(format!("ongoing-request=\"false\", expiry-date=\"{expiry}\""))
}

impl Cairn {
    /// RestoreObject: a restored copy of a GLACIER or DEEP_ARCHIVE version, readable for `Days`
    /// (made at once: `202 Accepted` for a new restore, `200` when one was readable and its
    /// expiry is moved). Another storage class is `403 InvalidObjectState`; SELECT restores and
    /// output locations are `501 NotImplemented`.
    pub(super) async fn restore_object(
        &self,
        req: S3Request<RestoreObjectInput>,
    ) -> S3Result<S3Response<RestoreObjectOutput>> {
        let publishing = self.publishing(&req, &req.input.bucket)?;
        let input = req.input;
        let request = input.restore_request.unwrap_or_default();
        if request.type_.is_some() || request.select_parameters.is_some() || request.output_location.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "A header you provided implies functionality that is not implemented: SELECT restores"
            ));
        }
        let version = version_param(input.version_id.as_deref())?;
        let (_, info) = self.engine.head_object(&input.bucket, &input.key, version).map_err(to_s3)?;
        let class = info.attributes.storage_class;
        if !class.is_archive() {
            return Err(s3_error!(InvalidObjectState, "Restore is not allowed for the object's current storage class"));
        }
        let days = request.days.ok_or_else(|| {
            s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            )
        })?;
        if !(1..=RESTORE_DAYS_MAX).contains(&days) {
            return Err(s3_error!(InvalidArgument, "Days must be 1 to {RESTORE_DAYS_MAX}"));
        }
        let tier = request.glacier_job_parameters.map(|p| p.tier).or(request.tier);
        match tier.as_ref().map(|t| t.as_str()) {
            None | Some("Standard" | "Bulk") => {}
            Some("Expedited") if class == StorageClass::Glacier => {}
            Some("Expedited") => {
                return Err(s3_error!(
                    InvalidArgument,
                    "Expedited retrieval is not available for the DEEP_ARCHIVE storage class"
                ));
            }
            Some(other) => return Err(s3_error!(MalformedXML, "unknown restore tier {other}")),
        }
        let until = restore_expiry_ms(now_ms(), days as u64);
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let (restored, was_restored) =
            self.blocking(move |engine| engine.restore_object(&bucket, &key, version, until)).await?;
        // The copy is readable at once: the restore is started and completed together.
        let events = || {
            let expiry = crate::notify::event::iso_time(until);
            let completed = crate::notify::Subject {
                restore: Some((expiry, class.as_str().to_owned())),
                ..notification::about(&input.key, Some(restored))
            };
            vec![
                (EventName::RestorePost, notification::about(&input.key, Some(restored))),
                (EventName::RestoreCompleted, completed),
            ]
        };
        self.publish(publishing, &input.bucket, events).await;
        let mut response = S3Response::new(RestoreObjectOutput::default());
        if !was_restored {
            response.extensions.insert(crate::guard::StatusOverride(http::StatusCode::ACCEPTED));
        }
        Ok(response)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The storage class as s3s's outputs carry it; `None` for STANDARD on GET and HEAD, which AWS
/// leaves out.
pub(super) fn storage_class_header(class: StorageClass) -> Option<s3s::dto::StorageClass> {
    (class != StorageClass::Standard).then(|| s3s::dto::StorageClass::from(class.as_str().to_owned()))
}

/// The storage class as listings show it (always, STANDARD included).
pub(super) fn listed_storage_class(class: StorageClass) -> s3s::dto::StorageClass {
    s3s::dto::StorageClass::from(class.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_contexts_are_json_string_maps() {
        let encode = |text: &str| checksum::base64(text.as_bytes());
        assert_eq!(decode_context(&encode(r#"{"a":"b"}"#)).unwrap(), r#"{"a":"b"}"#);
        for bad in [r#"{"a":1}"#, "[]", "not json", r#""text""#] {
            assert!(decode_context(&encode(bad)).is_err(), "{bad}");
        }
        assert!(decode_context("!!!").is_err());
        assert!(decode_context(&"A".repeat(ENCRYPTION_CONTEXT_BYTES_MAX + 4)).is_err());
        assert_eq!(json_escape("a\"b"), "a\\\"b");
    }

    #[test]
    fn customer_keys_need_all_three_headers_and_a_matching_md5() {
        let key = [3u8; 32];
        let encoded = checksum::base64(&key);
        let md5 = checksum::base64(&Md5::digest(key));
        let headers = |entries: &[(&'static str, &str)]| {
            let mut map = http::HeaderMap::new();
            for (name, value) in entries {
                map.insert(*name, http::HeaderValue::from_str(value).unwrap());
            }
            map
        };
        let full = headers(&[(SSE_C_ALGORITHM, "AES256"), (SSE_C_KEY, &encoded), (SSE_C_KEY_MD5, &md5)]);
        assert_eq!(*customer_key_from(&full, SSE_C, true).unwrap().unwrap().key, key);
        assert_eq!(customer_key_from(&full, SSE_C, false).err().unwrap().code().as_str(), "InvalidRequest");
        let code =
            |map: &http::HeaderMap| customer_key_from(map, SSE_C, true).err().unwrap().code().as_str().to_owned();
        assert_eq!(
            code(&headers(&[(SSE_C_ALGORITHM, "AES128"), (SSE_C_KEY, &encoded), (SSE_C_KEY_MD5, &md5)])),
            "InvalidEncryptionAlgorithmError"
        );
        assert_eq!(code(&headers(&[(SSE_C_ALGORITHM, "AES256"), (SSE_C_KEY_MD5, &md5)])), "InvalidArgument");
        assert_eq!(code(&headers(&[(SSE_C_ALGORITHM, "AES256"), (SSE_C_KEY, &encoded)])), "InvalidArgument");
        let short = checksum::base64(&key[..16]);
        assert_eq!(
            code(&headers(&[(SSE_C_ALGORITHM, "AES256"), (SSE_C_KEY, &short), (SSE_C_KEY_MD5, &md5)])),
            "InvalidArgument"
        );
        let other_md5 = checksum::base64(&Md5::digest([4u8; 32]));
        assert_eq!(
            code(&headers(&[(SSE_C_ALGORITHM, "AES256"), (SSE_C_KEY, &encoded), (SSE_C_KEY_MD5, &other_md5)])),
            "InvalidArgument"
        );
        assert!(customer_key_from(&http::HeaderMap::new(), SSE_C, false).unwrap().is_none());
    }

    #[test]
    fn restored_copies_expire_at_the_midnight_utc_after_their_days() {
        // 2026-12-04 19:30 UTC and one day: 2026-12-06 00:00 UTC.
        let now = 1_796_412_600_000;
        assert_eq!(restore_expiry_ms(now, 1), 1_796_515_200_000);
        // Exactly at midnight: that midnight plus the days.
        assert_eq!(restore_expiry_ms(1_796_428_800_000, 2), 1_796_428_800_000 + 2 * DAY_MS);
    }

    #[test]
    fn storage_classes_parse_as_s3_names_them() {
        let with = |class: &str| {
            let mut map = http::HeaderMap::new();
            map.insert("x-amz-storage-class", http::HeaderValue::from_str(class).unwrap());
            storage_class(&map)
        };
        assert_eq!(storage_class(&http::HeaderMap::new()).unwrap(), StorageClass::Standard);
        assert_eq!(with("STANDARD_IA").unwrap(), StorageClass::StandardIa);
        assert_eq!(with("EXPRESS_ONEZONE").unwrap(), StorageClass::ExpressOnezone);
        assert_eq!(with("GLACIER").unwrap(), StorageClass::Glacier);
        assert_eq!(with("DEEP_ARCHIVE").unwrap(), StorageClass::DeepArchive);
        assert_eq!(with("standard").unwrap_err().code().as_str(), "InvalidStorageClass");
        assert_eq!(with("OUTPOSTS").unwrap_err().code().as_str(), "InvalidStorageClass");
    }
}
