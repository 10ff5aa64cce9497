//! The second step of a login for users enrolled in TOTP: `/login` hands out
//! an `mfa_token` instead of an access token ([`mfa_challenge`]), and
//! `POST /login/totp` trades it and a one-time code for the access token.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::login::{Grants, complete_login};
use super::{prefers_json, security_headers};
use crate::auth::{AMR_OTP, AMR_PASSWORD, Claims, Issuer, Verifier};
use crate::credentials::Login;
use crate::directory::Directory;
use crate::error::{BASIC_CHALLENGE, LoginError};
use crate::http::{ErrorBody, bearer_challenge};
use crate::mfa::{MfaStore, MfaStoreError, STEP_SECONDS};
use crate::pages::{CodeEntryPage, TokenRejectedPage, code_entry_page, html_page};
use crate::proxy::client_ip;
use crate::sessions::SessionService;
use crate::throttle::LoginThrottle;

/// The challenge on the `mfa_required` answer: RFC 9470's error code, since
/// the credentials were right but one more factor is due.
pub const MFA_REQUIRED_CHALLENGE: &str = bearer_challenge!(
    "insufficient_user_authentication",
    "A one-time code is required: POST it with the mfa_token to /login/totp"
);

/// `401 mfa_required`: the password was right; trade `mfa_token` and a code at `/login/totp`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MfaRequired<'a> {
    error: &'static str,
    mfa_token: &'a str,
    expires_in: u64,
}

/// The password was right and the user is enrolled: JSON clients get 401
/// `mfa_required` with the `mfa_token`, browsers the code-entry page.
pub(super) async fn mfa_challenge(
    wants_json: bool,
    issuer: Arc<Issuer>,
    username: &str,
    ttl: Duration,
    login_href: &str,
) -> Result<HttpResponse, LoginError> {
    let issued = if issuer.signs_slowly() {
        let subject = username.to_owned();
        web::block(move || issuer.mint_mfa(&subject, ttl))
            .await
            .map_err(|e| LoginError::Internal(e.into()))?
    } else {
        issuer.mint_mfa(username, ttl)
    }
    .map_err(|e| LoginError::Internal(e.into()))?;
    if wants_json {
        let mut response = HttpResponse::Unauthorized();
        security_headers(&mut response);
        return Ok(response
            .insert_header((header::WWW_AUTHENTICATE, MFA_REQUIRED_CHALLENGE))
            .json(MfaRequired {
                error: "mfa_required",
                mfa_token: &issued.token,
                expires_in: issued.expires_in,
            }));
    }
    let page = CodeEntryPage {
        user: username,
        mfa_token: &issued.token,
        problem: None,
        login_href,
    };
    Ok(code_entry_page(HttpResponse::Ok(), &page))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CodeForm {
    mfa_token: String,
    code: String,
}

/// Why a code step failed. JSON bodies carry `error` codes; browsers get the
/// code-entry page again while the `mfa_token` is still usable.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("the code is wrong or was already used")]
    InvalidCode,
    #[error("the mfa_token is missing, expired, spent or not valid; log in again")]
    InvalidMfaToken,
    #[error("the form was posted from another site")]
    CrossSite,
    #[error("expected form fields `mfa_token` and `code`")]
    BadForm,
    #[error("too many attempts; retry in {} s", .0.as_secs())]
    Throttled(Duration),
    #[error(transparent)]
    Unavailable(#[from] MfaStoreError),
    /// A server-side failure; its cause chain is logged, never shown.
    #[error("the login could not be completed")]
    Internal(#[source] anyhow::Error),
}

impl CodeError {
    /// The outcome's name in `tokengate_logins_total` and the audit trail.
    pub fn outcome(&self) -> &'static str {
        match self {
            CodeError::InvalidCode => "invalid_code",
            CodeError::InvalidMfaToken => "invalid_mfa_token",
            CodeError::CrossSite | CodeError::BadForm => "invalid_request",
            CodeError::Throttled(_) => "throttled",
            CodeError::Unavailable(_) => "unavailable",
            CodeError::Internal(_) => "error",
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            CodeError::InvalidCode => "invalid_code",
            CodeError::InvalidMfaToken => "invalid_mfa_token",
            CodeError::CrossSite => "cross_site_request",
            CodeError::BadForm => "invalid_request",
            CodeError::Throttled(_) => "too_many_requests",
            CodeError::Unavailable(_) => "unavailable",
            CodeError::Internal(_) => "internal_error",
        }
    }
}

impl ResponseError for CodeError {
    fn status_code(&self) -> StatusCode {
        match self {
            CodeError::InvalidCode | CodeError::InvalidMfaToken => StatusCode::UNAUTHORIZED,
            CodeError::CrossSite => StatusCode::FORBIDDEN,
            CodeError::BadForm => StatusCode::BAD_REQUEST,
            CodeError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            CodeError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            CodeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        security_headers(&mut response);
        match self {
            CodeError::InvalidCode => {
                response.insert_header((header::WWW_AUTHENTICATE, MFA_REQUIRED_CHALLENGE));
            }
            // Back to the password step, which a browser shows as its prompt.
            CodeError::InvalidMfaToken => {
                response.insert_header((header::WWW_AUTHENTICATE, BASIC_CHALLENGE));
            }
            CodeError::Throttled(retry_after) => {
                response.insert_header((header::RETRY_AFTER, retry_after.as_secs().to_string()));
            }
            CodeError::Unavailable(cause) => {
                log::error!("second-factor step refused: {cause}");
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            CodeError::Internal(cause) => log::error!("second-factor step failed: {cause:#}"),
            CodeError::CrossSite | CodeError::BadForm => {}
        }
        let message = match self {
            CodeError::Unavailable(_) => {
                "the second-factor check is unavailable; retry shortly".to_owned()
            }
            other => other.to_string(),
        };
        response.json(ErrorBody::new(self.code(), message))
    }
}

/// `POST /login/totp` with form fields `mfa_token` and `code`: the normal
/// token response (or private-link page) for a right, unused code.
///
/// Each `mfa_token` allows `mfa.max_attempts` tries and one success; each
/// code is accepted once per user; the login throttle counts every try.
// An actix handler takes each piece of shared state as an extractor.
#[allow(clippy::too_many_arguments)]
#[utoipa::path(
    post,
    path = "/login/totp",
    tag = "tokens",
    summary = "Second login step: the mfa_token and a one-time code",
    request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Logged in", content(
            (super::token::TokenResponse = "application/json"),
            (String = "text/html"),
        )),
        (status = 400, description = "Missing form fields (`invalid_request`)", content((super::Error = "application/json"), (String = "text/html"))),
        (status = 401, description = "Wrong or reused code (`invalid_code`), or a missing, \
            expired or spent mfa_token (`invalid_mfa_token`)",
            headers(("WWW-Authenticate" = String, description = "Challenge for the step to redo")),
            content((super::Error = "application/json"), (String = "text/html"))),
        (status = 403, description = "Posted from another site (`cross_site_request`)", content((super::Error = "application/json"), (String = "text/html"))),
        (status = 429, description = "Too many attempts (`too_many_requests`)",
            headers(("Retry-After" = String, description = "Seconds to wait")), content((super::Error = "application/json"), (String = "text/html"))),
        (status = 503, description = "The second-factor store is unavailable (`unavailable`)",
            headers(("Retry-After" = String, description = "Seconds to wait")), content((super::Error = "application/json"), (String = "text/html"))),
    ),
)]
pub async fn login_totp(
    req: HttpRequest,
    form: Result<web::Form<CodeForm>, actix_web::Error>,
    verifier: web::Data<Verifier>,
    issuer: web::Data<Issuer>,
    directory: web::Data<Directory>,
    store: web::Data<dyn MfaStore>,
    throttle: web::Data<LoginThrottle>,
    sessions: web::Data<SessionService>,
    login: web::Data<Login>,
) -> Result<HttpResponse, CodeError> {
    let started = std::time::Instant::now();
    let wants_json = prefers_json(&req);
    let state = StepState {
        verifier: &verifier,
        issuer,
        directory: &directory,
        store: &store,
        throttle: &throttle,
        sessions: &sessions,
        login: &login,
    };
    let outcome = second_step(&req, form, wants_json, state).await;
    record_code_step(&req, &outcome, started.elapsed());
    match outcome {
        // No Basic challenge for a browser: it would prompt and post again.
        Err(CodeError::InvalidMfaToken) if !wants_json => {
            let mut response = HttpResponse::Unauthorized();
            response.insert_header((header::WWW_AUTHENTICATE, MFA_REQUIRED_CHALLENGE));
            Ok(html_page(
                response,
                &TokenRejectedPage::sign_in_expired(&req),
            ))
        }
        outcome => outcome,
    }
}

/// The step's outcome in the metrics and the audit trail.
fn record_code_step(req: &HttpRequest, result: &Result<HttpResponse, CodeError>, took: Duration) {
    let outcome = match result {
        Ok(response) if response.status().is_success() => "success",
        // The code-entry page again, for a browser's wrong code.
        Ok(_) => "invalid_code",
        Err(error) => error.outcome(),
    };
    if let Some(metrics) = req.app_data::<web::Data<crate::metrics::Metrics>>() {
        metrics.login(outcome, took);
    }
    if let Some(audit) = crate::audit::Audit::of(req) {
        match outcome {
            "success" => audit.event(
                log::Level::Info,
                Some(req),
                "login_succeeded",
                "login succeeded with a one-time code",
                crate::audit::Fields {
                    detail: Some(("factor", "totp")),
                    ..Default::default()
                },
            ),
            _ => audit.login_failed(req, None, outcome),
        }
    }
}

/// The shared state the code step reads.
struct StepState<'a> {
    verifier: &'a Verifier,
    issuer: web::Data<Issuer>,
    directory: &'a Directory,
    store: &'a web::Data<dyn MfaStore>,
    throttle: &'a LoginThrottle,
    sessions: &'a SessionService,
    login: &'a Login,
}

async fn second_step(
    req: &HttpRequest,
    form: Result<web::Form<CodeForm>, actix_web::Error>,
    wants_json: bool,
    state: StepState<'_>,
) -> Result<HttpResponse, CodeError> {
    let StepState {
        verifier,
        issuer,
        directory,
        store,
        throttle,
        sessions,
        login,
    } = state;
    refuse_cross_site(req)?;
    let form = form.map_err(|_| CodeError::BadForm)?.into_inner();
    let claims = verifier
        .verify_mfa(&form.mfa_token)
        .map_err(|_| CodeError::InvalidMfaToken)?;
    throttle
        .check(client_ip(req), &claims.sub)
        .map_err(|throttled| CodeError::Throttled(throttled.retry_after))?;
    // Looked up before the code is spent, so a store that cannot answer
    // leaves the step to retry; a user removed since the password step is
    // sent back to it.
    let user = match login.store().find(&claims.sub).await {
        Ok(Some(user)) => user,
        Ok(None) => return Err(CodeError::InvalidMfaToken),
        Err(error) => return Err(CodeError::Unavailable(MfaStoreError(error.to_string()))),
    };
    match check_code(&claims, &form.code, directory, store.get_ref()).await {
        Ok(()) => {}
        Err(CodeError::InvalidCode) if !wants_json => {
            let page = CodeEntryPage {
                user: &claims.sub,
                mfa_token: &form.mfa_token,
                problem: Some("That code was not right, or was already used. Try the next one."),
                login_href: &crate::http::login_path(req),
            };
            let mut response = HttpResponse::Unauthorized();
            response.insert_header((header::WWW_AUTHENTICATE, MFA_REQUIRED_CHALLENGE));
            return Ok(code_entry_page(response, &page));
        }
        Err(error) => return Err(error),
    }
    let grants = Grants::of(req, login, &user).map_err(CodeError::Internal)?;
    complete_login(
        req,
        sessions,
        issuer.into_inner(),
        &user.name,
        grants,
        &[AMR_PASSWORD, AMR_OTP],
        wants_json,
    )
    .await
    .map_err(|error| match error {
        LoginError::Unavailable => {
            CodeError::Unavailable(MfaStoreError("the session store is unavailable".into()))
        }
        other => CodeError::Internal(other.into()),
    })
}

/// Counts the attempt, checks the code, refuses a replay, spends the token.
async fn check_code(
    claims: &Claims,
    code: &str,
    directory: &Directory,
    store: &dyn MfaStore,
) -> Result<(), CodeError> {
    let entries = directory.load();
    let token_left = Duration::from_secs(
        (claims.exp - OffsetDateTime::now_utc().unix_timestamp()).max(1) as u64,
    );
    let attempts = store
        .count_attempt(&format!("attempts:{}", claims.jti), token_left)
        .await?;
    if attempts > u64::from(entries.mfa.max_attempts) {
        return Err(CodeError::InvalidMfaToken);
    }
    let now = OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let step = entries
        .totp
        .check(&claims.sub, &digits_only(code), now)
        .ok_or(CodeError::InvalidCode)?;
    // A code stays acceptable for its step plus the skew either side.
    let code_lifetime = Duration::from_secs(STEP_SECONDS * (2 * u64::from(entries.mfa.skew) + 2));
    let fresh_code = store
        .first_use(&format!("code:{}:{step}", claims.sub), code_lifetime)
        .await?;
    if !fresh_code {
        return Err(CodeError::InvalidCode);
    }
    // Two right codes racing on one mfa_token: only one mints.
    let fresh_token = store
        .first_use(&format!("spent:{}", claims.jti), token_left)
        .await?;
    if !fresh_token {
        return Err(CodeError::InvalidMfaToken);
    }
    Ok(())
}

/// Apps show codes as `123 456`; people type them that way too.
fn digits_only(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Browsers say where a form post came from: `Sec-Fetch-Site`, else
/// `Origin`. A post from another site is refused before anything is checked
/// (login CSRF); clients that send neither (curl, API clients) are not
/// browsers and pass. The `mfa_token` field is a secret too, so this is a
/// second fence, not the only one.
fn refuse_cross_site(req: &HttpRequest) -> Result<(), CodeError> {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            _ => Err(CodeError::CrossSite),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, host)| host);
    match (origin_host, host) {
        (Some(origin_host), Some(host)) if origin_host.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(CodeError::CrossSite),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn verdict(headers: &[(&str, &str)]) -> bool {
        let mut request = TestRequest::post().uri("/login/totp");
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        refuse_cross_site(&request.to_http_request()).is_ok()
    }

    #[test]
    fn codes_typed_with_spaces_are_read_as_digits() {
        assert_eq!(digits_only(" 123 456\n"), "123456");
        assert_eq!(digits_only("12a456"), "12a456");
    }

    #[test]
    fn only_same_origin_posts_and_non_browsers_pass() {
        assert!(verdict(&[]));
        assert!(verdict(&[("sec-fetch-site", "same-origin")]));
        assert!(!verdict(&[("sec-fetch-site", "cross-site")]));
        assert!(!verdict(&[("sec-fetch-site", "same-site")]));
        assert!(verdict(&[
            ("origin", "https://gate.example"),
            ("host", "gate.example")
        ]));
        assert!(!verdict(&[
            ("origin", "https://evil.example"),
            ("host", "gate.example")
        ]));
        assert!(!verdict(&[("origin", "null"), ("host", "gate.example")]));
    }
}
