//! idgate-core
