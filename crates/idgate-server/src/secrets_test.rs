use super::*;

#[test]
fn first_start_creates_the_secrets_and_later_starts_load_the_same_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = ServerSecrets::load_or_create(dir.path()).expect("created");
    let again = ServerSecrets::load_or_create(dir.path()).expect("loaded");
    assert_eq!(first.api_key_hash, again.api_key_hash);
    assert_eq!(first.document_id, again.document_id);
    assert_eq!(first.key_encryption, again.key_encryption);
    assert_ne!(
        first.api_key_hash, first.document_id,
        "each secret is drawn independently"
    );
}

#[cfg(unix)]
#[test]
fn secret_files_are_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    ServerSecrets::load_or_create(dir.path()).expect("created");
    for name in ["api_key_hash.key", "document_id.key", "key_encryption.key"] {
        let mode = fs::metadata(dir.path().join(name))
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

#[test]
fn a_corrupted_secret_file_is_an_error_not_a_silent_new_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    ServerSecrets::load_or_create(dir.path()).expect("created");
    fs::write(dir.path().join("document_id.key"), "not hex").expect("overwrite");
    assert!(matches!(
        ServerSecrets::load_or_create(dir.path()),
        Err(SecretsError::Malformed { .. })
    ));
}

#[test]
fn debug_output_never_shows_secret_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = ServerSecrets::load_or_create(dir.path()).expect("created");
    let hex = hex::encode(secrets.api_key_hash.expose());
    assert!(!format!("{secrets:?}").contains(&hex));
}
