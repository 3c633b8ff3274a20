//! Unit tests of sealing and the key file: round trips, every kind of damage, key ids,
//! nonces, file permissions and format errors.

use super::*;
use std::collections::HashSet;

fn key(byte: u8) -> Zeroizing<[u8; KEY_LEN]> {
    Zeroizing::new([byte; KEY_LEN])
}

fn ring(ids: &[KeyId]) -> KeyRing {
    KeyRing::new(ids.iter().map(|&id| (id, key(id as u8))).collect()).expect("a valid ring")
}

#[test]
fn round_trips_under_the_active_key() {
    let r = ring(&[1, 2]);
    for plaintext in [&b""[..], b"x", b"features and tags", &[0u8; 5000]] {
        let sealed = r.seal(plaintext, b"row 7").expect("seal");
        assert_eq!(sealed.len(), plaintext.len() + OVERHEAD);
        assert_eq!(key_id_of(&sealed), Ok(2), "the last key seals");
        assert!(is_sealed(&sealed));
        assert_eq!(r.open(&sealed, b"row 7").expect("open"), plaintext);
    }
}

#[test]
fn damage_anywhere_is_an_error_never_plaintext() {
    let r = ring(&[1, 2]);
    let plaintext = b"age=41 plan=pro";
    let sealed = r.seal(plaintext, b"aad").expect("seal");
    // Every byte of every region: format, key id, nonce, ciphertext, tag.
    for i in 0..sealed.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = sealed.clone();
            bad[i] ^= flip;
            let result = r.open(&bad, b"aad");
            assert!(result.is_err(), "byte {i} ^ {flip:#x} opened: {result:?}");
        }
    }
    // Truncated at every length, and extended.
    for n in 0..sealed.len() {
        assert!(r.open(&sealed[..n], b"aad").is_err(), "truncated to {n} bytes opened");
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert_eq!(r.open(&longer, b"aad"), Err(CryptoError::Authentication));
}

#[test]
fn changing_the_key_id_fails_to_open() {
    let r = ring(&[1, 2]);
    let mut sealed = r.seal(b"secret", b"aad").expect("seal");
    sealed[1..5].copy_from_slice(&1u32.to_be_bytes());
    assert_eq!(r.open(&sealed, b"aad"), Err(CryptoError::Authentication), "another held key");
    sealed[1..5].copy_from_slice(&9u32.to_be_bytes());
    assert_eq!(r.open(&sealed, b"aad"), Err(CryptoError::UnknownKey(9)));
}

#[test]
fn other_associated_data_fails_to_open() {
    let r = ring(&[1]);
    let sealed = r.seal(b"secret", b"model 1 request a").expect("seal");
    for other in [&b""[..], b"model 1 request b", b"model 1 request a ", b"model 2 request a"] {
        assert_eq!(r.open(&sealed, other), Err(CryptoError::Authentication), "{other:?}");
    }
}

#[test]
fn keys_outside_the_ring_are_refused() {
    let sealed = ring(&[1, 3]).seal(b"secret", b"aad").expect("seal");
    assert_eq!(ring(&[1, 2]).open(&sealed, b"aad"), Err(CryptoError::UnknownKey(3)));
    // Same id, different key material.
    let other = KeyRing::new(vec![(3, key(99))]).expect("ring");
    assert_eq!(other.open(&sealed, b"aad"), Err(CryptoError::Authentication));
}

#[test]
fn every_key_opens_what_it_sealed_after_rotation() {
    let old = ring(&[1]);
    let sealed_old = old.seal(b"before", b"a").expect("seal");
    let rotated = ring(&[1, 2]);
    let sealed_new = rotated.seal(b"after", b"a").expect("seal");
    assert_eq!(rotated.open(&sealed_old, b"a").expect("old key opens"), b"before");
    assert_eq!(rotated.open(&sealed_new, b"a").expect("new key opens"), b"after");
    assert_eq!(old.open(&sealed_new, b"a"), Err(CryptoError::UnknownKey(2)));
}

#[test]
fn nonces_are_unique_and_ciphertexts_differ() {
    let r = KeyRing::generate(1);
    let mut nonces = HashSet::new();
    let mut bodies = HashSet::new();
    for _ in 0..20_000 {
        let sealed = r.seal(b"same plaintext", b"same aad").expect("seal");
        assert!(nonces.insert(sealed[HEADER_LEN..HEADER_LEN + NONCE_LEN].to_vec()), "a nonce repeated");
        assert!(bodies.insert(sealed[HEADER_LEN + NONCE_LEN..].to_vec()), "a ciphertext repeated");
    }
}

#[test]
fn plaintext_formats_are_not_envelopes() {
    // The feature codec's format byte and a JSON array's bracket.
    for stored in [&[1u8, 0][..], b"[[\"k\",\"v\"]]", b""] {
        assert!(!is_sealed(stored));
    }
    assert_eq!(key_id_of(&[1, 0, 0, 0, 1]), Err(CryptoError::Format(1)));
    assert_eq!(key_id_of(&[ENVELOPE_FORMAT, 0, 0]), Err(CryptoError::Truncated));
}

#[test]
fn debug_output_names_ids_and_never_key_material() {
    let r = ring(&[4, 7]);
    let shown = format!("{r:?} {:?}", Keys::new(ring(&[4, 7])));
    assert!(shown.contains("[4, 7]") && shown.contains("active: 7"), "{shown}");
    let b64 = STANDARD.encode([7u8; KEY_LEN]);
    assert!(!shown.contains(&b64) && !shown.contains("7, 7, 7"), "{shown}");
}

#[test]
fn rings_compare_shared_ids_by_key_material() {
    assert_eq!(ring(&[1, 2]).first_mismatch(&ring(&[2, 3])), None);
    assert_eq!(ring(&[1]).first_mismatch(&ring(&[2])), None, "no shared id");
    let edited = KeyRing::new(vec![(1, key(1)), (2, key(77))]).expect("ring");
    assert_eq!(ring(&[1, 2]).first_mismatch(&edited), Some(2));
}

#[test]
fn rings_refuse_duplicates_and_emptiness() {
    assert!(KeyRing::new(vec![]).is_none());
    assert!(KeyRing::new(vec![(1, key(1)), (1, key(2))]).is_none());
}

fn parse(text: &str) -> Result<KeyRing, KeyFileError> {
    parse_key_file(text, Path::new("keys"))
}

fn line(id: &str, len: usize) -> String {
    format!("{id} {}\n", STANDARD.encode(vec![5u8; len]))
}

#[test]
fn key_file_format_last_key_active_comments_ignored() {
    let text = format!("# comment\n\n{}  {}", line("1", 32), line("10", 32).replace(' ', "\t"));
    let r = parse(&text).expect("parses");
    assert_eq!((r.ids(), r.active_id()), (vec![1, 10], 10));
}

#[test]
fn key_file_errors_name_the_line_and_never_the_key() {
    let good = line("1", 32);
    let cases: Vec<(String, usize, &str)> = vec![
        (format!("{good}{}", line("2", 16)), 2, "16 bytes long"),
        (format!("{good}{}", line("2", 33)), 2, "33 bytes long"),
        (format!("#\n{}", line("2", 0).trim_end()), 2, "expected"),
        (format!("{good}2 not*base64\n"), 2, "not valid base64"),
        (line("zero", 32), 1, "not a whole number"),
        (line("0", 32), 1, "not a whole number"),
        (line("-1", 32), 1, "not a whole number"),
        (format!("{good}{good}"), 2, "appears twice"),
        (format!("{} extra\n", good.trim_end()), 1, "expected"),
    ];
    for (text, want_line, want) in cases {
        match parse(&text) {
            Err(e @ KeyFileError::Format { line, .. }) => {
                let msg = e.to_string();
                assert_eq!(line, want_line, "{msg}");
                assert!(msg.contains(want) && msg.contains(&format!("line {want_line}")), "{msg}");
                assert!(!msg.contains(&STANDARD.encode([5u8; 32])) && !msg.contains("base64*"), "{msg}");
            }
            other => panic!("{text:?}: expected a format error, got {other:?}"),
        }
    }
    assert!(matches!(parse("# only comments\n"), Err(KeyFileError::Empty { .. })));
}

#[cfg(unix)]
#[test]
fn key_files_readable_by_others_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("master.key");
    std::fs::write(&path, line("1", 32)).expect("write");
    for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let err = read_key_file(&path).expect_err("refused");
        let msg = err.to_string();
        assert!(matches!(err, KeyFileError::Permissions { .. }) && msg.contains("chmod 600"), "{mode:o}: {msg}");
    }
    for mode in [0o600, 0o400] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        assert_eq!(read_key_file(&path).expect("accepted").ids(), vec![1]);
    }
}

#[cfg(unix)]
#[test]
fn created_and_extended_key_files_are_private_and_rotate() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("master.key");
    let first = create_key_file(&path).expect("create");
    assert_eq!(first.ids(), vec![1]);
    assert!(matches!(create_key_file(&path), Err(KeyFileError::Exists { .. })), "never overwrites");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let sealed = first.seal(b"old", b"a").expect("seal");

    assert_eq!(add_key_to_file(&path).expect("add"), 2);
    let rotated = read_key_file(&path).expect("read");
    assert_eq!((rotated.ids(), rotated.active_id()), (vec![1, 2], 2));
    assert_eq!(rotated.open(&sealed, b"a").expect("the old key survives"), b"old");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the replacement file is private too");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("master.key")], "no temporary file left");
}
