//! Group membership from a file in Apache's `AuthGroupFile` format
//! (`admins: alice bob`, one group a line), so files written for
//! `mod_authz_groupfile` work unchanged.
//!
//! As in Apache, a group may span several lines (they add up) and members
//! are separated by spaces or tabs. Group names travel in tokens and in the
//! comma-separated `X-Auth-Request-Roles` header, so they are restricted to
//! visible ASCII without `,`, `"` or `\`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::line_files::LineFileError;

/// Who belongs to which groups, keyed by user.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Groups {
    /// Each user's groups, sorted, so tokens list them in a stable order.
    by_user: HashMap<String, Vec<String>>,
    group_count: usize,
}

impl Groups {
    /// Reads and parses a groups file.
    pub fn from_file(path: &Path) -> Result<Self, LineFileError> {
        let contents = crate::line_files::read(path)?;
        Self::parse(&contents)
    }

    /// Parses Apache `AuthGroupFile` lines.
    pub fn parse(contents: &str) -> Result<Self, LineFileError> {
        let mut members: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut groups = BTreeSet::new();
        for (number, line) in crate::line_files::entries(contents) {
            let line_error = |reason: String| LineFileError::Line {
                line: number,
                reason,
            };
            let (group, users) = line
                .split_once(':')
                .ok_or_else(|| line_error("expected `group: user1 user2 ...`".to_owned()))?;
            let group = group.trim();
            check_group_name(group).map_err(&line_error)?;
            groups.insert(group.to_owned());
            for user in users.split_ascii_whitespace() {
                members
                    .entry(user.to_owned())
                    .or_default()
                    .insert(group.to_owned());
            }
        }
        Ok(Self {
            by_user: members
                .into_iter()
                .map(|(user, groups)| (user, groups.into_iter().collect()))
                .collect(),
            group_count: groups.len(),
        })
    }

    /// The user's groups, sorted; empty for a user in none.
    pub fn of(&self, user: &str) -> &[String] {
        self.by_user.get(user).map_or(&[], Vec::as_slice)
    }

    /// How many distinct groups the file names.
    pub fn group_count(&self) -> usize {
        self.group_count
    }
}

fn check_group_name(group: &str) -> Result<(), String> {
    if group.is_empty() {
        return Err("empty group name".to_owned());
    }
    if let Some(bad) = group
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, ',' | '"' | '\\'))
    {
        return Err(format!(
            "group name `{}` contains {bad:?}; use visible ASCII without `,`, `\"` or `\\`",
            group.escape_default()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apache_group_files_parse_as_apache_reads_them() {
        let groups = Groups::parse(
            "# operators\nadmins: alice bob\n\nreaders:alice\tcarol\nadmins: dave\nempty:\n",
        )
        .unwrap();
        assert_eq!(groups.of("alice"), ["admins", "readers"]);
        assert_eq!(groups.of("bob"), ["admins"]);
        assert_eq!(groups.of("carol"), ["readers"]);
        assert_eq!(groups.of("dave"), ["admins"]);
        assert!(groups.of("mallory").is_empty());
        assert_eq!(groups.group_count(), 3);
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let error = Groups::parse("admins: alice\nno colon here\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 2: expected `group: user1 user2 ...`"
        );
        let error = Groups::parse("\n\n: alice\n").unwrap_err();
        assert!(
            error.to_string().starts_with("line 3: empty group"),
            "{error}"
        );
        for name in ["a,b", "two words", "quo\"te"] {
            let error = Groups::parse(&format!("{name}: alice\n")).unwrap_err();
            assert!(
                error.to_string().starts_with("line 1: group name"),
                "{error}"
            );
        }
    }
}
