//! The line-oriented files operators write (the users, groups and TOTP
//! secrets files): read whole, blank lines and `#` comments skipped, the
//! rest trimmed, and one error shape naming the file or the line.

use std::path::Path;

/// Why a users, groups or TOTP file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LineFileError {
    /// The file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file's path.
        path: String,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// A line does not have the file's format.
    #[error("line {line}: {reason}")]
    Line {
        /// Its number, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// The whole file, or an error naming it.
pub(crate) fn read(path: &Path) -> Result<String, LineFileError> {
    std::fs::read_to_string(path).map_err(|source| LineFileError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Each line that holds something, with its 1-based number for errors.
pub(crate) fn entries(contents: &str) -> impl Iterator<Item = (usize, &str)> {
    contents
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_comment_lines_are_skipped_and_numbers_kept() {
        let lines: Vec<_> = entries("# c\n\n  a: b  \n   \n#x\nc:d").collect();
        assert_eq!(lines, [(3, "a: b"), (6, "c:d")]);
    }
}
