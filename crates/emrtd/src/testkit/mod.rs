//! Test-passport factory (feature `testkit`).
pub mod chip;
pub mod fixed_keys;
pub mod keys;

/// Why the factory or the virtual chip could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    #[error("key material: {0}")]
    Key(&'static str),
    #[error("virtual chip: {0}")]
    Chip(&'static str),
    #[error("invalid factory input: {0}")]
    Input(&'static str),
}
