use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;

use super::{Claims, TokenError, Verifier};

/// A request whose token was valid. Taking it as a handler argument means the
/// handler body runs only for valid, unexpired tokens; any failure answers 401
/// with a Bearer challenge before the handler is called.
///
/// Generic over the claims type, so apps minting richer tokens reuse it.
#[derive(Debug, Clone)]
pub struct Authenticated<C = Claims>(pub C);

impl<C> Authenticated<C> {
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

/// Finds and verifies the request's token with the registered [`Verifier`].
pub(crate) fn authenticate<C: DeserializeOwned + 'static>(
    req: &HttpRequest,
) -> Result<C, TokenError> {
    let verifier = req
        .app_data::<web::Data<Verifier>>()
        .expect("BUG: web::Data<Verifier> is not registered on the app");
    verifier.authenticate(req)
}
