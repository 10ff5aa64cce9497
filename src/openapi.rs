//! The OpenAPI 3.1 document, served at `GET /openapi.json`, generated with
//! utoipa from the handlers' `#[utoipa::path]` annotations
//! ([`crate::routes::Paths`]) so it cannot drift from the code. This module
//! adds what is common to all operations: the security schemes, the headers
//! every response carries and the answers of the request-limits middleware.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, RefOr, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};

use crate::auth::QUERY_PARAMETER;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tokengate",
        description = "HTTP Basic login that mints short-lived JWTs, and token checks for \
            protected endpoints and forward-auth. Every response carries `X-Instance-Id` and \
            `X-Request-Id`.",
    ),
    modifiers(&Common),
)]
struct Document;

/// The document, built once.
pub fn document() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        let mut openapi = Document::openapi();
        openapi.merge(crate::routes::Paths::openapi());
        Common::finish(&mut openapi);
        openapi
            .to_pretty_json()
            .expect("BUG: the OpenAPI document serializes")
    });
    &JSON
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    summary = "This OpenAPI document",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = serde_json::Value)),
)]
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .content_type("application/json")
        .body(document())
}

/// `GET /metrics`, documented here beside its handler's module.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    summary = "Prometheus metrics (text format 0.0.4)",
    description = "Served here unless `metrics.listen` names a separate address.",
    responses((status = 200, description = "The exposition", content_type = "text/plain", body = String)),
)]
#[allow(dead_code)] // Documents crate::metrics::serve.
fn metrics() {}

#[derive(OpenApi)]
#[openapi(paths(serve, metrics))]
struct Meta;

struct Common;

impl Modify for Common {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("tokengate_token"))),
        );
        components.add_security_scheme(
            "query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new(QUERY_PARAMETER))),
        );
    }
}

impl Common {
    /// After every path is in: the meta endpoints, and on every response
    /// the shared headers; on every operation the request-limits answers.
    fn finish(openapi: &mut utoipa::openapi::OpenApi) {
        openapi.merge(Meta::openapi());
        let string = || ObjectBuilder::new().schema_type(Type::String).build();
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.head,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                for (status, description) in [
                    ("413", "Request body too large (`body_too_large`)"),
                    ("414", "Request target too long (`uri_too_long`)"),
                    ("431", "Request headers too large (`headers_too_large`)"),
                ] {
                    let response = ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/json",
                            utoipa::openapi::ContentBuilder::new()
                                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                    "Error",
                                ))))
                                .build(),
                        )
                        .build();
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert(RefOr::T(response));
                }
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        for (name, description) in [
                            ("X-Instance-Id", "The replica that answered"),
                            ("X-Request-Id", "The request's id, as in the logs"),
                        ] {
                            response.headers.insert(
                                name.to_owned(),
                                RefOr::T(
                                    HeaderBuilder::new()
                                        .schema(Some(string()))
                                        .description(Some(description))
                                        .build(),
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn document_json() -> Value {
        serde_json::from_str(document()).unwrap()
    }

    #[test]
    fn the_document_is_openapi_3_1_with_every_route() {
        let doc = document_json();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        for &route in crate::startup::ROUTE_PATTERNS {
            assert!(doc["paths"][route].is_object(), "{route} is undocumented");
        }
    }

    #[test]
    fn login_takes_basic_and_the_token_routes_bearer_cookie_or_query() {
        let doc = document_json();
        assert_eq!(
            doc["paths"]["/login"]["get"]["security"],
            serde_json::json!([{"basic": []}])
        );
        let token_security = serde_json::json!([{"bearer": []}, {"cookie": []}, {"query": []}]);
        assert_eq!(doc["paths"]["/access"]["get"]["security"], token_security);
        assert_eq!(
            doc["paths"]["/auth/verify"]["post"]["security"],
            token_security
        );
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["basic"]["scheme"], "basic");
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["cookie"]["in"], "cookie");
        assert_eq!(schemes["query"]["name"], "token");
    }

    #[test]
    fn every_response_documents_the_shared_headers() {
        let doc = document_json();
        let response = &doc["paths"]["/healthz"]["get"]["responses"]["200"];
        assert!(
            response["headers"]["X-Request-Id"].is_object(),
            "{response}"
        );
        assert!(doc["paths"]["/access"]["get"]["responses"]["414"].is_object());
    }
}
