//! HTTP handlers, one module per resource.

pub mod api_keys;
pub mod docs;
pub mod events;
pub mod ops;
pub mod sessions;
pub mod webhooks;
