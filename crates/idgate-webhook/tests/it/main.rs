//! Integration tests of the public API, both halves together, in one binary (one link).

mod delivery;
mod interop;
mod receiver;
mod support;
