//! Access control lists, Object Ownership and Block Public Access: the pure parts (no engine, no
//! HTTP): grants and their permissions, canned ACLs, the `x-amz-grant-*` header grammar, what an
//! ACL allows, what makes it public, and how each is stored. `authorization.rs` applies them to
//! requests; `s3/acl.rs` serves their operations.
//!
//! An ACL is stored only when it differs from the private default (its owner with FULL_CONTROL),
//! so a bucket or object that never had one costs nothing: the engine holds an empty document.

use std::fmt::Write as _;

/// The most grants an ACL may hold (AWS's limit).
pub const GRANTS_MAX: usize = 100;
/// The bucket configurations this module's settings are stored under.
pub const BUCKET_ACL: &str = "acl";
pub const OWNERSHIP: &str = "ownership";
pub const PUBLIC_ACCESS_BLOCK: &str = "public-access-block";
/// The predefined groups' URIs, as AWS names them.
pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
pub const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";
/// The first line of a stored ACL (an empty document is the private default).
const STORED_MAGIC: &str = "acl1";

/// What a grant allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

impl Permission {
    pub const ALL: [Permission; 5] =
        [Permission::Read, Permission::Write, Permission::ReadAcp, Permission::WriteAcp, Permission::FullControl];

    pub fn name(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether holding `self` gives `wanted`.
    pub fn covers(self, wanted: Permission) -> bool {
        self == Permission::FullControl || self == wanted
    }
}

/// Who a grant is to. Grants by email address resolve to the account's canonical id when made,
/// as AWS stores them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Grantee {
    /// An account by its 64-hex-digit canonical id.
    Account(String),
    AllUsers,
    AuthenticatedUsers,
    LogDelivery,
}

impl Grantee {
    pub fn group(uri: &str) -> Option<Grantee> {
        match uri {
            ALL_USERS => Some(Grantee::AllUsers),
            AUTHENTICATED_USERS => Some(Grantee::AuthenticatedUsers),
            LOG_DELIVERY => Some(Grantee::LogDelivery),
            _ => None,
        }
    }

    pub fn uri(&self) -> Option<&'static str> {
        match self {
            Grantee::Account(_) => None,
            Grantee::AllUsers => Some(ALL_USERS),
            Grantee::AuthenticatedUsers => Some(AUTHENTICATED_USERS),
            Grantee::LogDelivery => Some(LOG_DELIVERY),
        }
    }

    /// AWS's meaning of a public grant: to everyone, or to every AWS account.
    fn is_public(&self) -> bool {
        matches!(self, Grantee::AllUsers | Grantee::AuthenticatedUsers)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// A bucket's or an object's access control list, in grant order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Acl {
    pub grants: Vec<Grant>,
}

/// Why a requested ACL is refused, with AWS's error for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclError {
    /// InvalidArgument (400): an unknown canned ACL, a malformed grant header, an unknown id or
    /// group.
    InvalidArgument(String),
    /// UnresolvableGrantByEmailAddress (400).
    UnknownEmail,
    /// MalformedACLError (400): a body that is not a valid AccessControlPolicy, or too many grants.
    Malformed(String),
}

/// The caller of an ACL check: a signed account (by canonical id) or anonymous.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    pub canonical_id: Option<&'a str>,
}

impl Acl {
    /// The private default: the owner has FULL_CONTROL.
    pub fn private(owner: &str) -> Acl {
        Acl { grants: vec![Grant { grantee: Grantee::Account(owner.to_owned()), permission: Permission::FullControl }] }
    }

    /// A canned ACL (`x-amz-acl`) for a resource owned by `owner` in a bucket owned by
    /// `bucket_owner` (the same for a bucket). `aws-exec-read`'s grant to Amazon EC2 names a
    /// principal Cairn does not have, so it is `private` here.
    pub fn canned(name: &str, owner: &str, bucket_owner: &str) -> Result<Acl, AclError> {
        let mut acl = Acl::private(owner);
        let mut grant = |grantee: Grantee, permission: Permission| acl.grants.push(Grant { grantee, permission });
        match name {
            "private" | "aws-exec-read" => {}
            "public-read" => grant(Grantee::AllUsers, Permission::Read),
            "public-read-write" => {
                grant(Grantee::AllUsers, Permission::Read);
                grant(Grantee::AllUsers, Permission::Write);
            }
            "authenticated-read" => grant(Grantee::AuthenticatedUsers, Permission::Read),
            "bucket-owner-read" if owner != bucket_owner => {
                grant(Grantee::Account(bucket_owner.to_owned()), Permission::Read)
            }
            "bucket-owner-full-control" if owner != bucket_owner => {
                grant(Grantee::Account(bucket_owner.to_owned()), Permission::FullControl)
            }
            "bucket-owner-read" | "bucket-owner-full-control" => {}
            "log-delivery-write" => {
                grant(Grantee::LogDelivery, Permission::Write);
                grant(Grantee::LogDelivery, Permission::ReadAcp);
            }
            _ => return Err(AclError::InvalidArgument(format!("Invalid canned ACL: {name}"))),
        }
        Ok(acl)
    }

    /// The grants of `x-amz-grant-<permission>` headers: comma-separated `id="..."`,
    /// `uri="..."` or `emailAddress="..."`, each checked: ids must be known accounts
    /// (`known_id`), emails resolve through `email`.
    pub fn from_headers<'h>(
        headers: impl IntoIterator<Item = (Permission, &'h str)>,
        known_id: &dyn Fn(&str) -> bool,
        email: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Acl, AclError> {
        let mut acl = Acl::default();
        for (permission, value) in headers {
            for item in value.split(',') {
                let (kind, quoted) = item
                    .trim()
                    .split_once('=')
                    .ok_or_else(|| AclError::InvalidArgument(format!("Invalid grant: {}", item.trim())))?;
                let value = quoted.trim().trim_matches('"');
                let grantee = match kind.trim() {
                    "id" if known_id(value) => Grantee::Account(value.to_owned()),
                    "id" => return Err(AclError::InvalidArgument("Invalid id".into())),
                    "uri" => Grantee::group(value)
                        .ok_or_else(|| AclError::InvalidArgument(format!("Invalid group uri: {value}")))?,
                    "emailAddress" => Grantee::Account(email(value).ok_or(AclError::UnknownEmail)?),
                    other => return Err(AclError::InvalidArgument(format!("Invalid grantee type: {other}"))),
                };
                acl.grants.push(Grant { grantee, permission });
                if acl.grants.len() > GRANTS_MAX {
                    return Err(too_many_grants());
                }
            }
        }
        Ok(acl)
    }

    /// Checks the grant count (an AccessControlPolicy body is built by the caller).
    pub fn checked(self) -> Result<Acl, AclError> {
        if self.grants.len() > GRANTS_MAX { Err(too_many_grants()) } else { Ok(self) }
    }

    /// Whether any grant is public (to AllUsers or AuthenticatedUsers).
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|grant| grant.grantee.is_public())
    }

    /// Whether the ACL gives `caller` the permission `wanted`; public grants count unless
    /// `ignore_public` (Block Public Access's IgnorePublicAcls).
    pub fn allows(&self, caller: Caller<'_>, wanted: Permission, ignore_public: bool) -> bool {
        self.grants.iter().any(|grant| {
            grant.permission.covers(wanted)
                && match &grant.grantee {
                    Grantee::Account(id) => caller.canonical_id == Some(id.as_str()),
                    Grantee::AllUsers => !ignore_public,
                    Grantee::AuthenticatedUsers => !ignore_public && caller.canonical_id.is_some(),
                    Grantee::LogDelivery => false,
                }
        })
    }

    /// The stored form: empty for the private default of `owner`, else a line per grant.
    pub fn encode(&self, owner: &str) -> Vec<u8> {
        if *self == Acl::private(owner) {
            return Vec::new();
        }
        let mut text = String::from(STORED_MAGIC);
        for grant in &self.grants {
            let _ = match &grant.grantee {
                Grantee::Account(id) => write!(text, "\n{} id {id}", grant.permission.name()),
                group => write!(text, "\n{} uri {}", grant.permission.name(), group.uri().unwrap_or_default()),
            };
        }
        text.into_bytes()
    }

    /// The stored form read back; empty is the private default of `owner`. A document this build
    /// cannot read grants only the owner (and is logged), never more.
    pub fn decode(stored: &[u8], owner: &str) -> Acl {
        if stored.is_empty() {
            return Acl::private(owner);
        }
        Acl::parse_stored(stored).unwrap_or_else(|| {
            tracing::warn!("an access control list no longer parses; it grants only its owner");
            Acl::private(owner)
        })
    }

    fn parse_stored(stored: &[u8]) -> Option<Acl> {
        let text = std::str::from_utf8(stored).ok()?;
        let mut lines = text.split('\n');
        (lines.next()? == STORED_MAGIC).then_some(())?;
        let grants = lines
            .map(|line| {
                let mut fields = line.splitn(3, ' ');
                let permission = Permission::parse(fields.next()?)?;
                let grantee = match (fields.next()?, fields.next()?) {
                    ("id", id) => Grantee::Account(id.to_owned()),
                    ("uri", uri) => Grantee::group(uri)?,
                    _ => return None,
                };
                Some(Grant { grantee, permission })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Acl { grants })
    }
}

fn too_many_grants() -> AclError {
    AclError::Malformed(format!("An ACL holds at most {GRANTS_MAX} grants"))
}

/// What ACL permission an IAM action needs, and whether on the bucket's ACL or the object's
/// (AWS's "Mapping of ACL permissions and access policy permissions"). `None`: no ACL grants it.
pub fn acl_permission(action: &str) -> Option<(Level, Permission)> {
    use Permission::*;
    Some(match action {
        "s3:ListBucket" | "s3:ListBucketVersions" | "s3:ListBucketMultipartUploads" => (Level::Bucket, Read),
        "s3:PutObject" | "s3:DeleteObject" => (Level::Bucket, Write),
        "s3:GetBucketAcl" => (Level::Bucket, ReadAcp),
        "s3:PutBucketAcl" => (Level::Bucket, WriteAcp),
        "s3:GetObject" | "s3:GetObjectVersion" => (Level::Object, Read),
        "s3:GetObjectAcl" | "s3:GetObjectVersionAcl" => (Level::Object, ReadAcp),
        "s3:PutObjectAcl" | "s3:PutObjectVersionAcl" => (Level::Object, WriteAcp),
        _ => return None,
    })
}

/// Which ACL an action is granted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Bucket,
    Object,
}

/// A bucket's Object Ownership setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// ACLs are disabled: the bucket owner owns every object, ACLs are neither set nor evaluated.
    BucketOwnerEnforced,
    /// The bucket owner owns objects written with `bucket-owner-full-control`; ACLs apply.
    BucketOwnerPreferred,
    /// The writer owns what it writes; ACLs apply. A bucket without the setting behaves so.
    ObjectWriter,
}

impl Ownership {
    pub fn name(self) -> &'static str {
        match self {
            Ownership::BucketOwnerEnforced => "BucketOwnerEnforced",
            Ownership::BucketOwnerPreferred => "BucketOwnerPreferred",
            Ownership::ObjectWriter => "ObjectWriter",
        }
    }

    pub fn parse(name: &str) -> Option<Ownership> {
        [Ownership::BucketOwnerEnforced, Ownership::BucketOwnerPreferred, Ownership::ObjectWriter]
            .into_iter()
            .find(|o| o.name() == name)
    }

    /// The stored setting; none is ObjectWriter, as AWS treats a bucket without one.
    pub fn stored(stored: Option<&[u8]>) -> Ownership {
        stored.and_then(|s| std::str::from_utf8(s).ok()).and_then(Ownership::parse).unwrap_or(Ownership::ObjectWriter)
    }

    pub fn acls_enabled(self) -> bool {
        self != Ownership::BucketOwnerEnforced
    }
}

/// Block Public Access: the four settings, for a bucket or an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicAccessBlock {
    #[serde(default)]
    pub block_public_acls: bool,
    #[serde(default)]
    pub ignore_public_acls: bool,
    #[serde(default)]
    pub block_public_policy: bool,
    #[serde(default)]
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// AWS's default for new buckets: all four on.
    pub const ALL: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    /// Each setting on where either has it (the bucket's and its owner account's combine so).
    pub fn union(self, other: PublicAccessBlock) -> PublicAccessBlock {
        PublicAccessBlock {
            block_public_acls: self.block_public_acls || other.block_public_acls,
            ignore_public_acls: self.ignore_public_acls || other.ignore_public_acls,
            block_public_policy: self.block_public_policy || other.block_public_policy,
            restrict_public_buckets: self.restrict_public_buckets || other.restrict_public_buckets,
        }
    }

    /// The stored form: four bytes, `1` or `0`, in the order of the fields.
    pub fn encode(self) -> Vec<u8> {
        [self.block_public_acls, self.ignore_public_acls, self.block_public_policy, self.restrict_public_buckets]
            .map(|on| if on { b'1' } else { b'0' })
            .to_vec()
    }

    /// The stored form read back; a document this build cannot read blocks everything.
    pub fn decode(stored: &[u8]) -> PublicAccessBlock {
        match stored {
            [a, b, c, d] if stored.iter().all(|x| matches!(x, b'0' | b'1')) => PublicAccessBlock {
                block_public_acls: *a == b'1',
                ignore_public_acls: *b == b'1',
                block_public_policy: *c == b'1',
                restrict_public_buckets: *d == b'1',
            },
            _ => PublicAccessBlock::ALL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "aaaa";
    const OTHER: &str = "bbbb";

    fn caller(id: Option<&str>) -> Caller<'_> {
        Caller { canonical_id: id }
    }

    #[test]
    fn canned_acls_grant_as_aws_lists_them() {
        let read = |name: &str, who: Option<&str>| {
            Acl::canned(name, OWNER, OTHER).unwrap().allows(caller(who), Permission::Read, false)
        };
        assert!(read("private", Some(OWNER)) && !read("private", Some(OTHER)) && !read("private", None));
        assert!(read("public-read", None) && read("public-read", Some(OTHER)));
        assert!(read("authenticated-read", Some(OTHER)) && !read("authenticated-read", None));
        assert!(read("bucket-owner-read", Some(OTHER)) && !read("bucket-owner-read", Some("cccc")));
        let full = Acl::canned("bucket-owner-full-control", OWNER, OTHER).unwrap();
        assert!(full.allows(caller(Some(OTHER)), Permission::WriteAcp, false));
        let write = Acl::canned("public-read-write", OWNER, OTHER).unwrap();
        assert!(write.allows(caller(None), Permission::Write, false) && write.is_public());
        assert!(!write.allows(caller(None), Permission::Write, true), "IgnorePublicAcls");
        let logs = Acl::canned("log-delivery-write", OWNER, OWNER).unwrap();
        assert_eq!(logs.grants.len(), 3);
        assert!(!logs.is_public());
        assert_eq!(Acl::canned("bucket-owner-full-control", OWNER, OWNER).unwrap(), Acl::private(OWNER));
        assert!(matches!(Acl::canned("everyone", OWNER, OWNER), Err(AclError::InvalidArgument(_))));
    }

    #[test]
    fn grant_headers_parse_ids_groups_and_emails() {
        let known = |id: &str| id == OTHER;
        let email = |address: &str| (address == "b@example.com").then(|| OTHER.to_owned());
        let acl = Acl::from_headers(
            [
                (Permission::Read, format!("id=\"{OTHER}\", uri=\"{ALL_USERS}\"").as_str()),
                (Permission::WriteAcp, "emailAddress=\"b@example.com\""),
            ],
            &known,
            &email,
        )
        .unwrap();
        assert_eq!(acl.grants.len(), 3);
        assert_eq!(acl.grants[2], Grant { grantee: Grantee::Account(OTHER.into()), permission: Permission::WriteAcp });
        let err = |value: &str| Acl::from_headers([(Permission::Read, value)], &known, &email).unwrap_err();
        assert_eq!(err("id=\"cccc\""), AclError::InvalidArgument("Invalid id".into()));
        assert_eq!(err("emailAddress=\"x@example.com\""), AclError::UnknownEmail);
        assert!(matches!(err("uri=\"http://example.com/group\""), AclError::InvalidArgument(_)));
        assert!(matches!(err("nonsense"), AclError::InvalidArgument(_)));
        let many = vec![format!("id=\"{OTHER}\""); GRANTS_MAX].join(",");
        assert_eq!(Acl::from_headers([(Permission::Read, many.as_str())], &known, &email).unwrap().grants.len(), 100);
        let too_many = format!("{many},uri=\"{ALL_USERS}\"");
        assert!(matches!(
            Acl::from_headers([(Permission::Read, too_many.as_str())], &known, &email),
            Err(AclError::Malformed(_))
        ));
        let body = Acl { grants: vec![Acl::private(OWNER).grants[0].clone(); GRANTS_MAX + 1] };
        assert!(body.checked().is_err());
    }

    #[test]
    fn stored_acls_round_trip_and_the_private_default_costs_nothing() {
        assert!(Acl::private(OWNER).encode(OWNER).is_empty());
        assert_eq!(Acl::decode(b"", OWNER), Acl::private(OWNER));
        for name in ["public-read-write", "authenticated-read", "log-delivery-write", "bucket-owner-full-control"] {
            let acl = Acl::canned(name, OWNER, OTHER).unwrap();
            assert_eq!(Acl::decode(&acl.encode(OWNER), OWNER), acl, "{name}");
        }
        assert_eq!(Acl::decode(&Acl::default().encode(OWNER), OWNER), Acl::default(), "no grants at all");
        assert_eq!(Acl::decode(b"acl1\nEVERYTHING id x", OWNER), Acl::private(OWNER));
    }

    #[test]
    fn actions_map_to_acl_permissions() {
        assert_eq!(acl_permission("s3:ListBucket"), Some((Level::Bucket, Permission::Read)));
        assert_eq!(acl_permission("s3:PutObject"), Some((Level::Bucket, Permission::Write)));
        assert_eq!(acl_permission("s3:GetObjectVersion"), Some((Level::Object, Permission::Read)));
        assert_eq!(acl_permission("s3:PutObjectAcl"), Some((Level::Object, Permission::WriteAcp)));
        assert_eq!(acl_permission("s3:PutBucketPolicy"), None);
    }

    #[test]
    fn ownership_and_public_access_block_are_stored_compactly() {
        assert_eq!(Ownership::stored(None), Ownership::ObjectWriter);
        assert_eq!(Ownership::stored(Some(b"BucketOwnerEnforced")), Ownership::BucketOwnerEnforced);
        assert!(!Ownership::BucketOwnerEnforced.acls_enabled());
        let block = PublicAccessBlock { block_public_policy: true, ..Default::default() };
        assert_eq!(block.encode(), b"0010");
        assert_eq!(PublicAccessBlock::decode(&block.encode()), block);
        assert_eq!(PublicAccessBlock::decode(b"junk"), PublicAccessBlock::ALL);
        let other = PublicAccessBlock { ignore_public_acls: true, ..Default::default() };
        assert_eq!(block.union(other).encode(), b"0110");
    }
}
