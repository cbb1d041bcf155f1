//! Named elliptic curves and explicit domain parameters.
//!
//! ICAO 9303-12 §4.4.4 (and BSI TR-03110 / TR-03111 §4.1) allow NIST P-192…P-521 and the
//! brainpool r1 curves (RFC 5639). A public key names its curve by OID (RFC 5480 §2.1.1.1) or
//! carries explicit `ECParameters` (RFC 3279 §2.3.5), which many CSCAs and DSCs do. Explicit
//! parameters equal to a known curve are mapped to it, so the fast typed implementation is
//! used and reports show the curve's name; explicit parameters equal to no named curve are
//! refused (`docs/verify.md`, trust policy): an issuer-chosen curve could be weak by design
//! (small subgroup, anomalous, singular), and no genuine passport needs one. Named curves
//! without a typed implementation (brainpoolP512r1, …) run on the generic arithmetic in
//! [`super::ec`]. The constants below were extracted from OpenSSL's
//! `ecparam -param_enc explicit` output.

use std::sync::OnceLock;

use der::oid::ObjectIdentifier;

use super::CryptoError;
use super::asn1;
use super::ec::CurveParams;

/// Curves known by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CurveId {
    P192,
    P224,
    P256,
    P384,
    P521,
    BrainpoolP160r1,
    BrainpoolP192r1,
    BrainpoolP224r1,
    BrainpoolP256r1,
    BrainpoolP320r1,
    BrainpoolP384r1,
    BrainpoolP512r1,
}

/// The curve of a public key: always a named curve, whether the key named it by OID or by
/// explicit parameters equal to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Curve {
    Named(CurveId),
}

impl Curve {
    /// Name for reports: the standard name.
    pub fn name(&self) -> String {
        match self {
            Curve::Named(id) => id.name().to_owned(),
        }
    }

    /// Domain parameters for the generic arithmetic.
    pub fn params(&self) -> &CurveParams {
        match self {
            Curve::Named(id) => id.params(),
        }
    }
}

struct NamedCurveSpec {
    id: CurveId,
    oid: &'static str,
    name: &'static str,
    p: &'static str,
    a: &'static str,
    b: &'static str,
    gx: &'static str,
    gy: &'static str,
    n: &'static str,
    h: u8,
}

const SPECS: [NamedCurveSpec; 12] = [
    NamedCurveSpec {
        id: CurveId::P192,
        oid: "1.2.840.10045.3.1.1",
        name: "NIST P-192",
        p: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFF",
        a: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFC",
        b: "64210519E59C80E70FA7E9AB72243049FEB8DEECC146B9B1",
        gx: "188DA80EB03090F67CBF20EB43A18800F4FF0AFD82FF1012",
        gy: "07192B95FFC8DA78631011ED6B24CDD573F977A11E794811",
        n: "FFFFFFFFFFFFFFFFFFFFFFFF99DEF836146BC9B1B4D22831",
        h: 1,
    },
    NamedCurveSpec {
        id: CurveId::P224,
        oid: "1.3.132.0.33",
        name: "NIST P-224",
        p: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF000000000000000000000001",
        a: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFE",
        b: "B4050A850C04B3ABF54132565044B0B7D7BFD8BA270B39432355FFB4",
        gx: "B70E0CBD6BB4BF7F321390B94A03C1D356C21122343280D6115C1D21",
        gy: "BD376388B5F723FB4C22DFE6CD4375A05A07476444D5819985007E34",
        n: "FFFFFFFFFFFFFFFFFFFFFFFFFFFF16A2E0B8F03E13DD29455C5C2A3D",
        h: 1,
    },
    NamedCurveSpec {
        id: CurveId::P256,
        oid: "1.2.840.10045.3.1.7",
        name: "NIST P-256",
        p: "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF",
        a: "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC",
        b: "5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B",
        gx: "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296",
        gy: "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5",
        n: "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
        h: 1,
    },
    NamedCurveSpec {
        id: CurveId::P384,
        oid: "1.3.132.0.34",
        name: "NIST P-384",
        p: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF",
        a: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFC",
        b: "B3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF",
        gx: "AA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7",
        gy: "3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F",
        n: "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        h: 1,
    },
    NamedCurveSpec {
        id: CurveId::P521,
        oid: "1.3.132.0.35",
        name: "NIST P-521",
        p: "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        a: "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC",
        b: "51953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00",
        gx: "C6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D3DBAA14B5E77EFE75928FE1DC127A2FFA8DE3348B3C1856A429BF97E7E31C2E5BD66",
        gy: "011839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E662C97EE72995EF42640C550B9013FAD0761353C7086A272C24088BE94769FD16650",
        n: "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        h: 1,
    },
    NamedCurveSpec {
        id: CurveId::BrainpoolP160r1,
        oid: "1.3.36.3.3.2.8.1.1.1",
        name: "brainpoolP160r1",
        p: "E95E4A5F737059DC60DFC7AD95B3D8139515620F",
        a: "340E7BE2A280EB74E2BE61BADA745D97E8F7C300",
        b: "1E589A8595423412134FAA2DBDEC95C8D8675E58",
        gx: "BED5AF16EA3F6A4F62938C4631EB5AF7BDBCDBC3",
        gy: "1667CB477A1A8EC338F94741669C976316DA6321",
        n: "E95E4A5F737059DC60DF5991D45029409E60FC09",
        h: 1,
    },
    NamedCurveSpec {
        id: CurveId::BrainpoolP192r1,
        oid: "1.3.36.3.3.2.8.1.1.3",
        name: "brainpoolP192r1",
        p: "C302F41D932A36CDA7A3463093D18DB78FCE476DE1A86297",
        a: "6A91174076B1E0E19C39C031FE8685C1CAE040E5C69A28EF",
        b: "469A28EF7C28CCA3DC721D044F4496BCCA7EF4146FBF25C9",
        gx: "C0A0647EAAB6A48753B033C56CB0F0900A2F5C4853375FD6",
        gy: "14B690866ABD5BB88B5F4828C1490002E6773FA2FA299B8F",
        n: "C302F41D932A36CDA7A3462F9E9E916B5BE8F1029AC4ACC1",
        h: 1,
    },
    NamedCurveSpec {
        id: CurveId::BrainpoolP224r1,
        oid: "1.3.36.3.3.2.8.1.1.5",
        name: "brainpoolP224r1",
        p: "D7C134AA264366862A18302575D1D787B09F075797DA89F57EC8C0FF",
        a: "68A5E62CA9CE6C1C299803A6C1530B514E182AD8B0042A59CAD29F43",
        b: "2580F63CCFE44138870713B1A92369E33E2135D266DBB372386C400B",
        gx: "0D9029AD2C7E5CF4340823B2A87DC68C9E4CE3174C1E6EFDEE12C07D",
        gy: "58AA56F772C0726F24C6B89E4ECDAC24354B9E99CAA3F6D3761402CD",
        n: "D7C134AA264366862A18302575D0FB98D116BC4B6DDEBCA3A5A7939F",
        h: 1,
    },
    NamedCurveSpec {
        id: CurveId::BrainpoolP256r1,
        oid: "1.3.36.3.3.2.8.1.1.7",
        name: "brainpoolP256r1",
        p: "A9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377",
        a: "7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9",
        b: "26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6",
        gx: "8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262",
        gy: "547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997",
        n: "A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7",
        h: 1,
    },
    NamedCurveSpec {
        id: CurveId::BrainpoolP320r1,
        oid: "1.3.36.3.3.2.8.1.1.9",
        name: "brainpoolP320r1",
        p: "D35E472036BC4FB7E13C785ED201E065F98FCFA6F6F40DEF4F92B9EC7893EC28FCD412B1F1B32E27",
        a: "3EE30B568FBAB0F883CCEBD46D3F3BB8A2A73513F5EB79DA66190EB085FFA9F492F375A97D860EB4",
        b: "520883949DFDBC42D3AD198640688A6FE13F41349554B49ACC31DCCD884539816F5EB4AC8FB1F1A6",
        gx: "43BD7E9AFB53D8B85289BCC48EE5BFE6F20137D10A087EB6E7871E2A10A599C710AF8D0D39E20611",
        gy: "14FDD05545EC1CC8AB4093247F77275E0743FFED117182EAA9C77877AAAC6AC7D35245D1692E8EE1",
        n: "D35E472036BC4FB7E13C785ED201E065F98FCFA5B68F12A32D482EC7EE8658E98691555B44C59311",
        h: 1,
    },
    NamedCurveSpec {
        id: CurveId::BrainpoolP384r1,
        oid: "1.3.36.3.3.2.8.1.1.11",
        name: "brainpoolP384r1",
        p: "8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B412B1DA197FB71123ACD3A729901D1A71874700133107EC53",
        a: "7BC382C63D8C150C3C72080ACE05AFA0C2BEA28E4FB22787139165EFBA91F90F8AA5814A503AD4EB04A8C7DD22CE2826",
        b: "04A8C7DD22CE28268B39B55416F0447C2FB77DE107DCD2A62E880EA53EEB62D57CB4390295DBC9943AB78696FA504C11",
        gx: "1D1C64F068CF45FFA2A63A81B7C13F6B8847A3E77EF14FE3DB7FCAFE0CBD10E8E826E03436D646AAEF87B2E247D4AF1E",
        gy: "8ABE1D7520F9C2A45CB1EB8E95CFD55262B70B29FEEC5864E19C054FF99129280E4646217791811142820341263C5315",
        n: "8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B31F166E6CAC0425A7CF3AB6AF6B7FC3103B883202E9046565",
        h: 1,
    },
    NamedCurveSpec {
        id: CurveId::BrainpoolP512r1,
        oid: "1.3.36.3.3.2.8.1.1.13",
        name: "brainpoolP512r1",
        p: "AADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA703308717D4D9B009BC66842AECDA12AE6A380E62881FF2F2D82C68528AA6056583A48F3",
        a: "7830A3318B603B89E2327145AC234CC594CBDD8D3DF91610A83441CAEA9863BC2DED5D5AA8253AA10A2EF1C98B9AC8B57F1117A72BF2C7B9E7C1AC4D77FC94CA",
        b: "3DF91610A83441CAEA9863BC2DED5D5AA8253AA10A2EF1C98B9AC8B57F1117A72BF2C7B9E7C1AC4D77FC94CADC083E67984050B75EBAE5DD2809BD638016F723",
        gx: "81AEE4BDD82ED9645A21322E9C4C6A9385ED9F70B5D916C1B43B62EEF4D0098EFF3B1F78E2D0D48D50D1687B93B97D5F7C6D5047406A5E688B352209BCB9F822",
        gy: "7DDE385D566332ECC0EABFA9CF7822FDF209F70024A57B1AA000C55B881F8111B2DCDE494A5F485E5BCA4BD88A2763AED1CA2B2FA8F0540678CD1E0F3AD80892",
        n: "AADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA70330870553E5C414CA92619418661197FAC10471DB1D381085DDADDB58796829CA90069",
        h: 1,
    },
];

fn hex(s: &str) -> Vec<u8> {
    // The table is a compile-time constant of valid hex; a bad digit would be a typo caught by
    // the `every_named_curve_has_valid_parameters` test.
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .unwrap_or(0)
        })
        .collect()
}

fn spec(id: CurveId) -> &'static NamedCurveSpec {
    // SPECS lists every CurveId variant exactly once (checked by a unit test).
    SPECS.iter().find(|s| s.id == id).unwrap_or(&SPECS[0])
}

fn parsed() -> &'static Vec<(CurveId, CurveParams)> {
    static PARAMS: OnceLock<Vec<(CurveId, CurveParams)>> = OnceLock::new();
    PARAMS.get_or_init(|| {
        SPECS
            .iter()
            .filter_map(|s| {
                CurveParams::from_be_bytes(
                    &hex(s.p),
                    &hex(s.a),
                    &hex(s.b),
                    &hex(s.gx),
                    &hex(s.gy),
                    &hex(s.n),
                    &[s.h],
                )
                .ok()
                .map(|p| (s.id, p))
            })
            .collect()
    })
}

impl CurveId {
    pub const ALL: [CurveId; 12] = [
        CurveId::P192,
        CurveId::P224,
        CurveId::P256,
        CurveId::P384,
        CurveId::P521,
        CurveId::BrainpoolP160r1,
        CurveId::BrainpoolP192r1,
        CurveId::BrainpoolP224r1,
        CurveId::BrainpoolP256r1,
        CurveId::BrainpoolP320r1,
        CurveId::BrainpoolP384r1,
        CurveId::BrainpoolP512r1,
    ];

    pub fn name(self) -> &'static str {
        spec(self).name
    }

    pub fn oid(self) -> ObjectIdentifier {
        ObjectIdentifier::new_unwrap(spec(self).oid)
    }

    /// Maps a `namedCurve` OID.
    ///
    /// # Errors
    /// [`CryptoError::UnsupportedCurve`] for an unknown OID.
    pub fn from_oid(oid: &ObjectIdentifier) -> Result<Self, CryptoError> {
        SPECS
            .iter()
            .find(|s| ObjectIdentifier::new(s.oid).is_ok_and(|o| o == *oid))
            .map(|s| s.id)
            .ok_or_else(|| CryptoError::UnsupportedCurve(oid.to_string()))
    }

    /// The curve's domain parameters.
    pub fn params(self) -> &'static CurveParams {
        let all = parsed();
        all.iter()
            .find(|(id, _)| *id == self)
            .or_else(|| all.first())
            .map(|(_, p)| p)
            .unwrap_or_else(|| unreachable_params())
    }

    /// Finds the named curve whose parameters equal `params` (same p, a, b, G, n).
    pub fn match_params(params: &CurveParams) -> Option<Self> {
        parsed()
            .iter()
            .find(|(_, known)| {
                known.p == params.p
                    && known.a == params.a
                    && known.b == params.b
                    && known.gx == params.gx
                    && known.gy == params.gy
                    && known.n == params.n
            })
            .map(|(id, _)| *id)
    }
}

#[cold]
fn unreachable_params() -> &'static CurveParams {
    // Only reachable if the constant table failed to parse, which the unit tests rule out;
    // fall back to a curve whose arithmetic will reject every signature.
    static EMPTY: OnceLock<CurveParams> = OnceLock::new();
    EMPTY.get_or_init(|| CurveParams {
        p: 0u8.into(),
        a: 0u8.into(),
        b: 0u8.into(),
        gx: 0u8.into(),
        gy: 0u8.into(),
        n: 0u8.into(),
        h: 0u8.into(),
    })
}

/// The `id-ecPublicKey` algorithm OID (RFC 5480 §2.1.1).
pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `prime-field` (X9.62 / RFC 3279 §2.3.5).
const PRIME_FIELD: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.1.1");

/// Decodes the `parameters` of an `id-ecPublicKey` AlgorithmIdentifier:
/// `EcpkParameters ::= CHOICE { ecParameters ECParameters, namedCurve OBJECT IDENTIFIER,
/// implicitlyCA NULL }` (RFC 3279 §2.3.5). `implicitlyCA` cannot be verified without the
/// issuer's parameters and is rejected.
///
/// # Errors
/// [`CryptoError::UnsupportedCurve`], [`CryptoError::Malformed`] or
/// [`CryptoError::InvalidCurveParameters`].
pub fn decode_ec_parameters(der_bytes: &[u8]) -> Result<Curve, CryptoError> {
    let (tlv, rest) = asn1::next(der_bytes)?;
    if !rest.is_empty() {
        return Err(CryptoError::Malformed("EcpkParameters"));
    }
    match tlv.tag {
        0x06 => Ok(Curve::Named(CurveId::from_oid(&asn1::oid(tlv)?)?)),
        0x30 => decode_explicit(tlv.content),
        _ => Err(CryptoError::UnsupportedCurve(
            "implicitlyCA or unknown parameters".into(),
        )),
    }
}

/// `ECParameters ::= SEQUENCE { version INTEGER, fieldID FieldID, curve Curve, base ECPoint,
/// order INTEGER, cofactor INTEGER OPTIONAL }` (RFC 3279 §2.3.5, BSI TR-03111 §4.1.1 item 2).
fn decode_explicit(content: &[u8]) -> Result<Curve, CryptoError> {
    let bad = CryptoError::Malformed("ECParameters");
    let fields = asn1::children(content)?;
    let [version, field_id, curve, base, order, rest @ ..] = fields.as_slice() else {
        return Err(bad);
    };
    if asn1::small_uint(*version)? != 1
        || field_id.tag != 0x30
        || curve.tag != 0x30
        || base.tag != 0x04
    {
        return Err(bad);
    }
    let field = asn1::children(field_id.content)?;
    let [field_type, prime] = field.as_slice() else {
        return Err(bad);
    };
    if asn1::oid(*field_type)? != PRIME_FIELD {
        return Err(CryptoError::UnsupportedCurve(
            "characteristic-two field".into(),
        ));
    }
    let p = asn1::unsigned(*prime)?;
    let coeffs = asn1::children(curve.content)?;
    let (Some(a), Some(b)) = (coeffs.first(), coeffs.get(1)) else {
        return Err(bad);
    };
    if a.tag != 0x04 || b.tag != 0x04 {
        return Err(bad);
    }
    let n = asn1::unsigned(*order)?;
    let h = match rest.first() {
        Some(h) => asn1::unsigned(*h)?,
        None => &[1u8][..],
    };
    // The base point is an ECPoint (SEC1 encoding); decode it against a provisional curve
    // whose generator is not yet known, by checking it directly afterwards.
    let field_len = p.len();
    let g = base.content;
    let (gx, gy) = match g.split_first() {
        Some((0x04, xy)) if xy.len() == 2 * field_len => xy.split_at(field_len),
        _ => return Err(CryptoError::InvalidCurveParameters("base point encoding")),
    };
    let params = CurveParams::from_be_bytes(p, a.content, b.content, gx, gy, n, h)?;
    match CurveId::match_params(&params) {
        Some(id) => Ok(Curve::Named(id)),
        None => Err(CryptoError::UnsupportedCurve(
            "explicit domain parameters equal to no named curve".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_curve_has_valid_parameters() {
        assert_eq!(parsed().len(), CurveId::ALL.len());
        for id in CurveId::ALL {
            assert_eq!(CurveId::from_oid(&id.oid()).ok(), Some(id));
            assert_eq!(CurveId::match_params(id.params()), Some(id));
        }
    }
}
