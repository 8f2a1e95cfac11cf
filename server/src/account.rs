//! Accounts and bucket ownership. The root credentials and each configured `[[user]]` are
//! separate S3 accounts; an account's canonical id derives from its name, so rotating its keys
//! keeps what it owns. Until bucket policies and ACLs exist, S3's default holds: a bucket and
//! everything in it is reachable only by the account that owns it, and anonymous requests are
//! refused.

use std::collections::HashMap;
use std::sync::Arc;

use cairn_engine::Engine;
use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::Owner;
use s3s::{S3Result, s3_error};

use crate::authorization::{self, Authorization, Resource};
use crate::config::Config;

/// The root account's name.
pub const ROOT_ACCOUNT: &str = "root";

/// One account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    /// 64 hex digits, as S3 shows owners.
    pub canonical_id: String,
}

impl Account {
    fn named(name: &str) -> Account {
        Account { name: name.to_owned(), canonical_id: canonical_id(name) }
    }

    pub fn owner(&self) -> Owner {
        Owner { display_name: Some(self.name.clone()), id: Some(self.canonical_id.clone()) }
    }
}

/// A stable 64-hex-digit canonical user id derived from an account name.
pub fn canonical_id(name: &str) -> String {
    use md5::Digest;
    let first = md5::Md5::digest(format!("cairn-account:{name}"));
    let second = md5::Md5::digest(first);
    format!("{}{}", cairn_engine::hex(&first), cairn_engine::hex(&second))
}

/// Every account, by access key and by canonical id.
#[derive(Debug)]
pub struct Accounts {
    root: Arc<Account>,
    by_key: HashMap<String, Arc<Account>>,
    by_id: HashMap<String, Arc<Account>>,
}

impl Accounts {
    pub fn new(config: &Config) -> Accounts {
        let root = Arc::new(Account::named(ROOT_ACCOUNT));
        let mut by_key = HashMap::from([(config.root.access_key.clone(), root.clone())]);
        for user in &config.users {
            by_key.insert(user.access_key.clone(), Arc::new(Account::named(&user.name)));
        }
        let by_id = by_key.values().map(|a| (a.canonical_id.clone(), a.clone())).collect();
        Accounts { root, by_key, by_id }
    }

    /// The account a request's credentials belong to (anonymous requests are refused).
    pub fn requester(&self, credentials: Option<&s3s::auth::Credentials>) -> S3Result<&Arc<Account>> {
        let credentials = credentials.ok_or_else(|| s3_error!(AccessDenied, "Anonymous access is not allowed"))?;
        self.by_key.get(&credentials.access_key).ok_or_else(|| s3_error!(InvalidAccessKeyId))
    }

    /// The owner id the engine stores for `account` (empty for root, as buckets made before
    /// ownership was recorded are root's).
    pub fn stored_id(&self, account: &Account) -> String {
        if account.name == ROOT_ACCOUNT { String::new() } else { account.canonical_id.clone() }
    }

    /// The owner of a bucket from the id the engine stored. An owner no longer configured keeps
    /// its id and shows no display name.
    pub fn owner(&self, stored: &str) -> Owner {
        if stored.is_empty() {
            return self.root.owner();
        }
        match self.by_id.get(stored) {
            Some(account) => account.owner(),
            None => Owner { display_name: None, id: Some(stored.to_owned()) },
        }
    }

    pub fn owns(&self, account: &Account, stored: &str) -> bool {
        self.stored_id(account) == stored
    }

    /// Whether `expected` (an `x-amz-expected-bucket-owner` value) names the owner stored as
    /// `stored`: by its canonical id or its account name (Cairn's accounts have no 12-digit AWS
    /// account id; these are the two names ListBuckets' Owner shows).
    pub fn is_owner(&self, stored: &str, expected: &str) -> bool {
        let owner = self.owner(stored);
        owner.id.as_deref() == Some(expected) || owner.display_name.as_deref() == Some(expected)
    }
}

/// Checks every authenticated request before its body is read: the bucket it names must exist
/// (`NoSuchBucket`, for every operation, implemented or not) and the requester must own it.
#[derive(Debug)]
pub struct Access {
    pub engine: Engine,
    pub accounts: Arc<Accounts>,
}

impl Access {
    /// The one decision on a request's [`Authorization`], with the bucket's owner as the
    /// request states it (`x-amz-expected-bucket-owner`, or `x-amz-source-expected-bucket-owner`
    /// for a copy source: 403 AccessDenied when it names someone else, as AWS). Until policies
    /// and ACLs exist, S3's default: only the bucket's owner may act on it.
    pub fn decide(
        engine: &Engine,
        accounts: &Accounts,
        request: &Authorization<'_>,
        expected_owner: Option<&str>,
    ) -> S3Result<()> {
        let Some(bucket) = request.resource.bucket() else {
            // Account-level operations (ListBuckets) act on the requester's own buckets.
            return Ok(());
        };
        match engine.head_bucket(bucket) {
            // A missing bucket is NoSuchBucket to everyone, for every operation.
            Err(_) => Err(s3_error!(NoSuchBucket, "The specified bucket does not exist")),
            Ok(info) if !accounts.owns(request.principal, &info.owner) => Err(s3_error!(AccessDenied, "Access Denied")),
            Ok(info) if expected_owner.is_some_and(|expected| !accounts.is_owner(&info.owner, expected)) => {
                Err(s3_error!(AccessDenied, "Access Denied"))
            }
            Ok(_) => Ok(()),
        }
    }
}

/// The authorization step (`authorization.rs`): s3s calls it for every request, implemented
/// operation or not, after the signature and before the handler.
#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let principal = self.accounts.requester(cx.credentials())?;
        let operation = cx.s3_op().name();
        let request = Authorization {
            principal,
            action: authorization::action(operation, cx.uri().query()),
            resource: Resource::of(cx.s3_path()),
        };
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
        Access::decide(&self.engine, &self.accounts, &request, expected)?;
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
            match self.engine.head_object(bucket, key, version) {
                Err(cairn_engine::Error::NoSuchKey { .. }) => return Err(s3_error!(NoSuchKey)),
                Err(cairn_engine::Error::NoSuchVersion) => return Err(s3_error!(NoSuchVersion)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Object operations Cairn does not implement yet (s3s answers them NotImplemented), which must
/// still answer NoSuchKey for a missing key, as AWS does before anything else.
pub const UNIMPLEMENTED_OBJECT_OPERATIONS: [&str; 6] = [
    "GetObjectAcl",
    "PutObjectAcl",
    "PutObjectRetention",
    "PutObjectLegalHold",
    "RestoreObject",
    "SelectObjectContent",
];
