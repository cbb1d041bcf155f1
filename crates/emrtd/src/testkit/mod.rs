//! Test-passport factory (feature `testkit`).
