//! Sizes and durations as the command line and the gateway file write them.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Parses `128MiB`, `64KiB`, `1GiB` or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 128MiB"))?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?}: use KiB, MiB or GiB")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text} is too large"))
}

/// A size: `"128MiB"`, `"64KiB"`, or a number of bytes.
#[derive(Debug, Clone, Copy)]
struct Size(usize);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(n) => usize::try_from(n)
                .map(Size)
                .map_err(|_| serde::de::Error::custom("size too large")),
            Raw::Text(text) => crate::config::units::parse_size(&text)
                .map(Size)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// A duration: `"30s"`, `"500ms"`, `"2m"`.
#[derive(Debug, Clone, Copy)]
struct Dur(Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map(Dur).map_err(|err| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration such as \"30s\" or \"500ms\": {err}"
            ))
        })
    }
}

/// `deserialize_with` for an optional size (`"128MiB"` or a number).
pub fn size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    Size::deserialize(d).map(|size| Some(size.0))
}

/// `deserialize_with` for an optional duration (`"30s"`).
pub fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Dur::deserialize(d).map(|dur| Some(dur.0))
}

/// `deserialize_with` for a table of `NAME = "value"` pairs, in name order.
pub fn pairs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    BTreeMap::<String, String>::deserialize(d).map(|map| map.into_iter().collect())
}

/// [`pairs`] for a table whose presence matters (`dirs = {}` is not no
/// `dirs`).
pub fn some_pairs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<(String, String)>>, D::Error> {
    pairs(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("128MiB"), Ok(128 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }
}
