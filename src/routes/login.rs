use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_httpauth::headers::authorization::Basic;
use serde::Serialize;

use super::{prefers_json, security_headers};
use crate::audit::Audit;
use crate::auth::{IssuedToken, Issuer, basic_credentials};
use crate::credentials::HashingPool;
use crate::error::LoginError;
use crate::metrics::Metrics;
use crate::pages::{Expiry, PrivateLinkPage, html_page};
use crate::throttle::{LoginThrottle, client_ip};

/// OAuth 2 token-response shape (RFC 6749 5.1).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenResponse {
    /// The signed JWT.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
}

/// Checks HTTP Basic credentials and answers with a private link (HTML) or a
/// token response (JSON). Missing, malformed and wrong credentials all get
/// the same 401 challenge. Attempts over the throttle's limits get a 429
/// before any password is hashed.
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
        (status = 401, description = "Valid credentials are required (`invalid_credentials`)",
            headers(("WWW-Authenticate" = String, description = "Basic challenge")),
            content((super::Error = "application/json"), (String = "text/html"))),
        (status = 429, description = "Too many attempts from this address or for this user \
            (`too_many_requests`)",
            headers(("Retry-After" = String, description = "Seconds to wait")),
            content((super::Error = "application/json"), (String = "text/plain"))),
        (status = 503, description = "Too many password checks queued (`busy`)",
            headers(("Retry-After" = String, description = "Seconds to wait")),
            body = super::Error),
    ),
)]
pub async fn login(
    req: HttpRequest,
    pool: web::Data<HashingPool>,
    issuer: web::Data<Issuer>,
    throttle: web::Data<LoginThrottle>,
) -> Result<HttpResponse, LoginError> {
    let started = Instant::now();
    let credentials = basic_credentials(&req);
    let user = credentials.as_ref().map(|c| c.user_id().to_owned());
    let result = attempt(&req, credentials, pool, issuer, throttle).await;
    record_login(&req, user.as_deref(), &result, started.elapsed());
    result
}

/// The login's outcome in the metrics and the audit trail.
fn record_login(
    req: &HttpRequest,
    user: Option<&str>,
    result: &Result<HttpResponse, LoginError>,
    took: Duration,
) {
    let outcome = match result {
        Ok(_) => "success",
        Err(error) => error.outcome(),
    };
    if let Some(metrics) = req.app_data::<web::Data<Metrics>>() {
        metrics.login(outcome, took);
    }
    let Some(audit) = Audit::of(req) else {
        return;
    };
    match (result, user) {
        (Ok(_), Some(user)) => audit.login_succeeded(req, user),
        (Err(LoginError::Throttled { .. }), Some(user)) => audit.login_throttled(req, user),
        _ => audit.login_failed(req, user, outcome),
    }
}

async fn attempt(
    req: &HttpRequest,
    credentials: Option<Basic>,
    pool: web::Data<HashingPool>,
    issuer: web::Data<Issuer>,
    throttle: web::Data<LoginThrottle>,
) -> Result<HttpResponse, LoginError> {
    let wants_json = prefers_json(req);
    let rejected = LoginError::InvalidCredentials { wants_json };
    let Some(credentials) = credentials else {
        return Err(rejected);
    };
    let username = credentials.user_id().to_owned();
    throttle
        .check(client_ip(req), &username)
        .map_err(|throttled| LoginError::Throttled {
            retry_after: throttled.retry_after,
            wants_json,
        })?;
    let password = credentials.password().unwrap_or_default().to_owned();
    let verified = pool.verify(username.clone(), password).await?;
    if !verified {
        return Err(rejected);
    }

    let issued = mint(issuer.into_inner(), &username).await?;
    if wants_json {
        let mut response = HttpResponse::Ok();
        security_headers(&mut response);
        return Ok(response.json(TokenResponse {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
        }));
    }
    // Host-relative, so the link works behind any proxy or load balancer.
    let link = format!("/access?token={}", issued.token);
    let page = PrivateLinkPage {
        user: &username,
        link: &link,
        expiry: Expiry::at(issued.expires_at.unix_timestamp()),
    };
    Ok(html_page(HttpResponse::Ok(), &page))
}

/// Signs on the async worker, unless the key is RSA: its signature (about
/// 1.3 ms) would hold up every request queued on the worker, so it runs on
/// the blocking pool instead.
async fn mint(issuer: Arc<Issuer>, subject: &str) -> Result<IssuedToken, LoginError> {
    let issued = if issuer.signs_slowly() {
        let subject = subject.to_owned();
        web::block(move || issuer.mint(&subject))
            .await
            .map_err(|e| LoginError::Internal(e.to_string()))?
    } else {
        issuer.mint(subject)
    };
    issued.map_err(|e| LoginError::Internal(e.to_string()))
}
