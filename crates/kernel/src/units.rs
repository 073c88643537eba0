//! Human units in specs: sizes like "256GiB" and durations like "30s", parsed without floats.

use serde::{Deserialize, Deserializer};

use crate::time::Dur;

/// Parses a size such as "512MiB", "64GiB", "2TiB" or a bare number of MiB into MiB.
pub fn parse_mib(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("'{s}' is not a size; write it like \"512MiB\" or \"64GiB\""))?;
    let mult = match unit.trim() {
        "" | "MiB" | "M" | "MB" => 1,
        "GiB" | "G" | "GB" => 1024,
        "TiB" | "T" | "TB" => 1024 * 1024,
        other => return Err(format!("unknown size unit '{other}' in '{s}'; use MiB, GiB or TiB")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size '{s}' is too large"))
}

/// Parses a duration such as "250ms", "30s", "5m", "2h" or "1d".
pub fn parse_dur(s: &str) -> Result<Dur, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("'{s}' is not a duration; write it like \"30s\" or \"250ms\""))?;
    let micros = match unit.trim() {
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" | "min" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        "" => return Err(format!("duration '{s}' needs a unit: ms, s, m, h or d")),
        other => return Err(format!("unknown duration unit '{other}' in '{s}'; use ms, s, m, h or d")),
    };
    n.checked_mul(micros).map(Dur).ok_or_else(|| format!("duration '{s}' is too large"))
}

/// A size or duration written as a string with a unit, or as a bare integer.
#[derive(Deserialize)]
#[serde(untagged)]
enum SizeRepr {
    Int(u64),
    Text(String),
}

/// Serde helper: deserializes a size in MiB from "64GiB" or an integer.
pub fn de_mib<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match SizeRepr::deserialize(d)? {
        SizeRepr::Int(n) => Ok(n),
        SizeRepr::Text(s) => parse_mib(&s).map_err(serde::de::Error::custom),
    }
}

/// Serde helper: deserializes a size in GiB from "2TiB", "100GiB" or an integer of GiB.
pub fn de_gib<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match SizeRepr::deserialize(d)? {
        SizeRepr::Int(n) => Ok(n),
        SizeRepr::Text(s) => {
            let mib = parse_mib(&s).map_err(serde::de::Error::custom)?;
            if mib % 1024 != 0 {
                return Err(serde::de::Error::custom(format!("'{s}' is not a whole number of GiB")));
            }
            Ok(mib / 1024)
        }
    }
}

/// Serde helper: deserializes a duration from "30s", or from an integer of microseconds
/// (the form a serialized [`Dur`] takes in journals and snapshots).
pub fn de_dur<'de, D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
    match SizeRepr::deserialize(d)? {
        SizeRepr::Int(us) => Ok(Dur(us)),
        SizeRepr::Text(s) => parse_dur(&s).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_mib("512MiB"), Ok(512));
        assert_eq!(parse_mib("64GiB"), Ok(65536));
        assert_eq!(parse_mib("2TiB"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_mib("100"), Ok(100));
        assert!(parse_mib("12XB").is_err());
        assert!(parse_mib("GiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_dur("250ms"), Ok(Dur(250_000)));
        assert_eq!(parse_dur("30s"), Ok(Dur::secs(30)));
        assert_eq!(parse_dur("2h"), Ok(Dur::secs(7200)));
        assert!(parse_dur("30").is_err());
        assert!(parse_dur("3 fortnights").is_err());
    }
}
