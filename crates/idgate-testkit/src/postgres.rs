//! PostgreSQL fixtures (feature `postgres`): a fresh, empty database per test on the server named
//! by `IDGATE_TEST_DATABASE_URL` (see [`crate::postgres_url`]), and a private cluster for the tests
//! that kill the database server itself.
//!
//! A database of its own (not a schema in a shared one) gives a test everything a server node
//! would see: its own `search_path`, its own `LISTEN`/`NOTIFY` channels, its own sequences.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection as _;

/// An empty database created for one test, dropped when this value is (even when the test
/// fails), so test runs don't leave their databases behind on the server (unless
/// [`KEEP_DATABASES_ENV`] is set).
#[derive(Debug)]
pub struct FreshDatabase {
    server: String,
    name: String,
    url: String,
}

impl FreshDatabase {
    /// Creates an empty database named `<prefix>_<pid>_<nanos>_<n>` on the server of
    /// `server_url` (any URL of that server; its database name is replaced). Works inside and
    /// outside a tokio runtime. `prefix` is lower-case ASCII letters, digits and `_`.
    pub fn create(server_url: &str, prefix: &str) -> Self {
        assert!(
            !prefix.is_empty()
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "database prefix {prefix:?}: lower-case letters, digits and `_` only"
        );
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        #[allow(
            clippy::disallowed_methods,
            reason = "a unique name, not a time the code under test reads"
        )]
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Our own prefix and digits, never input, so it is safe to splice into the statement.
        let name = format!("{prefix}_{}_{nanos}_{n}", std::process::id());
        admin(server_url, &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("create the test database {name} on {server_url}: {e}"));
        Self {
            server: server_url.to_owned(),
            url: with_database_name(server_url, &name),
            name,
        }
    }

    /// The URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The new database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Set to keep every test database (to inspect one after a failure); each is named on stderr.
pub const KEEP_DATABASES_ENV: &str = "IDGATE_KEEP_TEST_DATABASES";

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if std::env::var_os(KEEP_DATABASES_ENV).is_some() {
            eprintln!("idgate-testkit: kept test database {}", self.url);
            return;
        }
        // FORCE ends the connections a server under test may still hold (or a killed one left).
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = admin(&self.server, &statement) {
            // Never panic in drop (it may run while a failed test unwinds); say what is left.
            eprintln!(
                "idgate-testkit: could not drop test database {}: {e}",
                self.name
            );
        }
    }
}

/// Runs one statement on a connection of its own, on a thread of its own with a small runtime,
/// so it works whether or not the caller is inside a tokio runtime.
fn admin(server_url: &str, statement: &str) -> Result<(), String> {
    let run = async {
        let mut connection = sqlx::PgConnection::connect(server_url)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let result = sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut connection)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        let _ = connection.close().await;
        result
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("runtime: {e}"))?
                    .block_on(run)
            })
            .join()
            .unwrap_or_else(|_| Err("the admin thread panicked".to_owned()))
    })
}

/// Replaces the database (the path) of a `postgres://` URL, keeping its query.
pub fn with_database_name(url: &str, name: &str) -> String {
    let (without_query, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let authority = without_query.find("://").map_or(0, |i| i + 3);
    let base = match without_query
        .get(authority..)
        .and_then(|rest| rest.find('/'))
        .and_then(|slash| without_query.get(..authority + slash))
    {
        Some(base) => base,
        None => without_query,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// Where Debian's PostgreSQL 15 server binaries live (`scripts/start-postgres.sh` installs them).
const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster of one test's own, for tests that kill the database server: made and
/// started by `scripts/start-postgres.sh` in a temporary directory on a free port, shut down
/// (immediately) on drop.
pub struct PrivatePostgres {
    data_dir: PathBuf,
    port: u16,
    _parent: tempfile::TempDir,
}

impl PrivatePostgres {
    /// A new cluster, started; `None` after [`crate::missing`] when the server binaries are not
    /// installed.
    #[track_caller]
    pub fn start_new() -> Option<Self> {
        if !Path::new(POSTGRES_BIN).join("initdb").exists() {
            crate::missing(
                crate::Prereq::Postgres,
                format!("PostgreSQL server binaries not found in {POSTGRES_BIN}"),
            );
            return None;
        }
        let parent = tempfile::tempdir().expect("temporary directory");
        // The server runs as the `postgres` user when the tests run as root: let it in.
        std::fs::set_permissions(
            parent.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod the temporary directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let postgres = Self {
            data_dir: parent.path().join("pgdata"),
            port,
            _parent: parent,
        };
        postgres.start();
        Some(postgres)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the cluster (creating it the first time) and waits until it accepts connections.
    pub fn start(&self) {
        let script = crate::workspace_root().join("scripts/start-postgres.sh");
        let status = Command::new("bash")
            .arg(&script)
            .arg(&self.data_dir)
            .arg(self.port.to_string())
            .stdout(Stdio::null())
            .status()
            .expect("run scripts/start-postgres.sh");
        assert!(status.success(), "scripts/start-postgres.sh failed");
    }

    /// `pg_ctl stop -m immediate`: every server process exits at once, without a checkpoint,
    /// as after a power cut; the next start replays the write-ahead log.
    pub fn kill_immediately(&self) {
        let pg_ctl = format!(
            "'{POSTGRES_BIN}/pg_ctl' -D '{}' -m immediate -w stop",
            self.data_dir.display()
        );
        let mut command = if is_root() {
            let mut su = Command::new("su");
            su.args(["postgres", "-s", "/bin/sh", "-c", &pg_ctl]);
            su
        } else {
            let mut sh = Command::new("sh");
            sh.args(["-c", &pg_ctl]);
            sh
        };
        let _ = command.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.kill_immediately();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database_name("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            with_database_name("postgres://u@h", "x"),
            "postgres://u@h/x"
        );
    }

    /// Runs `query` with `bind` on `url` and returns its single `i64`.
    fn scalar(url: &str, query: &'static str, bind: &str) -> i64 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_scalar(query)
                    .bind(bind)
                    .fetch_one(&mut connection)
                    .await
                    .unwrap()
            })
    }

    #[test]
    fn a_fresh_database_is_empty_and_gone_after_the_test() {
        let Some(server) = crate::postgres_url() else {
            return;
        };
        let exists = "SELECT COUNT(*) FROM pg_database WHERE datname = $1";
        let database = FreshDatabase::create(&server, "idgate_testkit");
        let name = database.name().to_owned();
        assert_eq!(scalar(&server, exists, &name), 1);
        let tables = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1";
        assert_eq!(scalar(database.url(), tables, "public"), 0);
        drop(database);
        assert_eq!(scalar(&server, exists, &name), 0);
    }
}
