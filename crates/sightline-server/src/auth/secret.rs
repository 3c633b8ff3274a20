//! Secrets the server makes and checks: API tokens, session ids, CSRF tokens and
//! password hashes. Only digests and hashes of them are ever stored.
//!
//! An API token reads `sl_` + 32 random letters and digits (≈190 bits) + a 6-character
//! checksum (CRC-32 of what precedes it). The prefix makes a leaked token easy to find
//! by secret scanners; the checksum lets the server reject a mistyped or made-up token
//! without a database lookup. Tokens are random enough that a plain SHA-256 digest is a
//! safe way to store them; passwords are not, so they get Argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

pub const TOKEN_PREFIX: &str = "sl_";
const TOKEN_RANDOM_CHARS: usize = 32;
const CHECKSUM_CHARS: usize = 6;
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + TOKEN_RANDOM_CHARS + CHECKSUM_CHARS;
/// Characters of a token shown in lists to recognise it.
const DISPLAY_CHARS: usize = TOKEN_PREFIX.len() + 6;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| b as char).collect()
}

/// A new API token.
pub fn generate_token() -> String {
    let body: String = std::iter::once(TOKEN_PREFIX.to_owned())
        .chain([rand::rng().sample_iter(Alphanumeric).take(TOKEN_RANDOM_CHARS).map(char::from).collect()])
        .collect();
    let sum = checksum(&body);
    body + &sum
}

/// Whether `text` has the shape and checksum of a Sightline token.
pub fn is_well_formed_token(text: &str) -> bool {
    text.len() == TOKEN_LEN
        && text.starts_with(TOKEN_PREFIX)
        && text.bytes().skip(TOKEN_PREFIX.len()).all(|b| b.is_ascii_alphanumeric())
        && checksum(&text[..TOKEN_LEN - CHECKSUM_CHARS]) == text[TOKEN_LEN - CHECKSUM_CHARS..]
}

/// The recognisable, non-secret start of a token.
pub fn display_prefix(token: &str) -> String {
    token.chars().take(DISPLAY_CHARS).collect()
}

/// SHA-256 of a high-entropy secret (token, session id, CSRF token): its stored form.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// 256 random bits, URL-safe: session ids and CSRF tokens.
pub fn random_secret() -> String {
    rand::rng().sample_iter(Alphanumeric).take(43).map(char::from).collect()
}

/// OWASP's minimum for Argon2id: 19 MiB of memory, 2 iterations, 1 lane.
fn argon2() -> Argon2<'static> {
    // These constants are within Argon2's limits, so `new` cannot fail on them.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password (tens of milliseconds of CPU: call off the async threads).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::from_b64(&base64_salt()).map_err(|e| e.to_string())?;
    argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

fn base64_salt() -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand::rng().random();
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Checks a password against a stored hash (as slow as hashing, on purpose).
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the account does not exist, so that a login for an
/// unknown name takes as long as one for a known name with a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_secret()).unwrap_or_default())
}

/// Length rules for new passwords (NIST SP 800-63B: length, not composition).
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < 12 {
        return Err("must be at least 12 characters".into());
    }
    if password.len() > 1024 {
        return Err("must be at most 1024 bytes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_well_formed_and_distinct() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        for t in [&a, &b] {
            assert_eq!(t.len(), TOKEN_LEN);
            assert!(is_well_formed_token(t), "{t}");
        }
        assert!(display_prefix(&a).len() < TOKEN_LEN / 3);
    }

    #[test]
    fn a_changed_character_fails_the_checksum() {
        let t = generate_token();
        for i in TOKEN_PREFIX.len()..t.len() {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).expect("ascii");
            assert!(!is_well_formed_token(&changed), "{changed}");
        }
        assert!(!is_well_formed_token(""));
        assert!(!is_well_formed_token("sl_"));
        assert!(!is_well_formed_token(&t[..t.len() - 1]));
        assert!(!is_well_formed_token(&format!("{}é", &t[..t.len() - 2])));
    }

    #[test]
    fn passwords_hash_with_argon2id_at_the_owasp_minimum() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse battery!", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(check_password("short").is_err());
        assert!(check_password("twelve chars").is_ok());
    }
}
