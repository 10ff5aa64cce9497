use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::sessions::SessionService;

/// `{"status": ...}`: `ok`, `ready` or `draining`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Status {
    status: &'static str,
}

/// `/readyz`: `ready` or `draining`, and the session store's state.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ReadinessStatus {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions: Option<SessionsStatus>,
}

/// `memory` or `redis`, and whether this replica's revocations are current.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SessionsStatus {
    store: &'static str,
    synced: bool,
}

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
#[utoipa::path(method(get, head), path = "/healthz", tag = "health", summary = "Liveness",
    responses((status = 200, description = "The process answers", body = Status)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// Readiness: 503 once SIGTERM arrived, so load balancers stop routing here.
/// A session store that cannot be reached is a detail, not a 503: tokens are
/// still checked (against the revocations known so far) on this replica.
#[utoipa::path(method(get, head), path = "/readyz", tag = "health", summary = "Readiness",
    responses(
        (status = 200, description = "Serving", body = ReadinessStatus),
        (status = 503, description = "Draining after SIGTERM", body = ReadinessStatus),
    ))]
pub async fn readyz(
    readiness: web::Data<Readiness>,
    sessions: Option<web::Data<SessionService>>,
) -> HttpResponse {
    let sessions = sessions.map(|sessions| SessionsStatus {
        store: sessions.store_kind(),
        synced: sessions.is_synced(),
    });
    if readiness.is_draining() {
        HttpResponse::ServiceUnavailable().json(ReadinessStatus {
            status: "draining",
            sessions,
        })
    } else {
        HttpResponse::Ok().json(ReadinessStatus {
            status: "ready",
            sessions,
        })
    }
}
