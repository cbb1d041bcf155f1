//! idgate-server: the axum application around the domain (idgate-core) and the store
//! (idgate-store): the integrator API, authentication and rate limits, configuration and
//! secrets, telemetry, the expiry sweeper, the session status streams, the OpenAPI document and
//! the hosted verification page.
//!
//! Start with [`App::build`] and [`App::run`], or [`serve`]; [`build_router`] gives the bare
//! router for a prepared [`AppState`].

mod app;
pub mod auth;
pub mod config;
pub mod data_dir;
pub mod delivery;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod limits;
mod listener;
pub mod middleware;
pub mod openapi;
mod page;
pub mod rate_limit;
pub mod routes;
pub mod secrets;
pub mod simulation;
pub mod state;
pub mod status_hub;
pub mod sweeper;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod verification;

pub use app::{App, StartError, build_router, open_store, serve};
pub use config::Config;
pub use state::AppState;
