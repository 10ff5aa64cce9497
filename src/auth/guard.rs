//! Authorization guards: extractors that admit a valid token only when it
//! holds a role ([`RequireRole`]) or records a second factor ([`RequireMfa`]).
//!
//! Why a type-level requirement rather than actix-web-grants' style:
//! actix-web-grants puts a middleware on the app that loads each request's
//! permissions into its extensions, and a `#[protect("ROLE_ADMIN")]`
//! attribute (a proc macro) rewrites the handler to check them. tokengate's
//! roles already arrive inside a verified token, so no middleware has to load
//! anything, and the requirement can be a plain handler argument, the way
//! [`Authenticated`](super::Authenticated) already is:
//!
//! ```
//! use actix_web::HttpResponse;
//! use tokengate::auth::RequireRole;
//!
//! tokengate::role!(pub Admins = "admins");
//!
//! async fn purge(RequireRole(claims, ..): RequireRole<Admins>) -> HttpResponse {
//!     HttpResponse::Ok().body(format!("purged by {}", claims.sub))
//! }
//! ```
//!
//! The requirement sits in the signature, so it cannot be forgotten when the
//! handler is registered somewhere else, needs no macro crate and no
//! middleware ordering, and composes with other extractors. A role whose
//! name comes from configuration (the operator group, `users.admin_group`)
//! implements [`Role`] by reading app data, as [`Operator`] does.

use std::borrow::Cow;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use arc_swap::ArcSwap;
use serde::de::DeserializeOwned;

use super::extractor::authenticate;
use super::{AuthorizationClaims, Claims, TokenError};
use crate::http::{ErrorBody, bearer_challenge};

/// A group a handler demands. Declare fixed ones with [`role!`](crate::role).
pub trait Role: 'static {
    /// The group the token's `roles` claim must contain.
    fn name(req: &HttpRequest) -> Cow<'static, str>;
}

/// Declares a [`Role`] type for a fixed group name:
/// `tokengate::role!(pub Admins = "admins");`
#[macro_export]
macro_rules! role {
    ($vis:vis $name:ident = $group:literal) => {
        #[doc = concat!("The `", $group, "` group.")]
        $vis struct $name;

        impl $crate::auth::Role for $name {
            fn name(_: &::actix_web::HttpRequest) -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed($group)
            }
        }
    };
}

/// The configured operator group (`users.admin_group`), replaced on reload.
/// Register it as `web::Data<AdminGroup>` to use [`Operator`].
pub struct AdminGroup(ArcSwap<String>);

impl AdminGroup {
    /// The group named `group`.
    pub fn new(group: impl Into<String>) -> Self {
        Self(ArcSwap::from_pointee(group.into()))
    }

    /// The group in force.
    pub fn get(&self) -> Arc<String> {
        self.0.load_full()
    }

    /// Swaps in the group a reload read.
    pub fn replace(&self, group: impl Into<String>) {
        self.0.store(Arc::new(group.into()));
    }
}

/// The operator group named by `users.admin_group`: operator endpoints
/// (ending a user's sessions, `POST /admin/sessions/revoke`) take
/// `RequireRole<Operator>`.
pub struct Operator;

impl Role for Operator {
    fn name(req: &HttpRequest) -> Cow<'static, str> {
        let Some(group) = req.app_data::<web::Data<AdminGroup>>() else {
            // Empty: `RequireRole` answers a 500 rather than panicking.
            log::error!("RequireRole<Operator> needs a TokenGate registered on the app");
            return Cow::Borrowed("");
        };
        Cow::Owned(group.get().as_str().to_owned())
    }
}

/// A valid token holding role `R`. Without a token, or with a bad one: the
/// extractor's 401. With a valid token lacking the role: 403
/// [`AccessDenied::InsufficientRole`].
pub struct RequireRole<R: Role, C = Claims>(pub C, pub PhantomData<R>);

/// A valid token whose `amr` records a one-time code; otherwise 403
/// [`AccessDenied::InsufficientAuthentication`] (RFC 9470's error code).
pub struct RequireMfa<C = Claims>(pub C);

impl<R: Role, C> RequireRole<R, C> {
    /// The claims, once the role was checked.
    pub fn into_inner(self) -> C {
        self.0
    }
}

impl<R: Role, C> Deref for RequireRole<R, C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C> RequireMfa<C> {
    /// The claims, once the second factor was checked.
    pub fn into_inner(self) -> C {
        self.0
    }
}

impl<C> Deref for RequireMfa<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<R: Role, C: AuthorizationClaims + DeserializeOwned + 'static> FromRequest
    for RequireRole<R, C>
{
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready((|| {
            let claims: C = authenticate(req)?;
            let role = R::name(req);
            // A role that cannot be named means the app is misconfigured.
            if role.is_empty() {
                return Err(TokenError::Unconfigured.into());
            }
            check_roles(&claims, std::slice::from_ref(&role))?;
            Ok(RequireRole(claims, PhantomData))
        })())
    }
}

impl<C: AuthorizationClaims + DeserializeOwned + 'static> FromRequest for RequireMfa<C> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready((|| {
            let claims: C = authenticate(req)?;
            check_second_factor(&claims)?;
            Ok(RequireMfa(claims))
        })())
    }
}

/// Every role in `required` must be held; the error lists them all.
pub fn check_roles<C: AuthorizationClaims, S: AsRef<str>>(
    claims: &C,
    required: &[S],
) -> Result<(), AccessDenied> {
    if required.iter().all(|role| claims.has_role(role.as_ref())) {
        return Ok(());
    }
    Err(AccessDenied::InsufficientRole {
        required: required
            .iter()
            .map(|role| role.as_ref().to_owned())
            .collect(),
    })
}

/// `Ok` when the token's `amr` shows a one-time code was checked.
pub fn check_second_factor<C: AuthorizationClaims>(claims: &C) -> Result<(), AccessDenied> {
    if claims.used_second_factor() {
        Ok(())
    } else {
        Err(AccessDenied::InsufficientAuthentication)
    }
}

/// A valid token that may not do this. Every variant is a 403 with an RFC
/// 6750 `WWW-Authenticate: Bearer` challenge naming why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    /// RFC 6750 3.1 `insufficient_scope`: a required role is missing.
    #[error("the token lacks a required role")]
    InsufficientRole {
        /// The roles the route needs.
        required: Vec<String>,
    },
    /// RFC 9470: the login did not include a second factor.
    #[error("this needs a login with a second factor")]
    InsufficientAuthentication,
}

impl AccessDenied {
    /// The stable, documented error code in the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            AccessDenied::InsufficientRole { .. } => "insufficient_role",
            AccessDenied::InsufficientAuthentication => "insufficient_user_authentication",
        }
    }

    /// The RFC 6750 `error` code of the challenge.
    pub fn challenge(&self) -> &'static str {
        match self {
            AccessDenied::InsufficientRole { .. } => bearer_challenge!(
                "insufficient_scope",
                "The access token lacks a required role"
            ),
            AccessDenied::InsufficientAuthentication => bearer_challenge!(
                "insufficient_user_authentication",
                "A login with a second factor is required"
            ),
        }
    }
}

impl ResponseError for AccessDenied {
    fn status_code(&self) -> StatusCode {
        StatusCode::FORBIDDEN
    }

    fn error_response(&self) -> HttpResponse {
        let required_roles = match self {
            AccessDenied::InsufficientRole { required } => Some(required.as_slice()),
            AccessDenied::InsufficientAuthentication => None,
        };
        HttpResponse::Forbidden()
            .insert_header((header::WWW_AUTHENTICATE, self.challenge()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(ErrorBody::new(self.code(), self.to_string()).required_roles(required_roles))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(roles: &[&str], amr: &[&str]) -> Claims {
        Claims {
            sub: "alice".into(),
            iat: 0,
            nbf: 0,
            exp: 0,
            jti: "j".into(),
            iss: "i".into(),
            aud: "a".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            amr: amr.iter().map(|m| m.to_string()).collect(),
            auth_time: None,
            sid: None,
        }
    }

    #[test]
    fn every_required_role_must_be_held() {
        let alice = claims(&["admins", "readers"], &["pwd"]);
        assert_eq!(check_roles(&alice, &["admins"]), Ok(()));
        assert_eq!(check_roles(&alice, &["admins", "readers"]), Ok(()));
        assert_eq!(check_roles::<_, &str>(&alice, &[]), Ok(()));
        assert_eq!(
            check_roles(&alice, &["admins", "ops"]),
            Err(AccessDenied::InsufficientRole {
                required: vec!["admins".into(), "ops".into()]
            })
        );
        // Exact names: no prefix or case folding.
        assert!(check_roles(&alice, &["admin"]).is_err());
        assert!(check_roles(&alice, &["Admins"]).is_err());
    }

    #[test]
    fn only_an_otp_in_amr_counts_as_a_second_factor() {
        assert!(check_second_factor(&claims(&[], &["pwd", "otp"])).is_ok());
        assert_eq!(
            check_second_factor(&claims(&[], &["pwd"])),
            Err(AccessDenied::InsufficientAuthentication)
        );
        assert!(check_second_factor(&claims(&[], &[])).is_err());
    }
}
