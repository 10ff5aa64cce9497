use std::future::{Ready, ready};
use std::ops::Deref;
use std::time::Instant;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;

use super::{Claims, TokenError, Verifier};
use crate::audit::Audit;
use crate::metrics::{self, Metrics};

/// A request whose token was valid. Taking it as a handler argument means the
/// handler body runs only for valid, unexpired tokens; any failure answers 401
/// with a Bearer challenge before the handler is called.
///
/// Generic over the claims type: an app reads its own claims (those its
/// [`TokenGateBuilder::mint_claims`](crate::TokenGateBuilder::mint_claims)
/// hook added) with `Authenticated<MyClaims>`; the registered claims are
/// validated whatever the type.
#[derive(Debug, Clone)]
pub struct Authenticated<C = Claims>(pub C);

impl<C> Authenticated<C> {
    /// The verified claims.
    pub fn into_inner(self) -> C {
        self.0
    }
}

impl<C> Deref for Authenticated<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C: DeserializeOwned + 'static> FromRequest for Authenticated<C> {
    type Error = TokenError;
    // Verifying needs no I/O, so the extractor completes synchronously.
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(authenticate(req).map(Authenticated))
    }
}

/// Finds and verifies the request's token with the registered [`Verifier`],
/// counting the outcome when [`Metrics`] are registered and auditing a
/// refusal (at debug level). Without a verifier the app is misconfigured:
/// logged, and answered 500.
pub(crate) fn authenticate<C: DeserializeOwned + 'static>(
    req: &HttpRequest,
) -> Result<C, TokenError> {
    let Some(verifier) = req.app_data::<web::Data<Verifier>>() else {
        log::error!(
            "{} needs a TokenGate registered on the app (App::configure(|cfg| gate.configure(cfg)))",
            req.path()
        );
        return Err(TokenError::Unconfigured);
    };
    let metrics = req.app_data::<web::Data<Metrics>>();
    let started = metrics
        .filter(|_| metrics::time_this_check())
        .map(|_| Instant::now());
    let checked = verifier.check(req);
    if let Some(metrics) = metrics {
        let reason = checked
            .as_ref()
            .map_or_else(|refusal| refusal.as_str(), |_| "valid");
        metrics.token_check(reason, started.map(|started| started.elapsed()));
    }
    checked.map_err(|refusal| {
        if let Some(audit) = Audit::of(req) {
            audit.token_refused(req, refusal.as_str());
        }
        refusal.error()
    })
}
