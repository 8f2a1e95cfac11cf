//! A bucket's website configuration: what PutBucketWebsite validates as AWS does, stored as JSON
//! in the bucket's `website` configuration, and the decisions the website endpoint makes from
//! it: which key a path names (the index document for a folder), which routing rule redirects a
//! request, and where to.

use serde::{Deserialize, Serialize};

/// The bucket configuration the website configuration is stored under.
pub const BUCKET_WEBSITE: &str = "website";

/// S3: a website configuration holds at most 50 routing rules.
pub const ROUTING_RULES_MAX: usize = 50;

/// Where every request to the bucket's website goes instead (RedirectAllRequestsTo).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectAll {
    pub host: String,
    pub protocol: Option<String>,
}

/// When a routing rule applies: every part given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub key_prefix: Option<String>,
    pub error_code: Option<u16>,
}

/// Where a routing rule sends a request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub host: Option<String>,
    pub protocol: Option<String>,
    pub replace_key_prefix: Option<String>,
    pub replace_key: Option<String>,
    pub code: Option<u16>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRule {
    pub condition: Option<Condition>,
    pub redirect: Redirect,
}

/// A bucket's website configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Website {
    pub index: Option<String>,
    pub error: Option<String>,
    pub redirect_all: Option<RedirectAll>,
    pub rules: Vec<RoutingRule>,
}

pub use super::Invalid;

fn invalid(message: impl Into<String>) -> Invalid {
    ("InvalidArgument", message.into())
}

impl Website {
    /// The configuration PutBucketWebsite stores, checked as AWS checks it.
    pub fn validated(self) -> Result<Website, Invalid> {
        if let Some(all) = &self.redirect_all {
            if self.index.is_some() || self.error.is_some() || !self.rules.is_empty() {
                return Err(invalid(
                    "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.",
                ));
            }
            if all.host.is_empty() {
                return Err(invalid("The HostName of RedirectAllRequestsTo must not be empty."));
            }
            check_protocol(all.protocol.as_deref())?;
            return Ok(self);
        }
        let Some(index) = &self.index else {
            return Err(invalid("A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty"));
        };
        if index.is_empty() || index.contains('/') {
            return Err(invalid("The IndexDocument Suffix is not well formed"));
        }
        if self.error.as_ref().is_some_and(String::is_empty) {
            return Err(invalid("The ErrorDocument Key is not well formed"));
        }
        if self.rules.len() > ROUTING_RULES_MAX {
            let message =
                format!("The number of routing rules should not exceed allowed limit of {ROUTING_RULES_MAX} rules.");
            return Err(invalid(message));
        }
        for rule in &self.rules {
            check_rule(rule)?;
        }
        Ok(self)
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("website configurations serialize")
    }

    pub fn decode(stored: &[u8]) -> Option<Website> {
        serde_json::from_slice(stored).ok()
    }

    /// The key a request path names (decoded, without its leading `/`): the index document's
    /// suffix appended to a folder (the root or a path ending in `/`).
    pub fn key_for(&self, path: &str) -> String {
        match &self.index {
            Some(suffix) if path.is_empty() || path.ends_with('/') => format!("{path}{suffix}"),
            _ => path.to_owned(),
        }
    }

    /// The first routing rule that applies to `key` (as requested) when the object's fetch
    /// answered `error` (`None`: before the fetch, when only rules without an error code apply).
    pub fn rule_for(&self, key: &str, error: Option<u16>) -> Option<&RoutingRule> {
        self.rules.iter().find(|rule| {
            let condition = rule.condition.clone().unwrap_or_default();
            condition.key_prefix.as_deref().is_none_or(|prefix| key.starts_with(prefix))
                && condition.error_code == error
        })
    }
}

impl RoutingRule {
    /// Where the rule sends a request for `key`: (status, Location). `host` and `protocol` are
    /// the request's, used where the rule names none.
    pub fn location(&self, key: &str, host: &str, protocol: &str) -> (u16, String) {
        let redirect = &self.redirect;
        let matched = self.condition.as_ref().and_then(|c| c.key_prefix.as_deref()).unwrap_or("");
        let key = match (&redirect.replace_key, &redirect.replace_key_prefix) {
            (Some(replacement), _) => replacement.clone(),
            (None, Some(prefix)) => format!("{prefix}{}", &key[matched.len().min(key.len())..]),
            (None, None) => key.to_owned(),
        };
        let protocol = redirect.protocol.as_deref().unwrap_or(protocol);
        let host = redirect.host.as_deref().unwrap_or(host);
        (redirect.code.unwrap_or(301), format!("{protocol}://{host}/{}", encode_path(&key)))
    }
}

/// A key as a URL path, each byte outside the unreserved set and `/` percent-encoded.
pub fn encode_path(key: &str) -> String {
    const PATH: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    percent_encoding::utf8_percent_encode(key, PATH).to_string()
}

fn check_protocol(protocol: Option<&str>) -> Result<(), Invalid> {
    match protocol {
        None | Some("http") | Some("https") => Ok(()),
        Some(other) => Err(invalid(format!("Invalid protocol, protocol can be http or https. Given: {other}"))),
    }
}

fn check_rule(rule: &RoutingRule) -> Result<(), Invalid> {
    if let Some(condition) = &rule.condition {
        if condition.key_prefix.is_none() && condition.error_code.is_none() {
            return Err(invalid(
                "Condition cannot be empty. To redirect all requests without a condition, the condition element shouldn't be present.",
            ));
        }
        if let Some(code) = condition.error_code.filter(|code| !(400..600).contains(code)) {
            return Err(invalid(format!(
                "The provided HTTP error code ({code}) is not valid. Valid codes are 4XX or 5XX."
            )));
        }
    }
    let redirect = &rule.redirect;
    if redirect == &Redirect::default() {
        return Err(invalid(
            "Redirect must contain at least one of HostName, Protocol, ReplaceKeyPrefixWith, ReplaceKeyWith or HttpRedirectCode.",
        ));
    }
    if redirect.replace_key.is_some() && redirect.replace_key_prefix.is_some() {
        return Err(invalid("You can only define ReplaceKeyPrefix or ReplaceKey but not both."));
    }
    if let Some(code) = redirect.code.filter(|code| !(301..400).contains(code)) {
        return Err(invalid(format!(
            "The provided HTTP redirect code ({code}) is not valid. Valid codes are 3XX except 300."
        )));
    }
    check_protocol(redirect.protocol.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(rules: Vec<RoutingRule>) -> Website {
        Website { index: Some("index.html".into()), error: Some("404.html".into()), redirect_all: None, rules }
    }

    fn rule(prefix: Option<&str>, error: Option<u16>, redirect: Redirect) -> RoutingRule {
        RoutingRule {
            condition: Some(Condition { key_prefix: prefix.map(str::to_owned), error_code: error }),
            redirect,
        }
    }

    #[test]
    fn folders_name_their_index_document() {
        let website = site(vec![]);
        assert_eq!(website.key_for(""), "index.html");
        assert_eq!(website.key_for("docs/"), "docs/index.html");
        assert_eq!(website.key_for("docs"), "docs");
        assert_eq!(website.key_for("a/b.css"), "a/b.css");
    }

    #[test]
    fn rules_redirect_as_aws_documents() {
        let moved = Redirect { replace_key_prefix: Some("documents/".into()), ..Redirect::default() };
        let missing = Redirect {
            host: Some("other.example".into()),
            replace_key: Some("gone.html".into()),
            code: Some(302),
            protocol: Some("https".into()),
            ..Redirect::default()
        };
        let website = site(vec![rule(Some("docs/"), None, moved), rule(None, Some(404), missing)]).validated().unwrap();
        let before = website.rule_for("docs/a b.html", None).unwrap();
        assert_eq!(
            before.location("docs/a b.html", "site:8080", "http"),
            (301, "http://site:8080/documents/a%20b.html".into())
        );
        assert!(website.rule_for("img/x.png", None).is_none());
        let after = website.rule_for("img/x.png", Some(404)).unwrap();
        assert_eq!(after.location("img/x.png", "site", "http"), (302, "https://other.example/gone.html".into()));
        assert!(website.rule_for("img/x.png", Some(403)).is_none());
        assert_eq!(Website::decode(&website.encode()), Some(website));
    }

    #[test]
    fn configurations_are_checked_as_aws_checks_them() {
        let fails = |website: Website| website.validated().err().map(|(_, message)| message).unwrap_or_default();
        assert!(fails(Website::default()).contains("IndexDocument Suffix must be provided"));
        assert!(
            fails(Website { index: Some("a/index.html".into()), ..Website::default() }).contains("not well formed")
        );
        let all = RedirectAll { host: "example.com".into(), protocol: Some("https".into()) };
        assert!(Website { redirect_all: Some(all.clone()), ..Website::default() }.validated().is_ok());
        assert!(
            fails(Website { redirect_all: Some(all), index: Some("i".into()), ..Website::default() })
                .contains("conjunction")
        );
        let to = |code| Redirect { code: Some(code), ..Redirect::default() };
        assert!(fails(site(vec![rule(Some("a"), None, to(300))])).contains("(300) is not valid"));
        assert!(fails(site(vec![rule(Some("a"), Some(200), to(301))])).contains("4XX or 5XX"));
        assert!(fails(site(vec![rule(None, None, to(301))])).contains("Condition cannot be empty"));
        assert!(fails(site(vec![rule(Some("a"), None, Redirect::default())])).contains("at least one"));
        let both =
            Redirect { replace_key: Some("a".into()), replace_key_prefix: Some("b".into()), ..Redirect::default() };
        assert!(fails(site(vec![rule(Some("a"), None, both)])).contains("not both"));
        let ftp = Redirect { protocol: Some("ftp".into()), ..Redirect::default() };
        assert!(fails(site(vec![rule(Some("a"), None, ftp)])).contains("protocol"));
        let many = vec![rule(Some("a"), None, to(301)); ROUTING_RULES_MAX + 1];
        assert!(fails(site(many.clone())).contains("50 rules"));
        assert!(site(many[..ROUTING_RULES_MAX].to_vec()).validated().is_ok());
    }
}
