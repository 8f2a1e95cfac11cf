//! S3 Object Lock: Put/GetObjectLockConfiguration, Put/GetObjectRetention,
//! Put/GetObjectLegalHold; the lock a write asks for (its `x-amz-object-lock-*` headers, else the
//! bucket's default retention); what GET and HEAD show of a version's lock; and the governance
//! bypass. The engine enforces the lock as each delete and change commits.

use cairn_engine::{LockChange, OBJECT_LOCK_CONFIG, ObjectLock, Retention, RetentionMode};

use super::*;
use crate::s3::cors::require_digest;

/// A day of retention, as S3 counts a default retention's `Days` (and `Years` as 365 of them).
const DAY_MS: u64 = 86_400_000;

/// The longest default retention AWS takes: 100 years, or as many days.
pub const DEFAULT_RETENTION_DAYS_MAX: i32 = 36_500;
pub const DEFAULT_RETENTION_YEARS_MAX: i32 = 100;

/// The period of a bucket's default retention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Period {
    Days(i32),
    Years(i32),
}

/// A bucket's default retention: the `Rule` of its Object Lock configuration, stored in the
/// engine's `OBJECT_LOCK_CONFIG` document as `<MODE> days|years <n>` (empty: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DefaultRule {
    mode: RetentionMode,
    period: Period,
}

impl DefaultRule {
    fn encode(rule: Option<DefaultRule>) -> Vec<u8> {
        match rule {
            None => Vec::new(),
            Some(DefaultRule { mode, period: Period::Days(n) }) => format!("{} days {n}", mode.as_str()).into_bytes(),
            Some(DefaultRule { mode, period: Period::Years(n) }) => format!("{} years {n}", mode.as_str()).into_bytes(),
        }
    }

    fn decode(stored: &[u8]) -> Option<DefaultRule> {
        let text = std::str::from_utf8(stored).ok()?;
        let mut words = text.split(' ');
        let mode = RetentionMode::parse(words.next()?)?;
        let (unit, n) = (words.next()?, words.next()?.parse().ok()?);
        let period = match unit {
            "days" => Period::Days(n),
            "years" => Period::Years(n),
            _ => return None,
        };
        Some(DefaultRule { mode, period })
    }

    /// The retention a version written at `now_ms` gets.
    fn retention(self, now_ms: u64) -> Retention {
        let days = match self.period {
            Period::Days(n) => n as u64,
            Period::Years(n) => n as u64 * 365,
        };
        Retention { mode: self.mode, until_ms: now_ms + days * DAY_MS }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn timestamp_ms(timestamp: &Timestamp) -> u64 {
    let nanos = time::OffsetDateTime::from(timestamp.clone()).unix_timestamp_nanos();
    u64::try_from(nanos / 1_000_000).unwrap_or(0)
}

fn missing_configuration() -> s3s::S3Error {
    s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration")
}

/// The lock headers of a write (PutObject, CopyObject, CreateMultipartUpload).
pub(super) struct LockHeaders<'a> {
    pub mode: Option<&'a ObjectLockMode>,
    pub retain_until: Option<&'a Timestamp>,
    pub legal_hold: Option<&'a ObjectLockLegalHoldStatus>,
}

impl Cairn {
    /// The lock a new version in `bucket` gets: what its headers ask, checked as AWS checks
    /// them, else the bucket's default retention. A bucket without Object Lock takes no lock
    /// headers.
    pub(super) fn write_lock(&self, bucket: &str, asked: LockHeaders<'_>) -> S3Result<ObjectLock> {
        let stored = self.engine.get_bucket_config(bucket, OBJECT_LOCK_CONFIG).map_err(to_s3)?;
        write_lock(stored.as_deref(), asked)
    }
}

/// The lock a new version gets, given the bucket's stored Object Lock configuration (`None`:
/// Object Lock is off).
pub(super) fn write_lock(stored: Option<&[u8]>, asked: LockHeaders<'_>) -> S3Result<ObjectLock> {
    let named = asked.mode.is_some() || asked.retain_until.is_some() || asked.legal_hold.is_some();
    let Some(stored) = stored else {
        return if named {
            Err(s3_error!(InvalidRequest, "Bucket is missing ObjectLockConfiguration"))
        } else {
            Ok(ObjectLock::default())
        };
    };
    let legal_hold = match asked.legal_hold.map(|s| s.as_str()) {
        None => None,
        Some(ObjectLockLegalHoldStatus::ON) => Some(true),
        Some(ObjectLockLegalHoldStatus::OFF) => Some(false),
        Some(_) => return Err(s3_error!(InvalidArgument, "Legal Hold must be either of 'ON' or 'OFF'")),
    };
    let now = now_ms();
    let retention = match (asked.mode, asked.retain_until) {
        (None, None) => DefaultRule::decode(stored).map(|rule| rule.retention(now)),
        (Some(mode), Some(until)) => {
            let mode = RetentionMode::parse(mode.as_str())
                .ok_or_else(|| s3_error!(InvalidArgument, "Unknown wormMode directive."))?;
            let until_ms = timestamp_ms(until);
            if until_ms <= now {
                return Err(s3_error!(InvalidArgument, "The retain until date must be in the future!"));
            }
            Some(Retention { mode, until_ms })
        }
        _ => {
            return Err(s3_error!(
                InvalidArgument,
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
            ));
        }
    };
    Ok(ObjectLock { retention, legal_hold })
}

impl Cairn {
    /// Whether a request that asks to bypass governance retention may: it says so and holds
    /// `s3:BypassGovernanceRetention` on the object. Without the permission it simply does not
    /// bypass (a governed version then refuses it, as AWS).
    pub(super) fn bypass(&self, origin: Origin<'_>, asked: Option<bool>, bucket: &str, key: &str) -> bool {
        asked == Some(true)
            && self
                .authorize(origin, "s3:BypassGovernanceRetention", Resource::Object { bucket, key }, None, None)
                .is_ok()
    }

    /// The lock headers of a GET or HEAD: a retention to a requester allowed
    /// `s3:GetObjectRetention`, a legal hold to one allowed `s3:GetObjectLegalHold` (as AWS).
    /// Versions without a lock, nearly all, cost nothing here.
    pub(super) fn read_lock(
        &self,
        origin: Origin<'_>,
        bucket: &str,
        key: &str,
        lock: &ObjectLock,
    ) -> (Option<ObjectLockMode>, Option<Timestamp>, Option<ObjectLockLegalHoldStatus>) {
        if *lock == ObjectLock::default() {
            return (None, None, None);
        }
        let may = |action| self.authorize(origin, action, Resource::Object { bucket, key }, None, None).is_ok();
        let (mode, until) = match lock.retention {
            Some(retention) if may("s3:GetObjectRetention") => {
                (Some(ObjectLockMode::from(retention.mode.as_str().to_owned())), Some(timestamp(retention.until_ms)))
            }
            _ => (None, None),
        };
        let hold = lock.legal_hold.filter(|_| may("s3:GetObjectLegalHold")).map(hold_status);
        (mode, until, hold)
    }

    pub(super) async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        require_digest(&req.headers)?;
        let input = req.input;
        let config = input.object_lock_configuration.ok_or_else(|| s3_error!(MalformedXML))?;
        if config.object_lock_enabled.as_ref().map(|e| e.as_str()) != Some(ObjectLockEnabled::ENABLED) {
            return Err(s3_error!(MalformedXML, "ObjectLockEnabled must be Enabled"));
        }
        let rule = config.rule.map(default_rule).transpose()?;
        let bucket = input.bucket;
        if !self.engine.object_lock(&bucket).map_err(to_s3)?
            && self.engine.versioning(&bucket).map_err(to_s3)? != VersioningState::Enabled
        {
            return Err(s3_error!(
                InvalidBucketState,
                "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
            ));
        }
        let value = DefaultRule::encode(rule);
        self.blocking(move |engine| engine.put_bucket_config(&bucket, OBJECT_LOCK_CONFIG, &value)).await?;
        Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
    }

    pub(super) async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let stored = self.engine.get_bucket_config(&req.input.bucket, OBJECT_LOCK_CONFIG).map_err(to_s3)?;
        let stored = stored.ok_or_else(|| {
            s3_error!(ObjectLockConfigurationNotFoundError, "Object Lock configuration does not exist for this bucket")
        })?;
        let rule = DefaultRule::decode(&stored).map(|rule| ObjectLockRule {
            default_retention: Some(DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from(rule.mode.as_str().to_owned())),
                days: match rule.period {
                    Period::Days(n) => Some(n),
                    Period::Years(_) => None,
                },
                years: match rule.period {
                    Period::Years(n) => Some(n),
                    Period::Days(_) => None,
                },
            }),
        });
        Ok(S3Response::new(GetObjectLockConfigurationOutput {
            object_lock_configuration: Some(ObjectLockConfiguration {
                object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
                rule,
            }),
        }))
    }

    pub(super) async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        require_digest(&req.headers)?;
        let input = &req.input;
        let (version, _) = self.version_lock(&input.bucket, &input.key, input.version_id.as_deref())?;
        let retention = input.retention.as_ref().ok_or_else(|| s3_error!(MalformedXML))?;
        let new = match (&retention.mode, &retention.retain_until_date) {
            // An empty Retention removes it (governance, with the bypass).
            (None, None) => None,
            (Some(mode), Some(until)) => {
                let mode = RetentionMode::parse(mode.as_str()).ok_or_else(|| s3_error!(MalformedXML))?;
                let until_ms = timestamp_ms(until);
                if until_ms <= now_ms() {
                    return Err(s3_error!(InvalidArgument, "The retain until date must be in the future!"));
                }
                Some(Retention { mode, until_ms })
            }
            _ => return Err(s3_error!(MalformedXML)),
        };
        let bypass = self.bypass(origin!(req), input.bypass_governance_retention, &input.bucket, &input.key);
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        self.blocking(move |engine| engine.set_object_lock(&bucket, &key, version, LockChange::Retention(new), bypass))
            .await?;
        Ok(S3Response::new(PutObjectRetentionOutput::default()))
    }

    pub(super) async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        let input = req.input;
        let (_, lock) = self.version_lock(&input.bucket, &input.key, input.version_id.as_deref())?;
        let retention = lock.retention.ok_or_else(no_lock)?;
        Ok(S3Response::new(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention {
                mode: Some(ObjectLockRetentionMode::from(retention.mode.as_str().to_owned())),
                retain_until_date: Some(timestamp(retention.until_ms)),
            }),
        }))
    }

    pub(super) async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        require_digest(&req.headers)?;
        let input = req.input;
        let (version, _) = self.version_lock(&input.bucket, &input.key, input.version_id.as_deref())?;
        let status = input.legal_hold.and_then(|hold| hold.status);
        let on = match status.as_ref().map(|s| s.as_str()) {
            Some(ObjectLockLegalHoldStatus::ON) => true,
            Some(ObjectLockLegalHoldStatus::OFF) => false,
            _ => return Err(s3_error!(MalformedXML)),
        };
        let (bucket, key) = (input.bucket, input.key);
        self.blocking(move |engine| engine.set_object_lock(&bucket, &key, version, LockChange::LegalHold(on), false))
            .await?;
        Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
    }

    pub(super) async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        let input = req.input;
        let (_, lock) = self.version_lock(&input.bucket, &input.key, input.version_id.as_deref())?;
        let on = lock.legal_hold.ok_or_else(no_lock)?;
        Ok(S3Response::new(GetObjectLegalHoldOutput {
            legal_hold: Some(ObjectLockLegalHold { status: Some(hold_status(on)) }),
        }))
    }

    /// The version a retention or legal hold operation names, and its lock: a missing key or
    /// version first (as AWS), then a bucket without Object Lock.
    fn version_lock(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<(Option<VersionId>, ObjectLock)> {
        let version = version_param(version_id)?;
        let (_, info) = self.engine.head_object(bucket, key, version).map_err(to_s3)?;
        if !self.engine.object_lock(bucket).map_err(to_s3)? {
            return Err(missing_configuration());
        }
        Ok((version, info.attributes.lock))
    }
}

/// S3's 404 for a version that has no retention (or no legal hold) to show.
fn no_lock() -> s3s::S3Error {
    s3_error!(NoSuchObjectLockConfiguration, "The specified object does not have a ObjectLock configuration")
}

fn hold_status(on: bool) -> ObjectLockLegalHoldStatus {
    ObjectLockLegalHoldStatus::from_static(if on {
        ObjectLockLegalHoldStatus::ON
    } else {
        ObjectLockLegalHoldStatus::OFF
    })
}

/// A configuration's `Rule` as AWS validates it: a DefaultRetention with a mode and exactly one
/// of Days and Years (MalformedXML otherwise), a period of 1 to the maximum (InvalidArgument).
fn default_rule(rule: ObjectLockRule) -> S3Result<DefaultRule> {
    let retention = rule.default_retention.ok_or_else(|| s3_error!(MalformedXML))?;
    let mode = retention.mode.as_ref().and_then(|m| RetentionMode::parse(m.as_str()));
    let mode = mode.ok_or_else(|| s3_error!(MalformedXML))?;
    let (period, max) = match (retention.days, retention.years) {
        (Some(days), None) => (Period::Days(days), DEFAULT_RETENTION_DAYS_MAX),
        (None, Some(years)) => (Period::Years(years), DEFAULT_RETENTION_YEARS_MAX),
        _ => return Err(s3_error!(MalformedXML)),
    };
    let (Period::Days(n) | Period::Years(n)) = period;
    if n <= 0 {
        return Err(s3_error!(InvalidArgument, "Default retention period must be a positive integer value"));
    }
    if n > max {
        return Err(s3_error!(InvalidArgument, "Default retention period is too large."));
    }
    Ok(DefaultRule { mode, period })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_round_trip() {
        for rule in [
            None,
            Some(DefaultRule { mode: RetentionMode::Governance, period: Period::Days(1) }),
            Some(DefaultRule { mode: RetentionMode::Compliance, period: Period::Years(100) }),
        ] {
            assert_eq!(DefaultRule::decode(&DefaultRule::encode(rule)), rule);
        }
        let rule = DefaultRule { mode: RetentionMode::Compliance, period: Period::Years(2) };
        assert_eq!(rule.retention(1000).until_ms, 1000 + 730 * DAY_MS);
    }
}
