//! Bucket policies: the grammar AWS accepts (validated with AWS's `MalformedPolicy` messages)
//! and the evaluation AWS applies. Pure: no HTTP types, no engine; the request is a principal,
//! an action, a resource ARN and a [`Context`] that answers condition keys.
//!
//! Evaluation (AWS's "Policy evaluation logic"): a statement applies when its principal, action,
//! resource and every condition match the request. Any applying `Deny` decides
//! [`Decision::Deny`]; else any applying `Allow` decides [`Decision::Allow`]; else the policy is
//! silent ([`Decision::Implicit`]) and the caller's default stands (the owner's account may act,
//! no one else).

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::{Map, Value};

mod condition;
mod pattern;

use condition::starts_with_ignore_case;
pub use condition::{Condition, S3_CONDITION_KEYS, parse_date};
use pattern::Pattern;

/// The tag a tag condition key names (`s3:ExistingObjectTag/<tag>` ...), if `key` is of that form.
pub fn condition_key_tag<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    if starts_with_ignore_case(key, prefix) && key.len() > prefix.len() { Some(&key[prefix.len()..]) } else { None }
}

/// The largest bucket policy AWS accepts: 20 KB.
pub const POLICY_BYTES_MAX: usize = 20 * 1024;

/// The policy language versions; `2008-10-17` (also a policy's version when it names none) has
/// no policy variables.
pub const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];

/// A request's condition keys, answered by the caller. Keys are case-insensitive (a tag's own key
/// after `s3:ExistingObjectTag/` is not). `None`: the request has no such key.
pub trait Context {
    fn values(&self, key: &str) -> Option<Vec<Cow<'_, str>>>;
}

/// Who exists, for validating the principals a policy names (AWS refuses a policy that names
/// a principal it does not know).
pub trait Directory {
    fn account_exists(&self, account: &str) -> bool;
    fn user_exists(&self, account: &str, user: &str) -> bool;
    fn canonical_user_exists(&self, id: &str) -> bool;
}

/// A directory that knows everyone: for reading back a policy that was valid when it was stored.
#[derive(Debug)]
pub struct Anyone;

impl Directory for Anyone {
    fn account_exists(&self, _: &str) -> bool {
        true
    }
    fn user_exists(&self, _: &str, _: &str) -> bool {
        true
    }
    fn canonical_user_exists(&self, _: &str) -> bool {
        true
    }
}

/// A `MalformedPolicy` error's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

impl Malformed {
    fn new(message: &str) -> Malformed {
        Malformed(message.to_owned())
    }
}

/// An authenticated requester. Anonymous requests have none.
#[derive(Clone, Copy, Debug)]
pub struct Principal<'a> {
    /// The 12-digit account id.
    pub account: &'a str,
    /// The IAM user's name, `None` for an account's root.
    pub user: Option<&'a str>,
    /// The account's 64-hex-digit canonical id.
    pub canonical_id: &'a str,
}

/// One request, as a policy sees it.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub principal: Option<Principal<'a>>,
    /// The service principal a request is made as (a delivery of Cairn's own), if any.
    pub service: Option<&'a str>,
    /// The IAM action, such as `s3:GetObject`.
    pub action: &'a str,
    /// The resource's ARN: `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    pub context: &'a dyn Context,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("principal", &self.principal)
            .field("action", &self.action)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

/// What a policy decides on a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// No statement applies.
    Implicit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// A principal a policy names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Named {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous included.
    Everyone,
    /// An account id, or its root ARN: every principal of the account.
    Account(String),
    User {
        account: String,
        name: String,
    },
    Canonical(String),
    /// A service principal (`logging.s3.amazonaws.com`): only Cairn's own deliveries act as one.
    Service(String),
}

impl Named {
    fn matches(&self, principal: Option<Principal<'_>>, service: Option<&str>) -> bool {
        match (self, principal) {
            (Named::Everyone, _) => true,
            (Named::Service(id), _) => service == Some(id.as_str()),
            (_, None) => false,
            (Named::Account(account), Some(p)) => p.account == account,
            (Named::User { account, name }, Some(p)) => p.account == account && p.user == Some(name.as_str()),
            (Named::Canonical(id), Some(p)) => p.canonical_id == id,
        }
    }
}

/// A list an element names, or (its `Not...` form) everything but it.
#[derive(Clone, Debug)]
struct Set<T> {
    negated: bool,
    items: Vec<T>,
}

#[derive(Clone, Debug)]
struct Statement {
    sid: Option<String>,
    effect: Effect,
    principals: Set<Named>,
    actions: Set<Pattern>,
    resources: Set<Pattern>,
    conditions: Vec<Condition>,
}

/// A parsed, valid bucket policy.
#[derive(Clone, Debug)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// Whether an IAM action acts on a bucket, on objects, or on the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionResource {
    Account,
    Bucket,
    Object,
}

/// Every S3 action a bucket policy can name, with what it acts on.
pub const S3_ACTIONS: &[(&str, ActionResource)] = {
    use ActionResource::*;
    &[
        ("s3:AbortMultipartUpload", Object),
        ("s3:BypassGovernanceRetention", Object),
        ("s3:CreateBucket", Bucket),
        ("s3:DeleteBucket", Bucket),
        ("s3:DeleteBucketOwnershipControls", Bucket),
        ("s3:DeleteBucketPolicy", Bucket),
        ("s3:DeleteBucketWebsite", Bucket),
        ("s3:DeleteObject", Object),
        ("s3:DeleteObjectTagging", Object),
        ("s3:DeleteObjectVersion", Object),
        ("s3:DeleteObjectVersionTagging", Object),
        ("s3:GetAccelerateConfiguration", Bucket),
        ("s3:GetAccountPublicAccessBlock", Account),
        ("s3:GetAnalyticsConfiguration", Bucket),
        ("s3:GetBucketAcl", Bucket),
        ("s3:GetBucketCORS", Bucket),
        ("s3:GetBucketLocation", Bucket),
        ("s3:GetBucketLogging", Bucket),
        ("s3:GetBucketNotification", Bucket),
        ("s3:GetBucketObjectLockConfiguration", Bucket),
        ("s3:GetBucketOwnershipControls", Bucket),
        ("s3:GetBucketPolicy", Bucket),
        ("s3:GetBucketPolicyStatus", Bucket),
        ("s3:GetBucketPublicAccessBlock", Bucket),
        ("s3:GetBucketRequestPayment", Bucket),
        ("s3:GetBucketTagging", Bucket),
        ("s3:GetBucketVersioning", Bucket),
        ("s3:GetBucketWebsite", Bucket),
        ("s3:GetEncryptionConfiguration", Bucket),
        ("s3:GetIntelligentTieringConfiguration", Bucket),
        ("s3:GetInventoryConfiguration", Bucket),
        ("s3:GetLifecycleConfiguration", Bucket),
        ("s3:GetMetricsConfiguration", Bucket),
        ("s3:GetObject", Object),
        ("s3:GetObjectAcl", Object),
        ("s3:GetObjectAttributes", Object),
        ("s3:GetObjectLegalHold", Object),
        ("s3:GetObjectRetention", Object),
        ("s3:GetObjectTagging", Object),
        ("s3:GetObjectTorrent", Object),
        ("s3:GetObjectVersion", Object),
        ("s3:GetObjectVersionAcl", Object),
        ("s3:GetObjectVersionAttributes", Object),
        ("s3:GetObjectVersionForReplication", Object),
        ("s3:GetObjectVersionTagging", Object),
        ("s3:GetObjectVersionTorrent", Object),
        ("s3:GetReplicationConfiguration", Bucket),
        ("s3:InitiateReplication", Object),
        ("s3:ListAllMyBuckets", Account),
        ("s3:ListBucket", Bucket),
        ("s3:ListBucketMultipartUploads", Bucket),
        ("s3:ListBucketVersions", Bucket),
        ("s3:ListMultipartUploadParts", Object),
        ("s3:ObjectOwnerOverrideToBucketOwner", Object),
        ("s3:PutAccelerateConfiguration", Bucket),
        ("s3:PutAccountPublicAccessBlock", Account),
        ("s3:PutAnalyticsConfiguration", Bucket),
        ("s3:PutBucketAcl", Bucket),
        ("s3:PutBucketCORS", Bucket),
        ("s3:PutBucketLogging", Bucket),
        ("s3:PutBucketNotification", Bucket),
        ("s3:PutBucketObjectLockConfiguration", Bucket),
        ("s3:PutBucketOwnershipControls", Bucket),
        ("s3:PutBucketPolicy", Bucket),
        ("s3:PutBucketPublicAccessBlock", Bucket),
        ("s3:PutBucketRequestPayment", Bucket),
        ("s3:PutBucketTagging", Bucket),
        ("s3:PutBucketVersioning", Bucket),
        ("s3:PutBucketWebsite", Bucket),
        ("s3:PutEncryptionConfiguration", Bucket),
        ("s3:PutIntelligentTieringConfiguration", Bucket),
        ("s3:PutInventoryConfiguration", Bucket),
        ("s3:PutLifecycleConfiguration", Bucket),
        ("s3:PutMetricsConfiguration", Bucket),
        ("s3:PutObject", Object),
        ("s3:PutObjectAcl", Object),
        ("s3:PutObjectLegalHold", Object),
        ("s3:PutObjectRetention", Object),
        ("s3:PutObjectTagging", Object),
        ("s3:PutObjectVersionAcl", Object),
        ("s3:PutObjectVersionTagging", Object),
        ("s3:PutReplicationConfiguration", Bucket),
        ("s3:ReplicateDelete", Object),
        ("s3:ReplicateObject", Object),
        ("s3:ReplicateTags", Object),
        ("s3:RestoreObject", Object),
    ]
};

/// Condition keys whose fixed values make an `Allow` to everyone non-public (AWS's "The meaning
/// of public").
const RESTRICTING_KEYS: &[&str] = &[
    "aws:SourceIp",
    "aws:SourceArn",
    "aws:SourceVpc",
    "aws:SourceVpce",
    "aws:SourceAccount",
    "aws:SourceOwner",
    "aws:SourceOrgID",
    "aws:SourceOrgPaths",
    "aws:userid",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "s3:DataAccessPointArn",
    "s3:DataAccessPointAccount",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
];

impl Policy {
    /// Parses and validates a policy for `bucket`, as PutBucketPolicy does.
    pub fn parse(document: &[u8], bucket: &str, directory: &dyn Directory) -> Result<Policy, Malformed> {
        if document.len() > POLICY_BYTES_MAX {
            return Err(Malformed::new("Policy exceeds the maximum allowed document size."));
        }
        if document.first() != Some(&b'{') {
            return Err(Malformed::new("Policies must be valid JSON and the first byte must be '{'"));
        }
        let value: Value =
            serde_json::from_slice(document).map_err(|_| Malformed::new("This policy contains invalid Json"))?;
        let Value::Object(top) = value else {
            return Err(Malformed::new("This policy contains invalid Json"));
        };
        for field in top.keys() {
            if !["Version", "Id", "Statement"].contains(&field.as_str()) {
                return Err(Malformed(format!("Unknown field {field}")));
            }
        }
        let variables = match top.get("Version") {
            None => false,
            Some(Value::String(version)) if version == VERSIONS[0] => true,
            Some(Value::String(version)) if version == VERSIONS[1] => false,
            Some(_) => return Err(Malformed::new("The policy must contain a valid version string")),
        };
        if top.get("Id").is_some_and(|id| !id.is_string()) {
            return Err(Malformed::new("Id must be a string"));
        }
        let statements = match top.get("Statement") {
            None => return Err(Malformed::new("Missing required field Statement")),
            Some(Value::Array(statements)) => statements.iter().collect::<Vec<_>>(),
            Some(statement @ Value::Object(_)) => vec![statement],
            Some(_) => return Err(Malformed::new("This policy contains invalid Json")),
        };
        if statements.is_empty() {
            return Err(Malformed::new("Could not parse the policy: Statement is empty!"));
        }
        let mut sids = HashSet::new();
        let mut parsed = Vec::with_capacity(statements.len());
        for statement in statements {
            let Value::Object(fields) = statement else {
                return Err(Malformed::new("This policy contains invalid Json"));
            };
            let statement = parse_statement(fields, bucket, directory, variables)?;
            if let Some(sid) = &statement.sid
                && !sids.insert(sid.clone())
            {
                return Err(Malformed::new("Statement IDs (SID) in a single policy must be unique."));
            }
            parsed.push(statement);
        }
        Ok(Policy { statements: parsed })
    }

    /// What the policy decides on `request`.
    pub fn evaluate(&self, request: &Request<'_>) -> Decision {
        let mut allowed = false;
        for statement in &self.statements {
            // Once allowed, only a Deny can change the answer.
            if allowed && statement.effect == Effect::Allow {
                continue;
            }
            if statement.applies(request) {
                match statement.effect {
                    Effect::Deny => return Decision::Deny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed { Decision::Allow } else { Decision::Implicit }
    }

    /// Whether the policy is public as AWS defines it: some `Allow` reaches everyone (a `*`
    /// principal, or a `NotPrincipal`) without a condition pinning one of the restricting keys
    /// to fixed values.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|statement| {
            let everyone = statement.principals.negated || statement.principals.items.contains(&Named::Everyone);
            let restricted = statement.conditions.iter().any(|condition| {
                RESTRICTING_KEYS.iter().any(|key| key.eq_ignore_ascii_case(condition.key())) && condition.restricts()
            });
            statement.effect == Effect::Allow && everyone && !restricted
        })
    }

    /// How many statements the policy holds.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }
}

impl Statement {
    fn applies(&self, request: &Request<'_>) -> bool {
        let principal = self.principals.items.iter().any(|named| named.matches(request.principal, request.service));
        if principal == self.principals.negated {
            return false;
        }
        let action = self.actions.items.iter().any(|pattern| pattern.matches(request.action, true, request.context));
        if action == self.actions.negated {
            return false;
        }
        let resource =
            self.resources.items.iter().any(|pattern| pattern.matches(request.resource, false, request.context));
        if resource == self.resources.negated {
            return false;
        }
        self.conditions.iter().all(|condition| condition.holds(request.context))
    }
}

const STATEMENT_FIELDS: [&str; 9] =
    ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

fn parse_statement(
    fields: &Map<String, Value>,
    bucket: &str,
    directory: &dyn Directory,
    variables: bool,
) -> Result<Statement, Malformed> {
    for field in fields.keys() {
        if !STATEMENT_FIELDS.contains(&field.as_str()) {
            return Err(Malformed(format!("Unknown field {field}")));
        }
    }
    let sid = match fields.get("Sid") {
        None => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(_) => return Err(Malformed::new("Sid must be a string")),
    };
    let effect = match fields.get("Effect") {
        None => return Err(Malformed::new("Missing required field Effect")),
        Some(Value::String(effect)) if effect == "Allow" => Effect::Allow,
        Some(Value::String(effect)) if effect == "Deny" => Effect::Deny,
        Some(Value::String(effect)) => return Err(Malformed(format!("Invalid effect: {effect}"))),
        Some(_) => return Err(Malformed::new("Invalid effect: must be Allow or Deny")),
    };
    let (principals, negated) = either(fields, "Principal", "NotPrincipal")?;
    let principals = Set { negated, items: parse_principals(principals, directory)? };
    let (actions, negated) = either(fields, "Action", "NotAction")?;
    let actions = Set { negated, items: parse_actions(actions)? };
    let (resources, negated) = either(fields, "Resource", "NotResource")?;
    let resources = Set { negated, items: parse_resources(resources, bucket, variables)? };
    if !actions.negated && !resources.negated {
        check_applicable(&actions.items, &resources.items, bucket)?;
    }
    let conditions = match fields.get("Condition") {
        None => Vec::new(),
        Some(block) => condition::parse_block(block, variables)?,
    };
    Ok(Statement { sid, effect, principals, actions, resources, conditions })
}

/// An element given as itself or as its `Not...` form (exactly one of the two).
fn either<'a>(fields: &'a Map<String, Value>, name: &str, not: &str) -> Result<(&'a Value, bool), Malformed> {
    match (fields.get(name), fields.get(not)) {
        (Some(value), None) => Ok((value, false)),
        (None, Some(value)) => Ok((value, true)),
        (None, None) => Err(Malformed(format!("Missing required field {name}"))),
        (Some(_), Some(_)) => Err(Malformed(format!("Statement cannot have both {name} and {not}"))),
    }
}

/// A string or a non-empty array of strings.
fn strings<'a>(value: &'a Value, error: &str) -> Result<Vec<&'a str>, Malformed> {
    let items: Vec<&str> = match value {
        Value::String(text) => vec![text],
        Value::Array(items) => {
            items.iter().map(|item| item.as_str()).collect::<Option<_>>().ok_or_else(|| Malformed::new(error))?
        }
        _ => return Err(Malformed::new(error)),
    };
    if items.is_empty() {
        return Err(Malformed::new(error));
    }
    Ok(items)
}

const INVALID_PRINCIPAL: &str = "Invalid principal in policy";

fn parse_principals(value: &Value, directory: &dyn Directory) -> Result<Vec<Named>, Malformed> {
    let invalid = || Malformed::new(INVALID_PRINCIPAL);
    match value {
        Value::String(text) if text == "*" => Ok(vec![Named::Everyone]),
        Value::Object(kinds) if !kinds.is_empty() => {
            let mut named = Vec::new();
            for (kind, ids) in kinds {
                for id in strings(ids, INVALID_PRINCIPAL)? {
                    named.push(match kind.as_str() {
                        "AWS" => aws_principal(id, directory).ok_or_else(invalid)?,
                        "CanonicalUser" if directory.canonical_user_exists(id) && is_canonical_id(id) => {
                            Named::Canonical(id.to_owned())
                        }
                        "Service" if !id.is_empty() => Named::Service(id.to_owned()),
                        _ => return Err(invalid()),
                    });
                }
            }
            Ok(named)
        }
        _ => Err(invalid()),
    }
}

fn is_canonical_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// `*`, a 12-digit account id, `arn:aws:iam::<account>:root` or `arn:aws:iam::<account>:user/<path/>name`.
fn aws_principal(id: &str, directory: &dyn Directory) -> Option<Named> {
    if id == "*" {
        return Some(Named::Everyone);
    }
    if is_account_id(id) {
        return directory.account_exists(id).then(|| Named::Account(id.to_owned()));
    }
    let rest = id.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    if !is_account_id(account) {
        return None;
    }
    if resource == "root" {
        return directory.account_exists(account).then(|| Named::Account(account.to_owned()));
    }
    let path = resource.strip_prefix("user/")?;
    let name = path.rsplit('/').next().filter(|name| !name.is_empty())?;
    directory.user_exists(account, name).then(|| Named::User { account: account.to_owned(), name: name.to_owned() })
}

fn parse_actions(value: &Value) -> Result<Vec<Pattern>, Malformed> {
    const INVALID: &str = "Policy has invalid action";
    let mut patterns = Vec::new();
    for action in strings(value, INVALID)? {
        let pattern = Pattern::compile(action, true, false);
        let known = action == "*"
            || (starts_with_ignore_case(action, "s3:")
                && S3_ACTIONS.iter().any(|(name, _)| pattern.matches(name, true, &NoContext)));
        if !known {
            return Err(Malformed::new(INVALID));
        }
        patterns.push(pattern);
    }
    Ok(patterns)
}

const S3_ARN_PREFIX: &str = "arn:aws:s3:::";

fn parse_resources(value: &Value, bucket: &str, variables: bool) -> Result<Vec<Pattern>, Malformed> {
    const INVALID: &str = "Policy has invalid resource";
    let mut patterns = Vec::new();
    for resource in strings(value, INVALID)? {
        if resource != "*" {
            // A bucket policy's resources are the bucket and its objects.
            let rest = resource.strip_prefix(S3_ARN_PREFIX).ok_or_else(|| Malformed::new(INVALID))?;
            let named = rest.split('/').next().unwrap_or("");
            if !Pattern::compile(named, true, false).matches(bucket, false, &NoContext) {
                return Err(Malformed::new(INVALID));
            }
        }
        patterns.push(Pattern::compile(resource, true, variables));
    }
    Ok(patterns)
}

/// AWS refuses a statement whose actions act on no resource it lists (an object action on the
/// bucket's ARN, a bucket action on `bucket/*`).
fn check_applicable(actions: &[Pattern], resources: &[Pattern], bucket: &str) -> Result<(), Malformed> {
    let bucket_arn = format!("{S3_ARN_PREFIX}{bucket}");
    let names_bucket = resources.iter().any(|r| r.is_any() || r.matches(&bucket_arn, false, &NoContext));
    let names_objects = resources.iter().any(|r| {
        r.is_any() || r.has_wildcards() || r.has_variables() || {
            // A literal object ARN names an object.
            r.literal(&NoContext).is_some_and(|text| text.len() > bucket_arn.len() && text.contains('/'))
        }
    });
    for action in actions {
        let applies = S3_ACTIONS.iter().any(|(name, kind)| {
            action.matches(name, true, &NoContext)
                && match kind {
                    ActionResource::Object => names_objects,
                    ActionResource::Bucket => names_bucket,
                    ActionResource::Account => resources.iter().any(Pattern::is_any),
                }
        });
        if !applies {
            return Err(Malformed::new("Action does not apply to any resource(s) in statement"));
        }
    }
    Ok(())
}

/// A context without keys (validation matches names, never requests; replication's own
/// writes carry none).
pub(crate) struct NoContext;

impl Context for NoContext {
    fn values(&self, _: &str) -> Option<Vec<Cow<'_, str>>> {
        None
    }
}

#[cfg(test)]
pub(crate) mod tests;
