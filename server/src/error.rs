//! Every engine error mapped to the S3 error AWS returns for it, in one exhaustive place.

use cairn_engine::Error;
use s3s::{S3Error, S3ErrorCode, s3_error};

/// An error about a delete marker carries `x-amz-delete-marker: true` and the marker's
/// `x-amz-version-id`, as S3's does.
fn with_delete_marker(mut error: S3Error, version: cairn_engine::VersionId) -> S3Error {
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    headers.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    if let Ok(value) = http::HeaderValue::from_str(&version.to_string()) {
        headers.insert("x-amz-version-id", value);
    }
    error.set_headers(headers);
    error
}

fn kms_error(code: &str, message: String) -> S3Error {
    let mut error = S3Error::new(S3ErrorCode::Custom(code.to_owned().into()));
    error.set_message(message);
    error.set_status_code(http::StatusCode::BAD_REQUEST);
    error
}

/// Maps an engine error to an S3 error (code, status and message). Internal failures are logged
/// here, once, with their detail; the client sees only the S3 code.
pub fn to_s3(error: Error) -> S3Error {
    match error {
        Error::InvalidBucketName { name, reason } => s3_error!(InvalidBucketName, "{name:?}: {reason}"),
        Error::NoSuchBucket(name) => s3_error!(NoSuchBucket, "the bucket {name:?} does not exist"),
        // One account owns every bucket until accounts and ownership arrive with ACLs.
        Error::BucketAlreadyExists(_) => s3_error!(BucketAlreadyOwnedByYou),
        Error::BucketNotEmpty(_) => s3_error!(BucketNotEmpty),
        Error::TooManyBuckets { .. } => s3_error!(TooManyBuckets),
        Error::NoSuchKey { delete_marker: None } => s3_error!(NoSuchKey),
        // S3 names the delete marker that hides the key: `x-amz-delete-marker` and its version.
        Error::NoSuchKey { delete_marker: Some(version) } => {
            with_delete_marker(s3_error!(NoSuchKey, "The specified key does not exist."), version)
        }
        Error::NoSuchVersion => s3_error!(NoSuchVersion),
        Error::VersionIsDeleteMarker { version } => with_delete_marker(
            s3_error!(MethodNotAllowed, "The specified method is not allowed against this resource."),
            version,
        ),
        Error::NoSuchUpload => s3_error!(NoSuchUpload),
        Error::InvalidKey(reason) if reason.contains("1,024") => s3_error!(KeyTooLongError),
        Error::InvalidKey(reason) => s3_error!(InvalidArgument, "{reason}"),
        Error::InvalidArgument(reason) => s3_error!(InvalidArgument, "{reason}"),
        Error::MetadataTooLarge { limit, .. } => s3_error!(MetadataTooLarge, "metadata is limited to {limit} bytes"),
        Error::InvalidTag(reason) => s3_error!(InvalidTag, "{reason}"),
        Error::EntityTooLarge { limit, .. } => s3_error!(EntityTooLarge, "the limit is {limit} bytes"),
        Error::EntityTooSmall { .. } => s3_error!(EntityTooSmall),
        Error::InvalidPart { part_number } => {
            s3_error!(InvalidPart, "part {part_number} was not found or its ETag does not match")
        }
        Error::InvalidPartOrder => s3_error!(InvalidPartOrder),
        Error::InvalidRange { .. } => s3_error!(InvalidRange),
        Error::PreconditionFailed => {
            s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold")
        }
        Error::TooManyVersions { limit } => s3_error!(InvalidRequest, "a key holds at most {limit} versions"),
        Error::TooManyUploads { limit } => {
            s3_error!(InvalidRequest, "a bucket holds at most {limit} uploads in progress")
        }
        Error::InvalidObjectState(class) => {
            s3_error!(InvalidObjectState, "The operation is not valid for the object's storage class ({class})")
        }
        Error::ObjectLocked => s3_error!(AccessDenied, "Access Denied because object protected by object lock."),
        Error::InvalidBucketState(message) => s3_error!(InvalidBucketState, "{message}"),
        // AWS passes KMS's own error codes through, as 400s.
        Error::KmsKeyNotFound(key) => kms_error("KMS.NotFoundException", format!("Invalid keyId '{key}'")),
        Error::KmsKeyDisabled(key) => kms_error("KMS.DisabledException", format!("{key} is disabled.")),
        Error::CustomerKeyRequired => s3_error!(
            InvalidRequest,
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
        ),
        Error::CustomerKeyMismatch => s3_error!(AccessDenied, "Access Denied"),
        Error::Io(io) if io.raw_os_error() == Some(28) => {
            tracing::error!("disk full: {io}");
            s3_error!(ServiceUnavailable, "the server is out of disk space")
        }
        // A replica took the version id this write's seq gave it: a retry gets another.
        Error::WriteInterrupted | Error::Closed | Error::VersionIdTaken { .. } => {
            s3_error!(ServiceUnavailable, "please retry")
        }
        internal @ (Error::Io(_)
        | Error::ChecksumMismatch { .. }
        | Error::Corruption { .. }
        | Error::Locked { .. }
        | Error::InvalidConfig(_)) => {
            tracing::error!("internal error: {internal}");
            S3Error::new(S3ErrorCode::InternalError)
        }
        other => {
            tracing::error!("unmapped engine error: {other}");
            S3Error::new(S3ErrorCode::InternalError)
        }
    }
}
