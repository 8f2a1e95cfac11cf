//! Checks on client input against S3's rules and `limits.rs`, before anything is written.

use crate::error::{Error, Result};
use crate::limits;
use crate::types::ObjectAttributes;

/// S3's bucket naming rules for general purpose buckets.
pub fn bucket_name(name: &str) -> Result<()> {
    let invalid = |reason| Err(Error::InvalidBucketName { name: name.to_owned(), reason });
    if name.len() < limits::BUCKET_NAME_BYTES_MIN || name.len() > limits::BUCKET_NAME_BYTES_MAX {
        return invalid("must be 3 to 63 characters long");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') {
        return invalid("may hold only lowercase letters, digits, hyphens and dots");
    }
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !edge_ok(name.as_bytes()[0]) || !edge_ok(name.as_bytes()[name.len() - 1]) {
        return invalid("must begin and end with a letter or digit");
    }
    if name.contains("..") {
        return invalid("must not contain two adjacent dots");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return invalid("must not be formatted as an IP address");
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return invalid("uses a prefix S3 reserves");
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return invalid("uses a suffix S3 reserves");
        }
    }
    Ok(())
}

/// Object keys: non-empty UTF-8 of at most 1,024 bytes.
pub fn key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey("a key must not be empty"));
    }
    if key.len() > limits::KEY_BYTES_MAX {
        return Err(Error::InvalidKey("a key is at most 1,024 bytes"));
    }
    Ok(())
}

/// User metadata size, system metadata value sizes, and tag rules.
pub fn attributes(attributes: &ObjectAttributes) -> Result<()> {
    let user_bytes: usize = attributes.user.iter().map(|(name, value)| name.len() + value.len()).sum();
    if user_bytes > limits::USER_METADATA_BYTES_MAX {
        return Err(Error::MetadataTooLarge { bytes: user_bytes, limit: limits::USER_METADATA_BYTES_MAX });
    }
    // A NUL never starts a header name; the engine keeps such names for system fields carried
    // in the pairs (format::records), which a user's name must never be mistaken for.
    if attributes.user.iter().any(|(name, _)| name.contains('\0')) {
        return Err(Error::InvalidArgument("a user metadata name must not contain NUL".into()));
    }
    for value in attributes.system.all_fields().into_iter().flatten() {
        if value.len() > limits::SYSTEM_METADATA_VALUE_BYTES_MAX {
            return Err(Error::MetadataTooLarge { bytes: value.len(), limit: limits::SYSTEM_METADATA_VALUE_BYTES_MAX });
        }
    }
    if attributes.owner.len() > limits::OWNER_BYTES_MAX {
        return Err(Error::InvalidArgument("object owner id too long".into()));
    }
    acl(&attributes.acl)?;
    tags(&attributes.tags)
}

/// An access control list document's size.
pub fn acl(acl: &[u8]) -> Result<()> {
    if acl.len() > limits::ACL_BYTES_MAX {
        return Err(Error::EntityTooLarge { size: acl.len() as u64, limit: limits::ACL_BYTES_MAX as u64 });
    }
    Ok(())
}

/// S3's object tag rules: at most 10, keys 1 to 128 characters and unique, values at most 256.
pub fn tags(tags: &[(String, String)]) -> Result<()> {
    tag_set(tags, limits::TAGS_MAX)
}

/// S3's tag rules with a given count limit (10 for objects, 50 for buckets).
pub fn tag_set(tags: &[(String, String)], tags_max: usize) -> Result<()> {
    if tags.len() > tags_max {
        return Err(Error::InvalidTag(format!("at most {tags_max} tags")));
    }
    for (i, (name, value)) in tags.iter().enumerate() {
        let name_chars = name.chars().count();
        if name_chars == 0 || name_chars > limits::TAG_KEY_CHARS_MAX {
            return Err(Error::InvalidTag("a tag key is 1 to 128 characters".into()));
        }
        if value.chars().count() > limits::TAG_VALUE_CHARS_MAX {
            return Err(Error::InvalidTag("a tag value is at most 256 characters".into()));
        }
        if tags[..i].iter().any(|(other, _)| other == name) {
            return Err(Error::InvalidTag(format!("tag key {name:?} appears twice")));
        }
    }
    Ok(())
}

/// Part numbers are 1 to 10,000.
pub fn part_number(number: u32) -> Result<()> {
    if number == 0 || number > limits::PART_NUMBER_MAX {
        return Err(Error::InvalidArgument(format!("part number must be 1 to {}", limits::PART_NUMBER_MAX)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in ["abc", "my-bucket", "my.bucket.1", "a".repeat(63).as_str(), "1bucket"] {
            assert!(bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "My-Bucket",
            "-abc",
            "abc-",
            ".abc",
            "a..b",
            "192.168.5.4",
            "xn--abc",
            "abc-s3alias",
            "abc--ol-s3",
            "a_b",
            "sthree-x",
            "ab c",
        ] {
            assert!(bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tag_limits() {
        let tag = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let ten: Vec<_> = (0..10).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert!(tags(&ten).is_ok());
        let mut eleven = ten.clone();
        eleven.push(tag("k10", "v"));
        assert!(tags(&eleven).is_err());
        assert!(tags(&[tag(&"é".repeat(128), &"é".repeat(256))]).is_ok());
        assert!(tags(&[tag(&"k".repeat(129), "v")]).is_err());
        assert!(tags(&[tag("k", &"v".repeat(257))]).is_err());
        assert!(tags(&[tag("", "v")]).is_err());
        assert!(tags(&[tag("k", "1"), tag("k", "2")]).is_err());
    }
}
