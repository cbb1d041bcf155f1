//! CSCA trust store, master lists, CRLs and certificate chains (ICAO 9303-12).
