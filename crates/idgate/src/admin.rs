//! Operator commands on the data directory (or `IDGATE_DATABASE_URL`): `migrate`,
//! `org create`, `keys create`. They open the same store and secrets as `idgate serve`, so they
//! work before the first start and while a server is running.

use anyhow::Context;
use idgate_core::{ApiKey, Clock, Environment, OrgId, Organization, Scopes, SystemClock};
use idgate_server::secrets::ServerSecrets;
use idgate_store::StoreError;
use serde_json::json;

use crate::serve::ConfigArgs;

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum OrgCommand {
    /// Create an organization.
    Create(OrgCreateArgs),
}

#[derive(Debug, clap::Args)]
pub struct OrgCreateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Display name of the organization.
    #[arg(long)]
    pub name: String,
    /// Print `{"id": …}` instead of a sentence.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create an API key for an organization; the key is printed once.
    Create(KeysCreateArgs),
}

#[derive(Debug, clap::Args)]
pub struct KeysCreateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Organization id (`org_…`).
    #[arg(long)]
    pub org: String,
    /// Display name of the key.
    #[arg(long, default_value = "CLI key")]
    pub name: String,
    /// Comma-separated scopes (default: all): sessions:read, sessions:write, webhooks:read, webhooks:write, keys:manage.
    #[arg(long, value_delimiter = ',')]
    pub scopes: Option<Vec<String>>,
    /// Create a test-mode key (`kk_test_…`), which sees only test-mode objects.
    #[arg(long)]
    pub test: bool,
    /// Print `{"id": …, "key": …}` instead of sentences.
    #[arg(long)]
    pub json: bool,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    runtime()?.block_on(async {
        idgate_server::open_store(&config).await?;
        println!("database schema is up to date");
        anyhow::Ok(())
    })
}

pub fn org(command: OrgCommand) -> anyhow::Result<()> {
    let OrgCommand::Create(args) = command;
    let config = args.config.load()?;
    runtime()?.block_on(async {
        let store = idgate_server::open_store(&config).await?;
        let org = Organization::new(&args.name, SystemClock.now())?;
        store.create_organization(&org).await?;
        if args.json {
            println!("{}", json!({ "id": org.id.to_string() }));
        } else {
            println!("created organization {} ({})", org.id, org.name);
        }
        anyhow::Ok(())
    })
}

pub fn keys(command: KeysCommand) -> anyhow::Result<()> {
    let KeysCommand::Create(args) = command;
    let config = args.config.load()?;
    let org_id = OrgId::parse(&args.org)
        .map_err(|_| anyhow::anyhow!("--org must be an organization id (org_…)"))?;
    let scopes = match &args.scopes {
        Some(names) => Scopes::parse(names)?,
        None => Scopes::all(),
    };
    let environment = if args.test {
        Environment::Test
    } else {
        Environment::Live
    };
    runtime()?.block_on(async {
        let secrets = ServerSecrets::load_or_create(&config.data_dir)?;
        let store = idgate_server::open_store(&config).await?;
        match store.get_organization(&org_id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => anyhow::bail!("no organization {org_id}"),
            Err(e) => return Err(e.into()),
        }
        let (key, secret) =
            ApiKey::generate(&org_id, &args.name, environment, scopes, SystemClock.now())?;
        store
            .create_api_key(&key, &secret.hash(secrets.api_key_hash.expose()))
            .await?;
        if args.json {
            println!(
                "{}",
                json!({ "id": key.id.to_string(), "key": secret.expose() })
            );
        } else {
            println!("created API key {} for {org_id}", key.id);
            println!("key (shown once, store it now): {}", secret.expose());
        }
        anyhow::Ok(())
    })
}
