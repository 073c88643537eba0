//! [`ConfigError`]: what went wrong in a config file, where (file, line, column, key), and what to do.

use orrery_kernel::topology::TopologyError;

/// Why a config file could not be used. Each message names the file and, where known, the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read from disk.
    #[error("cannot read {path}: {reason}; check that the file exists and is readable")]
    Read {
        /// The path as given.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The text is not valid TOML, or a value does not fit the expected shape.
    #[error("{origin}:{line}:{column}: {message}\n{context}")]
    Syntax {
        /// The file name (or another label for the text).
        origin: String,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column (in characters) of the offending text.
        column: usize,
        /// Path of the offending key, like `region[0].zones[1].racks[0].hosts`, when known.
        key: Option<String>,
        /// What is wrong, in a sentence.
        message: String,
        /// The offending source line with a caret under the spot, then any closing hint.
        context: String,
    },
    /// The TOML has no position to point at (for example, an empty document missing a table).
    #[error("{origin}: {message}{hint}")]
    Shape {
        /// The file name (or another label for the text).
        origin: String,
        /// What is wrong, in a sentence.
        message: String,
        /// A closing sentence saying what to do; empty or starting with a newline.
        hint: String,
    },
    /// The topology parsed but does not describe a usable datacenter.
    #[error("{origin}{}: {error}; fix the topology and try again", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Topology {
        /// The file name (or another label for the text).
        origin: String,
        /// 1-based line where the offending name appears, when it can be found.
        line: Option<usize>,
        /// The kernel's reason.
        error: TopologyError,
    },
    /// A value is well-formed but not allowed (for example, an unknown scheduler filter).
    #[error("{origin}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file name (or another label for the text).
        origin: String,
        /// 1-based line of the offending value, when it can be found.
        line: Option<usize>,
        /// What is wrong and what to do, in sentences.
        message: String,
    },
}

impl ConfigError {
    /// The 1-based line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Syntax { line, .. } => Some(*line),
            ConfigError::Topology { line, .. } | ConfigError::Invalid { line, .. } => *line,
            ConfigError::Read { .. } | ConfigError::Shape { .. } => None,
        }
    }

    /// The key path the error points at, if known.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Syntax { key, .. } => key.as_deref(),
            _ => None,
        }
    }
}

/// 1-based (line, column) of a byte offset in `text`; column counts characters.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The source line `line` (1-based) with a gutter and a caret under `column`, like rustc prints.
pub(crate) fn excerpt(text: &str, line: usize, column: usize, width: usize) -> String {
    let Some(content) = text.split('\n').nth(line - 1) else {
        return String::new();
    };
    let content = content.trim_end_matches('\r');
    let gutter = " ".repeat(line.to_string().len());
    let room = content.chars().count().saturating_sub(column - 1).max(1);
    let carets = "^".repeat(width.clamp(1, room));
    format!("{gutter} |\n{line} | {content}\n{gutter} | {}{carets}", " ".repeat(column - 1))
}

/// The 1-based line numbers of every line of `text` that satisfies `pred`.
pub(crate) fn lines_where(text: &str, pred: impl Fn(&str) -> bool) -> Vec<usize> {
    text.lines().enumerate().filter(|(_, l)| pred(strip_comment(l))).map(|(i, _)| i + 1).collect()
}

/// A line without a trailing `# comment` (good enough for locating names; ignores `#` in strings).
fn strip_comment(line: &str) -> &str {
    let mut in_str = None;
    for (i, c) in line.char_indices() {
        match (c, in_str) {
            ('"' | '\'', None) => in_str = Some(c),
            (q, Some(open)) if q == open => in_str = None,
            ('#', None) => return &line[..i],
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        let e = text.find('=').map(|_| text.rfind('=').unwrap()).unwrap();
        assert_eq!(line_col(text, e), (2, 4));
        assert_eq!(line_col(text, text.len()), (3, 1));
    }

    #[test]
    fn excerpt_points_at_the_column() {
        let x = excerpt("a = 1\ncolour = \"red\"\n", 2, 1, 6);
        assert_eq!(x, "  |\n2 | colour = \"red\"\n  | ^^^^^^");
    }

    #[test]
    fn comments_do_not_count_as_content() {
        let text = "# profile = \"x\"\nprofile = \"x\" # here\nname = \"a#b\"\n";
        assert_eq!(lines_where(text, |l| l.contains("profile")), vec![2]);
        assert_eq!(lines_where(text, |l| l.contains("a#b")), vec![3]);
    }
}
