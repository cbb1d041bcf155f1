//! The BER-TLV reader on arbitrary bytes: no panic, bounded recursion, and every TLV returned
//! is consistent (contents inside the raw encoding, lengths adding up).
#![no_main]

use emrtd::tlv::{self, Tlv};
use libfuzzer_sys::fuzz_target;

fn check(t: &Tlv<'_>, depth: usize) {
    let eoc = if t.indefinite { 2 } else { 0 };
    assert_eq!(t.raw.len(), t.header_len() + t.content.len() + eoc);
    assert_eq!(&t.raw[t.header_len()..t.header_len() + t.content.len()], t.content);
    if !t.indefinite {
        // A definite TLV re-encodes to the same contents; DER-minimal headers give the same bytes.
        let again = tlv::encode(t.tag, t.content);
        let back = tlv::read_exact(&again).expect("writer output must read back");
        assert_eq!(back.content, t.content);
        assert_eq!(back.tag, t.tag);
    }
    let _ = t.octets();
    if depth < 64 {
        if let Ok(children) = t.children() {
            for c in &children {
                check(c, depth + 1);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(all) = tlv::read_all(data) {
        assert_eq!(all.iter().map(|t| t.raw.len()).sum::<usize>(), data.len());
        for t in &all {
            check(t, 0);
        }
    }
    if let Ok((t, rest)) = tlv::read(data) {
        assert_eq!(t.raw.len() + rest.len(), data.len());
    }
});
