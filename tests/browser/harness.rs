//! The real `tokengate` binary (started by tests/support) and a headless
//! Chromium driven over WebDriver by chromedriver, both started per test on
//! ports the OS picks.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::RunningBinary;
pub use crate::support::{HTML_USER, PASSWORD, USER};

/// Short, but long enough for the two clicks from login to access.
pub const TTL_SECONDS: u64 = 5;

const STARTUP: Duration = Duration::from_secs(30);

/// Where screenshots go; CI keeps this folder as an artifact.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots")
}

/// Reads a child's output until a line holds `marker` followed by a port:
/// chromedriver has no ready file, only this line.
fn port_from_output(
    output: impl Read + Send + 'static,
    marker: &'static str,
) -> (u16, Arc<Mutex<String>>) {
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if let Some(rest) = line.split(marker).nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(port) = digits.parse::<u16>() {
                    let _ = tx.send(port);
                }
            }
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let port = rx
        .recv_timeout(STARTUP)
        .unwrap_or_else(|_| panic!("no `{marker}` line; output:\n{}", log.lock().unwrap()));
    (port, log)
}

/// Kills the whole process group a child leads (chromedriver's Chromium too),
/// once: a reaped child's id is not ours any more.
fn kill_group(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
    let _ = child.wait();
}

/// `tokengate serve` (tests/support) with a short token lifetime and a
/// TOTP file, for the pages' journeys.
pub struct Server {
    binary: RunningBinary,
    pub address: String,
}

impl Server {
    /// `tokengate serve` with a users file holding [`USER`] and [`HTML_USER`].
    pub fn start() -> Self {
        Self::start_with_totp(None)
    }

    /// The same, with [`USER`] enrolled in TOTP under `secret` (base32) when given.
    pub fn start_with_totp(secret: Option<&str>) -> Self {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let totp = dir.path().join("totp");
        std::fs::write(
            &totp,
            secret.map_or(String::new(), |s| format!("{USER}:{s}\n")),
        )
        .unwrap();
        std::fs::set_permissions(&totp, std::fs::Permissions::from_mode(0o600)).unwrap();
        let binary = RunningBinary::start_in(dir, |command| {
            command
                .env("RUST_LOG", "info")
                .env("TOKENGATE__JWT__TTL", format!("{TTL_SECONDS}s"))
                .env("TOKENGATE__USERS__TOTP_FILE", &totp);
        });
        Self {
            address: binary.address.clone(),
            binary,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The same server under another site's name: `localhost` and
    /// `127.0.0.1` are different sites to a browser.
    pub fn other_site_url(&self, path: &str) -> String {
        format!("{}{path}", self.address.replace("127.0.0.1", "localhost"))
    }

    /// The address with credentials in it: how a test answers the Basic
    /// prompt, since headless Chromium shows no dialog to type into.
    pub fn url_with_credentials(&self, user: &str, password: &str, path: &str) -> String {
        let mut url = url::Url::parse(&self.url(path)).unwrap();
        url.set_username(user).unwrap();
        url.set_password(Some(password)).unwrap();
        url.to_string()
    }

    pub fn log(&self) -> String {
        self.binary.log()
    }
}

pub struct Browser {
    driver: Child,
    pub client: Client,
    _profile: TempDir,
}

fn required_program(variable: &str, default: &str) -> String {
    let path = std::env::var(variable).unwrap_or_else(|_| default.to_owned());
    assert!(
        Path::new(&path).exists(),
        "the browser suite needs {path} (Debian packages `chromium` and `chromium-driver`; \
         `bash .ci/install-deps` installs them, or set {variable})"
    );
    path
}

impl Browser {
    /// A fresh headless Chromium with its own profile; `javascript: false`
    /// turns scripts off for the whole profile.
    pub async fn start(javascript: bool) -> Self {
        let chromium = required_program("CHROMIUM", "/usr/bin/chromium");
        let chromedriver = required_program("CHROMEDRIVER", "/usr/bin/chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let mut driver = Command::new(chromedriver)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let (port, _) = port_from_output(
            driver.stdout.take().unwrap(),
            "started successfully on port ",
        );

        let mut options = json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run",
                format!("--user-data-dir={}", profile.path().display()),
                "--window-size=900,760", "--lang=en-US",
            ],
        });
        if !javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("chromedriver opens a Chromium session");
        Self {
            driver,
            client,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn text_of(&self, id: &str) -> String {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id} on the page: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Clicks the element with this id (a link, a button).
    pub async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|error| panic!("no #{id} on the page: {error}"))
            .click()
            .await
            .unwrap();
    }

    pub async fn has(&self, id: &str) -> bool {
        !self
            .client
            .find_all(Locator::Id(id))
            .await
            .unwrap()
            .is_empty()
    }

    /// The HTTP status of the page's last navigation, as the browser saw it.
    pub async fn status(&self) -> u64 {
        let status = self
            .client
            .execute(
                "return performance.getEntriesByType('navigation')[0].responseStatus;",
                vec![],
            )
            .await
            .unwrap();
        status
            .as_u64()
            .unwrap_or_else(|| panic!("no status: {status}"))
    }

    /// Polls until `id`'s text satisfies `accept`, failing after `within`.
    pub async fn wait_for_text(
        &self,
        id: &str,
        within: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Ok(element) = self.client.find(Locator::Id(id)).await
                && let Ok(text) = element.text().await
                && accept(&text)
            {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "#{id} never showed the expected text; page:\n{}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn close(mut self) {
        let client = self.client.clone();
        client.close().await.unwrap();
        kill_group(&mut self.driver);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// The `exp` claim of a token, read from its payload.
pub fn token_exp(token: &str) -> u64 {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["exp"].as_u64().unwrap()
}

/// Sleeps until the token is expired by the server's rule (`now > exp`,
/// zero leeway), however long the steps before took.
pub async fn wait_until_expired(exp: u64) {
    let expired_at = UNIX_EPOCH + Duration::from_secs(exp + 1);
    if let Ok(left) = expired_at.duration_since(SystemTime::now()) {
        tokio::time::sleep(left).await;
    }
}
