//! BER-TLV reader and DER writer (X.690 §8.1, §8.7.3, §10.1): known encodings, every error
//! variant, and property tests (write → read round trip, arbitrary bytes never panic).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use emrtd::tlv::{self, Class, MAX_DEPTH, Tag, TlvError};
use proptest::prelude::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

#[test]
fn single_byte_tag_short_length() {
    let bytes = h("02 01 05");
    let t = tlv::read_exact(&bytes).unwrap();
    assert_eq!(t.tag, Tag::INTEGER);
    assert_eq!(t.content, &[5]);
    assert_eq!(t.raw, &bytes[..]);
    assert!(!t.indefinite);
}

#[test]
fn two_byte_application_tag_as_in_dg1() {
    // ICAO 9303-10 §4.7.1: DG1 = 61 { 5F1F <MRZ> }
    let bytes = h("61 06 5F1F 03 414243");
    let dg1 = tlv::read_exact(&bytes).unwrap();
    assert_eq!(dg1.tag, Tag(0x61));
    assert_eq!(dg1.tag.class(), Class::Application);
    assert!(dg1.tag.is_constructed());
    let mrz = dg1.child(Tag(0x5F1F)).unwrap().unwrap();
    assert_eq!(mrz.content, b"ABC");
    assert_eq!(mrz.tag.class(), Class::Application);
    assert!(!mrz.tag.is_constructed());
    assert_eq!(mrz.tag.number(), 31);
}

#[test]
fn three_byte_tag_number() {
    let bytes = h("9F 81 01 01 AA");
    let t = tlv::read_exact(&bytes).unwrap();
    assert_eq!(t.tag, Tag(0x9F8101));
    assert_eq!(t.tag.number(), 129);
    assert_eq!(t.tag.class(), Class::ContextSpecific);
}

#[test]
fn tag_longer_than_four_bytes_is_rejected() {
    assert_eq!(
        tlv::read(&h("5F 81 82 83 04 00")).unwrap_err(),
        TlvError::TagTooLong { offset: 0 }
    );
}

#[test]
fn long_form_lengths_of_one_to_four_bytes() {
    for (hdr, n) in [
        ("04 81 80", 0x80usize),
        ("04 82 01 00", 0x100),
        ("04 83 00 01 00", 0x100),
        ("04 84 00 00 01 01", 0x101),
    ] {
        let mut bytes = h(hdr);
        bytes.extend(std::iter::repeat_n(7u8, n));
        let t = tlv::read_exact(&bytes).unwrap();
        assert_eq!(t.content.len(), n);
    }
}

#[test]
fn length_field_of_five_bytes_is_rejected() {
    assert_eq!(
        tlv::read(&h("04 85 00 00 00 00 01 00")).unwrap_err(),
        TlvError::LengthTooLong { offset: 1 }
    );
}

#[test]
fn reserved_length_octet_is_rejected() {
    assert_eq!(
        tlv::read(&h("04 FF")).unwrap_err(),
        TlvError::ReservedLength { offset: 1 }
    );
}

#[test]
fn huge_declared_length_is_truncation_not_allocation() {
    assert!(matches!(
        tlv::read(&h("04 84 FF FF FF FF 00")).unwrap_err(),
        TlvError::Truncated { .. }
    ));
}

#[test]
fn truncated_inputs_report_offsets() {
    assert_eq!(
        tlv::read(&[]).unwrap_err(),
        TlvError::Truncated { offset: 0 }
    );
    assert_eq!(
        tlv::read(&h("5F")).unwrap_err(),
        TlvError::Truncated { offset: 1 }
    );
    assert_eq!(
        tlv::read(&h("04")).unwrap_err(),
        TlvError::Truncated { offset: 1 }
    );
    assert_eq!(
        tlv::read(&h("04 03 01 02")).unwrap_err(),
        TlvError::Truncated { offset: 4 }
    );
    assert_eq!(
        tlv::read(&h("04 82 01")).unwrap_err(),
        TlvError::Truncated { offset: 3 }
    );
}

#[test]
fn read_returns_the_rest() {
    let bytes = h("02 01 01 FF FF");
    let (t, rest) = tlv::read(&bytes).unwrap();
    assert_eq!(t.raw, &h("02 01 01")[..]);
    assert_eq!(rest, &[0xFF, 0xFF]);
}

#[test]
fn read_exact_rejects_trailing_data() {
    assert_eq!(
        tlv::read_exact(&h("02 01 01 00")).unwrap_err(),
        TlvError::TrailingData { offset: 3, len: 1 }
    );
}

#[test]
fn read_all_reads_a_sequence() {
    let bytes = h("02 01 01 04 00 30 00");
    let all = tlv::read_all(&bytes).unwrap();
    let tags: Vec<_> = all.iter().map(|t| t.tag).collect();
    assert_eq!(tags, [Tag::INTEGER, Tag::OCTET_STRING, Tag::SEQUENCE]);
    assert!(tlv::read_all(&[]).unwrap().is_empty());
}

#[test]
fn indefinite_length_ends_at_end_of_contents() {
    let bytes = h("30 80 02 01 05 04 00 00 00 AA");
    let (t, rest) = tlv::read(&bytes).unwrap();
    assert!(t.indefinite);
    assert_eq!(t.content, &h("02 01 05 04 00")[..]);
    assert_eq!(t.raw, &bytes[..9]);
    assert_eq!(rest, &[0xAA]);
    assert_eq!(t.header_len(), 2);
    assert_eq!(t.children().unwrap().len(), 2);
}

#[test]
fn nested_indefinite_lengths_are_scanned() {
    // A CMS-like shape: 30 80 { A0 80 { 24 80 { 04 01 xx } } } with a definite sibling.
    let bytes = h("30 80 A0 80 24 80 04 01 11 00 00 00 00 02 01 07 00 00");
    let t = tlv::read_exact(&bytes).unwrap();
    let kids = t.children().unwrap();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[0].tag, Tag(0xA0));
    assert!(kids[0].indefinite);
    assert_eq!(kids[1].content, &[7]);
}

#[test]
fn missing_end_of_contents_is_rejected() {
    assert_eq!(
        tlv::read(&h("30 80 02 01 05")).unwrap_err(),
        TlvError::MissingEndOfContents { offset: 0 }
    );
    assert_eq!(
        tlv::read(&h("30 80 02 01 05 00")).unwrap_err(),
        TlvError::MissingEndOfContents { offset: 0 }
    );
}

#[test]
fn stray_end_of_contents_is_rejected() {
    assert_eq!(
        tlv::read(&h("00 00")).unwrap_err(),
        TlvError::UnexpectedEndOfContents { offset: 0 }
    );
    assert_eq!(
        tlv::read_all(&h("02 01 01 00 00")).unwrap_err(),
        TlvError::UnexpectedEndOfContents { offset: 3 }
    );
}

#[test]
fn indefinite_primitive_is_rejected() {
    assert_eq!(
        tlv::read(&h("04 80 01 00 00")).unwrap_err(),
        TlvError::IndefinitePrimitive { offset: 0 }
    );
}

fn nested_indefinite(levels: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..levels {
        v.extend([0x30, 0x80]);
    }
    for _ in 0..levels {
        v.extend([0x00, 0x00]);
    }
    v
}

#[test]
fn indefinite_nesting_up_to_max_depth_is_accepted() {
    assert!(tlv::read_exact(&nested_indefinite(MAX_DEPTH)).is_ok());
}

#[test]
fn indefinite_nesting_beyond_max_depth_is_rejected() {
    let err = tlv::read_exact(&nested_indefinite(MAX_DEPTH + 1)).unwrap_err();
    assert_eq!(
        err,
        TlvError::DepthExceeded {
            offset: 2 * MAX_DEPTH
        }
    );
}

#[test]
fn deeply_nested_definite_lengths_do_not_recurse() {
    // 10 000 nested definite SEQUENCEs: reading the outer one only looks at its header.
    let mut v = vec![0x05, 0x00];
    for _ in 0..10_000 {
        v = tlv::encode(Tag::SEQUENCE, &v);
    }
    let t = tlv::read_exact(&v).unwrap();
    assert_eq!(t.children().unwrap().len(), 1);
}

#[test]
fn children_of_a_primitive_is_an_error() {
    let bytes = h("04 03 02 01 00");
    let t = tlv::read_exact(&bytes).unwrap();
    assert_eq!(
        t.children().unwrap_err(),
        TlvError::NotConstructed {
            tag: Tag::OCTET_STRING
        }
    );
}

#[test]
fn children_errors_count_from_the_parent_start() {
    let bytes = h("30 04 02 05 01 02");
    let t = tlv::read_exact(&bytes).unwrap();
    assert_eq!(t.children().unwrap_err(), TlvError::Truncated { offset: 6 });
}

#[test]
fn child_finds_the_first_match_and_require_reports_absence() {
    let bytes = h("30 09 02 01 01 02 01 02 04 01 03");
    let t = tlv::read_exact(&bytes).unwrap();
    assert_eq!(t.child(Tag::INTEGER).unwrap().unwrap().content, &[1]);
    assert!(t.child(Tag::NULL).unwrap().is_none());
    assert_eq!(
        t.require(Tag::NULL).unwrap_err(),
        TlvError::MissingTag { tag: Tag::NULL }
    );
}

#[test]
fn expect_checks_the_tag() {
    let bytes = h("02 01 01");
    let t = tlv::read_exact(&bytes).unwrap();
    assert!(t.check_tag(Tag::INTEGER).is_ok());
    assert_eq!(
        t.check_tag(Tag::SEQUENCE).unwrap_err(),
        TlvError::UnexpectedTag {
            expected: Tag::SEQUENCE,
            found: Tag::INTEGER
        }
    );
}

#[test]
fn octets_of_a_primitive_borrow() {
    let bytes = h("04 02 AA BB");
    let t = tlv::read_exact(&bytes).unwrap();
    assert!(matches!(
        t.octets().unwrap(),
        std::borrow::Cow::Borrowed(&[0xAA, 0xBB])
    ));
}

#[test]
fn octets_reassemble_definite_constructed_strings() {
    let bytes = h("24 07 04 02 01 02 04 01 03");
    assert_eq!(
        &*tlv::read_exact(&bytes).unwrap().octets().unwrap(),
        &[1, 2, 3]
    );
}

#[test]
fn octets_reassemble_indefinite_and_nested_segments() {
    // The chunked eContent shape from `openssl cms -sign -stream`; real tools emit it, so BER
    // parsers must accept it.
    let bytes = h("24 80 04 02 01 02 24 80 04 01 03 00 00 04 00 00 00");
    assert_eq!(
        &*tlv::read_exact(&bytes).unwrap().octets().unwrap(),
        &[1, 2, 3]
    );
}

#[test]
fn octets_of_implicitly_tagged_string_take_octet_string_segments() {
    let bytes = h("A0 80 04 01 09 04 01 08 00 00");
    assert_eq!(
        &*tlv::read_exact(&bytes).unwrap().octets().unwrap(),
        &[9, 8]
    );
}

#[test]
fn octets_reject_foreign_segments() {
    let bytes = h("24 03 02 01 00");
    assert_eq!(
        tlv::read_exact(&bytes).unwrap().octets().unwrap_err(),
        TlvError::BadSegment {
            outer: Tag(0x24),
            found: Tag::INTEGER,
            offset: 2
        }
    );
}

#[test]
fn octets_nesting_beyond_max_depth_is_rejected() {
    let mut v = tlv::encode(Tag::OCTET_STRING, b"x");
    for _ in 0..=MAX_DEPTH {
        v = tlv::encode(Tag(0x24), &v);
    }
    let t = tlv::read_exact(&v).unwrap();
    assert!(matches!(
        t.octets().unwrap_err(),
        TlvError::DepthExceeded { .. }
    ));
}

#[test]
fn writer_uses_minimal_definite_lengths() {
    assert_eq!(tlv::encode(Tag(0x5F1F), b"AB"), h("5F1F 02 4142"));
    assert_eq!(
        tlv::encode(Tag::OCTET_STRING, &[0; 0x7F])[..2],
        h("04 7F")[..]
    );
    assert_eq!(
        tlv::encode(Tag::OCTET_STRING, &[0; 0x80])[..3],
        h("04 81 80")[..]
    );
    assert_eq!(
        tlv::encode(Tag::OCTET_STRING, &[0; 0x100])[..4],
        h("04 82 01 00")[..]
    );
    assert_eq!(
        tlv::encode(Tag::OCTET_STRING, &[0; 0x10000])[..5],
        h("04 83 01 00 00")[..]
    );
    assert_eq!(tlv::encode(Tag(0x7F61), &[]), h("7F61 00"));
}

#[test]
fn tag_helpers_follow_x690() {
    assert_eq!(Tag(0x7F61).to_bytes(), [0x7F, 0x61]);
    assert_eq!(Tag(0).to_bytes(), [0]);
    assert!(Tag(0x7F61).is_constructed());
    assert_eq!(Tag(0x7F61).number(), 0x61);
    assert_eq!(Tag(0xDF).class(), Class::Private);
    assert_eq!(Tag(0x30).class(), Class::Universal);
    assert_eq!(Tag(0x5F1F).to_string(), "0x5F1F");
}

// ---- property tests ----

/// A tree of TLVs to encode; constructed nodes may use indefinite length.
#[derive(Debug, Clone)]
enum Node {
    Prim(Tag, Vec<u8>),
    Cons(Tag, Vec<Node>, bool),
}

fn tag_strategy(constructed: bool) -> impl Strategy<Value = Tag> {
    let form = if constructed { 0x20u32 } else { 0 };
    (0u32..4, prop_oneof![1u32..31, 31u32..(1 << 21)]).prop_map(move |(class, number)| {
        let lead = (class << 6) | form;
        if number < 31 {
            Tag(lead | number)
        } else {
            let mut v = u32::from(lead as u8 | 0x1F);
            let groups = if number < 1 << 7 {
                1
            } else if number < 1 << 14 {
                2
            } else {
                3
            };
            for i in (0..groups).rev() {
                let more = if i > 0 { 0x80 } else { 0 };
                v = (v << 8) | ((number >> (7 * i)) & 0x7F) | more;
            }
            Tag(v)
        }
    })
}

fn node_strategy() -> impl Strategy<Value = Node> {
    let leaf = (
        tag_strategy(false),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(t, c)| Node::Prim(t, c));
    leaf.prop_recursive(5, 64, 6, |inner| {
        (
            tag_strategy(true),
            prop::collection::vec(inner, 0..6),
            any::<bool>(),
        )
            .prop_map(|(t, kids, indef)| Node::Cons(t, kids, indef))
    })
}

fn encode_node(n: &Node) -> Vec<u8> {
    match n {
        Node::Prim(t, c) => tlv::encode(*t, c),
        Node::Cons(t, kids, indefinite) => {
            let body: Vec<u8> = kids.iter().flat_map(encode_node).collect();
            if *indefinite {
                let mut v = t.to_bytes();
                v.push(0x80);
                v.extend(body);
                v.extend([0, 0]);
                v
            } else {
                tlv::encode(*t, &body)
            }
        }
    }
}

fn assert_matches(n: &Node, t: &tlv::Tlv<'_>) {
    match n {
        Node::Prim(tag, c) => {
            assert_eq!(t.tag, *tag);
            assert_eq!(t.content, &c[..]);
            assert!(!t.indefinite);
        }
        Node::Cons(tag, kids, indefinite) => {
            assert_eq!(t.tag, *tag);
            assert_eq!(t.indefinite, *indefinite);
            let got = t.children().unwrap();
            assert_eq!(got.len(), kids.len());
            for (k, g) in kids.iter().zip(&got) {
                assert_matches(k, g);
            }
        }
    }
}

/// Visits everything reachable through the public API; must never panic.
fn walk(input: &[u8]) {
    if let Ok(all) = tlv::read_all(input) {
        for t in all {
            let _ = t.octets();
            if let Ok(kids) = t.children() {
                for k in kids {
                    walk(k.raw);
                }
            }
        }
    }
    let _ = tlv::read_exact(input);
}

fn segmented(data: &[u8], cuts: &[usize], indefinite: bool) -> Vec<u8> {
    let mut body = Vec::new();
    let mut start = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    points.push(data.len());
    for p in points {
        body.extend(tlv::encode(Tag::OCTET_STRING, &data[start..p]));
        start = p;
    }
    if indefinite {
        let mut v = vec![0x24, 0x80];
        v.extend(body);
        v.extend([0, 0]);
        v
    } else {
        tlv::encode(Tag(0x24), &body)
    }
}

proptest! {
    #[test]
    fn write_then_read_round_trips(node in node_strategy()) {
        let bytes = encode_node(&node);
        let t = tlv::read_exact(&bytes).unwrap();
        prop_assert_eq!(t.raw, &bytes[..]);
        assert_matches(&node, &t);
    }

    #[test]
    fn segmented_strings_reassemble(data in prop::collection::vec(any::<u8>(), 0..500),
                                    cuts in prop::collection::vec(any::<usize>(), 0..8),
                                    indefinite in any::<bool>()) {
        let bytes = segmented(&data, &cuts, indefinite);
        let t = tlv::read_exact(&bytes).unwrap();
        prop_assert_eq!(&*t.octets().unwrap(), &data[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        walk(&bytes);
    }

    #[test]
    fn mutated_valid_encodings_never_panic(node in node_strategy(), pos in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = encode_node(&node);
        if !bytes.is_empty() {
            let i = pos % bytes.len();
            bytes[i] = byte;
        }
        walk(&bytes);
    }
}
