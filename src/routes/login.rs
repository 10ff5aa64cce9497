use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_httpauth::extractors::basic::BasicAuth;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{prefers_json, security_headers};
use crate::auth::{IssuedToken, Issuer};
use crate::credentials::PasswordHash;
use crate::error::LoginError;
use crate::gate::{Login, login_path, mount_prefix};
use crate::pages::{Expiry, PrivateLinkPage, html_page};
use crate::proxy::client_ip;

/// OAuth 2 token-response shape (RFC 6749 5.1).
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// Checks HTTP Basic credentials and answers with a private link (HTML) or a
/// token response (JSON). Missing, malformed and wrong credentials and
/// unknown users all get the same 401 challenge. Attempts over the
/// throttle's limits get a 429 before any password is hashed; a store that
/// cannot answer, a 503.
pub(crate) async fn login(
    req: HttpRequest,
    credentials: Option<BasicAuth>,
    login: web::Data<Login>,
    issuer: web::Data<Issuer>,
) -> Result<HttpResponse, LoginError> {
    let wants_json = prefers_json(&req);
    let rejected = || LoginError::InvalidCredentials {
        wants_json,
        login_href: login_path(&req),
    };
    let Some(credentials) = credentials else {
        return Err(rejected());
    };
    let username = credentials.user_id();
    login
        .throttle
        .check(client_ip(&req), username)
        .map_err(|throttled| LoginError::Throttled {
            retry_after: throttled.retry_after,
            wants_json,
        })?;
    let password = credentials.password().unwrap_or_default().to_owned();
    let user = login
        .store()
        .find(username)
        .await
        .map_err(LoginError::StoreUnavailable)?;
    // An unknown user costs one hash like anyone else, and gets the same answer.
    let hash = user
        .as_ref()
        .map_or_else(PasswordHash::dummy, |user| user.password_hash.clone());
    let verified = login.pool.verify(hash, password).await?;
    let Some(user) = user.filter(|_| verified) else {
        return Err(rejected());
    };

    let extra = login
        .extra_claims(&user)
        .transpose()
        .map_err(|e| LoginError::Internal(format!("the app's claims hook failed: {e}")))?;
    let issued = mint(issuer.into_inner(), &user.name, extra).await?;
    if wants_json {
        let mut response = HttpResponse::Ok();
        security_headers(&mut response);
        return Ok(response.json(TokenResponse {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
        }));
    }
    // Host-relative, so the link works behind any proxy or load balancer,
    // and beside this login route, wherever the app mounted it.
    let link = format!(
        "{}/access?token={}",
        mount_prefix(&req, "/login"),
        issued.token
    );
    let login_href = login_path(&req);
    let page = PrivateLinkPage {
        user: &user.name,
        link: &link,
        login_href: &login_href,
        expiry: Expiry::at(issued.expires_at.unix_timestamp()),
    };
    Ok(html_page(HttpResponse::Ok(), &page))
}

/// Signs on the async worker, unless the key is RSA: its signature (about
/// 1.3 ms) would hold up every request queued on the worker, so it runs on
/// the blocking pool instead.
async fn mint(
    issuer: Arc<Issuer>,
    subject: &str,
    extra: Option<Map<String, Value>>,
) -> Result<IssuedToken, LoginError> {
    let issued = if issuer.signs_slowly() {
        let subject = subject.to_owned();
        web::block(move || issuer.mint_with(&subject, extra.as_ref()))
            .await
            .map_err(|e| LoginError::Internal(e.to_string()))?
    } else {
        issuer.mint_with(subject, extra.as_ref())
    };
    issued.map_err(|e| LoginError::Internal(e.to_string()))
}
