use std::time::Duration;

use fantoccini::Locator;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::harness::{Browser, HTML_USER, PASSWORD, Server, USER, token_exp, wait_until_expired};

/// Each test drives its own Chromium; two at once would starve a 2-core machine.
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SOON: Duration = Duration::from_secs(5);

/// The expiry as the pages print it.
fn expiry_text(exp: u64) -> String {
    OffsetDateTime::from_unix_timestamp(exp as i64)
        .unwrap()
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap()
}

/// Reads the private link off the page and returns it with its token.
async fn private_link(browser: &Browser) -> (fantoccini::elements::Element, String) {
    let link = browser
        .client
        .find(Locator::Id("private-link"))
        .await
        .expect("the page shows a private link");
    let href = link.attr("href").await.unwrap().unwrap();
    let token = href
        .strip_prefix("/access?token=")
        .unwrap_or_else(|| panic!("not a host-relative private link: {href}"))
        .to_owned();
    (link, token)
}

async fn assert_address_holds_no_token(browser: &Browser, path: &str) {
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.path(), path, "{url}");
    assert_eq!(url.query(), None, "{url}");
}

#[tokio::test]
async fn a_person_logs_in_follows_the_link_and_sees_it_expire() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let server = Server::start();
    let browser = Browser::start(true).await;

    // No credentials: the Basic challenge, and no link.
    browser.goto(&server.url("/login")).await;
    assert_eq!(browser.status().await, 401);
    assert!(!browser.has("private-link").await);
    browser.screenshot("01-login-challenge").await;

    // Credentials supplied: the private-link page for this user.
    browser
        .goto(&server.url_with_credentials(USER, PASSWORD, "/login"))
        .await;
    assert_eq!(browser.status().await, 200);
    assert_eq!(browser.text_of("title").await, "Your private link");
    assert_eq!(browser.text_of("user").await, USER);
    let (link, token) = private_link(&browser).await;
    let exp = token_exp(&token);
    assert_eq!(browser.text_of("expires-at").await, expiry_text(exp));
    // The countdown script ran under the CSP: it replaced the server's text.
    browser
        .wait_for_text("countdown", SOON, |text| text.starts_with("Time left: "))
        .await;
    browser.screenshot("02-private-link").await;

    // Click the link: access granted, and the token left the address bar.
    link.click().await.unwrap();
    browser
        .wait_for_text("title", SOON, |text| text == "Access granted")
        .await;
    assert_address_holds_no_token(&browser, "/access").await;
    assert_eq!(browser.status().await, 200);
    assert_eq!(browser.text_of("user").await, USER);
    assert_eq!(browser.text_of("expires-at").await, expiry_text(exp));
    let cookies = browser
        .client
        .execute("return document.cookie;", vec![])
        .await
        .unwrap();
    assert!(
        !cookies.to_string().contains(&token),
        "the token cookie is readable by scripts"
    );
    assert!(!browser.client.source().await.unwrap().contains(&token));
    browser.screenshot("03-access-granted").await;

    // The page closed (an open one refreshes its session: see below), once
    // the token's own exp has passed, coming back shows the expired page,
    // still without the token in the address.
    browser.goto("about:blank").await;
    wait_until_expired(exp).await;
    browser
        .goto(&server.url_with_credentials(USER, PASSWORD, "/access"))
        .await;
    assert_eq!(browser.status().await, 401);
    assert_eq!(browser.text_of("title").await, "This link has expired");
    assert_address_holds_no_token(&browser, "/access").await;
    let again = browser
        .client
        .find(Locator::Id("login-again"))
        .await
        .unwrap();
    assert_eq!(again.attr("href").await.unwrap().as_deref(), Some("/login"));
    browser.screenshot("04-link-expired").await;

    // "Log in again": the browser still holds the credentials, so a fresh link.
    again.click().await.unwrap();
    browser
        .wait_for_text("title", SOON, |text| text == "Your private link")
        .await;
    let (_, fresh) = private_link(&browser).await;
    assert_ne!(fresh, token);
    assert!(token_exp(&fresh) > exp);

    assert!(!server.log().contains(&token), "the token reached the log");
    browser.close().await;
}

#[tokio::test]
async fn a_wrong_password_never_shows_a_link() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let server = Server::start();
    let browser = Browser::start(true).await;

    browser
        .goto(&server.url_with_credentials(USER, "not the password", "/login"))
        .await;

    assert_eq!(browser.status().await, 401);
    assert!(!browser.has("private-link").await);
    assert!(!browser.client.source().await.unwrap().contains("token="));
    browser.screenshot("05-wrong-password").await;
    browser.close().await;
}

#[tokio::test]
async fn a_username_with_html_in_it_is_shown_as_text() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let server = Server::start();
    let browser = Browser::start(true).await;

    browser
        .goto(&server.url_with_credentials(HTML_USER, PASSWORD, "/login"))
        .await;

    assert_eq!(browser.status().await, 200);
    assert_eq!(browser.text_of("user").await, HTML_USER);
    assert!(
        browser.client.get_alert_text().await.is_err(),
        "the user name ran as a script"
    );
    let injected = browser
        .client
        .find_all(Locator::Css("#user *"))
        .await
        .unwrap();
    assert!(injected.is_empty(), "the user name became markup");
    browser.screenshot("06-html-username").await;
    browser.close().await;
}

#[tokio::test]
async fn a_damaged_or_missing_link_says_which_and_leads_back_to_login() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let server = Server::start();
    let browser = Browser::start(true).await;

    browser.goto(&server.url("/access?token=not.a.token")).await;
    assert_eq!(browser.status().await, 401);
    assert_eq!(browser.text_of("title").await, "This link is not valid");
    browser.screenshot("07-invalid-link").await;

    browser.goto(&server.url("/access")).await;
    assert_eq!(browser.status().await, 401);
    assert_eq!(browser.text_of("title").await, "No access token");
    browser.screenshot("08-no-token").await;

    browser.click("login-again").await;
    // Back at the Basic challenge.
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/login", "{url}");
    assert_eq!(browser.status().await, 401);
    browser.close().await;
}

#[tokio::test]
async fn without_javascript_the_pages_still_state_the_expiry() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let server = Server::start();
    let browser = Browser::start(false).await;

    browser
        .goto(&server.url_with_credentials(USER, PASSWORD, "/login"))
        .await;

    assert_eq!(browser.text_of("user").await, USER);
    let (link, token) = private_link(&browser).await;
    assert_eq!(
        browser.text_of("expires-at").await,
        expiry_text(token_exp(&token))
    );
    let countdown = browser.text_of("countdown").await;
    assert!(
        countdown.starts_with("That is ")
            && countdown.ends_with(" seconds after this page was made."),
        "{countdown}"
    );
    browser
        .screenshot("09-private-link-without-javascript")
        .await;

    // The redirect and the cookie need no script.
    link.click().await.unwrap();
    browser
        .wait_for_text("title", SOON, |text| text == "Access granted")
        .await;
    assert_address_holds_no_token(&browser, "/access").await;
    assert_eq!(
        browser.text_of("expires-at").await,
        expiry_text(token_exp(&token))
    );
    browser.close().await;
}

#[tokio::test]
async fn a_private_link_opened_from_another_site_takes_one_more_click() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let server = Server::start();
    let browser = Browser::start(true).await;
    browser
        .goto(&server.url_with_credentials(USER, PASSWORD, "/login"))
        .await;
    let (_, token) = private_link(&browser).await;

    // A page on another site links to the private link (a webmail, say).
    browser.goto(&server.other_site_url("/healthz")).await;
    let link = server.url(&format!("/access?token={token}"));
    browser
        .client
        .execute("location.href = arguments[0];", vec![link.into()])
        .await
        .unwrap();

    // A link from another site does not sign the browser in by itself
    // (login CSRF): the page names whose link it is...
    browser
        .wait_for_text("title", SOON, |text| text == "One more step")
        .await;
    assert_eq!(browser.text_of("user").await, USER);
    browser.screenshot("10-link-from-another-site").await;
    // ...and one click on our own page signs in.
    browser.click("continue").await;
    browser
        .wait_for_text("title", SOON, |text| text == "Access granted")
        .await;
    assert_address_holds_no_token(&browser, "/access").await;
    assert_eq!(browser.text_of("user").await, USER);
    browser.close().await;
}

/// The code an authenticator app shows now for `secret`, once the current
/// 30 s step has a few seconds left (so the server checks the same step).
async fn current_code(secret: &str) -> String {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    while now() % 30 > 25 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap()
        .generate(now())
        .to_string()
}

async fn submit_code(browser: &Browser, code: &str) {
    let field = browser.client.find(Locator::Id("code")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(code).await.unwrap();
    browser.click("submit").await;
}

#[tokio::test]
async fn a_person_with_a_second_factor_enters_the_code_then_gets_the_link() {
    const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let server = Server::start_with_totp(Some(SECRET));
    let browser = Browser::start(true).await;

    // The password step: the code-entry page, and still no link.
    browser
        .goto(&server.url_with_credentials(USER, PASSWORD, "/login"))
        .await;
    assert_eq!(browser.status().await, 200);
    assert_eq!(browser.text_of("title").await, "Enter your one-time code");
    assert_eq!(browser.text_of("user").await, USER);
    assert!(!browser.has("private-link").await);
    browser.screenshot("10-code-entry").await;

    // A wrong code: the same page says so, with the form still there.
    submit_code(&browser, "000000").await;
    browser
        .wait_for_text("problem", SOON, |text| text.contains("not right"))
        .await;
    assert_eq!(browser.status().await, 401);
    browser.screenshot("11-code-refused").await;

    // The right code: the private-link page, and the link works.
    let code = current_code(SECRET).await;
    submit_code(&browser, &code).await;
    browser
        .wait_for_text("title", SOON, |text| text == "Your private link")
        .await;
    assert_eq!(browser.status().await, 200);
    let (link, token) = private_link(&browser).await;
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
    browser.screenshot("12-private-link-after-code").await;
    link.click().await.unwrap();
    browser
        .wait_for_text("title", SOON, |text| text == "Access granted")
        .await;
    browser.close().await;
}

#[tokio::test]
async fn the_open_access_page_keeps_the_session_alive_until_log_out_ends_it() {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let server = Server::start();
    let browser = Browser::start(true).await;
    browser
        .goto(&server.url_with_credentials(USER, PASSWORD, "/login"))
        .await;
    let (link, token) = private_link(&browser).await;
    let first_exp = token_exp(&token);
    link.click().await.unwrap();
    browser
        .wait_for_text("title", SOON, |text| text == "Access granted")
        .await;

    // The page traded its refresh cookie before the first token expired:
    // past that expiry it still counts down, and a reload is still granted.
    wait_until_expired(first_exp).await;
    browser
        .wait_for_text("countdown", SOON, |text| text.starts_with("Time left: "))
        .await;
    browser.client.refresh().await.unwrap();
    assert_eq!(browser.status().await, 200);
    assert_eq!(browser.text_of("title").await, "Access granted");
    browser.screenshot("09-access-refreshed").await;

    // Log out: the logged-out page, and the browser is no longer admitted.
    browser.click("logout").await;
    browser
        .wait_for_text("title", SOON, |text| text == "You have logged out")
        .await;
    browser.screenshot("10-logged-out").await;
    browser.goto(&server.url("/access")).await;
    assert_eq!(browser.status().await, 401);
    assert_ne!(browser.text_of("title").await, "Access granted");
    browser.close().await;
}
