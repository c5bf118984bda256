//! The OpenAPI document's frame: title, security schemes, tags. The paths are collected from
//! the handlers' annotations by the router.

use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi as _};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "restapi control plane",
        description = "Admin API (operator token) and node API (node credential) of the \
                       control plane. Errors are `{error, message}` with a stable `error` code.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "regions", description = "Where APIs are served from"),
        (name = "apis", description = "The tenants' APIs"),
        (name = "signing-keys", description = "Each API's ES256 keys"),
        (name = "service-accounts", description = "Machine clients and their secrets"),
        (name = "users", description = "People who sign in to an API, and their identities"),
        (name = "providers", description = "Identity providers of an API's hosted login page"),
        (name = "clients", description = "Public OAuth clients: native and single-page apps"),
        (name = "domains", description = "Custom domains and the proof of their ownership"),
        (name = "node-credentials", description = "Credentials of data planes"),
        (name = "data-planes", description = "Data planes seen recently"),
        (name = "operator-tokens", description = "Bearer tokens of the admin API"),
        (name = "node", description = "Called by data planes"),
        (name = "health", description = "Probes"),
        (name = "operations", description = "Metrics for operators"),
    )
)]
struct Frame;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description.to_owned()))
                    .build(),
            )
        };
        components.add_security_scheme("operator_token", bearer("An operator token (rot_...)"));
        components.add_security_scheme("node_token", bearer("A node credential (rnt_...)"));
    }
}

/// The document before the paths are added.
pub fn base_document() -> OpenApi {
    Frame::openapi()
}
