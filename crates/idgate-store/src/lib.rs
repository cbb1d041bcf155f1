//! idgate-store
