//! The `idgate` binary: wires the crates together behind one command line.
//! Each subcommand lives in its own module; this file only declares and dispatches them.

mod admin;
mod kiosk;
mod passport;
mod passport_read;
mod serve;
mod simulate;
mod trust;
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
    /// Passive authentication of passport chip files (ICAO 9303), and reading them from a chip.
    #[command(subcommand)]
    Passport(passport::PassportCommand),
    /// Manage the CSCA trust store in the database; inspect trust sources (certificates,
    /// master lists, CRLs).
    #[command(subcommand)]
    Trust(passport::TrustCommand),
    /// Webhook tooling for integrators: `webhooks listen` receives and decrypts deliveries.
    #[command(subcommand)]
    Webhooks(webhooks_listen::WebhooksCommand),
    /// Play the phone against a running server: a test-mode session verified with a factory
    /// passport and the test faces, to success or to a chosen failure, printing each step.
    Simulate(simulate::SimulateArgs),
    /// The document step of a live session with a passport on a PC/SC reader (a kiosk); the
    /// liveness step continues on the hosted page.
    Kiosk(kiosk::KioskArgs),
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
        Command::Simulate(args) => simulate::run(args),
        Command::Kiosk(args) => kiosk::run(args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// The one-line summary `idgate --help` prints for `name`.
    fn about(name: &str) -> String {
        let cli = Cli::command();
        let sub = cli.find_subcommand(name);
        assert!(sub.is_some(), "no `{name}` subcommand");
        sub.and_then(|s| s.get_about())
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn passport_help_describes_passport_authentication() {
        let text = about("passport");
        assert!(text.contains("Passive authentication"), "{text}");
        assert!(!text.to_lowercase().contains("webhook"), "{text}");
    }

    #[test]
    fn webhooks_help_describes_the_webhook_tooling() {
        let text = about("webhooks");
        assert!(text.contains("Webhook tooling"), "{text}");
        assert!(!text.to_lowercase().contains("passport"), "{text}");
    }
}
