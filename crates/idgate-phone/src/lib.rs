//! idgate-phone: a simulated or relaying phone. The typed client of the mobile API
//! ([`client`]), the factory-passport phone's belongings — passport, virtual chip answers, test
//! faces and their bursts ([`device`]) — and the outcome-driven simulation loop ([`simulation`]).
//!
//! A library so that each client of the mobile API that the project ships uses one copy: the
//! command line (`idgate simulate` plays a test passport against any server, `idgate kiosk`
//! relays a real chip on a PC/SC reader), the server itself (the hosted page's "simulate a
//! passport" buttons play the outcome against the server's own API, docs/verify.md "Test
//! passports and the simulator") and the verification benchmark. It decides nothing: the server
//! runs every check; this crate only carries bytes and reports what the server answered.

pub mod client;
pub mod device;
pub mod simulation;

pub use client::MobileClient;
pub use simulation::{Outcome, Simulation, SimulationError};
