//! The data directory's and the SQLite database's file permissions.
//!
//! The data directory holds the server secrets (API-key hash key, document-id key, key-encryption
//! key) and, by default, the SQLite database with every session, event and sealed signing secret.
//! Other local users have no business reading any of it, so the directory is created `0700` and
//! the database files `0600`, whatever the process umask. An existing directory is never
//! re-permissioned behind the operator's back (it may be shared on purpose, e.g. with a backup
//! user's group); a directory more open than `0700` is reported so the start-up log says so.
//!
//! SQLite creates its `-wal` and `-shm` files with the mode of the database file (os_unix.c,
//! `findCreateFileMode`), so creating the database file `0600` before the store opens it covers
//! all three; files left `0644` by an earlier version are tightened here as well.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Mode of a newly created data directory: owner only.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the SQLite database and its `-wal` / `-shm` companions: owner read and write.
pub const DB_FILE_MODE: u32 = 0o600;

/// What preparing the data directory found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirCheck {
    /// Created now with [`DIR_MODE`], or already no more open than that.
    Private,
    /// Already there with permission bits (the low 12) granting group or others access.
    TooOpen { mode: u32 },
}

/// Creates `dir` (and missing parents) with mode [`DIR_MODE`], or reports an existing one that
/// group or others can access. Logs a warning in the second case (once per start: the server
/// calls this first, the other users of the directory call [`ensure`]).
pub fn prepare(dir: &Path) -> io::Result<DirCheck> {
    let check = ensure(dir)?;
    if let DirCheck::TooOpen { mode } = check {
        tracing::warn!(
            data_dir = %dir.display(),
            mode = format_args!("{mode:04o}"),
            "the data directory is accessible to other users; it holds the server secrets \
             and the SQLite database (chmod 700 it)"
        );
    }
    Ok(check)
}

/// [`prepare`] without the warning.
pub fn ensure(dir: &Path) -> io::Result<DirCheck> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(check_mode(&meta)),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the data directory path exists and is not a directory",
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_private_dir(dir)?;
            Ok(DirCheck::Private)
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn check_mode(meta: &fs::Metadata) -> DirCheck {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        DirCheck::Private
    } else {
        DirCheck::TooOpen { mode }
    }
}

#[cfg(not(unix))]
fn check_mode(_meta: &fs::Metadata) -> DirCheck {
    DirCheck::Private
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)
}

/// The file of a `sqlite://` or `sqlite:` database URL, read the way the store reads it;
/// `None` for other backends.
pub fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// The database file and the companions SQLite keeps beside it in WAL mode.
fn database_files(db: &Path) -> [PathBuf; 3] {
    let with_suffix = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [db.to_owned(), with_suffix("-wal"), with_suffix("-shm")]
}

/// Creates the SQLite database file with mode [`DB_FILE_MODE`] if it does not exist yet, so
/// SQLite (which only opens it) and its `-wal`/`-shm` files never get the umask's `0644`, and
/// tightens the three files to that mode where an earlier start left them more open.
pub fn prepare_sqlite_files(db: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(DB_FILE_MODE);
    }
    // `create` without `truncate`: an existing database is opened and left as it is.
    drop(options.open(db)?);
    #[cfg(unix)]
    for file in database_files(db) {
        use std::os::unix::fs::PermissionsExt;
        match fs::metadata(&file) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                fs::set_permissions(&file, fs::Permissions::from_mode(DB_FILE_MODE))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("exists").permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_data_directory_is_created_owner_only() {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("data").join("nested");
        assert_eq!(prepare(&dir).expect("created"), DirCheck::Private);
        assert_eq!(mode(&dir), DIR_MODE);
    }

    #[test]
    fn an_existing_world_readable_data_directory_is_reported_not_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(
            prepare(dir.path()).expect("checked"),
            DirCheck::TooOpen { mode: 0o755 }
        );
        assert_eq!(mode(dir.path()), 0o755);
    }

    #[test]
    fn an_existing_owner_only_data_directory_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
        assert_eq!(prepare(dir.path()).expect("checked"), DirCheck::Private);
    }

    #[test]
    fn a_file_in_place_of_the_data_directory_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("data");
        fs::write(&file, b"").expect("write");
        assert!(prepare(&file).is_err());
    }

    #[test]
    fn sqlite_urls_name_their_file_and_other_backends_none() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/idgate/idgate.db"),
            Some(PathBuf::from("/var/lib/idgate/idgate.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:idgate.db"),
            Some(PathBuf::from("idgate.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://localhost/idgate"), None);
    }

    #[test]
    fn older_database_files_left_world_readable_are_tightened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("idgate.db");
        for file in database_files(&db) {
            fs::write(&file, b"").expect("write");
            fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        prepare_sqlite_files(&db).expect("prepared");
        for file in database_files(&db) {
            assert_eq!(mode(&file), DB_FILE_MODE, "{}", file.display());
        }
    }
}
