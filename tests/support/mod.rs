//! What the test binaries (tests/api, tests/browser) share: the test users,
//! and the real `tokengate` binary started on a random port, found through
//! its `--ready-file`, its log collected, killed on drop.
//!
//! Included with `#[path = "../support/mod.rs"] mod support;`: each binary
//! uses part of it, hence the `allow`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use tokengate::credentials::hash_password;

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";
pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse battery staple";
/// A real account whose name is markup: pages must show it as text.
pub const HTML_USER: &str = "<script>alert(1)</script>";

/// How long a started binary may take to write its ready file.
const STARTUP: Duration = Duration::from_secs(30);

/// Hashing is slow by design: hash the test password once per test binary.
static USERS_FILE_CONTENTS: LazyLock<String> = LazyLock::new(|| {
    let hash = hash_password(PASSWORD);
    format!("{USER}:{hash}\n{HTML_USER}:{hash}\n")
});

/// The test users file: [`USER`] and [`HTML_USER`], both with [`PASSWORD`].
pub fn users_file_contents() -> &'static str {
    USERS_FILE_CONTENTS.as_str()
}

/// Writes the test users file into `dir` and returns its path.
pub fn write_users_file(dir: &Path) -> PathBuf {
    let users = dir.join("users");
    std::fs::write(&users, users_file_contents()).unwrap();
    users
}

/// The `tokengate` binary with the repo's config/, port 0, one worker, the
/// test secret and a users file in `dir`; no subcommand yet.
pub fn tokengate_command(dir: &TempDir) -> Command {
    let users = write_users_file(dir.path());
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("TOKENGATE_ENV")
        .env_remove("RUST_LOG")
        .env("TOKENGATE__SERVER__PORT", "0")
        .env("TOKENGATE__SERVER__WORKERS", "1")
        .env("TOKENGATE__JWT__SECRET", SECRET)
        .env("TOKENGATE__USERS__FILE", &users);
    command
}

/// The real binary, started with `serve --ready-file`; its stderr (the log)
/// is collected for inspection.
pub struct RunningBinary {
    pub child: Child,
    /// `http://` and the address from the ready file.
    pub address: String,
    /// The ready file's document, and where it was written.
    pub ready: Value,
    pub ready_file: PathBuf,
    log: Arc<Mutex<String>>,
    _dir: TempDir,
}

impl RunningBinary {
    /// Starts the binary in a fresh temporary folder; `configure` adds to
    /// [`tokengate_command`]'s environment.
    pub fn start(configure: impl FnOnce(&mut Command)) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), configure)
    }

    /// The same in `dir`, where the test may have written files the
    /// configuration names; the folder lives as long as the process.
    pub fn start_in(dir: TempDir, configure: impl FnOnce(&mut Command)) -> Self {
        let ready_file = dir.path().join("ready.json");
        let mut command = tokengate_command(&dir);
        configure(&mut command);
        let mut child = command
            .arg("serve")
            .arg("--ready-file")
            .arg(&ready_file)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("the tokengate binary starts");
        let log = collect(child.stderr.take().unwrap());
        let ready = wait_for_ready_file(&mut child, &ready_file, &log);
        let address = format!(
            "http://{}",
            ready["address"]
                .as_str()
                .expect("the ready file has an address")
        );
        Self {
            child,
            address,
            ready,
            ready_file,
            log,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (30 s at most) until the log holds `needle` `count` times.
    pub fn wait_for_log(&self, needle: &str, count: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.log().matches(needle).count() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "no `{needle}` ({count} times) in:\n{}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Sends SIGHUP: reload the configuration.
    pub fn hangup(&self) {
        self.signal("-HUP");
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("-TERM");
        self.child.wait().unwrap()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies a child's output, line by line, into a shared string.
fn collect(output: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    log
}

/// Polls for the ready file naming `child`; fails with the log if the
/// process exits first or nothing comes within [`STARTUP`]. The file
/// appears whole (rename), so any text read is the whole document.
fn wait_for_ready_file(child: &mut Child, path: &Path, log: &Mutex<String>) -> Value {
    let deadline = Instant::now() + STARTUP;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            let ready: Value = serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("the ready file is not JSON ({error}): {text}"));
            // Another pid: a file from an earlier run, not yet removed.
            if ready["pid"] == child.id() {
                return ready;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Give the log reader a moment to drain the last lines.
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "tokengate exited ({status}) before it was ready; log:\n{}",
                log.lock().unwrap()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no ready file after {STARTUP:?}; log:\n{}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
