//! The optional second factor: time-based one-time codes (RFC 6238: HMAC-SHA1, 6 digits,
//! 30-second steps, one step of clock skew either way), as every authenticator app
//! implements them. A code is accepted once: its step is remembered per user, so a code
//! seen over someone's shoulder cannot be replayed.

use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use totp_rs::{Algorithm, Secret, TOTP};

const DIGITS: usize = 6;
const STEP_SECONDS: u64 = 30;
const SKEW_STEPS: u8 = 1;
/// 160 bits, RFC 4226's recommendation.
const SECRET_BYTES: usize = 20;

fn totp(secret: &[u8]) -> Result<TOTP, String> {
    TOTP::new(Algorithm::SHA1, DIGITS, SKEW_STEPS, STEP_SECONDS, secret.to_vec()).map_err(|e| e.to_string())
}

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    let bytes: [u8; SECRET_BYTES] = rand::rng().random();
    bytes.to_vec()
}

/// The secret as authenticator apps take it (RFC 4648 base32, no padding).
pub fn to_base32(secret: &[u8]) -> String {
    Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

/// A secret typed back by a client (spaces and letter case do not matter); at least
/// 128 bits.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let bytes = Secret::Encoded(text.replace(' ', "").to_ascii_uppercase()).to_bytes().ok()?;
    (bytes.len() >= 16).then_some(bytes)
}

/// The `otpauth://` URI that authenticator apps scan as a QR code. User names are
/// slugs, so they need no escaping.
pub fn otpauth_uri(secret: &[u8], user: &str) -> String {
    format!(
        "otpauth://totp/Sightline:{user}?secret={}&issuer=Sightline&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        to_base32(secret)
    )
}

/// The code for a time (seconds since the epoch); for tests and for clients.
pub fn code_at(secret: &[u8], unix_seconds: u64) -> Result<String, String> {
    Ok(totp(secret)?.generate(unix_seconds))
}

/// The associated data that binds a sealed secret to its user: a secret copied to
/// another user's row does not open.
fn aad(user_id: i64) -> Vec<u8> {
    format!("sightline/users/totp_secret/{user_id}").into_bytes()
}

/// Seals a user's secret under the active master key for storage.
pub fn seal(ring: &sightline_store::KeyRing, user_id: i64, secret: &[u8]) -> Result<Vec<u8>, String> {
    ring.seal(secret, &aad(user_id)).map_err(|e| e.to_string())
}

/// Opens a stored secret; an error if it was tampered with or its key is gone.
pub fn open(ring: &sightline_store::KeyRing, user_id: i64, sealed: &[u8]) -> Result<Vec<u8>, String> {
    ring.open(sealed, &aad(user_id)).map_err(|e| e.to_string())
}

/// Remembers the last accepted step per user.
#[derive(Default)]
pub struct ReplayGuard {
    last_step: Mutex<HashMap<i64, u64>>,
}

impl ReplayGuard {
    /// Checks `code` for `user` at `unix_seconds`: right for this step or a neighbour,
    /// and not from a step already used.
    pub fn verify(&self, user: i64, secret: &[u8], code: &str, unix_seconds: u64) -> bool {
        let Ok(t) = totp(secret) else { return false };
        let now_step = unix_seconds / STEP_SECONDS;
        let matching = (now_step.saturating_sub(u64::from(SKEW_STEPS))..=now_step + u64::from(SKEW_STEPS))
            .find(|&step| constant_time_eq(t.generate(step * STEP_SECONDS).as_bytes(), code.trim().as_bytes()));
        let Some(step) = matching else { return false };
        let mut last = self.last_step.lock().unwrap_or_else(|p| p.into_inner());
        if last.get(&user).is_some_and(|&used| step <= used) {
            return false;
        }
        last.insert(user, step);
        true
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_test_vectors() {
        // RFC 6238 appendix B, SHA1 secret "12345678901234567890", last 6 of 8 digits.
        let secret = b"12345678901234567890";
        for (t, code) in
            [(59, "287082"), (1_111_111_109, "081804"), (1_234_567_890, "005924"), (2_000_000_000, "279037")]
        {
            assert_eq!(code_at(secret, t).expect("code"), code, "t = {t}");
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(to_base32(b"foobar"), "MZXW6YTBOI");
        let s = new_secret();
        assert_eq!(from_base32(&to_base32(&s)), Some(s));
        assert_eq!(from_base32("not base32!"), None);
        assert_eq!(from_base32("MZXW6"), None, "too short to be a secret");
    }

    #[test]
    fn a_code_is_accepted_once_within_the_skew() {
        let guard = ReplayGuard::default();
        let secret = new_secret();
        let t = 1_800_000_000;
        let code = code_at(&secret, t).expect("code");
        assert!(!guard.verify(1, &secret, "000000x", t));
        assert!(guard.verify(1, &secret, &code, t + 25), "the next step still takes it");
        assert!(!guard.verify(1, &secret, &code, t + 25), "but only once");
        assert!(guard.verify(2, &secret, &code, t), "per user");
        let later = code_at(&secret, t + 300).expect("code");
        assert!(!guard.verify(1, &secret, &code, t + 300), "an old code has expired");
        assert!(guard.verify(1, &secret, &later, t + 300));
    }
}
