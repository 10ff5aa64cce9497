use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::second_factor::mfa_challenge;
use super::{prefers_json, security_headers};
use crate::auth::{AMR_PASSWORD, IssuedToken, Issuer, Subject, basic_credentials};
use crate::credentials::HashingPool;
use crate::directory::Directory;
use crate::error::LoginError;
use crate::pages::{Expiry, PrivateLinkPage, html_page};
use crate::throttle::{LoginThrottle, client_ip};

/// OAuth 2 token-response shape (RFC 6749 5.1).
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// Checks HTTP Basic credentials and answers with a private link (HTML) or a
/// token response (JSON); for a user enrolled in TOTP, with the second step
/// instead (see [`super::second_factor`]). Missing, malformed and wrong credentials all get
/// the same 401 challenge. Attempts over the throttle's limits get a 429
/// before any password is hashed.
pub async fn login(
    req: HttpRequest,
    pool: web::Data<HashingPool>,
    issuer: web::Data<Issuer>,
    throttle: web::Data<LoginThrottle>,
) -> Result<HttpResponse, LoginError> {
    let wants_json = prefers_json(&req);
    let rejected = LoginError::InvalidCredentials { wants_json };
    let Some(credentials) = basic_credentials(&req) else {
        return Err(rejected);
    };
    let username = credentials.user_id().to_owned();
    throttle
        .check(client_ip(&req), &username)
        .map_err(|throttled| LoginError::Throttled {
            retry_after: throttled.retry_after,
            wants_json,
        })?;
    let password = credentials.password().unwrap_or_default().to_owned();
    let verified = pool.verify(username.clone(), password).await?;
    if !verified {
        return Err(rejected);
    }

    // Optional, so an app registering only the login's own data still works:
    // without a directory, nobody has groups or a second factor.
    let entries = req.app_data::<web::Data<Directory>>().map(|d| d.load());
    if let Some(entries) = entries.as_ref().filter(|e| e.totp.is_enrolled(&username)) {
        let ttl = entries.mfa.token_ttl;
        return mfa_challenge(wants_json, issuer.into_inner(), &username, ttl).await;
    }
    let roles = entries.map_or_else(Vec::new, |e| e.groups.of(&username).to_vec());
    let issued = mint(
        issuer.into_inner(),
        username.clone(),
        roles,
        &[AMR_PASSWORD],
    )
    .await?;
    Ok(token_response(wants_json, &username, issued))
}

/// The answer to a completed login: the RFC 6749 token response for JSON
/// clients, the private-link page for browsers.
pub(super) fn token_response(
    wants_json: bool,
    username: &str,
    issued: IssuedToken,
) -> HttpResponse {
    if wants_json {
        let mut response = HttpResponse::Ok();
        security_headers(&mut response);
        return response.json(TokenResponse {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
        });
    }
    // Host-relative, so the link works behind any proxy or load balancer.
    let link = format!("/access?token={}", issued.token);
    let page = PrivateLinkPage {
        user: username,
        link: &link,
        expiry: Expiry::at(issued.expires_at.unix_timestamp()),
    };
    html_page(HttpResponse::Ok(), &page)
}

/// Signs on the async worker, unless the key is RSA: its signature (about
/// 1.3 ms) would hold up every request queued on the worker, so it runs on
/// the blocking pool instead.
pub(super) async fn mint(
    issuer: Arc<Issuer>,
    name: String,
    roles: Vec<String>,
    amr: &'static [&'static str],
) -> Result<IssuedToken, LoginError> {
    let slow = issuer.signs_slowly();
    let sign = move || {
        issuer.mint_for(&Subject {
            name: &name,
            roles: &roles,
            amr,
        })
    };
    let issued = if slow {
        web::block(sign)
            .await
            .map_err(|e| LoginError::Internal(e.to_string()))?
    } else {
        sign()
    };
    issued.map_err(|e| LoginError::Internal(e.to_string()))
}
