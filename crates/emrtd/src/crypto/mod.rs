//! Signature verification and elliptic-curve arithmetic used by the authentications.
