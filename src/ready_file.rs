//! `serve --ready-file PATH`: a small JSON document written once the
//! listeners are bound, so scripts and tests wait for a file instead of
//! scraping a log sentence someone may reword.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

/// What the ready file holds: where the service listens, and who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadySignal {
    /// The address the main listener is bound to (`host:port`).
    pub address: SocketAddr,
    /// The separate `/metrics` listener (`metrics.listen`), when there is one.
    pub metrics_address: Option<SocketAddr>,
    /// The serving process.
    pub pid: u32,
}

impl ReadySignal {
    /// Writes the document to a temporary file beside `path` and renames it
    /// over `path`, so a reader sees either no file or the whole document.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut file = tempfile::Builder::new()
            .prefix(".tokengate-ready")
            .tempfile_in(dir)
            .with_context(|| format!("Failed to create a file in {}", dir.display()))?;
        serde_json::to_writer(&mut file, self)?;
        file.write_all(b"\n")?;
        file.persist(path)
            .with_context(|| format!("Failed to write the ready file {}", path.display()))?;
        Ok(())
    }
}

/// Removes the ready file (an earlier run's at start, ours at a clean exit);
/// a missing file is fine.
pub fn remove(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error)
            .with_context(|| format!("Failed to remove the old ready file {}", path.display())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_file_is_one_json_document_replacing_any_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready.json");
        std::fs::write(&path, "stale").unwrap();
        let signal = ReadySignal {
            address: "127.0.0.1:8080".parse().unwrap(),
            metrics_address: None,
            pid: 42,
        };

        signal.write(&path).unwrap();

        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            written,
            serde_json::json!({"address": "127.0.0.1:8080", "metrics_address": null, "pid": 42})
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "the temporary file was renamed, not left");
    }

    #[test]
    fn removing_a_missing_ready_file_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        remove(&dir.path().join("absent.json")).unwrap();
    }
}
