//! orrery's config files: reads TOML (topologies now, experiments later) into kernel specs, and
//! on error names the file, line, column and key, shows the line with a caret, and says what to do.
//!
//! ```
//! let spec = orrery_config::default_topology();
//! assert_eq!(spec.region[0].name, "RegionOne");
//! ```

mod error;
mod topology;

use std::path::Path;

use serde::de::DeserializeOwned;

pub use error::ConfigError;
pub use topology::{default_topology, load_topology, parse_topology, DEFAULT_TOPOLOGY_TOML};

/// Parses TOML `text` into `T`, which should use `#[serde(deny_unknown_fields)]`.
///
/// `origin` labels the text in messages (usually the file path). Errors carry the line, column
/// and key path of the offending spot.
pub fn parse_toml<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, ConfigError> {
    parse_toml_with_hint(text, origin, "")
}

/// Reads the file at `path` and parses it with [`parse_toml`].
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = read(path)?;
    parse_toml(&text, &path.display().to_string())
}

/// Reads a config file as UTF-8 text.
pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: path.display().to_string(), reason: e.to_string() })
}

/// [`parse_toml`], ending every error message with `hint` (a sentence; may be empty).
pub(crate) fn parse_toml_with_hint<T: DeserializeOwned>(text: &str, origin: &str, hint: &str) -> Result<T, ConfigError> {
    let hint = if hint.is_empty() { String::new() } else { format!("\n{hint}") };
    let de = match toml::Deserializer::parse(text) {
        Ok(de) => de,
        Err(e) => return Err(from_toml_error(text, origin, &e, None, hint)),
    };
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let key = (path != ".").then_some(path);
        from_toml_error(text, origin, e.inner(), key, hint)
    })
}

/// Turns a toml error into a [`ConfigError`] that points at the spot and names the key.
fn from_toml_error(text: &str, origin: &str, e: &toml::de::Error, key: Option<String>, hint: String) -> ConfigError {
    let raw = e.message().trim_end();
    let message = match &key {
        Some(key) => with_key(raw, key),
        None => raw.to_string(),
    };
    let origin = origin.to_string();
    match e.span() {
        Some(span) => {
            let (line, column) = error::line_col(text, span.start);
            let width = text.get(span.clone()).map_or(1, |s| s.lines().next().unwrap_or("").chars().count());
            let context = error::excerpt(text, line, column, width) + &hint;
            ConfigError::Syntax { origin, line, column, key, message, context }
        }
        None => ConfigError::Shape { origin, message, hint },
    }
}

/// Puts the key path into a serde message: "unknown field `x` in [a.b], expected ..." for
/// field-name errors, "a.b.c: message" for errors about a value.
fn with_key(message: &str, key: &str) -> String {
    for prefix in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some(end) = rest.find('`') {
                let (name, tail) = rest.split_at(end + 1);
                let table = table_of(prefix, key, &name[..name.len() - 1]);
                return if table.is_empty() { format!("{prefix}{name} at the top level{tail}") } else { format!("{prefix}{name} in [{table}]{tail}") };
            }
        }
    }
    format!("{key}: {message}")
}

/// The table holding a field: the key path without its last segment when that segment is the
/// field itself (serde_path_to_error includes an unknown field's name in the path).
fn table_of<'k>(prefix: &str, key: &'k str, field: &str) -> &'k str {
    if prefix == "missing field `" {
        return key;
    }
    match key.strip_suffix(field) {
        Some("") => "",
        Some(rest) if rest.ends_with('.') => &rest[..rest.len() - 1],
        _ => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Vec<Inner>,
    }

    #[test]
    fn generic_parse_reports_key_and_line() {
        let err = parse_toml::<Outer>("[[inner]]\nn = 1\n[[inner]]\nn = \"two\"\n", "x.toml").unwrap_err();
        assert_eq!(err.line(), Some(4));
        assert_eq!(err.key(), Some("inner[1].n"));
        let text = err.to_string();
        assert!(text.starts_with("x.toml:4:5: inner[1].n: invalid type: string \"two\", expected u32"), "{text}");
        assert!(text.contains("4 | n = \"two\"\n  |     ^^^^^"), "{text}");
    }

    #[test]
    fn unknown_field_names_its_table() {
        let err = parse_toml::<Outer>("[[inner]]\nn = 1\nm = 2\n", "x.toml").unwrap_err();
        let text = err.to_string();
        assert_eq!(err.line(), Some(3));
        assert!(text.starts_with("x.toml:3:1: unknown field `m` in [inner[0]], expected `n`"), "{text}");
    }

    #[test]
    fn missing_field_names_its_table() {
        let err = parse_toml::<Outer>("[[inner]]\n", "x.toml").unwrap_err();
        assert!(err.to_string().contains("missing field `n` in [inner[0]]"), "{err}");
    }

    #[test]
    fn syntax_error_points_at_the_spot() {
        let err = parse_toml::<Outer>("[[inner]]\nn = = 1\n", "x.toml").unwrap_err();
        assert_eq!(err.line(), Some(2));
        assert!(err.to_string().starts_with("x.toml:2:"), "{err}");
    }

    #[test]
    fn unreadable_file_says_so() {
        let err = load_toml::<Outer>(Path::new("/nonexistent/orrery/x.toml")).unwrap_err();
        assert!(err.to_string().starts_with("cannot read /nonexistent/orrery/x.toml: "), "{err}");
    }
}
