//! idgate-face
