use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::sessions::SessionService;

/// Whether the instance takes new work; flipped once when draining starts.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn start_draining(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: 503 once SIGTERM arrived, so load balancers stop routing here.
/// A session store that cannot be reached is a detail, not a 503: tokens are
/// still checked (against the revocations known so far) on this replica.
pub async fn readyz(
    readiness: web::Data<Readiness>,
    sessions: Option<web::Data<SessionService>>,
) -> HttpResponse {
    let sessions = sessions.map(|sessions| {
        json!({
            "store": sessions.store_kind(),
            "synced": sessions.is_synced(),
        })
    });
    if readiness.is_draining() {
        HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "draining", "sessions": sessions }))
    } else {
        HttpResponse::Ok().json(json!({ "status": "ready", "sessions": sessions }))
    }
}
