//! idgate-webhook
