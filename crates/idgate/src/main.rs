//! The `idgate` binary: wires the crates together behind one command line.
//! Each subcommand lives in its own module; this file only declares and dispatches them.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "idgate", version, about = "Self-hostable, privacy-first identity verification.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
