//! MFA devices: RFC 6238 time-based one-time passwords (TOTP: HMAC-SHA1, six digits, 30-second
//! steps, via `totp-rs`), a few per account, and the check of the `x-amz-mfa: <serial> <code>`
//! header that S3's MFA delete asks for.
//!
//! A device is an account configuration document in the engine (`mfa/<name>`: its secret and
//! the last step a code was accepted for), so it is as durable as the buckets it guards. A code
//! is taken once: the step it belongs to must be later than the last one accepted, and that
//! step is committed before the request goes on, so a code replayed, even across a restart, is
//! refused. `cairn mfa add` makes a device (with the server stopped) and prints its secret.

use cairn_engine::Engine;
use totp_rs::{Algorithm, TOTP};

/// Devices an account may have (AWS allows eight per user).
pub const DEVICES_PER_ACCOUNT_MAX: usize = 8;
/// The longest device name (AWS's limit for an MFA device's name).
pub const DEVICE_NAME_BYTES_MAX: usize = 64;
/// Bytes of a device's secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;
/// Seconds of one step: a code is good for its step.
pub const STEP_SECONDS: u64 = 30;
/// Codes of this many steps before and after the current one are accepted too (clock drift).
pub const SKEW_STEPS: u64 = 1;
const DIGITS: usize = 6;
/// The issuer authenticator apps show beside a device.
const ISSUER: &str = "Cairn";
/// Where an account's devices are kept among its configuration documents.
const CONFIG_PREFIX: &str = "mfa/";

/// One MFA device of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub secret: Vec<u8>,
    /// The last step a code was accepted for (0: none yet).
    pub last_step: u64,
}

impl Device {
    /// Stored as `<base32 secret> <last step>`.
    fn encode(&self) -> Vec<u8> {
        format!("{} {}", base32(&self.secret), self.last_step).into_bytes()
    }

    fn decode(name: &str, stored: &[u8]) -> Option<Device> {
        let text = std::str::from_utf8(stored).ok()?;
        let (secret, last_step) = text.split_once(' ')?;
        let secret = totp_rs::Secret::Encoded(secret.to_owned()).to_bytes().ok()?;
        Some(Device { name: name.to_owned(), secret, last_step: last_step.parse().ok()? })
    }

    fn totp(&self, label: &str) -> TOTP {
        let label = label.replace(':', "-");
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECONDS, self.secret.clone(), Some(ISSUER.into()), label)
    }

    /// The code of the step that holds `unix_seconds`.
    pub fn code_at(&self, unix_seconds: u64) -> String {
        self.totp("").generate(unix_seconds)
    }

    /// The `otpauth://` URI an authenticator app takes (as a QR code or pasted).
    pub fn otpauth_uri(&self, account_name: &str) -> String {
        self.totp(&format!("{account_name}/{}", self.name)).get_url()
    }

    pub fn secret_base32(&self) -> String {
        base32(&self.secret)
    }
}

fn base32(bytes: &[u8]) -> String {
    totp_rs::Secret::Raw(bytes.to_vec()).to_encoded().to_string()
}

/// A device's serial, as `x-amz-mfa` names it: its ARN in the owning account.
pub fn serial(account_id: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:mfa/{name}")
}

/// Why a device could not be added or removed.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("a device name is 1 to {DEVICE_NAME_BYTES_MAX} letters, digits or +=,.@-_")]
    InvalidName,
    #[error("the account already has a device named {0:?}")]
    Exists(String),
    #[error("the account has no device named {0:?}")]
    Missing(String),
    #[error("an account has at most {DEVICES_PER_ACCOUNT_MAX} devices")]
    TooMany,
    #[error(transparent)]
    Engine(#[from] cairn_engine::Error),
}

/// The devices of an account (by its 12-digit id), by name.
pub fn devices(engine: &Engine, account_id: &str) -> Vec<Device> {
    engine
        .account_configs(account_id, CONFIG_PREFIX)
        .into_iter()
        .filter_map(|(config, stored)| Device::decode(config.strip_prefix(CONFIG_PREFIX)?, &stored))
        .collect()
}

/// Makes a device with a new random secret for the account.
pub fn add(engine: &Engine, account_id: &str, name: &str) -> Result<Device, DeviceError> {
    let valid = |b: u8| b.is_ascii_alphanumeric() || b"+=,.@-_".contains(&b);
    if name.is_empty() || name.len() > DEVICE_NAME_BYTES_MAX || !name.bytes().all(valid) {
        return Err(DeviceError::InvalidName);
    }
    let existing = devices(engine, account_id);
    if existing.iter().any(|d| d.name == name) {
        return Err(DeviceError::Exists(name.to_owned()));
    }
    if existing.len() >= DEVICES_PER_ACCOUNT_MAX {
        return Err(DeviceError::TooMany);
    }
    let device = Device { name: name.to_owned(), secret: rand::random::<[u8; SECRET_BYTES]>().to_vec(), last_step: 0 };
    engine.put_account_config(account_id, &format!("{CONFIG_PREFIX}{name}"), &device.encode())?;
    Ok(device)
}

pub fn remove(engine: &Engine, account_id: &str, name: &str) -> Result<(), DeviceError> {
    let config = format!("{CONFIG_PREFIX}{name}");
    if engine.get_account_config(account_id, &config).is_none() {
        return Err(DeviceError::Missing(name.to_owned()));
    }
    engine.delete_account_config(account_id, &config)?;
    Ok(())
}

/// Why an `x-amz-mfa` header was refused (S3 answers each with AccessDenied).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Mfa Authentication must be used for this request")]
    Missing,
    #[error("The x-amz-mfa header must be a device serial and a code, separated by a space")]
    Malformed,
    #[error("The MFA device named is not the bucket owner's")]
    UnknownDevice,
    #[error("The MFA code is not valid, or was already used")]
    WrongCode,
    #[error("The MFA check could not be recorded")]
    Store,
}

/// Checks `x-amz-mfa` headers against the devices of the accounts they name. One code check
/// at a time, so a code cannot be taken by two requests at once.
#[derive(Debug, Default)]
pub struct Verifier {
    taking: std::sync::Mutex<()>,
}

impl Verifier {
    /// Accepts `header` if it names a device of `account_id` and a code of it not taken before,
    /// within `SKEW_STEPS` of `unix_seconds`; the step is committed before this returns.
    /// Blocks on the commit: call it off the async workers.
    pub fn verify(
        &self,
        engine: &Engine,
        account_id: &str,
        header: Option<&str>,
        unix_seconds: u64,
    ) -> Result<(), Refusal> {
        let header = header.ok_or(Refusal::Missing)?;
        let (serial_given, code) = header.trim().split_once(' ').ok_or(Refusal::Malformed)?;
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::Malformed);
        }
        let name =
            serial_given.strip_prefix(&format!("arn:aws:iam::{account_id}:mfa/")).ok_or(Refusal::UnknownDevice)?;
        let config = format!("{CONFIG_PREFIX}{name}");
        let _taking = self.taking.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let stored = engine.get_account_config(account_id, &config).ok_or(Refusal::UnknownDevice)?;
        let mut device = Device::decode(name, &stored).ok_or(Refusal::UnknownDevice)?;
        let now = unix_seconds / STEP_SECONDS;
        let step = (now.saturating_sub(SKEW_STEPS)..=now + SKEW_STEPS)
            .filter(|step| *step > device.last_step)
            .find(|step| constant_time_eq(device.code_at(step * STEP_SECONDS).as_bytes(), code.as_bytes()))
            .ok_or(Refusal::WrongCode)?;
        device.last_step = step;
        engine.put_account_config(account_id, &config, &device.encode()).map_err(|_| Refusal::Store)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's SHA-1 test vectors (its secret, eight digits cut to six: the low six digits).
    #[test]
    fn codes_follow_rfc_6238() {
        let device = Device { name: "d".into(), secret: b"12345678901234567890".to_vec(), last_step: 0 };
        for (time, code) in
            [(59, "287082"), (1_111_111_109, "081804"), (1_234_567_890, "005924"), (2_000_000_000, "279037")]
        {
            assert_eq!(device.code_at(time), code, "{time}");
        }
        let decoded = Device::decode("d", &device.encode()).unwrap();
        assert_eq!(decoded, device);
        assert!(device.otpauth_uri("root").starts_with("otpauth://totp/Cairn:root%2Fd?secret="));
    }

    #[test]
    fn a_code_is_taken_once_and_only_near_its_time() {
        let dir = tempfile::tempdir().unwrap();
        let config = cairn_engine::EngineConfig { background: false, ..Default::default() };
        let engine = Engine::open(dir.path(), config).unwrap();
        let device = add(&engine, "123456789012", "phone").unwrap();
        let serial = serial("123456789012", "phone");
        let verifier = Verifier::default();
        let t = 1_700_000_000;
        let header = |code: String| format!("{serial} {code}");
        let check = |h: Option<&str>, at| verifier.verify(&engine, "123456789012", h, at);
        assert_eq!(check(None, t), Err(Refusal::Missing));
        assert_eq!(check(Some("garbage"), t), Err(Refusal::Malformed));
        assert_eq!(check(Some(&format!("{serial} 12345")), t), Err(Refusal::Malformed));
        let other = format!("{} {}", super::serial("999999999999", "phone"), device.code_at(t));
        assert_eq!(check(Some(&other), t), Err(Refusal::UnknownDevice));
        // Too far from its step.
        assert_eq!(check(Some(&header(device.code_at(t - 5 * STEP_SECONDS))), t), Err(Refusal::WrongCode));
        check(Some(&header(device.code_at(t))), t).unwrap();
        assert_eq!(check(Some(&header(device.code_at(t))), t), Err(Refusal::WrongCode), "used once");
        // An earlier step than the one taken is refused too; the next one is fine.
        assert_eq!(check(Some(&header(device.code_at(t - STEP_SECONDS))), t), Err(Refusal::WrongCode));
        check(Some(&header(device.code_at(t + STEP_SECONDS))), t).unwrap();
        assert!(matches!(add(&engine, "123456789012", "phone"), Err(DeviceError::Exists(_))));
        assert!(matches!(add(&engine, "123456789012", "bad name"), Err(DeviceError::InvalidName)));
        for n in 1..DEVICES_PER_ACCOUNT_MAX {
            add(&engine, "123456789012", &format!("d{n}")).unwrap();
        }
        assert!(matches!(add(&engine, "123456789012", "one-more"), Err(DeviceError::TooMany)));
        remove(&engine, "123456789012", "phone").unwrap();
        assert_eq!(devices(&engine, "123456789012").len(), DEVICES_PER_ACCOUNT_MAX - 1);
    }
}
