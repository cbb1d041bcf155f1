//! The checks of one verification attempt (docs/verify.md), as pure, synchronous functions that
//! the server runs off its async runtime: the document checks in their order through `emrtd`
//! ([`document`]), the operator's trust store and the test-mode anchors ([`trust`]), liveness and
//! face match through `idgate-face` ([`face`]), the claims a successful verification delivers
//! ([`claims`]) and the attempt's encrypted vault ([`vault`]).
//!
//! No I/O, no async, no database: callers hand in bytes, a clock reading and configuration, and
//! receive verdicts whose records carry no personal data.

pub mod claims;
pub mod document;
pub mod face;
pub mod trust;
pub mod vault;
