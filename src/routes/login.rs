use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_httpauth::extractors::basic::BasicAuth;
use serde::Serialize;

use super::{prefers_json, security_headers};
use crate::auth::Issuer;
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
    credentials: Option<BasicAuth>,
    pool: web::Data<HashingPool>,
    issuer: web::Data<Issuer>,
    throttle: web::Data<LoginThrottle>,
) -> Result<HttpResponse, LoginError> {
    let wants_json = prefers_json(&req);
    let rejected = LoginError::InvalidCredentials { wants_json };
    let Some(credentials) = credentials else {
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

    let issued = issuer
        .mint(&username)
        .map_err(|e| LoginError::Internal(e.to_string()))?;
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
