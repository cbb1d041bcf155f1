//! `idgate serve`: runs the server. On the very first start against an empty database it
//! creates the default organization and prints one API key (the only time it is shown), so a
//! fresh install is usable without any other step.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use idgate_core::{ApiKey, Environment, Organization, Scopes};
use idgate_server::{App, AppState, Config};

/// Where configuration comes from; shared by every command that touches the data directory.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// TOML configuration file (values there are overridden by IDGATE_* variables).
    #[arg(long, env = "IDGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite database and server secrets); overrides the configuration.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref()).context("loading configuration")?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port; the bound address is printed).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Accept webhook endpoints on plain http and on private, loopback or link-local addresses
    /// (local development and tests only; also IDGATE_ALLOW_PRIVATE_WEBHOOKS=true).
    #[arg(long)]
    pub allow_private_webhooks: bool,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = args.config.load()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.allow_private_webhooks {
        config.allow_private_webhooks = true;
    }
    idgate_server::telemetry::init_tracing(config.log_format);
    raise_descriptor_limit();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let app = App::build(&config).await?;
        let limits = app.limits();
        tracing::info!(
            max_connections = limits.max_connections,
            max_concurrent_requests = limits.max_concurrent_requests,
            "connection limits"
        );
        let first_key = bootstrap(app.state()).await?;
        let public = app.public_url().to_owned();
        println!("idgate listening on {}", app.local_addr());
        println!("  API:           {public}/v1");
        println!("  API reference: {public}/docs");
        println!("  OpenAPI:       {public}/openapi.json");
        if let Some((org, key)) = first_key {
            println!("  Created the default organization {org}.");
            println!("  API key (shown once, store it now): {key}");
        }
        app.run(shutdown_signal()).await.context("serving")?;
        println!("idgate stopped");
        anyhow::Ok(())
    })
}

/// One descriptor per client connection: the default connection bound is derived from the
/// descriptor limit, so raise the soft limit to the hard one first (docs/connection-limits.md).
fn raise_descriptor_limit() {
    #[cfg(unix)]
    match idgate_server::limits::raise_descriptor_limit() {
        Ok(limit) => {
            let show = |value: Option<u64>| value.map_or("unlimited".to_owned(), |v| v.to_string());
            tracing::info!(
                before = show(limit.before),
                now = show(limit.now),
                hard = show(limit.hard),
                "descriptor limit raised to the hard limit"
            );
        }
        Err(error) => tracing::warn!(%error, "cannot raise the descriptor limit"),
    }
}

/// First start: an empty database gets the default organization and one all-scopes live key.
async fn bootstrap(state: &AppState) -> anyhow::Result<Option<(String, String)>> {
    if !state.store.list_organizations().await?.is_empty() {
        return Ok(None);
    }
    let now = state.clock.now();
    let org = Organization::new("Default organization", now)?;
    state.store.create_organization(&org).await?;
    let (key, secret) = ApiKey::generate(
        &org.id,
        "Default key",
        Environment::Live,
        Scopes::all(),
        now,
    )?;
    state
        .store
        .create_api_key(&key, &secret.hash(state.secrets.api_key_hash.expose()))
        .await?;
    Ok(Some((org.id.to_string(), secret.expose().to_owned())))
}

/// Completes on Ctrl-C or SIGTERM, starting graceful shutdown.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
