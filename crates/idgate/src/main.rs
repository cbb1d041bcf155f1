//! The `idgate` binary: wires the crates together behind one command line.
//! Each subcommand lives in its own module; this file only declares and dispatches them.

mod admin;
mod passport;
mod serve;
mod webhooks_listen;

use clap::{Parser, Subcommand};

/// A request allocates and frees a few hundred small objects across two worker threads; glibc's
/// malloc spent 17 % of a session read's CPU on them (perf), mimalloc's thread-local free lists a
/// fraction of that. Set here, in the binary, so library users keep their own allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "idgate",
    version,
    about = "Self-hostable, privacy-first identity verification."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (creates the default organization and prints an API key on first start).
    Serve(serve::ServeArgs),
    /// Create or upgrade the database schema.
    Migrate(admin::MigrateArgs),
    /// Manage organizations.
    #[command(subcommand)]
    Org(admin::OrgCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(admin::KeysCommand),
    /// Webhook tooling for integrators: `webhooks listen` receives and decrypts deliveries.
    /// Passive authentication of passport chip files (ICAO 9303).
    #[command(subcommand)]
    Passport(passport::PassportCommand),
    /// Inspect CSCA trust sources: certificates, master lists, CRLs.
    #[command(subcommand)]
    Trust(passport::TrustCommand),
    #[command(subcommand)]
    Webhooks(webhooks_listen::WebhooksCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Migrate(args) => admin::migrate(args),
        Command::Org(command) => admin::org(command),
        Command::Keys(command) => admin::keys(command),
        Command::Passport(command) => passport::run_passport(command),
        Command::Trust(command) => passport::run_trust(command),
        Command::Webhooks(command) => webhooks_listen::run(command),
    }
}
