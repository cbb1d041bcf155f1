// figment's `Jail::expect_with` fixes the closure's error type to its own (large) `Error`.
#![allow(clippy::result_large_err)]

use super::*;
use figment::Jail;

#[test]
fn defaults_listen_on_loopback_8080_with_sqlite_in_the_data_dir() {
    Jail::expect_with(|_jail| {
        let config = Config::load(None).expect("defaults load");
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(config.data_dir, PathBuf::from("./idgate-data"));
        assert!(
            config
                .effective_database_url()
                .starts_with("sqlite://./idgate-data/idgate.db")
        );
        Ok(())
    });
}

#[test]
fn environment_overrides_the_toml_file_which_overrides_defaults() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "idgate.toml",
            "listen = \"127.0.0.1:9000\"\nrate_limit_burst = 7\n",
        )?;
        jail.set_env("IDGATE_LISTEN", "127.0.0.1:9001");
        let config = Config::load(Some(Path::new("idgate.toml"))).expect("loads");
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 9001)));
        assert_eq!(config.rate_limit_burst, 7);
        Ok(())
    });
}

#[test]
fn unrelated_idgate_variables_are_not_configuration() {
    Jail::expect_with(|jail| {
        jail.set_env("IDGATE_TEST_DATABASE_URL", "postgres://nowhere");
        assert!(Config::load(None).is_ok());
        Ok(())
    });
}

#[test]
fn unknown_keys_in_the_file_are_rejected_so_typos_surface() {
    Jail::expect_with(|jail| {
        jail.create_file("idgate.toml", "lisen = \"127.0.0.1:9000\"\n")?;
        assert!(Config::load(Some(Path::new("idgate.toml"))).is_err());
        Ok(())
    });
}

#[test]
fn zero_rate_limit_is_rejected() {
    Jail::expect_with(|jail| {
        jail.set_env("IDGATE_RATE_LIMIT_PER_SECOND", "0");
        assert!(matches!(
            Config::load(None),
            Err(ConfigError::Rule {
                field: "rate_limit_per_second",
                ..
            })
        ));
        Ok(())
    });
}

/// A lease of only the request timeout plus the safety margin (20 s) left the worker unable
/// to start any send: every claim was handed back unsent. The shortest accepted lease leaves
/// room to wait for a slot.
#[test]
fn a_lease_too_short_to_send_within_is_rejected() {
    Jail::expect_with(|jail| {
        jail.set_env("IDGATE_WEBHOOK_LEASE_SECS", "24");
        assert!(matches!(
            Config::load(None),
            Err(ConfigError::Rule {
                field: "webhook_lease_secs",
                ..
            })
        ));
        jail.set_env("IDGATE_WEBHOOK_LEASE_SECS", "25");
        let lease = Config::load(None).expect("loads").delivery_settings().lease;
        assert!(lease > idgate_webhook::ssrf::TOTAL_TIMEOUT + std::time::Duration::from_secs(5));
        Ok(())
    });
}

#[test]
fn public_and_docs_urls_default_from_the_bound_address() {
    let config = Config::default();
    let public = config.effective_public_url(SocketAddr::from(([127, 0, 0, 1], 4321)));
    assert_eq!(public, "http://127.0.0.1:4321");
    assert_eq!(
        config.effective_docs_base_url(&public),
        "http://127.0.0.1:4321/docs"
    );
}

#[test]
fn connection_limits_default_to_the_documented_values() {
    let limits = Config::default().connection_limits(Some(1024));
    assert_eq!(limits.header_read_timeout.as_millis(), 10_000);
    assert_eq!(limits.keep_alive_timeout.as_millis(), 30_000);
    assert_eq!(limits.request_body_timeout.as_millis(), 20_000);
    assert_eq!(limits.handler_timeout.as_millis(), 30_000);
    assert_eq!(limits.max_connections, 768);
    assert_eq!(limits.max_concurrent_requests, 256);
    assert_eq!(limits.request_queue_timeout.as_millis(), 100);
}

#[test]
fn a_configured_connection_bound_overrides_the_descriptor_default() {
    Jail::expect_with(|jail| {
        jail.set_env("IDGATE_MAX_CONNECTIONS", "20");
        let config = Config::load(None).expect("loads");
        assert_eq!(config.connection_limits(Some(1024)).max_connections, 20);
        Ok(())
    });
}

#[test]
fn zero_request_slots_are_rejected() {
    Jail::expect_with(|jail| {
        jail.set_env("IDGATE_MAX_CONCURRENT_REQUESTS", "0");
        assert!(matches!(
            Config::load(None),
            Err(ConfigError::Rule {
                field: "max_concurrent_requests",
                ..
            })
        ));
        Ok(())
    });
}
