//! The authorization step. Every request, whether Cairn implements its operation or not, passes
//! through `Access::check` (s3s calls it once the signature is verified and before any handler
//! runs). It builds the request's [`Authorization`] once: who asks (the principal, `None` for an
//! anonymous request), for what (the IAM action, as AWS's "Required permissions for Amazon S3 API
//! operations" names it) and on what (the resource: bucket or object ARN), with the request's
//! condition keys ([`Facts`]), and [`Authorizer::decide`] decides on it once. A second resource in
//! one request (a copy's source) and a request whose body carries condition keys
//! (PutObjectTagging's tags) get their own decision through the same function.
//!
//! The decision is AWS's for a bucket with a bucket policy and Cairn's accounts holding full
//! rights inside their own account (as if each account's identity policy allowed `s3:*`):
//!
//! 1. A missing bucket is NoSuchBucket to everyone; an `x-amz-expected-bucket-owner` naming
//!    someone else is AccessDenied.
//! 2. The bucket owner's account may always read, set and delete the bucket policy (AWS keeps
//!    that right for the owner's root even against a policy that denies it).
//! 3. An explicit Deny in the bucket policy refuses, the owner included.
//! 4. The owner's account is allowed; anyone else (another account, or anonymous) needs an Allow
//!    from the bucket policy or a grant in an ACL (the bucket's, or for object reads and ACL
//!    operations the object's), unless the bucket's Object Ownership is BucketOwnerEnforced,
//!    which turns ACLs off. An object another account owns (ObjectWriter) is its owner's: the
//!    bucket policy grants nothing on it, and the bucket owner needs the object's ACL too.
//! 5. Block Public Access, the bucket's and its owner account's: RestrictPublicBuckets makes a
//!    public policy grant nothing to other accounts or anonymous; IgnorePublicAcls makes grants
//!    to AllUsers / AuthenticatedUsers count for nothing.
//!    Another account allowed to manage the bucket's policy gets 405, as AWS answers it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use cairn_engine::Engine;
use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Result, s3_error};

use crate::account::{Account, Accounts};
use crate::acl::{self, Acl, Caller, Level, Ownership, PublicAccessBlock};
use crate::policy::{self, Decision, Policy};

/// The bucket configuration a bucket policy is stored under.
pub const BUCKET_POLICY: &str = "policy";

/// The bucket configurations every decision reads, in one engine lookup (the ACL and Block
/// Public Access are read only when they would decide).
const ACCESS_CONFIGS: [&str; 2] = [BUCKET_POLICY, acl::OWNERSHIP];

/// The most policy document bytes whose parses are kept in memory (a parse is a small multiple
/// of its document); past it the cache starts over, so a store with more policies than this
/// costs parses (177 µs for 20 statements), never unbounded memory. 64 MiB holds the policies of
/// 3,200 buckets at the 20 KB maximum, and of every bucket (`BUCKETS_MAX`) at 6 KB each.
pub const POLICY_CACHE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The actions the bucket owner's account keeps against any Deny.
const POLICY_MANAGEMENT: [&str; 3] = ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"];

/// What one request asks of one resource, built once by the authorization step.
#[derive(Clone, Copy, Debug)]
pub struct Authorization<'a> {
    /// The requesting account; `None` for an anonymous (unsigned) request.
    pub principal: Option<&'a Account>,
    /// The IAM action, such as `s3:GetObject`; `None` for an operation Cairn does not implement
    /// and cannot name (only the bucket's owner passes; s3s then answers NotImplemented).
    pub action: Option<&'static str>,
    pub resource: Resource<'a>,
}

tokio::task_local! {
    /// The peer's address (`aws:SourceIp`), set by the connection around each request it
    /// serves: a task-local rather than a request extension, which would cost every request an
    /// allocation that only requests under a policy read.
    pub static PEER: IpAddr;
}

/// A stored policy document and what it parsed to (`None`: it no longer parses).
type Parsed = (Arc<[u8]>, Option<Arc<Policy>>);

/// Decides requests: the engine (buckets, owners, stored policies), the accounts, and the parsed
/// policies, cached by the stored document they came from.
#[derive(Debug)]
pub struct Authorizer {
    engine: Engine,
    accounts: Arc<Accounts>,
    region: String,
    /// Bucket name to the stored policy document and what it parsed to (`None`: it no longer
    /// parses, so it grants nothing).
    policies: RwLock<PolicyCache>,
    /// `POLICY_CACHE_BYTES_MAX` but in tests.
    cache_bytes_max: usize,
}

#[derive(Debug, Default)]
struct PolicyCache {
    parsed: HashMap<String, Parsed>,
    /// The documents' bytes, summed.
    bytes: usize,
}

impl Authorizer {
    pub fn new(engine: Engine, accounts: Arc<Accounts>, region: String) -> Authorizer {
        Authorizer::with_cache_budget(engine, accounts, region, POLICY_CACHE_BYTES_MAX)
    }

    fn with_cache_budget(engine: Engine, accounts: Arc<Accounts>, region: String, bytes: usize) -> Authorizer {
        Authorizer { engine, accounts, region, policies: RwLock::new(PolicyCache::default()), cache_bytes_max: bytes }
    }

    /// The one decision on a request's [`Authorization`] (see the module's list), with the bucket's
    /// owner as the request states it (`x-amz-expected-bucket-owner`, or
    /// `x-amz-source-expected-bucket-owner` for a copy source).
    pub fn decide(&self, request: &Authorization<'_>, facts: &Facts<'_>, expected_owner: Option<&str>) -> S3Result<()> {
        let Some(bucket) = request.resource.bucket() else {
            // Account-level operations (ListBuckets) act on the requester's own buckets.
            return if request.principal.is_some() { Ok(()) } else { Err(access_denied()) };
        };
        let info = self.bucket(bucket, expected_owner)?;
        let [stored_policy, ownership] = &info.configs;
        let owner = request.principal.is_some_and(|principal| self.accounts.owns(principal, &info.owner));
        let Some(action) = request.action else {
            return if owner { Ok(()) } else { Err(access_denied()) };
        };
        if owner && POLICY_MANAGEMENT.contains(&action) {
            return Ok(());
        }
        // What an ACL would have to grant (ACLs count unless the bucket enforces its ownership),
        // and for an object's ACL, the object: its owner, not the bucket's, owns what it grants.
        let ownership = Ownership::stored(ownership.as_deref());
        let needed = if ownership.acls_enabled() { acl::acl_permission(action) } else { None };
        let object = match (needed, request.resource) {
            (Some((Level::Object, _)), Resource::Object { bucket, key }) => {
                let version = query_version(facts.query);
                self.engine.head_object(bucket, key, version).ok().map(|(_, info)| info)
            }
            _ => None,
        };
        let caller = request.principal.map(|p| p.canonical_id.as_str());
        let foreign = object
            .as_ref()
            .filter(|o| !o.attributes.owner.is_empty() && o.attributes.owner != self.accounts.canonical(&info.owner));
        let resource_owner = match foreign {
            Some(object) => caller == Some(object.attributes.owner.as_str()),
            None => owner,
        };
        let policy = stored_policy.clone().and_then(|stored| self.parsed(bucket, stored));
        let decision = match &policy {
            None => Decision::Implicit,
            Some(policy) => {
                let resource = request.resource.to_string();
                let facts = Facts { bucket_owner: Some(&info.owner), ..*facts };
                policy.evaluate(&policy::Request {
                    principal: request.principal.map(Account::principal),
                    service: None,
                    action,
                    resource: &resource,
                    context: &facts,
                })
            }
        };
        // Read only when a public policy or an ACL would decide (a second lookup, off the common path).
        let blocks = || {
            let block = self.engine.get_bucket_config(bucket, acl::PUBLIC_ACCESS_BLOCK).ok().flatten();
            self.public_access_block(&info.owner, block.as_deref())
        };
        // The bucket policy grants nothing on objects another account owns, and under
        // RestrictPublicBuckets a public policy grants only the bucket owner's account.
        let policy_allows = decision == Decision::Allow
            && foreign.is_none()
            && !(policy.as_ref().is_some_and(|p| p.is_public()) && blocks().restrict_public_buckets);
        let acl_allows = || match needed {
            None => false,
            Some((level, permission)) => {
                let acl = match (level, &object) {
                    (Level::Bucket, _) => {
                        let stored = self.engine.get_bucket_config(bucket, acl::BUCKET_ACL).ok().flatten();
                        Acl::decode(stored.as_deref().unwrap_or_default(), &self.accounts.canonical(&info.owner))
                    }
                    (Level::Object, Some(object)) => {
                        let object_owner = match foreign {
                            Some(o) => o.attributes.owner.clone(),
                            None => self.accounts.canonical(&info.owner),
                        };
                        Acl::decode(&object.attributes.acl, &object_owner)
                    }
                    (Level::Object, None) => return false,
                };
                acl.allows(Caller { canonical_id: caller }, permission, blocks().ignore_public_acls)
            }
        };
        match decision {
            Decision::Deny => Err(access_denied()),
            _ if resource_owner => Ok(()),
            Decision::Allow if policy_allows && POLICY_MANAGEMENT.contains(&action) => {
                let mut error =
                    s3_error!(MethodNotAllowed, "The specified method is not allowed against this resource.");
                error.set_status_code(http::StatusCode::METHOD_NOT_ALLOWED);
                Err(error)
            }
            _ if policy_allows => Ok(()),
            _ if acl_allows() => {
                crate::logging::capture::say_acl_required();
                Ok(())
            }
            _ => Err(access_denied()),
        }
    }

    /// The Block Public Access in force for a bucket: its own settings (`stored`) and its owner
    /// account's (the configuration file's and the S3 Control API's), each on where any is.
    pub fn public_access_block(&self, bucket_owner: &str, stored: Option<&[u8]>) -> PublicAccessBlock {
        let bucket = stored.map(PublicAccessBlock::decode).unwrap_or_default();
        match self.accounts.owner_account(bucket_owner) {
            None => bucket,
            Some(account) => bucket.union(self.account_public_access_block(account)),
        }
    }

    /// An account's Block Public Access: the configuration file's, and the stored one.
    pub fn account_public_access_block(&self, account: &Account) -> PublicAccessBlock {
        let stored = self.engine.get_account_config(&account.account_id, acl::PUBLIC_ACCESS_BLOCK);
        account.public_access_block.union(stored.map(|s| PublicAccessBlock::decode(&s)).unwrap_or_default())
    }

    /// Step 1 alone: the bucket exists and is owned by whom the request expects.
    /// Returns the bucket's owner and stored policy.
    pub fn bucket(&self, bucket: &str, expected_owner: Option<&str>) -> S3Result<cairn_engine::BucketAccess<2>> {
        let Ok(info) = self.engine.bucket_access(bucket, ACCESS_CONFIGS) else {
            // A missing bucket is NoSuchBucket to everyone, for every operation.
            return Err(s3_error!(NoSuchBucket, "The specified bucket does not exist"));
        };
        if expected_owner.is_some_and(|expected| !self.accounts.is_owner(&info.owner, expected)) {
            return Err(access_denied());
        }
        Ok(info)
    }

    /// The bucket's policy, parsed once per stored document.
    pub fn policy(&self, bucket: &str) -> Option<Arc<Policy>> {
        let stored = self.engine.get_bucket_config(bucket, BUCKET_POLICY).ok()??;
        self.parsed(bucket, stored)
    }

    /// A stored policy document, parsed (from the cache when it is the document parsed last).
    fn parsed(&self, bucket: &str, stored: Arc<[u8]>) -> Option<Arc<Policy>> {
        if let Some((document, parsed)) = self.policies.read().expect("policy cache lock").parsed.get(bucket)
            && Arc::ptr_eq(document, &stored)
        {
            return parsed.clone();
        }
        // Accepted when stored; principals since removed simply match no one.
        let parsed = match Policy::parse(&stored, bucket, &policy::Anyone) {
            Ok(policy) => Some(Arc::new(policy)),
            Err(error) => {
                tracing::warn!("bucket {bucket}: the stored policy no longer parses ({}); it grants nothing", error.0);
                None
            }
        };
        let mut cache = self.policies.write().expect("policy cache lock");
        if cache.bytes + stored.len() > self.cache_bytes_max {
            *cache = PolicyCache::default();
        }
        cache.bytes += stored.len();
        if let Some((replaced, _)) = cache.parsed.insert(bucket.to_owned(), (stored, parsed.clone())) {
            cache.bytes -= replaced.len();
        }
        parsed
    }
}

fn access_denied() -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

/// A request's condition keys: what `aws:` and `s3:` keys a policy's conditions read. Built
/// from the request's parts, and computed only when a condition asks.
#[derive(Clone, Copy)]
pub struct Facts<'a> {
    pub headers: &'a http::HeaderMap,
    pub query: Option<&'a str>,
    pub principal: Option<&'a Account>,
    pub resource: Resource<'a>,
    pub authorizer: &'a Authorizer,
    /// The tags the request sets when its body carries them (PutObjectTagging); else the
    /// `x-amz-tagging` header's.
    pub request_tags: Option<&'a [(String, String)]>,
    /// The bucket owner's stored id (set by the decision).
    pub bucket_owner: Option<&'a str>,
}

impl std::fmt::Debug for Facts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Facts").field("resource", &self.resource).finish_non_exhaustive()
    }
}

impl<'a> Facts<'a> {
    pub fn new(
        authorizer: &'a Authorizer,
        principal: Option<&'a Account>,
        resource: Resource<'a>,
        headers: &'a http::HeaderMap,
        uri: &'a http::Uri,
    ) -> Facts<'a> {
        Facts { headers, query: uri.query(), principal, resource, authorizer, request_tags: None, bucket_owner: None }
    }

    fn header(&self, name: &str) -> Option<Vec<Cow<'a, str>>> {
        let values: Vec<Cow<'a, str>> =
            self.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(Cow::Borrowed).collect();
        if values.is_empty() { None } else { Some(values) }
    }

    fn query_param(&self, name: &str) -> Option<Vec<Cow<'a, str>>> {
        let query = self.query?;
        let value = query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })?;
        Some(vec![percent_encoding::percent_decode_str(value).decode_utf8_lossy()])
    }

    fn tags(&self) -> Option<Vec<(String, String)>> {
        if let Some(tags) = self.request_tags {
            return Some(tags.to_vec());
        }
        let header = self.headers.get("x-amz-tagging")?.to_str().ok()?;
        crate::s3::parse_tagging(Some(header)).ok()
    }

    fn signed(&self) -> Option<Signature> {
        self.principal?;
        if self.headers.contains_key(http::header::AUTHORIZATION) {
            Some(Signature::Header)
        } else if self.query_param("X-Amz-Signature").is_some() {
            Some(Signature::Query)
        } else {
            None
        }
    }

    fn one(value: impl Into<Cow<'a, str>>) -> Option<Vec<Cow<'a, str>>> {
        Some(vec![value.into()])
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Signature {
    Header,
    Query,
}

impl policy::Context for Facts<'_> {
    fn values(&self, key: &str) -> Option<Vec<Cow<'_, str>>> {
        use crate::policy::condition_key_tag;
        if let Some(tag) = condition_key_tag(key, "s3:RequestObjectTag/") {
            let tags = self.tags()?;
            return tags.into_iter().find(|(k, _)| k == tag).map(|(_, v)| vec![Cow::Owned(v)]);
        }
        if let Some(tag) = condition_key_tag(key, "s3:ExistingObjectTag/") {
            let Resource::Object { bucket, key } = self.resource else { return None };
            let version = self.query_param("versionId").and_then(|v| cairn_engine::VersionId::parse(&v[0]));
            let (_, info) = self.authorizer.engine.head_object(bucket, key, version).ok()?;
            return info.attributes.tags.iter().find(|(k, _)| k == tag).map(|(_, v)| vec![Cow::Owned(v.clone())]);
        }
        let principal = self.principal;
        match key.to_ascii_lowercase().as_str() {
            "aws:sourceip" => Facts::one(PEER.try_with(|peer| *peer).ok()?.to_string()),
            // Cairn serves plain HTTP until TLS arrives.
            "aws:securetransport" => Facts::one("false"),
            "aws:currenttime" => {
                let now = time::OffsetDateTime::now_utc();
                Facts::one(now.format(&time::format_description::well_known::Rfc3339).ok()?)
            }
            "aws:epochtime" => Facts::one(time::OffsetDateTime::now_utc().unix_timestamp().to_string()),
            "aws:referer" => self.header("referer"),
            "aws:useragent" => self.header("user-agent"),
            "aws:principalaccount" => Facts::one(principal?.account_id.clone()),
            "aws:principalarn" => Facts::one(principal?.arn()),
            "aws:principaltype" => Facts::one(match principal {
                None => "Anonymous",
                Some(account) if account.is_root() => "Account",
                Some(_) => "User",
            }),
            "aws:username" => Facts::one(principal.filter(|a| !a.is_root())?.name.clone()),
            "aws:userid" => Facts::one(match principal? {
                account if account.is_root() => account.account_id.clone(),
                account => account.canonical_id.clone(),
            }),
            "aws:requestedregion" => Facts::one(self.authorizer.region.clone()),
            "s3:prefix" => self.query_param("prefix"),
            "s3:delimiter" => self.query_param("delimiter"),
            "s3:max-keys" => self.query_param("max-keys"),
            "s3:versionid" => self.query_param("versionId"),
            "s3:resourceaccount" => {
                let owner = self.bucket_owner?;
                Facts::one(self.authorizer.accounts.owner_account(owner)?.account_id.clone())
            }
            "s3:requestobjecttagkeys" => Some(self.tags()?.into_iter().map(|(k, _)| Cow::Owned(k)).collect()),
            "s3:signatureversion" => self.signed().and_then(|_| Facts::one("AWS4-HMAC-SHA256")),
            "s3:authtype" => Facts::one(match self.signed()? {
                Signature::Header => "REST-HEADER",
                Signature::Query => "REST-QUERY-STRING",
            }),
            "s3:signatureage" => {
                self.signed()?;
                let stamp = match self.header("x-amz-date") {
                    Some(values) => values[0].to_string(),
                    None => self.query_param("X-Amz-Date")?[0].to_string(),
                };
                let signed = crate::guard::amz_date(&stamp)?.assume_utc();
                let age = (time::OffsetDateTime::now_utc() - signed).whole_milliseconds().max(0);
                Facts::one(age.to_string())
            }
            "s3:object-lock-remaining-retention-days" => {
                let until = self.header("x-amz-object-lock-retain-until-date")?;
                let until = policy::parse_date(&until[0])?;
                let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
                Facts::one(((until - now).max(0) / 86_400_000_000_000).to_string())
            }
            "s3:object-lock-mode" => self.header("x-amz-object-lock-mode"),
            "s3:object-lock-retain-until-date" => self.header("x-amz-object-lock-retain-until-date"),
            "s3:object-lock-legal-hold" => self.header("x-amz-object-lock-legal-hold"),
            other => {
                // The header keys: `s3:x-amz-acl` is the `x-amz-acl` header, and so on.
                let header = other.strip_prefix("s3:").filter(|h| HEADER_KEYS.contains(h))?;
                self.header(header)
            }
        }
    }
}

/// The `s3:` condition keys that are a request header of the same name.
const HEADER_KEYS: [&str; 14] = [
    "x-amz-acl",
    "x-amz-content-sha256",
    "x-amz-copy-source",
    "x-amz-grant-full-control",
    "x-amz-grant-read",
    "x-amz-grant-read-acp",
    "x-amz-grant-write",
    "x-amz-grant-write-acp",
    "x-amz-metadata-directive",
    "x-amz-object-ownership",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-storage-class",
];

/// The step itself, as s3s calls it for every request after the signature and before the handler.
#[derive(Debug)]
pub struct Access(pub Arc<Authorizer>);

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let authorizer = &*self.0;
        let principal = authorizer.accounts.principal(cx.credentials())?.map(|account| &**account);
        if let Some(account) = principal {
            // The access log names an account's root by its canonical id, a user by its ARN.
            crate::logging::capture::say_requester(|| {
                if account.is_root() { account.canonical_id.clone() } else { account.arn() }
            });
        }
        let operation = cx.s3_op().name();
        let replica = cx.headers().contains_key(crate::replication::remote::REPLICA_HEADER);
        let action = match replica_action(operation) {
            Some(replicating) if replica => Some(replicating),
            _ => action(operation, cx.uri().query()),
        };
        let request = Authorization { principal, action, resource: Resource::of(cx.s3_path()) };
        if request.action.is_none() && crate::s3::OPERATIONS.contains(&operation) {
            // Cannot happen (a test holds every implemented operation to its action); refuse
            // rather than decide on a request whose action is unknown.
            return Err(s3_error!(InternalError, "no IAM action for {operation}"));
        }
        // CreateBucket decides between BucketAlreadyOwnedByYou and BucketAlreadyExists itself.
        if operation == "CreateBucket" {
            return Ok(());
        }
        let expected = cx.headers().get("x-amz-expected-bucket-owner").map(|v| v.to_str().unwrap_or("\u{0}"));
        if DECIDED_WITH_BODY.contains(&operation) {
            // Its handler decides, once the body's condition keys are read, before anything else.
            if let Some(bucket) = request.resource.bucket() {
                authorizer.bucket(bucket, expected)?;
            }
            return Ok(());
        }
        let facts = Facts {
            headers: cx.headers(),
            query: cx.uri().query(),
            principal,
            resource: request.resource,
            authorizer,
            request_tags: None,
            bucket_owner: None,
        };
        authorizer.decide(&request, &facts, expected)?;
        // An operation Cairn does not implement still answers NoSuchKey / NoSuchVersion first.
        if let Resource::Object { bucket, key } = request.resource
            && UNIMPLEMENTED_OBJECT_OPERATIONS.contains(&operation)
        {
            let version = cx.uri().query().unwrap_or("").split('&').find_map(|pair| pair.strip_prefix("versionId="));
            let version = match version {
                None => None,
                Some(text) => Some(
                    cairn_engine::VersionId::parse(text)
                        .ok_or_else(|| s3_error!(InvalidArgument, "Invalid version id specified"))?,
                ),
            };
            match authorizer.engine.head_object(bucket, key, version) {
                Err(cairn_engine::Error::NoSuchKey { .. }) => return Err(s3_error!(NoSuchKey)),
                Err(cairn_engine::Error::NoSuchVersion) => return Err(s3_error!(NoSuchVersion)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The action of a write that makes a replica (`x-cairn-replica`, sent by another server's
/// replication): `s3:ReplicateObject`, or `s3:ReplicateDelete` for a delete marker, as AWS asks
/// of a replication role.
fn replica_action(operation: &str) -> Option<&'static str> {
    match operation {
        "PutObject" | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => Some("s3:ReplicateObject"),
        "DeleteObject" => Some("s3:ReplicateDelete"),
        _ => None,
    }
}

/// Operations whose body decides what they ask: PutObjectTagging's tag set holds condition keys
/// (`s3:RequestObjectTag/...`), and DeleteObjects names its resources, one decision per key. The
/// step checks their bucket, and the handler decides with the body read, before it acts
/// (`s3::Cairn::authorize`).
pub const DECIDED_WITH_BODY: [&str; 2] = ["PutObjectTagging", "DeleteObjects"];

/// Object operations Cairn does not implement yet (s3s answers them NotImplemented), which must
/// still answer NoSuchKey for a missing key, as AWS does before anything else.
pub const UNIMPLEMENTED_OBJECT_OPERATIONS: [&str; 1] = ["SelectObjectContent"];

/// The resource a request acts on; its ARN is `arn:aws:s3:::bucket` or
/// `arn:aws:s3:::bucket/key`, formatted only when something reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource<'a> {
    /// ListBuckets and the other account-level operations (AWS's resource is `*`).
    Account,
    Bucket(&'a str),
    Object {
        bucket: &'a str,
        key: &'a str,
    },
}

impl<'a> Resource<'a> {
    pub fn of(path: &'a S3Path) -> Resource<'a> {
        match path {
            S3Path::Root => Resource::Account,
            S3Path::Bucket { bucket } => Resource::Bucket(bucket),
            S3Path::Object { bucket, key } => Resource::Object { bucket, key },
        }
    }

    pub fn bucket(&self) -> Option<&'a str> {
        match *self {
            Resource::Account => None,
            Resource::Bucket(bucket) | Resource::Object { bucket, .. } => Some(bucket),
        }
    }
}

impl fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Account => f.write_str("*"),
            Resource::Bucket(bucket) => write!(f, "arn:aws:s3:::{bucket}"),
            Resource::Object { bucket, key } => write!(f, "arn:aws:s3:::{bucket}/{key}"),
        }
    }
}

/// The IAM action an operation (by its S3 name) needs, where the request's query is `query`
/// (an operation on one version, `versionId=`, needs the version's action). `None` for an operation Cairn has no mapping for: every operation
/// in `s3::OPERATIONS` has one (tested), so only unimplemented operations, which s3s answers
/// NotImplemented after the owner check, lack one.
///
/// CopyObject and UploadPartCopy also need `s3:GetObject` (or `s3:GetObjectVersion`) on their
/// source, which the copy checks with its own `Authorization`. DeleteObjects names versions in its
/// body, one per key: each is `s3:DeleteObjectVersion` where it has one (AWS), decided per key.
pub fn action(operation: &str, query: Option<&str>) -> Option<&'static str> {
    let versioned =
        |plain: &'static str, with_version: &'static str| if names_version(query) { with_version } else { plain };
    Some(match operation {
        "ListBuckets" => "s3:ListAllMyBuckets",
        "CreateBucket" => "s3:CreateBucket",
        "DeleteBucket" => "s3:DeleteBucket",
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => "s3:ListBucket",
        "ListObjectVersions" => "s3:ListBucketVersions",
        "GetBucketLocation" => "s3:GetBucketLocation",
        "GetBucketVersioning" => "s3:GetBucketVersioning",
        "PutBucketVersioning" => "s3:PutBucketVersioning",
        "GetBucketTagging" => "s3:GetBucketTagging",
        "PutBucketTagging" | "DeleteBucketTagging" => "s3:PutBucketTagging",
        "GetBucketPolicy" => "s3:GetBucketPolicy",
        "PutBucketPolicy" => "s3:PutBucketPolicy",
        "DeleteBucketPolicy" => "s3:DeleteBucketPolicy",
        "GetBucketPolicyStatus" => "s3:GetBucketPolicyStatus",
        "GetBucketCors" => "s3:GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "s3:PutBucketCORS",
        "GetBucketWebsite" => "s3:GetBucketWebsite",
        "PutBucketWebsite" => "s3:PutBucketWebsite",
        "GetBucketLogging" => "s3:GetBucketLogging",
        "PutBucketLogging" => "s3:PutBucketLogging",
        "GetBucketNotificationConfiguration" => "s3:GetBucketNotification",
        "PutBucketNotificationConfiguration" => "s3:PutBucketNotification",
        "DeleteBucketWebsite" => "s3:DeleteBucketWebsite",
        "GetBucketLifecycleConfiguration" => "s3:GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "s3:PutLifecycleConfiguration",
        "GetBucketReplication" => "s3:GetReplicationConfiguration",
        "PutBucketReplication" | "DeleteBucketReplication" => "s3:PutReplicationConfiguration",
        "GetObjectLockConfiguration" => "s3:GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration" => "s3:PutBucketObjectLockConfiguration",
        "GetBucketAnalyticsConfiguration" => "s3:GetAnalyticsConfiguration",
        "PutBucketAnalyticsConfiguration" | "DeleteBucketAnalyticsConfiguration" => "s3:PutAnalyticsConfiguration",
        "GetBucketIntelligentTieringConfiguration" => "s3:GetIntelligentTieringConfiguration",
        "PutBucketIntelligentTieringConfiguration" | "DeleteBucketIntelligentTieringConfiguration" => {
            "s3:PutIntelligentTieringConfiguration"
        }
        "GetBucketInventoryConfiguration" => "s3:GetInventoryConfiguration",
        "PutBucketInventoryConfiguration" | "DeleteBucketInventoryConfiguration" => "s3:PutInventoryConfiguration",
        "GetBucketMetricsConfiguration" => "s3:GetMetricsConfiguration",
        "PutBucketMetricsConfiguration" | "DeleteBucketMetricsConfiguration" => "s3:PutMetricsConfiguration",
        "GetBucketAcl" => "s3:GetBucketAcl",
        "GetBucketEncryption" => "s3:GetEncryptionConfiguration",
        "PutBucketEncryption" | "DeleteBucketEncryption" => "s3:PutEncryptionConfiguration",
        "GetBucketOwnershipControls" => "s3:GetBucketOwnershipControls",
        "PutBucketOwnershipControls" | "DeleteBucketOwnershipControls" => "s3:PutBucketOwnershipControls",
        "GetPublicAccessBlock" => "s3:GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "s3:PutBucketPublicAccessBlock",
        "PutBucketAcl" => "s3:PutBucketAcl",
        "ListMultipartUploads" => "s3:ListBucketMultipartUploads",
        "PutObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => "s3:PutObject",
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "ListParts" => "s3:ListMultipartUploadParts",
        "GetObject" | "HeadObject" => versioned("s3:GetObject", "s3:GetObjectVersion"),
        "DeleteObject" => versioned("s3:DeleteObject", "s3:DeleteObjectVersion"),
        "DeleteObjects" => "s3:DeleteObject",
        "GetObjectAttributes" => versioned("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
        "GetObjectTagging" => versioned("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
        "PutObjectTagging" => versioned("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
        "DeleteObjectTagging" => versioned("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
        "GetObjectAcl" => versioned("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
        "PutObjectAcl" => versioned("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
        "GetObjectRetention" => "s3:GetObjectRetention",
        "PutObjectRetention" => "s3:PutObjectRetention",
        "GetObjectLegalHold" => "s3:GetObjectLegalHold",
        "PutObjectLegalHold" => "s3:PutObjectLegalHold",
        "RestoreObject" => "s3:RestoreObject",
        _ => return None,
    })
}

/// The version a request's query names, if it names a valid one (an invalid one is the
/// handler's InvalidArgument).
fn query_version(query: Option<&str>) -> Option<cairn_engine::VersionId> {
    let text = query.unwrap_or("").split('&').find_map(|pair| pair.strip_prefix("versionId="))?;
    cairn_engine::VersionId::parse(text)
}

/// Whether a request's query names a version (`versionId=`, even empty: S3 then answers
/// InvalidArgument from the handler, after this step).
fn names_version(query: Option<&str>) -> bool {
    query.unwrap_or("").split('&').any(|pair| pair == "versionId" || pair.starts_with("versionId="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_cache_stays_within_its_budget_and_never_serves_a_stale_parse() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), cairn_engine::EngineConfig::default()).unwrap();
        let config = crate::Config {
            address: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().into(),
            region: "us-east-1".into(),
            io: cairn_engine::IoMode::Threads,
            domain: None,
            root: crate::Credentials { access_key: "ROOT".into(), secret_key: "secret".into() },
            users: Vec::new(),
            public_access_block: Default::default(),
            allow_insecure_sse_c: false,
            compression_level: cairn_engine::COMPRESSION_LEVEL_DEFAULT,
            default_encryption: Default::default(),
            compaction_bytes_per_sec: 0,
            space_amplification_target: 1.2,
            website_address: None,
            lifecycle_day_seconds: crate::lifecycle::DAY_SECONDS_DEFAULT,
            log_delivery_seconds: crate::logging::DELIVERY_SECONDS_DEFAULT,
            notification_targets: Vec::new(),
            replication_endpoints: Vec::new(),
            admin_address: None,
            tls: None,
        };
        let accounts = Arc::new(Accounts::new(&config));
        // Room for two of the three documents below.
        let authorizer = Authorizer::with_cache_budget(engine.clone(), accounts, "us-east-1".into(), 2 * 1024);
        let document = |bucket: &str, action: &str| {
            let pad = "x".repeat(700);
            format!(
                r#"{{"Id":"{pad}","Statement":[{{"Effect":"Allow","Principal":"*","Action":"{action}","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
            )
        };
        let allows = |bucket: &str, action: &str| {
            let policy = authorizer.policy(bucket).unwrap();
            let resource = format!("arn:aws:s3:::{bucket}/k");
            let context = Facts {
                headers: &http::HeaderMap::new(),
                query: None,
                principal: None,
                resource: Resource::Object { bucket, key: "k" },
                authorizer: &authorizer,
                request_tags: None,
                bucket_owner: None,
            };
            policy.evaluate(&policy::Request {
                principal: None,
                service: None,
                action,
                resource: &resource,
                context: &context,
            }) == Decision::Allow
        };
        for bucket in ["one", "two", "three"] {
            engine.create_bucket(bucket, "us-east-1").unwrap();
            engine.put_bucket_config(bucket, BUCKET_POLICY, document(bucket, "s3:GetObject").as_bytes()).unwrap();
            assert!(allows(bucket, "s3:GetObject"));
            assert!(authorizer.policies.read().unwrap().bytes <= 2 * 1024);
        }
        assert!(authorizer.policies.read().unwrap().parsed.len() < 3, "the cache started over");
        // A document replaced under the cache is parsed again.
        engine.put_bucket_config("three", BUCKET_POLICY, document("three", "s3:PutObject").as_bytes()).unwrap();
        assert!(!allows("three", "s3:GetObject"));
        assert!(allows("three", "s3:PutObject"));
        let cache = authorizer.policies.read().unwrap();
        assert_eq!(cache.bytes, cache.parsed.values().map(|(d, _)| d.len()).sum::<usize>());
    }

    /// Every operation Cairn implements, with the IAM action AWS's "Required permissions for
    /// Amazon S3 API operations" lists for it (and for its versioned form where that differs).
    const EXPECTED: &[(&str, &str, &str)] = &[
        ("ListBuckets", "s3:ListAllMyBuckets", "s3:ListAllMyBuckets"),
        ("CreateBucket", "s3:CreateBucket", "s3:CreateBucket"),
        ("HeadBucket", "s3:ListBucket", "s3:ListBucket"),
        ("DeleteBucket", "s3:DeleteBucket", "s3:DeleteBucket"),
        ("GetBucketLocation", "s3:GetBucketLocation", "s3:GetBucketLocation"),
        ("GetBucketVersioning", "s3:GetBucketVersioning", "s3:GetBucketVersioning"),
        ("PutBucketVersioning", "s3:PutBucketVersioning", "s3:PutBucketVersioning"),
        ("PutObject", "s3:PutObject", "s3:PutObject"),
        ("GetObject", "s3:GetObject", "s3:GetObjectVersion"),
        ("HeadObject", "s3:GetObject", "s3:GetObjectVersion"),
        ("DeleteObject", "s3:DeleteObject", "s3:DeleteObjectVersion"),
        ("ListObjectsV2", "s3:ListBucket", "s3:ListBucket"),
        ("CopyObject", "s3:PutObject", "s3:PutObject"),
        ("PutBucketTagging", "s3:PutBucketTagging", "s3:PutBucketTagging"),
        ("GetBucketTagging", "s3:GetBucketTagging", "s3:GetBucketTagging"),
        ("DeleteBucketTagging", "s3:PutBucketTagging", "s3:PutBucketTagging"),
        ("GetObjectAttributes", "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
        ("PutObjectTagging", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
        ("GetObjectTagging", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
        ("DeleteObjectTagging", "s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
        ("UploadPartCopy", "s3:PutObject", "s3:PutObject"),
        ("ListObjects", "s3:ListBucket", "s3:ListBucket"),
        ("ListObjectVersions", "s3:ListBucketVersions", "s3:ListBucketVersions"),
        ("DeleteObjects", "s3:DeleteObject", "s3:DeleteObject"),
        ("CreateMultipartUpload", "s3:PutObject", "s3:PutObject"),
        ("UploadPart", "s3:PutObject", "s3:PutObject"),
        ("CompleteMultipartUpload", "s3:PutObject", "s3:PutObject"),
        ("AbortMultipartUpload", "s3:AbortMultipartUpload", "s3:AbortMultipartUpload"),
        ("ListParts", "s3:ListMultipartUploadParts", "s3:ListMultipartUploadParts"),
        ("ListMultipartUploads", "s3:ListBucketMultipartUploads", "s3:ListBucketMultipartUploads"),
        ("GetBucketPolicy", "s3:GetBucketPolicy", "s3:GetBucketPolicy"),
        ("GetBucketEncryption", "s3:GetEncryptionConfiguration", "s3:GetEncryptionConfiguration"),
        ("RestoreObject", "s3:RestoreObject", "s3:RestoreObject"),
        ("PutBucketEncryption", "s3:PutEncryptionConfiguration", "s3:PutEncryptionConfiguration"),
        ("DeleteBucketEncryption", "s3:PutEncryptionConfiguration", "s3:PutEncryptionConfiguration"),
        ("PutBucketPolicy", "s3:PutBucketPolicy", "s3:PutBucketPolicy"),
        ("GetBucketPolicyStatus", "s3:GetBucketPolicyStatus", "s3:GetBucketPolicyStatus"),
        ("PutBucketCors", "s3:PutBucketCORS", "s3:PutBucketCORS"),
        ("GetBucketCors", "s3:GetBucketCORS", "s3:GetBucketCORS"),
        ("PutBucketWebsite", "s3:PutBucketWebsite", "s3:PutBucketWebsite"),
        ("GetBucketWebsite", "s3:GetBucketWebsite", "s3:GetBucketWebsite"),
        ("GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
        ("PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
        ("PutBucketLogging", "s3:PutBucketLogging", "s3:PutBucketLogging"),
        ("GetBucketLogging", "s3:GetBucketLogging", "s3:GetBucketLogging"),
        ("GetBucketNotificationConfiguration", "s3:GetBucketNotification", "s3:GetBucketNotification"),
        ("PutBucketNotificationConfiguration", "s3:PutBucketNotification", "s3:PutBucketNotification"),
        ("GetBucketReplication", "s3:GetReplicationConfiguration", "s3:GetReplicationConfiguration"),
        ("PutBucketReplication", "s3:PutReplicationConfiguration", "s3:PutReplicationConfiguration"),
        ("GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration"),
        ("DeleteBucketPolicy", "s3:DeleteBucketPolicy", "s3:DeleteBucketPolicy"),
        ("DeleteBucketCors", "s3:PutBucketCORS", "s3:PutBucketCORS"),
        ("DeleteBucketWebsite", "s3:DeleteBucketWebsite", "s3:DeleteBucketWebsite"),
        ("DeleteBucketLifecycle", "s3:PutLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
        ("DeleteBucketReplication", "s3:PutReplicationConfiguration", "s3:PutReplicationConfiguration"),
        ("GetBucketAnalyticsConfiguration", "s3:GetAnalyticsConfiguration", "s3:GetAnalyticsConfiguration"),
        (
            "GetBucketIntelligentTieringConfiguration",
            "s3:GetIntelligentTieringConfiguration",
            "s3:GetIntelligentTieringConfiguration",
        ),
        ("GetBucketInventoryConfiguration", "s3:GetInventoryConfiguration", "s3:GetInventoryConfiguration"),
        ("GetBucketMetricsConfiguration", "s3:GetMetricsConfiguration", "s3:GetMetricsConfiguration"),
        ("DeleteBucketAnalyticsConfiguration", "s3:PutAnalyticsConfiguration", "s3:PutAnalyticsConfiguration"),
        (
            "DeleteBucketIntelligentTieringConfiguration",
            "s3:PutIntelligentTieringConfiguration",
            "s3:PutIntelligentTieringConfiguration",
        ),
        ("DeleteBucketInventoryConfiguration", "s3:PutInventoryConfiguration", "s3:PutInventoryConfiguration"),
        ("DeleteBucketMetricsConfiguration", "s3:PutMetricsConfiguration", "s3:PutMetricsConfiguration"),
        ("GetObjectRetention", "s3:GetObjectRetention", "s3:GetObjectRetention"),
        ("GetObjectLegalHold", "s3:GetObjectLegalHold", "s3:GetObjectLegalHold"),
        ("PutObjectLockConfiguration", "s3:PutBucketObjectLockConfiguration", "s3:PutBucketObjectLockConfiguration"),
        ("PutObjectRetention", "s3:PutObjectRetention", "s3:PutObjectRetention"),
        ("PutObjectLegalHold", "s3:PutObjectLegalHold", "s3:PutObjectLegalHold"),
        ("GetBucketAcl", "s3:GetBucketAcl", "s3:GetBucketAcl"),
        ("PutBucketAcl", "s3:PutBucketAcl", "s3:PutBucketAcl"),
        ("GetObjectAcl", "s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
        ("PutObjectAcl", "s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
        ("PutBucketOwnershipControls", "s3:PutBucketOwnershipControls", "s3:PutBucketOwnershipControls"),
        ("GetBucketOwnershipControls", "s3:GetBucketOwnershipControls", "s3:GetBucketOwnershipControls"),
        ("DeleteBucketOwnershipControls", "s3:PutBucketOwnershipControls", "s3:PutBucketOwnershipControls"),
        ("PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
        ("GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
        ("DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
    ];

    #[test]
    fn a_replica_write_asks_what_aws_asks_of_a_replication_role() {
        for operation in ["PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"] {
            assert_eq!(replica_action(operation), Some("s3:ReplicateObject"), "{operation}");
        }
        assert_eq!(replica_action("DeleteObject"), Some("s3:ReplicateDelete"));
        assert_eq!(replica_action("GetObject"), None, "a read is decided as itself");
        assert_eq!(replica_action("DeleteObjects"), None);
    }

    #[test]
    fn every_implemented_operation_maps_to_its_iam_action() {
        for operation in crate::s3::OPERATIONS {
            let Some(&(_, plain, versioned)) = EXPECTED.iter().find(|(name, ..)| name == operation) else {
                panic!("{operation} is implemented but has no expected IAM action in this test");
            };
            assert_eq!(action(operation, None), Some(plain), "{operation}");
            assert_eq!(action(operation, Some("versionId=1")), Some(versioned), "{operation} with a version id");
        }
        // And the table holds nothing Cairn does not implement, so it cannot drift from the list.
        for (name, ..) in EXPECTED {
            assert!(crate::s3::OPERATIONS.contains(name), "{name} is expected but not implemented");
        }
    }

    #[test]
    fn operations_without_a_mapping_are_none() {
        assert_eq!(action("SelectObjectContent", None), None);
        assert_eq!(action("NoSuchOperation", Some("versionId=1")), None);
    }

    #[test]
    fn resources_format_as_arns() {
        assert_eq!(Resource::Account.to_string(), "*");
        assert_eq!(Resource::Bucket("b").to_string(), "arn:aws:s3:::b");
        assert_eq!(Resource::Object { bucket: "b", key: "a/c d" }.to_string(), "arn:aws:s3:::b/a/c d");
        assert_eq!(Resource::Object { bucket: "b", key: "k" }.bucket(), Some("b"));
        assert_eq!(Resource::Account.bucket(), None);
    }

    #[test]
    fn version_ids_are_seen_in_the_query() {
        assert!(names_version(Some("versionId=abc")));
        assert!(names_version(Some("tagging&versionId=abc")));
        assert!(names_version(Some("versionId=")));
        assert!(names_version(Some("versionId")));
        assert!(!names_version(Some("versionIdx=1")));
        assert!(!names_version(Some("version-id-marker=1&versions")));
        assert!(!names_version(None));
    }
}
