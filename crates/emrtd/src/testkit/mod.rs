//! Test-passport factory (feature `testkit`), shared by unit, API and end-to-end tests and by the
//! simulator: CSCA → DSC → EF.SOD over generated DG1/DG2/DG14/DG15 and EF.COM, for every
//! signature algorithm the verifier accepts (ICAO 9303-12 §4.4), plus a [`chip::VirtualChip`]
//! that answers active and chip authentication, and switches that produce each failure the
//! verification flow distinguishes (`docs/verify.md` "Document checks").
//!
//! ```no_run
//! use emrtd::testkit::{Algo, Failure, TestPassport};
//! let passport = TestPassport::builder()
//!     .algorithm(Algo::EcdsaBrainpoolP384)
//!     .failure(Failure::TamperedDg(2))
//!     .build()
//!     .unwrap();
//! # let _ = passport.sod;
//! ```
//!
//! Everything here is for tests: keys are fixed or throw-away and certificates name
//! `example.invalid`. The server links this module for one purpose only: the CSCAs of
//! [`fixed_csca_der`], which test-mode sessions trust.

pub mod card;
pub mod chip;
pub mod fixed_keys;
pub mod jpeg;
pub mod keys;
pub mod lds;
pub mod masterlist;
pub mod sod;
pub mod x509;

use der::asn1::ObjectIdentifier;
use num_bigint::BigUint;
use time::{Duration, OffsetDateTime};

use crate::chip_auth::sm::SmCipher;
use crate::chip_auth::{CaProtocol, ChipAuthParams, DhGroup, KeyAgreement};
use crate::crypto::curves::CurveId;
use crate::crypto::hash::HashAlgorithm;

use chip::{AaPrivateKey, CaPrivateKey, VirtualChip};
use keys::{EcPrivateKey, KeySource, RsaRole, SignatureScheme, SigningKey};
pub use lds::{Holder, MrzLayout};
use x509::{CertKind, CertSpec, Name};

/// Why the factory or the virtual chip could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    #[error("key material: {0}")]
    Key(&'static str),
    #[error("virtual chip: {0}")]
    Chip(&'static str),
    #[error("invalid factory input: {0}")]
    Input(&'static str),
}

/// The document-signing algorithm family: the CSCA and the DSC use the same family
/// (RSA: an RSA-2048 DSC under an RSA-4096 CSCA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algo {
    RsaPkcs1v15,
    RsaPss,
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    EcdsaBrainpoolP256,
    EcdsaBrainpoolP384,
    EcdsaBrainpoolP512,
    /// brainpoolP256r1 keys whose SPKIs carry explicit `ECParameters` (BSI TR-03111 §4.1.1).
    EcdsaExplicitBrainpoolP256,
}

impl Algo {
    pub const ALL: [Algo; 9] = [
        Algo::RsaPkcs1v15,
        Algo::RsaPss,
        Algo::EcdsaP256,
        Algo::EcdsaP384,
        Algo::EcdsaP521,
        Algo::EcdsaBrainpoolP256,
        Algo::EcdsaBrainpoolP384,
        Algo::EcdsaBrainpoolP512,
        Algo::EcdsaExplicitBrainpoolP256,
    ];

    /// The hash an issuer would pair with the key size.
    pub fn default_hash(self) -> HashAlgorithm {
        match self {
            Algo::EcdsaP384 | Algo::EcdsaBrainpoolP384 => HashAlgorithm::Sha384,
            Algo::EcdsaP521 | Algo::EcdsaBrainpoolP512 => HashAlgorithm::Sha512,
            _ => HashAlgorithm::Sha256,
        }
    }

    /// The curve of an ECDSA family.
    pub fn curve(self) -> Option<(CurveId, bool)> {
        Some(match self {
            Algo::RsaPkcs1v15 | Algo::RsaPss => return None,
            Algo::EcdsaP256 => (CurveId::P256, false),
            Algo::EcdsaP384 => (CurveId::P384, false),
            Algo::EcdsaP521 => (CurveId::P521, false),
            Algo::EcdsaBrainpoolP256 => (CurveId::BrainpoolP256r1, false),
            Algo::EcdsaBrainpoolP384 => (CurveId::BrainpoolP384r1, false),
            Algo::EcdsaBrainpoolP512 => (CurveId::BrainpoolP512r1, false),
            Algo::EcdsaExplicitBrainpoolP256 => (CurveId::BrainpoolP256r1, true),
        })
    }

    fn scheme(self) -> SignatureScheme {
        match self {
            Algo::RsaPkcs1v15 => SignatureScheme::RsaPkcs1v15,
            Algo::RsaPss => SignatureScheme::RsaPss,
            _ => SignatureScheme::Ecdsa,
        }
    }
}

/// One way to make a passport fail a check of `docs/verify.md` "Document checks".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// Data group `n` changed after the SOD was signed (hash mismatch, passive authentication).
    TamperedDg(u8),
    /// [`TestPassport::csca_der`] is an impostor CSCA with the same name; the DSC was issued by
    /// [`TestPassport::issuing_csca_der`], which the trust store must not hold.
    WrongCsca,
    /// The DSC's validity ended before the SOD's signing time.
    ExpiredDsc,
    /// The DSC's validity starts after the SOD's signing time.
    DscNotYetValid,
    /// The DSC names a different country (C=) than the MRZ's issuing state.
    CountryMismatch,
    /// The MRZ's document-number check digit is wrong (the SOD covers the wrong DG1).
    BadMrzCheckDigit,
    /// DG15 holds a key other than the chip's active-authentication key.
    WrongAaKey,
    /// DG14 holds a chip-authentication key other than the chip's.
    WrongCaKey,
    /// The SignerInfo signature is corrupted.
    BrokenSodSignature,
    /// The SignerInfo names a signature algorithm outside the eMRTD profile (Ed25519).
    UnsupportedAlgorithm,
    /// The SOD is signed by a CA certificate (basicConstraints cA=true) the CSCA issued,
    /// not by an end-entity DSC.
    SignedByCaCertificate,
    /// The SOD is signed by a Master List Signer certificate the CSCA issued.
    SignedByMasterListSigner,
    /// The "CSCA" is an end-entity certificate (no cA, no keyCertSign).
    CscaNotCa,
}

/// A way real passports depart from the letter of ICAO 9303 / RFC 5652 (public issue
/// trackers of passport-reading projects, BSI TR-03105 part 5.1), or a structural defect to
/// test that a failure names its cause. Each variant says whether a verifier must accept it
/// (`docs/verify.md`, trust policy: passports in the field deviate from the letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Deviation {
    /// Genuine: the DSC's serial has its top bit set, so its DER INTEGER starts with a 0x00
    /// sign byte (about half of all serials); the SignerInfo copies it exactly.
    SerialTopBit,
    /// Genuine: as [`Self::SerialTopBit`], but the SignerInfo's serial omits the sign byte.
    SerialWithoutSignByte,
    /// Genuine: eContentType (and the contentType attribute) `id-data` over an
    /// LDSSecurityObject.
    EContentTypeIdData,
    /// Genuine: the signer identifier's issuer lists the RDNs in another order than the
    /// embedded DSC.
    IssuerRdnsReordered,
    /// Genuine: no `signingTime` signed attribute (it is optional in ICAO 9303-10).
    NoSigningTime,
    /// Genuine: the SOD embeds the CSCA before the DSC.
    ExtraCertificates,
    /// Genuine: the CSCA has keyUsage keyCertSign but no basicConstraints.
    CscaWithoutBasicConstraints,
    /// Genuine: the CSCA has basicConstraints cA=true but no keyUsage.
    CscaWithoutKeyUsage,
    /// Defect, refused naming its cause: the only embedded certificate cannot be parsed.
    UnparseableEmbeddedCertificate,
    /// Defect, refused: the signed attributes lack contentType (RFC 5652 §5.3, §11.1).
    NoContentTypeAttribute,
}

/// The chip's active-authentication key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AaConfig {
    None,
    /// RSA-1024 with ISO/IEC 9796-2 scheme 1 (SHA-1: trailer `0xBC`, otherwise `ID ‖ 0xCC`).
    Rsa {
        hash: HashAlgorithm,
    },
    /// ECDSA plain signatures on a curve; DG14 announces the hash.
    Ecdsa {
        curve: CurveId,
        hash: HashAlgorithm,
    },
}

/// The chip's chip-authentication key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaConfig {
    None,
    Ecdh {
        curve: CurveId,
        cipher: SmCipher,
    },
    /// DH over the RFC 5114 1024-bit group with 160-bit subgroup (ICAO 9303-11 §9.5.1 ID 0).
    Dh {
        cipher: SmCipher,
    },
}

/// RFC 5114 §2.1 1024-bit MODP group with 160-bit prime-order subgroup.
pub fn rfc5114_dh_group() -> DhGroup {
    let h = |s: &str| BigUint::parse_bytes(s.as_bytes(), 16).unwrap_or_default();
    DhGroup {
        p: h(
            "B10B8F96A080E01DDE92DE5EAE5D54EC52C99FBCFB06A3C69A6A9DCA52D23B616073E28675A23D189838EF1E2EE652C013ECB4AEA906112324975C3CD49B83BFACCBDD7D90C4BD7098488E9C219A73724EFFD6FAE5644738FAA31A4FF55BCCC0A151AF5F0DC8B4BD45BF37DF365C1A65E68CFDA76D4DA708DF1FB2BC2E4A4371",
        ),
        g: h(
            "A4D1CBD5C3FD34126765A442EFB99905F8104DD258AC507FD6406CFF14266D31266FEA1E5C41564B777E690F5504F213160217B4B01B886A5E91547F9E2749F4D7FBD7D3B9A92EE1909D0D2263F80A76A6A24C087A091F531DBF0A0169B6A28AD662A4D18E73AFA32D779D5918D08BC8858F4DCEF97C2A24855E6EEB22B3B2E5",
        ),
        q: Some(h("F518AA8781A8DF278ABA4E7D64B7CB9D49462353")),
    }
}

/// ISO 3166-1 alpha-2 for the MRZ's alpha-3 codes used by test passports (certificates carry
/// alpha-2, ICAO 9303-12 §7.1.1.1; the MRZ alpha-3, ICAO 9303-3 §5).
pub fn alpha2_for(issuing_state: &str) -> String {
    let code = match issuing_state.trim_end_matches('<') {
        "NLD" => "NL",
        "D" | "DEU" => "DE",
        "FRA" => "FR",
        "BEL" => "BE",
        "AUT" => "AT",
        "CHE" => "CH",
        "ESP" => "ES",
        "ITA" => "IT",
        "GBR" => "GB",
        "USA" => "US",
        "UTO" => "UT",
        other => return other.chars().take(2).collect(),
    };
    code.to_owned()
}

/// The validity of the CSCAs issued with [`KeySource::Fixed`] keys (for passports signed inside
/// it): fixed, so that the certificate does not depend on when it was issued.
pub const FIXED_CSCA_VALIDITY: (OffsetDateTime, OffsetDateTime) = (
    time::macros::datetime!(2020-01-01 00:00 UTC),
    time::macros::datetime!(2045-01-01 00:00 UTC),
);

/// The CSCA certificate every passport of `algorithm` with the default holder (issuing state
/// `NLD`), the algorithm's default hash and [`KeySource::Fixed`] keys chains to, when signed
/// inside [`FIXED_CSCA_VALIDITY`]: the same bytes in every process and run. A verifier in test
/// mode trusts these, so passports a simulator builds in another process verify
/// (`docs/verify.md` "Test passports and the simulator").
///
/// # Errors
/// [`TestkitError::Key`] when the fixed key material cannot be loaded or signing fails.
pub fn fixed_csca_der(algorithm: Algo) -> Result<Vec<u8>, TestkitError> {
    let builder = TestPassport::builder().algorithm(algorithm);
    let (from, _) = FIXED_CSCA_VALIDITY;
    let (csca_key, _, _) = builder.issuer_keys()?;
    builder.csca_certificate(&csca_key, from)
}

/// A complete test passport: what a phone would upload, what a verifier should trust, and the
/// chip that answers active and chip authentication.
#[derive(Debug, Clone)]
pub struct TestPassport {
    pub algorithm: Algo,
    pub hash: HashAlgorithm,
    /// The CSCA certificate to put in the verifier's trust store.
    pub csca_der: Vec<u8>,
    /// The CSCA certificate that really issued the DSC (differs only with [`Failure::WrongCsca`]).
    pub issuing_csca_der: Vec<u8>,
    pub dsc_der: Vec<u8>,
    /// EF.SOD (`77 …`).
    pub sod: Vec<u8>,
    pub com: Vec<u8>,
    pub dg1: Vec<u8>,
    pub dg2: Vec<u8>,
    pub dg14: Option<Vec<u8>>,
    pub dg15: Option<Vec<u8>>,
    pub chip: VirtualChip,
    pub holder: Holder,
    /// The MRZ characters in DG1, lines concatenated.
    pub mrz: String,
    /// The JPEG inside DG2.
    pub portrait_jpeg: Vec<u8>,
    /// The SOD's signing time; verify "now" at or after it.
    pub signed_at: OffsetDateTime,
    pub failures: Vec<Failure>,
}

impl TestPassport {
    pub fn builder() -> TestPassportBuilder {
        TestPassportBuilder::default()
    }

    /// The data groups as `(number, bytes)`, in the form passive authentication takes.
    pub fn data_groups(&self) -> Vec<(u8, &[u8])> {
        let mut out = vec![(1, self.dg1.as_slice()), (2, self.dg2.as_slice())];
        if let Some(dg14) = &self.dg14 {
            out.push((14, dg14));
        }
        if let Some(dg15) = &self.dg15 {
            out.push((15, dg15));
        }
        out
    }

    /// The BAC/PACE key of the MRZ: document number, date of birth and date of expiry.
    ///
    /// # Errors
    /// [`TestkitError::Input`] when the holder's document number is outside the MRZ alphabet.
    pub fn mrz_key(&self) -> Result<crate::reader::MrzKey, TestkitError> {
        crate::reader::MrzKey::new(
            &self.holder.document_number,
            &card::yymmdd(self.holder.date_of_birth),
            &card::yymmdd(self.holder.date_of_expiry),
        )
        .map_err(|_| TestkitError::Input("document number outside the MRZ alphabet"))
    }

    /// The `SubjectPublicKeyInfo` inside DG15.
    pub fn dg15_spki(&self) -> Option<&[u8]> {
        let dg15 = self.dg15.as_deref()?;
        crate::tlv::read_exact(dg15).ok().map(|t| t.content)
    }

    /// DG14's `ActiveAuthenticationInfo.signatureAlgorithm` (ECDSA active authentication only).
    pub fn aa_signature_algorithm(&self) -> Option<ObjectIdentifier> {
        self.dg14_entries().into_iter().find_map(|(oid, rest)| {
            (oid == crate::active::ID_AA)
                .then(|| {
                    rest.get(1)
                        .and_then(|t| ObjectIdentifier::from_bytes(t.content).ok())
                })
                .flatten()
        })
    }

    /// The chip-authentication parameters DG14 announces.
    pub fn chip_auth_params(&self) -> Option<ChipAuthParams> {
        let entries = self.dg14_entries();
        let protocol = entries
            .iter()
            .find_map(|(oid, _)| CaProtocol::from_oid(oid))?;
        let spki = entries.iter().find_map(|(oid, rest)| {
            (*oid == crate::chip_auth::oid::ID_PK_ECDH || *oid == crate::chip_auth::oid::ID_PK_DH)
                .then(|| rest.first().map(|t| t.raw.to_vec()))
                .flatten()
        })?;
        ChipAuthParams::new(&protocol.oid(), &spki, None).ok()
    }

    fn dg14_entries(&self) -> Vec<(ObjectIdentifier, Vec<crate::tlv::Tlv<'_>>)> {
        let Some(dg14) = self.dg14.as_deref() else {
            return Vec::new();
        };
        let set = crate::tlv::read_exact(dg14)
            .ok()
            .and_then(|outer| crate::tlv::read_exact(outer.content).ok());
        let infos = set.and_then(|s| s.children().ok()).unwrap_or_default();
        infos
            .into_iter()
            .filter_map(|info| {
                let fields = info.children().ok()?;
                let (first, rest) = fields.split_first()?;
                Some((
                    ObjectIdentifier::from_bytes(first.content).ok()?,
                    rest.to_vec(),
                ))
            })
            .collect()
    }
}

/// Builder for [`TestPassport`]; every option has a working default.
#[derive(Debug, Clone)]
pub struct TestPassportBuilder {
    algorithm: Algo,
    hash: Option<HashAlgorithm>,
    holder: Holder,
    layout: MrzLayout,
    portrait: Option<(Vec<u8>, u16, u16)>,
    aa: Option<AaConfig>,
    ca: Option<CaConfig>,
    failures: Vec<Failure>,
    key_source: KeySource,
    at: Option<OffsetDateTime>,
    dsc_country: Option<String>,
    ber_sod: bool,
    deviations: Vec<Deviation>,
}

impl Default for TestPassportBuilder {
    fn default() -> Self {
        Self {
            algorithm: Algo::EcdsaBrainpoolP256,
            hash: None,
            holder: Holder::default(),
            layout: MrzLayout::Td3,
            portrait: None,
            aa: None,
            ca: None,
            failures: Vec::new(),
            key_source: KeySource::Fixed,
            at: None,
            dsc_country: None,
            ber_sod: false,
            deviations: Vec::new(),
        }
    }
}

impl TestPassportBuilder {
    pub fn algorithm(mut self, algorithm: Algo) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The hash for the LDS security object, the SOD signature and the certificates.
    pub fn hash(mut self, hash: HashAlgorithm) -> Self {
        self.hash = Some(hash);
        self
    }

    pub fn holder(mut self, holder: Holder) -> Self {
        self.holder = holder;
        self
    }

    /// TD1 (identity card) instead of TD3; also sets the document code to `ID`.
    pub fn td1(mut self) -> Self {
        self.layout = MrzLayout::Td1;
        if self.holder.document_code == "P<" {
            self.holder.document_code = "ID".into();
        }
        self
    }

    /// Puts this JPEG in DG2 instead of the generated placeholder.
    pub fn portrait_jpeg(mut self, jpeg: Vec<u8>, width: u16, height: u16) -> Self {
        self.portrait = Some((jpeg, width, height));
        self
    }

    pub fn active_authentication(mut self, aa: AaConfig) -> Self {
        self.aa = Some(aa);
        self
    }

    pub fn chip_authentication(mut self, ca: CaConfig) -> Self {
        self.ca = Some(ca);
        self
    }

    pub fn failure(mut self, failure: Failure) -> Self {
        self.failures.push(failure);
        self
    }

    /// Shorthand for [`Failure::TamperedDg`].
    pub fn tamper_dg(self, number: u8) -> Self {
        self.failure(Failure::TamperedDg(number))
    }

    /// Fresh issuer keys instead of the fixed ones: RSA keys of the real sizes (cached per
    /// process), and a fresh EC CSCA key (so that two passports do not share a CSCA).
    pub fn key_source(mut self, source: KeySource) -> Self {
        self.key_source = source;
        self
    }

    /// The reference time: the SOD is signed then and certificates are valid around it.
    pub fn at(mut self, at: OffsetDateTime) -> Self {
        self.at = Some(at);
        self
    }

    /// The DSC's C= (default: derived from the holder's issuing state).
    pub fn dsc_country(mut self, country: &str) -> Self {
        self.dsc_country = Some(country.to_owned());
        self
    }

    /// Encode EF.SOD in BER with indefinite lengths and a segmented eContent.
    pub fn ber_indefinite_sod(mut self) -> Self {
        self.ber_sod = true;
        self
    }

    /// Builds the passport with this field deviation or defect.
    pub fn deviation(mut self, deviation: Deviation) -> Self {
        self.deviations.push(deviation);
        self
    }

    fn deviates(&self, deviation: Deviation) -> bool {
        self.deviations.contains(&deviation)
    }

    fn has(&self, failure: Failure) -> bool {
        self.failures.contains(&failure)
    }

    fn issuer_keys(&self) -> Result<(SigningKey, SigningKey, SigningKey), TestkitError> {
        Ok(match self.algorithm.curve() {
            None => (
                SigningKey::Rsa(keys::rsa_key(RsaRole::Csca, self.key_source)?),
                SigningKey::Rsa(keys::rsa_key(RsaRole::Dsc, self.key_source)?),
                SigningKey::Rsa(keys::rsa_key(RsaRole::Other, self.key_source)?),
            ),
            Some((curve, explicit)) => (
                SigningKey::Ec(match self.key_source {
                    KeySource::Fixed => EcPrivateKey::fixed(curve, explicit, "CSCA"),
                    KeySource::Generated => EcPrivateKey::generate(curve, explicit),
                }),
                SigningKey::Ec(EcPrivateKey::generate(curve, explicit)),
                SigningKey::Ec(EcPrivateKey::generate(curve, explicit)),
            ),
        })
    }

    /// The CSCA's validity: with [`KeySource::Fixed`] and a reference time inside
    /// [`FIXED_CSCA_VALIDITY`], that fixed window, so the CSCA certificate is the same in every
    /// process and run ([`fixed_csca_der`]); otherwise from a year before `at` to ten after.
    fn csca_validity(&self, at: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
        let (from, until) = FIXED_CSCA_VALIDITY;
        if self.key_source == KeySource::Fixed && from <= at && at < until {
            (from, until)
        } else {
            let year = Duration::days(365);
            (at - year, at + 10 * year)
        }
    }

    fn csca_name(&self) -> Name {
        let country = alpha2_for(&self.holder.issuing_state);
        Name {
            organization: "idgate test authority".into(),
            common_name: format!("idgate test CSCA {country}"),
            country,
        }
    }

    /// The self-signed CSCA certificate of `key` for a passport signed at `at` (serial 1).
    fn csca_certificate(
        &self,
        key: &SigningKey,
        at: OffsetDateTime,
    ) -> Result<Vec<u8>, TestkitError> {
        let kind = if self.has(Failure::CscaNotCa) {
            CertKind::DocumentSigner
        } else if self.deviates(Deviation::CscaWithoutBasicConstraints) {
            CertKind::CscaWithoutBasicConstraints
        } else if self.deviates(Deviation::CscaWithoutKeyUsage) {
            CertKind::CscaWithoutKeyUsage
        } else {
            CertKind::Csca
        };
        let (not_before, not_after) = self.csca_validity(at);
        let name = self.csca_name();
        let spki = key.spki_der()?;
        x509::issue(&CertSpec {
            kind,
            serial: 1,
            reversed_issuer: false,
            subject: &name,
            issuer: &name,
            subject_spki: &spki,
            issuer_spki: &spki,
            not_before,
            not_after,
            signer: key,
            scheme: self.algorithm.scheme(),
            hash: self.hash.unwrap_or_else(|| self.algorithm.default_hash()),
        })
    }

    fn default_aa(&self) -> AaConfig {
        match self.algorithm.curve() {
            None => AaConfig::Rsa {
                hash: HashAlgorithm::Sha1,
            },
            Some((curve, _)) => AaConfig::Ecdsa {
                curve,
                hash: self.algorithm.default_hash(),
            },
        }
    }

    fn default_ca(&self) -> CaConfig {
        match self.algorithm.curve() {
            None => CaConfig::Ecdh {
                curve: CurveId::BrainpoolP256r1,
                cipher: SmCipher::Tdes,
            },
            Some((curve @ (CurveId::P256 | CurveId::BrainpoolP256r1), _)) => CaConfig::Ecdh {
                curve,
                cipher: SmCipher::Aes128,
            },
            Some((curve, _)) => CaConfig::Ecdh {
                curve,
                cipher: SmCipher::Aes256,
            },
        }
    }

    /// Builds the passport.
    ///
    /// # Errors
    /// [`TestkitError`] when key material cannot be loaded or a signature cannot be made.
    #[allow(
        clippy::disallowed_methods,
        reason = "test material is issued now unless the test sets a time"
    )]
    pub fn build(self) -> Result<TestPassport, TestkitError> {
        let at = self
            .at
            .unwrap_or_else(OffsetDateTime::now_utc)
            .replace_nanosecond(0)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let hash = self.hash.unwrap_or_else(|| self.algorithm.default_hash());
        let scheme = self.algorithm.scheme();
        let (csca_key, dsc_key, other_key) = self.issuer_keys()?;
        let csca_spki = csca_key.spki_der()?;
        let dsc_spki = dsc_key.spki_der()?;
        let country = alpha2_for(&self.holder.issuing_state);
        let dsc_country = match (&self.dsc_country, self.has(Failure::CountryMismatch)) {
            (_, true) => {
                if country == "FR" {
                    "BE".to_owned()
                } else {
                    "FR".to_owned()
                }
            }
            (Some(c), false) => c.clone(),
            (None, false) => country.clone(),
        };
        let csca_name = self.csca_name();
        let dsc_name = Name {
            country: dsc_country.clone(),
            organization: "idgate test authority".into(),
            common_name: format!("idgate test document signer {dsc_country}"),
        };
        let year = Duration::days(365);
        let issuing_csca_der = self.csca_certificate(&csca_key, at)?;
        let csca_der = if self.has(Failure::WrongCsca) {
            self.csca_certificate(&other_key, at)?
        } else {
            issuing_csca_der.clone()
        };
        let (dsc_from, dsc_until) = if self.has(Failure::ExpiredDsc) {
            (at - 2 * year, at - Duration::days(1))
        } else if self.has(Failure::DscNotYetValid) {
            (at + Duration::days(30), at + 3 * year)
        } else {
            (at - Duration::days(30), at + 3 * year)
        };
        let dsc_kind = if self.has(Failure::SignedByCaCertificate) {
            CertKind::Csca
        } else if self.has(Failure::SignedByMasterListSigner) {
            CertKind::MasterListSigner
        } else {
            CertKind::DocumentSigner
        };
        let top_bit = self.deviates(Deviation::SerialTopBit)
            || self.deviates(Deviation::SerialWithoutSignByte);
        let dsc_der = x509::issue(&CertSpec {
            kind: dsc_kind,
            // With the top bit set, DER needs a 0x00 sign byte (X.690 §8.3.2).
            serial: if top_bit {
                0x9D6A_7E00_0000_0002
            } else {
                0x1D6A_7E00_0000_0002
            },
            reversed_issuer: false,
            subject: &dsc_name,
            issuer: &csca_name,
            subject_spki: &dsc_spki,
            issuer_spki: &csca_spki,
            not_before: dsc_from,
            not_after: dsc_until,
            signer: &csca_key,
            scheme,
            hash,
        })?;

        // Data groups.
        let mrz = lds::mrz(
            &self.holder,
            self.layout,
            self.has(Failure::BadMrzCheckDigit),
        );
        let dg1 = lds::dg1(&mrz);
        let (portrait_jpeg, width, height) = self
            .portrait
            .clone()
            .unwrap_or_else(|| (jpeg::placeholder_portrait(12, 16), 96, 128));
        let dg2 = lds::dg2(&portrait_jpeg, width, height);

        let aa = self.aa.unwrap_or_else(|| self.default_aa());
        let (aa_key, aa_spki, aa_alg) = match aa {
            AaConfig::None => (None, None, None),
            AaConfig::Rsa { hash } => {
                let key = keys::rsa_key(RsaRole::ActiveAuth, self.key_source)?;
                let spki = SigningKey::Rsa(key.clone()).spki_der()?;
                (Some(AaPrivateKey::Rsa { key, hash }), Some(spki), None)
            }
            AaConfig::Ecdsa { curve, hash } => {
                let key = EcPrivateKey::generate(curve, false);
                let spki = key.spki_der();
                (
                    Some(AaPrivateKey::Ec { key, hash }),
                    Some(spki),
                    Some(crate::active::ecdsa_plain_oid(hash)),
                )
            }
        };
        let dg15_spki = match (&aa, &aa_spki, self.has(Failure::WrongAaKey)) {
            (AaConfig::Rsa { .. }, Some(_), true) => {
                Some(SigningKey::Rsa(keys::rsa_key(RsaRole::Other, self.key_source)?).spki_der()?)
            }
            (AaConfig::Ecdsa { curve, .. }, Some(_), true) => {
                Some(EcPrivateKey::generate(*curve, false).spki_der())
            }
            _ => aa_spki.clone(),
        };
        let dg15 = dg15_spki.as_deref().map(lds::dg15);

        let ca = self.ca.unwrap_or_else(|| self.default_ca());
        let (ca_key, ca_protocol) = match ca {
            CaConfig::None => (None, None),
            CaConfig::Ecdh { curve, cipher } => {
                let key = EcPrivateKey::generate(curve, false);
                (
                    Some(CaPrivateKey::from_ec(&key)),
                    Some(CaProtocol {
                        agreement: KeyAgreement::Ecdh,
                        cipher,
                    }),
                )
            }
            CaConfig::Dh { cipher } => {
                let group = rfc5114_dh_group();
                let x = BigUint::from_bytes_be(&group.random_exponent(&mut keys::os_rng()));
                let y = group.g.modpow(&x, &group.p);
                (
                    Some(CaPrivateKey::new(group.spki_der(&y), x)),
                    Some(CaProtocol {
                        agreement: KeyAgreement::Dh,
                        cipher,
                    }),
                )
            }
        };
        let dg14_ca_spki = match (&ca_key, ca, self.has(Failure::WrongCaKey)) {
            (Some(_), CaConfig::Ecdh { curve, .. }, true) => {
                Some(EcPrivateKey::generate(curve, false).spki_der())
            }
            (Some(_), CaConfig::Dh { .. }, true) => {
                let group = rfc5114_dh_group();
                let x = BigUint::from_bytes_be(&group.random_exponent(&mut keys::os_rng()));
                Some(group.spki_der(&group.g.modpow(&x, &group.p)))
            }
            (Some(key), _, false) => Some(key.public_key_spki.clone()),
            _ => None,
        };
        let dg14 = match (ca_protocol.zip(dg14_ca_spki.as_deref()), aa_alg) {
            (None, None) => None,
            (ca_info, aa_info) => Some(lds::dg14(ca_info, aa_info)),
        };

        let mut tags = vec![0x61, 0x75];
        if dg14.is_some() {
            tags.push(0x6E);
        }
        if dg15.is_some() {
            tags.push(0x6F);
        }
        let com = lds::ef_com(&tags);

        let mut groups: Vec<(u8, &[u8])> = vec![(1, &dg1), (2, &dg2)];
        if let Some(d) = &dg14 {
            groups.push((14, d));
        }
        if let Some(d) = &dg15 {
            groups.push((15, d));
        }
        let sod = sod::build(&sod::SodSpec {
            lds_hash: hash,
            data_groups: &groups,
            dsc_der: &dsc_der,
            signer: &dsc_key,
            scheme,
            signature_hash: hash,
            signing_time: at,
            break_signature: self.has(Failure::BrokenSodSignature),
            unsupported_algorithm: self.has(Failure::UnsupportedAlgorithm),
            ber_indefinite: self.ber_sod,
            deviations: &self.deviations,
            extra_certificates: &if self.deviates(Deviation::ExtraCertificates) {
                vec![issuing_csca_der.clone()]
            } else {
                Vec::new()
            },
        })?;

        let (mut dg1, mut dg2, mut dg14, mut dg15) = (dg1, dg2, dg14, dg15);
        for failure in &self.failures {
            if let Failure::TamperedDg(n) = failure {
                let target = match n {
                    1 => Some(&mut dg1),
                    2 => Some(&mut dg2),
                    14 => dg14.as_mut(),
                    15 => dg15.as_mut(),
                    _ => None,
                };
                lds::tamper(
                    *n,
                    target.ok_or(TestkitError::Input("no such data group to tamper"))?,
                )?;
            }
        }

        let chip = VirtualChip::new(aa_key, ca_key, com.clone());
        Ok(TestPassport {
            algorithm: self.algorithm,
            hash,
            csca_der,
            issuing_csca_der,
            dsc_der,
            sod,
            com,
            dg1,
            dg2,
            dg14,
            dg15,
            chip,
            holder: self.holder,
            mrz,
            portrait_jpeg,
            signed_at: at,
            failures: self.failures,
        })
    }
}
