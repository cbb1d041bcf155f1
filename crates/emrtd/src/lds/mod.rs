//! LDS data groups (ICAO 9303-10).
pub mod com;
pub mod dg1;
pub mod dg2;
pub mod dg14;
pub mod dg15;
