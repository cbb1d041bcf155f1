//! The face configuration as the server's figment stack reads it, and the engine it selects.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Format, Toml};
use idgate_face::config::{DEFAULT_HTTP_TIMEOUT_MS, EngineConfig, FaceConfig, load_engine};
use idgate_face::http_engine::ApiToken;
use idgate_face::{Action, Embedding, FaceError, Similarity};

fn parse(toml: &str) -> Result<FaceConfig, Box<figment::Error>> {
    Figment::from(Toml::string(toml))
        .extract()
        .map_err(Box::new)
}

#[test]
fn an_empty_section_gives_the_builtin_engine_and_documented_defaults() {
    let config = parse("").unwrap();
    assert_eq!(config, FaceConfig::default());
    assert_eq!(config.engine, EngineConfig::Builtin { models_dir: None });
    assert_eq!(config.match_threshold, 0.5);
    assert_eq!(config.liveness.yaw_action, 0.28);
    assert_eq!(config.challenge.min_actions, 2);
}

#[test]
fn an_http_engine_section_is_read_with_its_token() {
    let config = parse(
        r#"
        match_threshold = 0.55
        engine = { kind = "http", url = "https://matcher.internal:8443", token = "abc" }
        [challenge]
        allowed = ["turn_left", "turn_right", "blink"]
        max_actions = 2
        [liveness]
        identity_max_distance = 0.6
        "#,
    )
    .unwrap();
    assert_eq!(
        config.engine,
        EngineConfig::Http {
            url: "https://matcher.internal:8443".into(),
            timeout_ms: DEFAULT_HTTP_TIMEOUT_MS,
            token: Some(ApiToken::new("abc")),
        }
    );
    assert_eq!(config.match_threshold, 0.55);
    assert_eq!(
        config.challenge.allowed,
        [Action::TurnLeft, Action::TurnRight, Action::Blink]
    );
    assert_eq!(config.liveness.identity_max_distance, 0.6);
    assert_eq!(
        config.liveness.yaw_neutral, 0.15,
        "unset thresholds keep their defaults"
    );
    assert!(
        !format!("{config:?}").contains("abc"),
        "the token never appears in Debug output"
    );
}

#[test]
fn a_misspelt_threshold_is_refused_rather_than_defaulted() {
    assert!(parse("[liveness]\nyaw_acton = 0.4").is_err());
    assert!(parse("match_treshold = 0.4").is_err());
    assert!(parse("engine = { kind = \"onnx\" }").is_err());
}

#[test]
fn load_engine_builds_an_http_engine() {
    let config = FaceConfig {
        engine: EngineConfig::Http {
            url: "http://127.0.0.1:9".into(),
            timeout_ms: 100,
            token: None,
        },
        ..FaceConfig::default()
    };
    let engine = load_engine(&config).unwrap();
    let similarity = engine.compare(&Embedding(vec![1.0, 0.0]), &Embedding(vec![1.0, 0.0]));
    assert_eq!(similarity.distance, 0.0);
}

#[test]
fn load_engine_refuses_invalid_settings() {
    let http = |url: &str, timeout_ms| FaceConfig {
        engine: EngineConfig::Http {
            url: url.into(),
            timeout_ms,
            token: None,
        },
        ..FaceConfig::default()
    };
    assert!(matches!(
        load_engine(&http("ftp://x", 100)),
        Err(FaceError::Config { .. })
    ));
    assert!(matches!(
        load_engine(&http("http://x", 0)),
        Err(FaceError::Config { .. })
    ));
    let bad_threshold = FaceConfig {
        match_threshold: f32::NAN,
        ..http("http://x", 100)
    };
    assert!(matches!(
        load_engine(&bad_threshold),
        Err(FaceError::Config { .. })
    ));
    let mut bad_policy = http("http://x", 100);
    bad_policy.liveness.mouth_closed = 0.9;
    assert!(matches!(
        load_engine(&bad_policy),
        Err(FaceError::InvalidPolicy { .. })
    ));
}

#[test]
fn load_engine_names_the_missing_model_file() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/no-such-models"));
    let config = FaceConfig {
        engine: EngineConfig::Builtin {
            models_dir: Some(dir.clone()),
        },
        ..FaceConfig::default()
    };
    match load_engine(&config) {
        Err(FaceError::ModelNotFound { path }) => {
            assert!(path.starts_with(&dir), "{}", path.display())
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("loaded an engine from a missing directory"),
    }
}

#[test]
fn a_match_is_decided_on_the_distance_threshold() {
    let config = FaceConfig::default();
    assert!(config.is_match(&Similarity {
        score: 0.76,
        distance: 0.48
    }));
    assert!(config.is_match(&Similarity {
        score: 0.75,
        distance: 0.5
    }));
    assert!(!config.is_match(&Similarity {
        score: 0.74,
        distance: 0.52
    }));
    assert!(!config.is_match(&Similarity {
        score: 0.0,
        distance: f32::INFINITY
    }));
}
