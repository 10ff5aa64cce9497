use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};

use super::token::TokenResponse;
use super::{prefers_json, security_headers};
use crate::auth::{IssuedToken, Issuer, basic_credentials};
use crate::credentials::HashingPool;
use crate::error::LoginError;
use crate::pages::{Expiry, PrivateLinkPage, html_page};
use crate::sessions::{LimitError, SessionService, SharedLimits};
use crate::throttle::{LoginThrottle, Throttled, client_ip};

/// Checks HTTP Basic credentials and answers with a private link (HTML) or a
/// token response (JSON). Missing, malformed and wrong credentials all get
/// the same 401 challenge. Attempts over the throttle's limits get a 429
/// before any password is hashed.
pub async fn login(
    req: HttpRequest,
    pool: web::Data<HashingPool>,
    issuer: web::Data<Issuer>,
    throttle: web::Data<LoginThrottle>,
    sessions: web::Data<SessionService>,
    shared_limits: Option<web::Data<SharedLimits>>,
) -> Result<HttpResponse, LoginError> {
    let wants_json = prefers_json(&req);
    let rejected = LoginError::InvalidCredentials { wants_json };
    let Some(credentials) = basic_credentials(&req) else {
        return Err(rejected);
    };
    let username = credentials.user_id().to_owned();
    let throttled = |throttled: Throttled| LoginError::Throttled {
        retry_after: throttled.retry_after,
        wants_json,
    };
    match shared_limits {
        // With Redis, every replica counts against the same budget.
        Some(limits) => match limits.check(client_ip(&req), &username).await {
            Ok(()) => {}
            Err(LimitError::Throttled(limited)) => return Err(throttled(limited)),
            Err(LimitError::Unavailable(error)) => {
                log::warn!("login refused: {error}");
                return Err(LoginError::Unavailable { wants_json });
            }
        },
        None => throttle
            .check(client_ip(&req), &username)
            .map_err(throttled)?,
    }
    let password = credentials.password().unwrap_or_default().to_owned();
    let verified = pool.verify(username.clone(), password).await?;
    if !verified {
        return Err(rejected);
    }

    // API clients get a refresh token now; a browser gets its refresh
    // cookie at the private link's hand-off, so it never sits in a page.
    let session = sessions
        .start(&username, wants_json)
        .await
        .map_err(|error| {
            log::warn!("login refused: {error}");
            LoginError::Unavailable { wants_json }
        })?;
    let issued = mint(issuer.into_inner(), &username, &session.sid)
        .await
        .map_err(|e| LoginError::Internal(e.to_string()))?;
    if wants_json {
        let mut response = HttpResponse::Ok();
        security_headers(&mut response);
        let refresh = session
            .refresh
            .ok_or_else(|| LoginError::Internal("a JSON session without a refresh token".into()))?;
        return Ok(response.json(TokenResponse {
            access_token: Some(issued.token),
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: Some(refresh.token),
            refresh_expires_in: refresh.expires_in,
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
pub(super) async fn mint(
    issuer: Arc<Issuer>,
    subject: &str,
    sid: &str,
) -> anyhow::Result<IssuedToken> {
    let issued = if issuer.signs_slowly() {
        let (subject, sid) = (subject.to_owned(), sid.to_owned());
        web::block(move || issuer.mint_for_session(&subject, &sid)).await?
    } else {
        issuer.mint_for_session(subject, sid)
    };
    Ok(issued?)
}
