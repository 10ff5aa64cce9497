use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::{prefers_json, security_headers};
use crate::auth::{IssuedToken, Issuer, basic_credentials};
use crate::credentials::HashingPool;
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
/// token response (JSON). Missing, malformed and wrong credentials all get
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
