use actix_web::HttpResponse;
use serde_json::json;

/// The benchmark ceiling: what `/access` answers, minus authentication.
/// Compiled only with the `bench-routes` feature, registered only when
/// `server.bare_route` is true.
pub async fn bare() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({
            "message": "valid jwt token",
            "user": "bench",
            "expires_at": "2026-01-01T00:00:00Z",
        }))
}
