//! Integration tests of the public API, both halves together, in one binary (one link).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

mod delivery;
mod interop;
mod receiver;
mod support;
