//! The OpenAPI 3.1 document served at `/openapi.json`, assembled from the handlers' `#[utoipa::path]`
//! annotations and the wire types of [`crate::schema`].

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{api_keys, events, ops, sessions, webhooks};
use crate::{envelope, schema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "idgate",
        description = "Self-hostable, privacy-first identity verification: the integrator API.",
        license(name = "Apache License 2.0", identifier = "Apache-2.0"),
    ),
    paths(
        sessions::create,
        sessions::list,
        sessions::get,
        sessions::cancel,
        sessions::erase,
        sessions::attempts,
        api_keys::create,
        api_keys::list,
        api_keys::update,
        api_keys::delete,
        webhooks::create_endpoint,
        webhooks::list_endpoints,
        webhooks::get_endpoint,
        webhooks::update_endpoint,
        webhooks::delete_endpoint,
        webhooks::rotate_secret,
        webhooks::create_key,
        webhooks::list_keys,
        webhooks::deactivate_key,
        webhooks::reactivate_key,
        webhooks::list_deliveries,
        webhooks::get_delivery,
        webhooks::retry_delivery,
        events::list,
        events::get,
        events::replay,
        ops::healthz,
        ops::readyz,
        ops::metrics,
    ),
    components(schemas(
        envelope::Pagination,
        schema::SessionOut,
        schema::AttemptOut,
        schema::ApiKeyOut,
        schema::ApiKeyCreatedOut,
        schema::CreateSessionIn,
        schema::ErrorEnvelope,
        schema::ListErrorEnvelope,
        webhooks::EndpointOut,
        webhooks::EndpointWithSecretOut,
        webhooks::EncryptionKeyOut,
        webhooks::CreateEndpointIn,
        webhooks::UpdateEndpointIn,
        webhooks::CreateKeyIn,
        webhooks::DeliveryOut,
        webhooks::AttemptOut,
        events::EventOut,
        events::ReplayOut,
    )),
    modifiers(&BearerAuth),
    security(("bearerAuth" = [])),
    tags(
        (name = "Sessions", description = "Verification sessions."),
        (name = "API keys", description = "Keys of the calling organization (scope `keys:manage`)."),
        (name = "Webhooks", description = "Webhook endpoints, their encryption keys and deliveries (scopes `webhooks:read` / `webhooks:write`)."),
        (name = "Events", description = "The event history behind webhooks, and replay (scopes `webhooks:read` / `webhooks:write`)."),
        (name = "Operations", description = "Health, readiness and metrics; no authentication."),
    )
)]
pub struct ApiDoc;

/// Declares `bearerAuth` (HTTP bearer), the scheme every `/v1` operation requires.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("kk_live_…")
                    .build(),
            ),
        );
    }
}
