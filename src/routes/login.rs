use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value};

use super::second_factor::mfa_challenge;
use super::token::TokenResponse;
use super::{prefers_json, security_headers};
use crate::audit::Audit;
use crate::auth::{AMR_PASSWORD, IssuedToken, Issuer, Subject, basic_credentials};
use crate::credentials::{Login, UserRecord};
use crate::directory::Directory;
use crate::error::LoginError;
use crate::http::{login_path, mount_prefix};
use crate::metrics::Metrics;
use crate::pages::{Expiry, PrivateLinkPage, html_page};
use crate::proxy::client_ip;
use crate::sessions::{IssuedRefresh, LimitError, SessionService, SharedLimits};
use crate::throttle::{LoginThrottle, Throttled};

/// A 401 from `/login`: an error, or the `mfa_required` step.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // A schema only.
pub(crate) enum LoginRefused<'a> {
    Error(super::Error),
    MfaRequired(super::second_factor::MfaRequired<'a>),
}

/// Checks HTTP Basic credentials and answers with a private link (HTML) or a
/// token response (JSON); for a user enrolled in TOTP, with the second step
/// instead (see [`super::second_factor`]). Missing, malformed and wrong
/// credentials and unknown users all get the same 401 challenge. Attempts
/// over the throttle's limits get a 429 before any password is hashed; a
/// credential store that cannot answer, a 503.
#[utoipa::path(
    get,
    path = "/login",
    tag = "tokens",
    summary = "Log in with HTTP Basic credentials",
    description = "Answers the private-link page (HTML), or with `Accept: application/json` \
        a token response. Missing, malformed and wrong credentials and unknown users all get \
        the same 401.",
    security(("basic" = [])),
    responses(
        (status = 200, description = "Logged in", content(
            (TokenResponse = "application/json"),
            (String = "text/html"),
        )),
        (status = 401, description = "Valid credentials are required (`invalid_credentials`), \
            or, for a user enrolled in TOTP, the password was right and a one-time code is due \
            (`mfa_required`, with the `mfa_token` for `/login/totp`)",
            headers(("WWW-Authenticate" = String, description = "Basic, or RFC 9470 challenge")),
            content((LoginRefused = "application/json"), (String = "text/html"))),
        (status = 429, description = "Too many attempts from this address or for this user \
            (`too_many_requests`)",
            headers(("Retry-After" = String, description = "Seconds to wait")),
            content((super::Error = "application/json"), (String = "text/html"))),
        (status = 503, description = "Too many password checks queued (`busy`), or the \
            credential or session store is unreachable (`store_unavailable`, \
            `temporarily_unavailable`)",
            headers(("Retry-After" = String, description = "Seconds to wait")),
            content((super::Error = "application/json"), (String = "text/html"))),
    ),
)]
pub(crate) async fn login(
    req: HttpRequest,
    login: web::Data<Login>,
    issuer: web::Data<Issuer>,
    throttle: web::Data<LoginThrottle>,
    sessions: web::Data<SessionService>,
    shared_limits: Option<web::Data<SharedLimits>>,
) -> Result<HttpResponse, LoginError> {
    let started = Instant::now();
    let user = basic_credentials(&req).map(|c| c.user_id().to_owned());
    // The attempt as a block, so every early return is recorded below.
    let result: Result<HttpResponse, LoginError> = async {
        let wants_json = prefers_json(&req);
        let rejected = || LoginError::InvalidCredentials {
            wants_json,
            login_href: login_path(&req),
        };
        let Some(credentials) = basic_credentials(&req) else {
            return Err(rejected());
        };
        let username = credentials.user_id().to_owned();
        let throttled = |throttled: Throttled| LoginError::Throttled {
            retry_after: throttled.retry_after,
        };
        match shared_limits {
            // With Redis, every replica counts against the same budget.
            Some(limits) => match limits.check(client_ip(&req), &username).await {
                Ok(()) => {}
                Err(LimitError::Throttled(limited)) => return Err(throttled(limited)),
                Err(LimitError::Unavailable(error)) => {
                    log::warn!("login refused: {error}");
                    return Err(LoginError::Unavailable);
                }
            },
            None => throttle
                .check(client_ip(&req), &username)
                .map_err(throttled)?,
        }
        let password = credentials.password().unwrap_or_default().to_owned();
        let store = login.store();
        let user = store
            .find(&username)
            .await
            .map_err(LoginError::StoreUnavailable)?;
        // An unknown user costs the same hashes as anyone else, and gets the same answer.
        let own = user.as_ref().map(|user| user.password_hash.clone());
        let verified = login.pool.verify(own, store.stand_ins(), password).await?;
        let Some(user) = user.filter(|_| verified) else {
            return Err(rejected());
        };

        // Optional, so an app registering only the login's own data still works:
        // without a directory, nobody has groups-file roles or a second factor.
        let entries = req.app_data::<web::Data<Directory>>().map(|d| d.load());
        if let Some(entries) = entries.as_ref().filter(|e| e.totp.is_enrolled(&user.name)) {
            let ttl = entries.mfa.token_ttl;
            let login_href = login_path(&req);
            let mut challenge = mfa_challenge(
                wants_json,
                issuer.into_inner(),
                &user.name,
                ttl,
                &login_href,
            )
            .await?;
            challenge
                .extensions_mut()
                .insert(LoginOutcome("mfa_required"));
            return Ok(challenge);
        }
        let grants = Grants::of(&req, &login, &user).map_err(LoginError::Internal)?;
        complete_login(
            &req,
            &sessions,
            issuer.into_inner(),
            &user.name,
            grants,
            &[AMR_PASSWORD],
            wants_json,
        )
        .await
    }
    .await;
    record_login(&req, user.as_deref(), &result, started.elapsed());
    result
}

/// What a token minted for a user carries beside its session: their roles
/// (the store's groups and the groups file's, each once) and the app's extra
/// claims. The password login, the one-time-code step and every refresh
/// build it here, so a refreshed token says what a fresh login would.
pub(super) struct Grants {
    pub roles: Vec<String>,
    pub extra: Option<Map<String, Value>>,
}

impl Grants {
    pub(super) fn of(req: &HttpRequest, login: &Login, user: &UserRecord) -> anyhow::Result<Self> {
        let mut roles = user.groups.clone();
        if let Some(directory) = req.app_data::<web::Data<Directory>>() {
            for group in directory.load().groups.of(&user.name) {
                if !roles.contains(group) {
                    roles.push(group.clone());
                }
            }
        }
        let extra = login
            .extra_claims(user)
            .transpose()
            .map_err(|e| anyhow::Error::new(e).context("the app's claims hook failed"))?;
        Ok(Self { roles, extra })
    }
}

/// A login answered `Ok` that is not (yet) a success: the TOTP step is due.
#[derive(Clone, Copy)]
pub(super) struct LoginOutcome(pub &'static str);

/// The login's outcome in the metrics and the audit trail.
pub(super) fn record_login(
    req: &HttpRequest,
    user: Option<&str>,
    result: &Result<HttpResponse, LoginError>,
    took: Duration,
) {
    let outcome = match result {
        Ok(response) => response
            .extensions()
            .get::<LoginOutcome>()
            .map_or("success", |outcome| outcome.0),
        Err(error) => error.outcome(),
    };
    if let Some(metrics) = req.app_data::<web::Data<Metrics>>() {
        metrics.login(outcome, took);
    }
    let Some(audit) = Audit::of(req) else {
        return;
    };
    match (result, user) {
        (Ok(_), Some(user)) if outcome == "success" => audit.login_succeeded(req, user),
        (Err(LoginError::Throttled { .. }), Some(user)) => audit.login_throttled(req, user),
        _ => audit.login_failed(req, user, outcome),
    }
}

/// A login whose every factor passed: starts the session, mints its first
/// access token and answers. API clients get a refresh token now; a browser
/// gets its refresh cookie at the private link's hand-off, so it never sits
/// in a page. Without the session store, a 503: no token the store does not
/// know of.
#[allow(clippy::too_many_arguments)]
pub(super) async fn complete_login(
    req: &HttpRequest,
    sessions: &SessionService,
    issuer: Arc<Issuer>,
    username: &str,
    grants: Grants,
    amr: &'static [&'static str],
    wants_json: bool,
) -> Result<HttpResponse, LoginError> {
    let session = sessions
        .start(username, amr, wants_json)
        .await
        .map_err(|error| {
            log::warn!("login refused: {error}");
            LoginError::Unavailable
        })?;
    let issued = mint(
        issuer,
        username.to_owned(),
        grants,
        amr,
        session.sid,
        session.auth_time,
    )
    .await?;
    Ok(token_response(
        req,
        wants_json,
        username,
        issued,
        session.refresh,
    ))
}

/// The answer to a completed login: the RFC 6749 token response for JSON
/// clients, the private-link page for browsers.
pub(super) fn token_response(
    req: &HttpRequest,
    wants_json: bool,
    username: &str,
    issued: IssuedToken,
    refresh: Option<IssuedRefresh>,
) -> HttpResponse {
    if wants_json {
        let mut response = HttpResponse::Ok();
        security_headers(&mut response);
        return response.json(TokenResponse {
            access_token: Some(issued.token),
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_expires_in: refresh.as_ref().map_or(0, |r| r.expires_in),
            refresh_token: refresh.map(|r| r.token),
        });
    }
    // Host-relative, so the link works behind any proxy or load balancer,
    // and beside the login route, wherever the app mounted it.
    let prefix = match req.path().ends_with("/login/totp") {
        true => mount_prefix(req, "/login/totp"),
        false => mount_prefix(req, "/login"),
    };
    let link = format!("{prefix}/access?token={}", issued.token);
    let login_href = login_path(req);
    let page = PrivateLinkPage {
        user: username,
        link: &link,
        login_href: &login_href,
        expiry: Expiry::at(issued.expires_at.unix_timestamp()),
    };
    html_page(HttpResponse::Ok(), &page)
}

/// Signs on the async worker, unless the key is RSA: its signature would
/// hold up every request queued on the worker (BENCHMARKS.md, "RSA signing
/// off the workers"), so it runs on the blocking pool instead.
pub(super) async fn mint(
    issuer: Arc<Issuer>,
    name: String,
    grants: Grants,
    amr: &'static [&'static str],
    sid: String,
    auth_time: i64,
) -> Result<IssuedToken, LoginError> {
    let slow = issuer.signs_slowly();
    let sign = move || {
        let subject = Subject {
            name: &name,
            roles: &grants.roles,
            amr,
        };
        issuer.mint_in_session(&subject, &sid, auth_time, grants.extra.as_ref())
    };
    let issued = if slow {
        web::block(sign)
            .await
            .map_err(|e| LoginError::Internal(e.into()))?
    } else {
        sign()
    };
    issued.map_err(|e| LoginError::Internal(e.into()))
}
