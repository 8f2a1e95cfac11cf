//! Accounts and bucket ownership. The root credentials and each configured `[[user]]` are
//! separate S3 accounts; an account's canonical id and 12-digit account id derive from its name,
//! so rotating its keys keeps what it owns and what policies grant it. Root's credentials act as
//! its account's root (`arn:aws:iam::<id>:root`); a user's as the IAM user of its own account
//! (`arn:aws:iam::<id>:user/<name>`). Who may reach what is decided in `authorization.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use s3s::dto::Owner;
use s3s::{S3Result, s3_error};

use crate::acl::PublicAccessBlock;
use crate::config::Config;
use crate::policy;

/// The root account's name.
pub const ROOT_ACCOUNT: &str = "root";

/// One account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    /// 64 hex digits, as S3 shows owners.
    pub canonical_id: String,
    /// 12 digits, as policies name accounts.
    pub account_id: String,
    /// The address ACL grants may name the account by (`emailAddress=`), if configured.
    pub email: Option<String>,
    /// The account's Block Public Access from the configuration file: a floor the S3 Control
    /// API's setting adds to and cannot lower.
    pub public_access_block: PublicAccessBlock,
}

impl Account {
    fn named(name: &str) -> Account {
        Account {
            name: name.to_owned(),
            canonical_id: canonical_id(name),
            account_id: account_id(name),
            email: None,
            public_access_block: PublicAccessBlock::default(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.name == ROOT_ACCOUNT
    }

    /// The account as a policy's principal.
    pub fn principal(&self) -> policy::Principal<'_> {
        policy::Principal {
            account: &self.account_id,
            user: (!self.is_root()).then_some(self.name.as_str()),
            canonical_id: &self.canonical_id,
        }
    }

    /// The principal's ARN (`aws:PrincipalArn`).
    pub fn arn(&self) -> String {
        if self.is_root() {
            format!("arn:aws:iam::{}:root", self.account_id)
        } else {
            format!("arn:aws:iam::{}:user/{}", self.account_id, self.name)
        }
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

/// A stable 12-digit account id derived from an account name (never starting with 0, so it
/// never reads as a shorter number).
pub fn account_id(name: &str) -> String {
    use md5::Digest;
    let digest = md5::Md5::digest(format!("cairn-account-id:{name}"));
    let number = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    format!("{}", 100_000_000_000 + number % 900_000_000_000)
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
        let root =
            Arc::new(Account { public_access_block: config.public_access_block, ..Account::named(ROOT_ACCOUNT) });
        let mut by_key = HashMap::from([(config.root.access_key.clone(), root.clone())]);
        for user in &config.users {
            let account = Account {
                email: user.email.clone(),
                public_access_block: user.public_access_block,
                ..Account::named(&user.name)
            };
            by_key.insert(user.access_key.clone(), Arc::new(account));
        }
        let by_id = by_key.values().map(|a| (a.canonical_id.clone(), a.clone())).collect();
        Accounts { root, by_key, by_id }
    }

    /// The account a request's credentials belong to, for what only an account can do
    /// (ListBuckets, CreateBucket): anonymous requests are refused.
    pub fn requester(&self, credentials: Option<&s3s::auth::Credentials>) -> S3Result<&Arc<Account>> {
        self.principal(credentials)?.ok_or_else(|| s3_error!(AccessDenied, "Access Denied"))
    }

    /// The account a request's credentials belong to; `None` for an anonymous request.
    pub fn principal(&self, credentials: Option<&s3s::auth::Credentials>) -> S3Result<Option<&Arc<Account>>> {
        match credentials {
            None => Ok(None),
            Some(credentials) => {
                self.by_key.get(&credentials.access_key).map(Some).ok_or_else(|| s3_error!(InvalidAccessKeyId))
            }
        }
    }

    /// Every account.
    /// The root account's 12-digit id (the owner of the store's KMS keys in their ARNs).
    pub fn root_account_id(&self) -> &str {
        &self.root.account_id
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Account>> {
        self.by_id.values()
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

    /// The canonical id of the owner stored as `stored`.
    pub fn canonical(&self, stored: &str) -> String {
        if stored.is_empty() { self.root.canonical_id.clone() } else { stored.to_owned() }
    }

    /// An owner by canonical id, as ACLs and listings show it.
    pub fn owner_by_canonical(&self, id: &str) -> Owner {
        match self.by_id.get(id) {
            Some(account) => account.owner(),
            None => Owner { display_name: None, id: Some(id.to_owned()) },
        }
    }

    /// Whether a canonical id is one of the accounts' (ACL grants may name only those).
    pub fn knows(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// The canonical id of the account with this email address (case-insensitive, as AWS).
    pub fn by_email(&self, email: &str) -> Option<String> {
        self.all()
            .find(|a| a.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)))
            .map(|a| a.canonical_id.clone())
    }

    /// The account with this 12-digit id.
    pub fn by_account_id(&self, id: &str) -> Option<&Arc<Account>> {
        self.all().find(|a| a.account_id == id)
    }

    pub fn owns(&self, account: &Account, stored: &str) -> bool {
        self.stored_id(account) == stored
    }

    /// The account that owns a bucket (by its stored owner id), if it is still configured.
    pub fn owner_account(&self, stored: &str) -> Option<&Arc<Account>> {
        if stored.is_empty() { Some(&self.root) } else { self.by_id.get(stored) }
    }

    /// Whether `expected` (an `x-amz-expected-bucket-owner` value) names the owner stored as
    /// `stored`: by its canonical id or its account name (Cairn's accounts have no 12-digit AWS
    /// account id; these are the two names ListBuckets' Owner shows).
    pub fn is_owner(&self, stored: &str, expected: &str) -> bool {
        let owner = self.owner(stored);
        owner.id.as_deref() == Some(expected) || owner.display_name.as_deref() == Some(expected)
    }
}

/// Policies may name only accounts and users that exist, as AWS refuses others.
impl policy::Directory for Accounts {
    fn account_exists(&self, account: &str) -> bool {
        self.all().any(|a| a.account_id == account)
    }

    fn user_exists(&self, account: &str, user: &str) -> bool {
        self.all().any(|a| a.account_id == account && !a.is_root() && a.name == user)
    }

    fn canonical_user_exists(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_stable_digits_distinct_per_name() {
        let ids: Vec<String> = ["root", "alice", "bob", ""].iter().map(|n| account_id(n)).collect();
        for id in &ids {
            assert_eq!(id.len(), 12, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_digit()) && !id.starts_with('0'), "{id}");
        }
        assert_eq!(account_id("alice"), ids[1]);
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        let alice = Account::named("alice");
        assert_eq!(alice.arn(), format!("arn:aws:iam::{}:user/alice", ids[1]));
        assert_eq!(Account::named(ROOT_ACCOUNT).arn(), format!("arn:aws:iam::{}:root", ids[0]));
        assert_eq!(alice.principal().user, Some("alice"));
        assert_eq!(Account::named(ROOT_ACCOUNT).principal().user, None);
    }
}
