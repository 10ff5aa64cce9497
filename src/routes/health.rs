use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::{HttpResponse, web};
use serde::Serialize;

/// `{"status": ...}`: `ok`, `ready` or `draining`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Status {
    status: &'static str,
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
#[utoipa::path(method(get, head), path = "/readyz", tag = "health", summary = "Readiness",
    responses(
        (status = 200, description = "Serving", body = Status),
        (status = 503, description = "Draining after SIGTERM", body = Status),
    ))]
pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    if readiness.is_draining() {
        HttpResponse::ServiceUnavailable().json(Status { status: "draining" })
    } else {
        HttpResponse::Ok().json(Status { status: "ready" })
    }
}
