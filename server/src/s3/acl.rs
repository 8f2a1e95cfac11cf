//! Access control lists, Object Ownership and Block Public Access: Get/PutBucketAcl,
//! Get/PutObjectAcl, Put/Get/DeleteBucketOwnershipControls, Put/Get/DeletePublicAccessBlock, and
//! the ACL and owner each write (PutObject, CopyObject, CreateMultipartUpload, CreateBucket)
//! gives what it creates. The rules themselves are in `crate::acl`; who may act on an ACL is
//! decided with every other request in `authorization.rs`.

use super::*;
use crate::account::Account;
use crate::acl::{
    self as rules, Acl, AclError, BUCKET_ACL, OWNERSHIP, Ownership, PUBLIC_ACCESS_BLOCK, PublicAccessBlock,
};

/// The grant headers, by the permission each gives.
const GRANT_HEADERS: [(&str, rules::Permission); 5] = [
    ("x-amz-grant-read", rules::Permission::Read),
    ("x-amz-grant-write", rules::Permission::Write),
    ("x-amz-grant-read-acp", rules::Permission::ReadAcp),
    ("x-amz-grant-write-acp", rules::Permission::WriteAcp),
    ("x-amz-grant-full-control", rules::Permission::FullControl),
];

/// `x-amz-acl` and the grant headers, as header names built once (a lookup by `&str` parses the
/// name on every call, and every PUT asks).
const ACL_HEADERS: [http::HeaderName; 6] = [
    http::HeaderName::from_static("x-amz-acl"),
    http::HeaderName::from_static("x-amz-grant-read"),
    http::HeaderName::from_static("x-amz-grant-write"),
    http::HeaderName::from_static("x-amz-grant-read-acp"),
    http::HeaderName::from_static("x-amz-grant-write-acp"),
    http::HeaderName::from_static("x-amz-grant-full-control"),
];

/// Where an object's owner and ACL come from when it is written.
pub(super) struct WrittenAcl {
    /// The stored owner: empty for the bucket's owner, else the writer's canonical id.
    pub owner: String,
    pub acl: Vec<u8>,
}

impl Cairn {
    /// The ACL a request's `x-amz-acl` or `x-amz-grant-*` headers ask for, for a resource owned by
    /// `owner` in a bucket owned by `bucket_owner` (canonical ids); `None` if it names none.
    fn requested_acl(&self, headers: &http::HeaderMap, owner: &str, bucket_owner: &str) -> S3Result<Option<Acl>> {
        fn text(value: &http::HeaderValue) -> S3Result<&str> {
            value.to_str().map_err(|_| s3_error!(InvalidArgument, "Invalid ACL header"))
        }
        let canned = headers.get("x-amz-acl").map(text).transpose()?;
        let mut grants = Vec::new();
        for (name, permission) in GRANT_HEADERS {
            for value in headers.get_all(name) {
                grants.push((permission, text(value)?));
            }
        }
        let acl = match (canned, grants.is_empty()) {
            (Some(_), false) => {
                return Err(s3_error!(InvalidRequest, "Specifying both Canned ACLs and Header Grants is not allowed"));
            }
            (Some(name), true) => Acl::canned(name, owner, bucket_owner),
            (None, false) => {
                Acl::from_headers(grants, &|id| self.accounts.knows(id), &|email| self.accounts.by_email(email))
            }
            (None, true) => return Ok(None),
        };
        acl.map(Some).map_err(acl_error)
    }

    /// The ACL a PutBucketAcl or PutObjectAcl sets: its body's AccessControlPolicy or its headers,
    /// never both, never neither.
    fn replacement_acl(
        &self,
        headers: &http::HeaderMap,
        body: Option<AccessControlPolicy>,
        owner: &str,
        bucket_owner: &str,
    ) -> S3Result<Acl> {
        let from_headers = self.requested_acl(headers, owner, bucket_owner)?;
        match (body, from_headers) {
            (Some(_), Some(_)) => {
                Err(s3_error!(UnexpectedContent, "This request does not support content with ACL headers"))
            }
            (None, Some(acl)) => Ok(acl),
            (None, None) => {
                Err(s3_error!(MissingSecurityHeader, "Your request was missing a required header: x-amz-acl"))
            }
            (Some(policy), None) => self.policy_acl(policy, owner),
        }
    }

    /// An AccessControlPolicy body as an ACL: its Owner must be the resource's owner, each grant
    /// must name one known grantee and a permission.
    fn policy_acl(&self, policy: AccessControlPolicy, owner: &str) -> S3Result<Acl> {
        let malformed = || {
            s3_error!(
                MalformedACLError,
                "The XML you provided was not well-formed or did not validate against our published schema"
            )
        };
        let named = policy.owner.and_then(|o| o.id).ok_or_else(malformed)?;
        if named != owner {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let mut acl = Acl::default();
        for grant in policy.grants.unwrap_or_default() {
            let (Some(grantee), Some(permission)) = (grant.grantee, grant.permission) else {
                return Err(malformed());
            };
            let permission = rules::Permission::parse(permission.as_str()).ok_or_else(malformed)?;
            let grantee = self.grantee_of(grantee)?;
            acl.grants.push(rules::Grant { grantee, permission });
        }
        acl.checked().map_err(acl_error)
    }

    /// A grant's grantee: a known canonical id, a group's URI, or an account's email address.
    pub(super) fn grantee_of(&self, grantee: Grantee) -> S3Result<rules::Grantee> {
        let malformed = || {
            s3_error!(
                MalformedACLError,
                "The XML you provided was not well-formed or did not validate against our published schema"
            )
        };
        Ok(match (grantee.type_.as_str(), grantee.id, grantee.uri, grantee.email_address) {
            (Type::CANONICAL_USER, Some(id), None, None) if self.accounts.knows(&id) => rules::Grantee::Account(id),
            (Type::CANONICAL_USER, Some(_), None, None) => return Err(s3_error!(InvalidArgument, "Invalid id")),
            (Type::GROUP, None, Some(uri), None) => {
                rules::Grantee::group(&uri).ok_or_else(|| s3_error!(InvalidArgument, "Invalid group uri"))?
            }
            (Type::AMAZON_CUSTOMER_BY_EMAIL, None, None, Some(email)) => rules::Grantee::Account(
                self.accounts.by_email(&email).ok_or_else(|| acl_error(AclError::UnknownEmail))?,
            ),
            _ => return Err(malformed()),
        })
    }

    /// The owner and ACL an object written by `writer` into `bucket` gets under the bucket's
    /// Object Ownership, from the request's ACL headers (none: private). Refuses what AWS refuses:
    /// any ACL but the bucket owner's full control under BucketOwnerEnforced, a public one under
    /// BlockPublicAcls.
    pub(super) fn written_acl(
        &self,
        headers: &http::HeaderMap,
        credentials: Option<&s3s::auth::Credentials>,
        bucket: &str,
    ) -> S3Result<WrittenAcl> {
        let none = WrittenAcl { owner: String::new(), acl: Vec::new() };
        let info = self.engine.bucket_access(bucket, [OWNERSHIP]).map_err(to_s3)?;
        let [ownership] = &info.configs;
        let ownership = Ownership::stored(ownership.as_deref());
        let asks = ACL_HEADERS.iter().any(|name| headers.contains_key(name));
        // Every PUT: a bucket that enforces its ownership and a request that names no ACL.
        if !asks && !ownership.acls_enabled() {
            return Ok(none);
        }
        let bucket_owner = self.accounts.canonical(&info.owner);
        if !ownership.acls_enabled() {
            return match self.requested_acl(headers, &bucket_owner, &bucket_owner)? {
                Some(acl) if acl != Acl::private(&bucket_owner) => Err(acl_not_supported()),
                _ => Ok(none),
            };
        }
        // Anonymous writes (a policy or ACL may allow them) belong to the bucket's owner.
        let writer = self.accounts.principal(credentials)?.map_or(bucket_owner.clone(), |a| a.canonical_id.clone());
        let preferred = ownership == Ownership::BucketOwnerPreferred
            && headers.get(&ACL_HEADERS[0]).is_some_and(|v| v.as_bytes() == b"bucket-owner-full-control");
        let owner = if preferred { bucket_owner.clone() } else { writer };
        let stored_owner = if owner == bucket_owner { String::new() } else { owner.clone() };
        let Some(acl) = self.requested_acl(headers, &owner, &bucket_owner)? else {
            return Ok(WrittenAcl { acl: Vec::new(), owner: stored_owner });
        };
        if acl.is_public() {
            let block = self.engine.get_bucket_config(bucket, PUBLIC_ACCESS_BLOCK).map_err(to_s3)?;
            if self.authorizer.public_access_block(&info.owner, block.as_deref()).block_public_acls {
                return Err(s3_error!(AccessDenied, "Access Denied"));
            }
        }
        Ok(WrittenAcl { acl: acl.encode(&owner), owner: stored_owner })
    }

    /// The configurations a bucket is created with: its Object Ownership (the request's
    /// `x-amz-object-ownership`, else AWS's default BucketOwnerEnforced), Block Public Access all
    /// on (AWS's default), and the ACL the request asks for.
    pub(super) fn created_bucket_configs(
        &self,
        headers: &http::HeaderMap,
        account: &Account,
    ) -> S3Result<Vec<(String, Vec<u8>)>> {
        let ownership = match headers.get("x-amz-object-ownership") {
            None => Ownership::BucketOwnerEnforced,
            Some(value) => Ownership::parse(value.to_str().unwrap_or(""))
                .ok_or_else(|| s3_error!(InvalidArgument, "Invalid x-amz-object-ownership header"))?,
        };
        let owner = &account.canonical_id;
        let mut configs = vec![
            (OWNERSHIP.to_owned(), ownership.name().as_bytes().to_vec()),
            (PUBLIC_ACCESS_BLOCK.to_owned(), PublicAccessBlock::ALL.encode()),
        ];
        if let Some(acl) = self.requested_acl(headers, owner, owner)? {
            if !ownership.acls_enabled() && acl != Acl::private(owner) {
                return Err(s3_error!(
                    InvalidBucketAclWithObjectOwnership,
                    "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
                ));
            }
            if acl.is_public() {
                let mut error = s3s::S3Error::with_message(
                    s3s::S3ErrorCode::Custom("InvalidBucketAclWithBlockPublicAccessError".into()),
                    "Bucket cannot have public ACLs set with BlockPublicAccess enabled",
                );
                error.set_status_code(http::StatusCode::BAD_REQUEST);
                return Err(error);
            }
            let stored = acl.encode(owner);
            if !stored.is_empty() {
                configs.push((BUCKET_ACL.to_owned(), stored));
            }
        }
        Ok(configs)
    }

    pub(super) async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let info = self.engine.bucket_access(&req.input.bucket, [BUCKET_ACL, OWNERSHIP]).map_err(to_s3)?;
        let [acl, ownership] = &info.configs;
        let owner = self.accounts.canonical(&info.owner);
        let acl = if Ownership::stored(ownership.as_deref()).acls_enabled() {
            Acl::decode(acl.as_deref().unwrap_or_default(), &owner)
        } else {
            Acl::private(&owner)
        };
        Ok(S3Response::new(GetBucketAclOutput {
            grants: Some(self.grants_dto(&acl)),
            owner: Some(self.accounts.owner(&info.owner)),
        }))
    }

    pub(super) async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let S3Request { input, headers, .. } = req;
        let info = self.engine.bucket_access(&input.bucket, [OWNERSHIP, PUBLIC_ACCESS_BLOCK]).map_err(to_s3)?;
        let [ownership, block] = &info.configs;
        let owner = self.accounts.canonical(&info.owner);
        let acl = self.replacement_acl(&headers, input.access_control_policy, &owner, &owner)?;
        if !Ownership::stored(ownership.as_deref()).acls_enabled() && acl != Acl::private(&owner) {
            return Err(acl_not_supported());
        }
        if acl.is_public() && self.authorizer.public_access_block(&info.owner, block.as_deref()).block_public_acls {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let stored = acl.encode(&owner);
        let bucket = input.bucket;
        self.blocking(move |engine| {
            if stored.is_empty() {
                engine.delete_bucket_config(&bucket, BUCKET_ACL)
            } else {
                engine.put_bucket_config(&bucket, BUCKET_ACL, &stored)
            }
        })
        .await?;
        Ok(S3Response::new(PutBucketAclOutput {}))
    }

    pub(super) async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let input = req.input;
        let version = version_param(input.version_id.as_deref())?;
        let (_, object) = self.engine.head_object(&input.bucket, &input.key, version).map_err(to_s3)?;
        let info = self.engine.bucket_access(&input.bucket, [OWNERSHIP]).map_err(to_s3)?;
        let [ownership] = &info.configs;
        let (owner, acl) = if Ownership::stored(ownership.as_deref()).acls_enabled() {
            let owner = self.object_owner(&info.owner, &object.attributes.owner);
            let acl = Acl::decode(&object.attributes.acl, &owner);
            (owner, acl)
        } else {
            let owner = self.accounts.canonical(&info.owner);
            let acl = Acl::private(&owner);
            (owner, acl)
        };
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(self.grants_dto(&acl)),
            owner: Some(self.accounts.owner_by_canonical(&owner)),
            request_charged: None,
        }))
    }

    pub(super) async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let publishing = self.publishing(&req, &req.input.bucket)?;
        let S3Request { input, headers, .. } = req;
        let version = version_param(input.version_id.as_deref())?;
        let (found, object) = self.engine.head_object(&input.bucket, &input.key, version).map_err(to_s3)?;
        let info = self.engine.bucket_access(&input.bucket, [OWNERSHIP, PUBLIC_ACCESS_BLOCK]).map_err(to_s3)?;
        let [ownership, block] = &info.configs;
        let bucket_owner = self.accounts.canonical(&info.owner);
        let enabled = Ownership::stored(ownership.as_deref()).acls_enabled();
        let owner =
            if enabled { self.object_owner(&info.owner, &object.attributes.owner) } else { bucket_owner.clone() };
        let acl = self.replacement_acl(&headers, input.access_control_policy, &owner, &bucket_owner)?;
        if !enabled {
            return if acl == Acl::private(&owner) {
                Ok(S3Response::new(PutObjectAclOutput::default()))
            } else {
                Err(acl_not_supported())
            };
        }
        if acl.is_public() && self.authorizer.public_access_block(&info.owner, block.as_deref()).block_public_acls {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let stored = acl.encode(&owner);
        let (bucket, key, id) = (input.bucket.clone(), input.key.clone(), found.id);
        self.blocking(move |engine| engine.set_object_acl(&bucket, &key, Some(id), stored)).await?;
        let events = || vec![(EventName::AclPut, notification::about(&input.key, Some(id)))];
        self.publish(publishing, &input.bucket, events).await;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }

    pub(super) async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let input = req.input;
        let [rule] = input.ownership_controls.rules.as_slice() else {
            return Err(s3_error!(MalformedXML, "OwnershipControls holds exactly one rule"));
        };
        let ownership = Ownership::parse(rule.object_ownership.as_str())
            .ok_or_else(|| s3_error!(MalformedXML, "Unknown ObjectOwnership: {}", rule.object_ownership.as_str()))?;
        let info = self.engine.bucket_access(&input.bucket, [BUCKET_ACL]).map_err(to_s3)?;
        let [acl] = &info.configs;
        let owner = self.accounts.canonical(&info.owner);
        if !ownership.acls_enabled() && Acl::decode(acl.as_deref().unwrap_or_default(), &owner) != Acl::private(&owner)
        {
            return Err(s3_error!(
                InvalidBucketAclWithObjectOwnership,
                "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
            ));
        }
        let bucket = input.bucket;
        self.blocking(move |engine| engine.put_bucket_config(&bucket, OWNERSHIP, ownership.name().as_bytes())).await?;
        Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
    }

    pub(super) async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        let stored = self.engine.get_bucket_config(&req.input.bucket, OWNERSHIP).map_err(to_s3)?;
        let ownership = stored
            .ok_or_else(|| s3_error!(OwnershipControlsNotFoundError, "The bucket ownership controls were not found"))?;
        let ownership = Ownership::stored(Some(&ownership));
        Ok(S3Response::new(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: ObjectOwnership::from(ownership.name().to_owned()),
                }],
            }),
        }))
    }

    pub(super) async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        let bucket = req.input.bucket;
        self.blocking(move |engine| engine.delete_bucket_config(&bucket, OWNERSHIP)).await?;
        Ok(S3Response::new(DeleteBucketOwnershipControlsOutput {}))
    }

    pub(super) async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        let input = req.input;
        let block = from_dto(&input.public_access_block_configuration);
        let bucket = input.bucket;
        self.blocking(move |engine| engine.put_bucket_config(&bucket, PUBLIC_ACCESS_BLOCK, &block.encode())).await?;
        Ok(S3Response::new(PutPublicAccessBlockOutput {}))
    }

    pub(super) async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        let stored = self.engine.get_bucket_config(&req.input.bucket, PUBLIC_ACCESS_BLOCK).map_err(to_s3)?;
        let block = stored.ok_or_else(no_public_access_block)?;
        Ok(S3Response::new(GetPublicAccessBlockOutput {
            public_access_block_configuration: Some(to_dto(PublicAccessBlock::decode(&block))),
        }))
    }

    pub(super) async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        let bucket = req.input.bucket;
        self.blocking(move |engine| engine.delete_bucket_config(&bucket, PUBLIC_ACCESS_BLOCK)).await?;
        Ok(S3Response::new(DeletePublicAccessBlockOutput {}))
    }

    /// An object's owner as a canonical id, from the bucket's stored owner and the object's.
    fn object_owner(&self, bucket_owner: &str, stored: &str) -> String {
        if stored.is_empty() { self.accounts.canonical(bucket_owner) } else { stored.to_owned() }
    }

    /// An ACL's grants as S3 lists them.
    pub(super) fn grants_dto(&self, acl: &Acl) -> Vec<Grant> {
        acl.grants
            .iter()
            .map(|grant| {
                let grantee = match &grant.grantee {
                    rules::Grantee::Account(id) => {
                        let owner = self.accounts.owner_by_canonical(id);
                        Grantee {
                            display_name: owner.display_name,
                            email_address: None,
                            id: Some(id.clone()),
                            type_: Type::from_static(Type::CANONICAL_USER),
                            uri: None,
                        }
                    }
                    group => Grantee {
                        display_name: None,
                        email_address: None,
                        id: None,
                        type_: Type::from_static(Type::GROUP),
                        uri: group.uri().map(str::to_owned),
                    },
                };
                Grant { grantee: Some(grantee), permission: Some(Permission::from(grant.permission.name().to_owned())) }
            })
            .collect()
    }
}

/// The four settings of a PublicAccessBlockConfiguration (an absent one is off, as AWS reads it).
pub(crate) fn from_dto(config: &PublicAccessBlockConfiguration) -> PublicAccessBlock {
    PublicAccessBlock {
        block_public_acls: config.block_public_acls.unwrap_or(false),
        ignore_public_acls: config.ignore_public_acls.unwrap_or(false),
        block_public_policy: config.block_public_policy.unwrap_or(false),
        restrict_public_buckets: config.restrict_public_buckets.unwrap_or(false),
    }
}

pub(crate) fn to_dto(block: PublicAccessBlock) -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration {
        block_public_acls: Some(block.block_public_acls),
        ignore_public_acls: Some(block.ignore_public_acls),
        block_public_policy: Some(block.block_public_policy),
        restrict_public_buckets: Some(block.restrict_public_buckets),
    }
}

pub(crate) fn no_public_access_block() -> s3s::S3Error {
    let mut error = s3s::S3Error::with_message(
        s3s::S3ErrorCode::Custom("NoSuchPublicAccessBlockConfiguration".into()),
        "The public access block configuration was not found",
    );
    error.set_status_code(http::StatusCode::NOT_FOUND);
    error
}

fn acl_not_supported() -> s3s::S3Error {
    s3_error!(AccessControlListNotSupported, "The bucket does not allow ACLs")
}

fn acl_error(error: AclError) -> s3s::S3Error {
    match error {
        AclError::InvalidArgument(message) => s3_error!(InvalidArgument, "{message}"),
        AclError::UnknownEmail => s3_error!(
            UnresolvableGrantByEmailAddress,
            "The e-mail address you provided does not match any account on record."
        ),
        AclError::Malformed(message) => s3_error!(MalformedACLError, "{message}"),
    }
}
