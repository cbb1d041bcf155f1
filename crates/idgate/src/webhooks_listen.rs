//! `idgate webhooks listen`: a local receiver for development and tests (what `stripe listen`
//! is to Stripe). It binds 127.0.0.1 only, verifies and decrypts every delivery with the
//! endpoint's `whsec_` secret and the integrator's private key, prints each event as one JSON
//! line on stdout and explains every refusal on stderr. The work is done by
//! `idgate_webhook::listen`; this module only turns arguments into a running server.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use idgate_webhook::{Receiver, WebhookSecret, load_private_key_pem};

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Receive deliveries on 127.0.0.1:<port>, print each event as a JSON line on stdout.
    Listen(ListenArgs),
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Port on 127.0.0.1 to listen on (0 picks a free one and prints it on stderr).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// The endpoint's signing secret, `whsec_…`.
    #[arg(long, env = "IDGATE_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: String,
    /// PEM file with the RSA private key whose public half is the endpoint's encryption key
    /// (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
    #[arg(long)]
    pub private_key: PathBuf,
    /// An earlier secret still accepted, for a rotation overlap.
    #[arg(long, env = "IDGATE_WEBHOOK_PREVIOUS_SECRET", hide_env_values = true)]
    pub previous_secret: Option<String>,
}

pub fn run(command: WebhooksCommand) -> anyhow::Result<()> {
    match command {
        WebhooksCommand::Listen(args) => listen(args),
    }
}

fn listen(args: ListenArgs) -> anyhow::Result<()> {
    let secret = WebhookSecret::parse(&args.secret).context("--secret")?;
    let pem = std::fs::read_to_string(&args.private_key)
        .with_context(|| format!("reading {}", args.private_key.display()))?;
    let key =
        load_private_key_pem(&pem).with_context(|| format!("{}", args.private_key.display()))?;
    let mut receiver = Receiver::new(secret, key);
    if let Some(previous) = &args.previous_secret {
        receiver = receiver
            .with_additional_secret(WebhookSecret::parse(previous).context("--previous-secret")?);
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        eprintln!(
            "listening on http://{} (POST any path); events on stdout",
            listener.local_addr()?
        );
        let app = idgate_webhook::listen::router(
            receiver,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    })
}
