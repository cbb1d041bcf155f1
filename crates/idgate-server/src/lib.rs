//! idgate-server
