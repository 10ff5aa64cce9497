//! The line-oriented files operators write (the groups file, the TOTP
//! secrets file): blank lines and `#` comments skipped, the rest trimmed.

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
