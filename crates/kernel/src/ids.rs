//! 128-bit identifiers. They come from outside the kernel (inside commands) or from its seeded RNG.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 128-bit identifier, shown as a hyphenated UUID (Nova, Glance) or as 32 hex digits (Keystone).
///
/// Aligned to 8 bytes, not `u128`'s 16: ids sit in every record and index tuple, where 16-byte
/// alignment padded `(host, id)`, `(id, seq)` and `Option<Uuid>` by 8 bytes each (about 4 MiB
/// at 100,000 servers). Read the value with `.0` (a copy); a reference to it is refused.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(C, packed(8))]
pub struct Uuid(pub u128);

impl Uuid {
    /// Builds a version-4 style UUID from random bits, setting the version and variant fields.
    pub const fn from_random(bits: u128) -> Uuid {
        let v = (bits & !(0xF << 76)) | (0x4 << 76);
        Uuid((v & !(0x3 << 62)) | (0x2 << 62))
    }
    /// The 32-hex-digit form Keystone uses for ids.
    pub fn simple(&self) -> String {
        String::from_utf8_lossy(&self.hex()).into_owned()
    }

    /// The 32 lowercase hex digits, without allocating (listings format many ids).
    fn hex(&self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = DIGITS[((self.0 >> (124 - 4 * i)) & 0xF) as usize];
        }
        out
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.hex();
        let mut out = [b'-'; 36];
        out[0..8].copy_from_slice(&h[0..8]);
        out[9..13].copy_from_slice(&h[8..12]);
        out[14..18].copy_from_slice(&h[12..16]);
        out[19..23].copy_from_slice(&h[16..20]);
        out[24..36].copy_from_slice(&h[20..32]);
        f.write_str(std::str::from_utf8(&out).expect("hex digits and hyphens are ASCII"))
    }
}

/// The reason a string is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid UUID")]
pub struct BadUuid(pub String);

impl FromStr for Uuid {
    type Err = BadUuid;
    fn from_str(s: &str) -> Result<Uuid, BadUuid> {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        let hyphens_ok = s.len() == 32 || (s.len() == 36 && [8, 13, 18, 23].iter().all(|&i| s.as_bytes()[i] == b'-'));
        if hex.len() != 32 || !hyphens_ok || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadUuid(s.to_string()));
        }
        u128::from_str_radix(&hex, 16).map(Uuid).map_err(|_| BadUuid(s.to_string()))
    }
}

impl Serialize for Uuid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Uuid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_forms() {
        let id = Uuid::from_random(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let s = id.to_string();
        assert_eq!(s.len(), 36);
        assert_eq!(s.parse::<Uuid>().unwrap(), id);
        assert_eq!(id.simple().parse::<Uuid>().unwrap(), id);
        assert_eq!(&s[14..15], "4");
        assert_eq!(Uuid(0x0123_4567_89ab_cdef_0011_2233_4455_6677).to_string(), "01234567-89ab-cdef-0011-223344556677");
        assert_eq!(Uuid(0xab).simple(), "000000000000000000000000000000ab");
    }

    #[test]
    fn rejects_garbage() {
        assert!("not-a-uuid".parse::<Uuid>().is_err());
        assert!("0123456789abcdef0123456789abcdeg".parse::<Uuid>().is_err());
        assert!("01234567-89ab-cdef-0123456789abcdef0".parse::<Uuid>().is_err());
    }
}
