//! Byte-level helpers for the profile encoding: LEB128 varints, doubles, strings.
//!
//! The reader never trusts a length it reads: every count is checked against the bytes
//! that are left before anything is allocated, so garbage fails fast instead of asking
//! for gigabytes.

use super::ProfileError;

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn byte(&mut self) -> Result<u8, ProfileError> {
        let b = *self.bytes.get(self.pos).ok_or(ProfileError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ProfileError> {
        if n > self.remaining() {
            return Err(ProfileError::Truncated);
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, ProfileError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            // The tenth byte may only carry the top bit of a u64.
            if shift == 63 && bits > 1 {
                return Err(ProfileError::Invalid("varint overflows 64 bits"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProfileError::Invalid("varint overflows 64 bits"))
    }

    /// A count of items, each at least `min_item_bytes` long, that must fit in what is left.
    pub(crate) fn len(&mut self, min_item_bytes: usize) -> Result<usize, ProfileError> {
        let n = self.varint()?;
        let fits = usize::try_from(n).ok().filter(|n| n.saturating_mul(min_item_bytes.max(1)) <= self.remaining());
        fits.ok_or(ProfileError::Truncated)
    }

    pub(crate) fn f64(&mut self) -> Result<f64, ProfileError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    pub(crate) fn string(&mut self) -> Result<String, ProfileError> {
        let n = self.len(1)?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| ProfileError::Invalid("invalid utf-8 in a category"))
    }

    /// Fails unless every byte was consumed: trailing bytes mean a different format.
    pub(crate) fn finish(&self) -> Result<(), ProfileError> {
        if self.remaining() == 0 { Ok(()) } else { Err(ProfileError::Invalid("trailing bytes")) }
    }
}
