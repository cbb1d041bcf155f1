//! A virtual eMRTD chip at the APDU level: the card side of BAC (ICAO 9303-11 §4.3), PACE with
//! the Generic Mapping (§4.4), secure messaging (§9.8), SELECT / READ BINARY (`B0` and `B1`,
//! ISO/IEC 7816-4 §11), active authentication (INTERNAL AUTHENTICATE, §6.1) and chip
//! authentication (MSE:Set KAT, or MSE:Set AT + GENERAL AUTHENTICATE, §6.2) with the switch of
//! secure messaging to the new keys. It implements [`Transport`], so the terminal
//! ([`crate::reader::Reader`]) is tested end to end against it, including the failures a real
//! chip or a hostile one produces ([`CardBehaviour`]).

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::apdu::{CommandApdu, sw};
use crate::chip_auth::CaProtocol;
use crate::reader::{
    AccessKey, Domain, EMRTD_AID, Element, FileId, MrzKey, PaceParams, PaceSecret, Transport,
    TransportError, token_input,
};
use crate::sm::{self, SecureChannel, SmCipher};
use crate::tlv::{self, Tag};

use super::chip::VirtualChip;

/// How the virtual chip deviates from a well-behaved one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardBehaviour {
    /// Largest Le the chip serves; above it answers `6700` (or `6Cxx`, see below).
    pub max_le: usize,
    /// Answer an oversized Le with `6C xx` naming the length it can serve (capped at 255)
    /// instead of `6700`.
    pub exact_length_hint: bool,
    /// Whether extended-length APDUs are accepted (otherwise `6700`).
    pub extended_length: bool,
    /// The card leaves the field when the terminal sends this many APDUs.
    pub remove_after_apdus: Option<u64>,
    /// Flip one bit of the MAC of the n-th protected response (1-based).
    pub corrupt_mac_of_response: Option<u64>,
    /// Data groups the chip does not have although EF.COM and the SOD list them.
    pub missing_data_groups: Vec<u8>,
    /// Offer PACE in EF.CardAccess with these parameters (`None`: BAC-only chip).
    pub pace: Option<PaceParams>,
    /// Refuse BAC (a PACE-only chip, `6D00`).
    pub bac: bool,
    /// The card access number, when the chip accepts PACE with a CAN.
    pub can: Option<String>,
    /// Announce PACE in EF.CardAccess but refuse MSE:Set AT (`6A80`), as chips with a broken
    /// PACE implementation do; the terminal must fall back to BAC.
    pub pace_refused: bool,
}

impl Default for CardBehaviour {
    fn default() -> Self {
        Self {
            max_le: 256,
            exact_length_hint: false,
            extended_length: true,
            remove_after_apdus: None,
            corrupt_mac_of_response: None,
            missing_data_groups: Vec::new(),
            pace: None,
            bac: true,
            can: None,
            pace_refused: false,
        }
    }
}

enum PaceStep {
    /// MSE:Set AT done; waiting for the nonce request.
    Started,
    Nonce {
        s: Zeroizing<Vec<u8>>,
    },
    Mapped {
        generator: Element,
    },
    Agreed {
        ks_enc: Zeroizing<Vec<u8>>,
        ks_mac: Zeroizing<Vec<u8>>,
        terminal_public: Vec<u8>,
        chip_public: Vec<u8>,
    },
}

struct PaceRun {
    params: PaceParams,
    secret: PaceSecret,
    step: PaceStep,
}

/// The virtual chip. Build it with [`VirtualCard::new`] from a test passport's files.
pub struct VirtualCard {
    files: BTreeMap<u16, Vec<u8>>,
    card_access: Option<Vec<u8>>,
    mrz_key: MrzKey,
    chip: VirtualChip,
    behaviour: CardBehaviour,
    app_selected: bool,
    selected: Option<u16>,
    rnd_ic: Option<[u8; 8]>,
    channel: Option<SecureChannel>,
    /// Keys of BAC or PACE, in force from the command after the one that agreed them.
    pending: Option<SecureChannel>,
    /// Keys of chip authentication, in force after the protected answer under the old keys.
    pending_ca: Option<SecureChannel>,
    pace: Option<PaceRun>,
    /// Chip authentication announced by MSE: the cipher of the new session.
    ca_cipher: Option<SmCipher>,
    apdus: u64,
    protected_responses: u64,
    removed: bool,
}

impl std::fmt::Debug for VirtualCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualCard")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .field("behaviour", &self.behaviour)
            .finish_non_exhaustive()
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The test kit has no fallback for a missing OS generator; zeros would still run the
    // protocol, and the tests that need freshness compare two runs.
    let _ = getrandom::fill(&mut out);
    out
}

fn os_fill(buf: &mut [u8]) -> Result<(), crate::reader::ReadError> {
    getrandom::fill(buf).map_err(|_| crate::reader::ReadError::RandomUnavailable)
}

/// EF.CardAccess with one `PACEInfo` (ICAO 9303-11 §9.2.1): version 2 and the parameter id.
pub fn card_access_for(params: &PaceParams) -> Vec<u8> {
    let mut info = tlv::encode(Tag(0x06), params.oid().as_bytes());
    info.extend(tlv::encode(Tag(0x02), &[2]));
    info.extend(tlv::encode(Tag(0x02), &[params.parameter_id]));
    tlv::encode(Tag(0x31), &tlv::encode(Tag(0x30), &info))
}

impl VirtualCard {
    /// A chip holding `passport`'s files, keys and MRZ.
    ///
    /// # Errors
    /// [`super::TestkitError::Input`] for a holder whose MRZ key cannot be formed.
    pub fn new(
        passport: &super::TestPassport,
        behaviour: CardBehaviour,
    ) -> Result<Self, super::TestkitError> {
        let mut files = BTreeMap::new();
        files.insert(FileId::COM.0, passport.com.clone());
        files.insert(FileId::SOD.0, passport.sod.clone());
        for (number, bytes) in passport.data_groups() {
            if behaviour.missing_data_groups.contains(&number) {
                continue;
            }
            if let Some(id) = FileId::data_group(number) {
                files.insert(id.0, bytes.to_vec());
            }
        }
        Ok(Self {
            files,
            card_access: behaviour.pace.as_ref().map(card_access_for),
            mrz_key: passport.mrz_key()?,
            chip: passport.chip.clone(),
            behaviour,
            app_selected: false,
            selected: None,
            rnd_ic: None,
            channel: None,
            pending: None,
            pending_ca: None,
            pace: None,
            ca_cipher: None,
            apdus: 0,
            protected_responses: 0,
            removed: false,
        })
    }

    /// APDUs received so far.
    pub fn apdus(&self) -> u64 {
        self.apdus
    }

    /// The card side of one exchange.
    fn respond(&mut self, raw: &[u8]) -> Vec<u8> {
        let protected = raw.first().is_some_and(|cla| cla & 0x0C == 0x0C);
        if !protected {
            // A plain command ends any session (ISO/IEC 7816-4 §10.2.3); PACE and BAC start
            // in plain.
            self.channel = None;
            let Ok(command) = CommandApdu::parse(raw) else {
                return sw::WRONG_LENGTH.to_be_bytes().to_vec();
            };
            let (data, status) = self.handle(&command);
            let mut out = data;
            out.extend(status.to_be_bytes());
            // PACE's last step switches to secure messaging after its plain answer.
            self.finish_pace();
            return out;
        }
        let Some(channel) = self.channel.as_mut() else {
            return sw::SM_OBJECTS_MISSING.to_be_bytes().to_vec();
        };
        let command = match channel.unwrap_command(raw) {
            Ok(c) => c,
            Err(_) => {
                self.channel = None;
                return sw::SM_OBJECTS_INCORRECT.to_be_bytes().to_vec();
            }
        };
        let ins = command.ins();
        let (data, status) = self.handle(&command);
        let Some(channel) = self.channel.as_mut() else {
            return status.to_be_bytes().to_vec();
        };
        let Ok(mut out) = channel.wrap_response_for(ins, &data, status) else {
            return sw::CONDITIONS_NOT_SATISFIED.to_be_bytes().to_vec();
        };
        self.protected_responses += 1;
        if self.behaviour.corrupt_mac_of_response == Some(self.protected_responses) {
            // The MAC is the last 8 bytes before SW1-SW2.
            if let Some(b) = out.len().checked_sub(3).and_then(|i| out.get_mut(i)) {
                *b ^= 0x01;
            }
        }
        // Chip authentication switches keys after its answer under the old ones (§6.2.3).
        self.finish_chip_auth();
        out
    }

    fn handle(&mut self, c: &CommandApdu) -> (Vec<u8>, u16) {
        let [cla, ins, p1, p2] = c.header;
        if cla & 0x0C == 0 && cla & 0x10 != 0 && ins != 0x86 {
            return (Vec::new(), sw::CLA_NOT_SUPPORTED);
        }
        if c.is_extended() && !self.behaviour.extended_length {
            return (Vec::new(), sw::WRONG_LENGTH);
        }
        match ins {
            0xA4 => self.select(p1, &c.data),
            0xB0 | 0xB1 => self.read_binary(c),
            0x84 if self.behaviour.bac => {
                let rnd = random::<8>();
                self.rnd_ic = Some(rnd);
                (rnd.to_vec(), sw::OK)
            }
            0x82 if self.behaviour.bac => self.mutual_authenticate(&c.data),
            0x22 if [p1, p2] == [0xC1, 0xA4] => self.pace_start(&c.data),
            0x22 if [p1, p2] == [0x41, 0xA6] || [p1, p2] == [0x41, 0xA4] => {
                self.chip_auth_mse(p2, &c.data)
            }
            0x86 if self.pace.is_some() => self.pace_step(&c.data),
            0x86 => self.chip_auth_general_authenticate(&c.data),
            0x88 => {
                if self.channel.is_none() {
                    return (Vec::new(), sw::SECURITY_STATUS_NOT_SATISFIED);
                }
                match self.chip.internal_authenticate(&c.data) {
                    Ok(signature) => (signature, sw::OK),
                    Err(_) => (Vec::new(), sw::FUNCTION_NOT_SUPPORTED),
                }
            }
            _ => (Vec::new(), sw::INS_NOT_SUPPORTED),
        }
    }

    fn select(&mut self, p1: u8, data: &[u8]) -> (Vec<u8>, u16) {
        match p1 {
            0x04 if data == EMRTD_AID => {
                self.app_selected = true;
                self.selected = None;
                (Vec::new(), sw::OK)
            }
            0x04 => (Vec::new(), sw::FILE_NOT_FOUND),
            0x00 | 0x02 => {
                let Ok(fid) = <[u8; 2]>::try_from(data).map(u16::from_be_bytes) else {
                    return (Vec::new(), sw::WRONG_DATA);
                };
                if fid == FileId::CARD_ACCESS.0 && self.card_access.is_some() {
                    self.selected = Some(fid);
                    return (Vec::new(), sw::OK);
                }
                if !self.app_selected || !self.files.contains_key(&fid) {
                    return (Vec::new(), sw::FILE_NOT_FOUND);
                }
                if self.channel.is_none() {
                    return (Vec::new(), sw::SECURITY_STATUS_NOT_SATISFIED);
                }
                self.selected = Some(fid);
                (Vec::new(), sw::OK)
            }
            _ => (Vec::new(), sw::WRONG_P1P2),
        }
    }

    fn file(&self, fid: u16) -> Option<&Vec<u8>> {
        if fid == FileId::CARD_ACCESS.0 {
            self.card_access.as_ref()
        } else {
            self.files.get(&fid)
        }
    }

    fn read_binary(&mut self, c: &CommandApdu) -> (Vec<u8>, u16) {
        let [_, ins, p1, p2] = c.header;
        let (fid, offset) = if ins == 0xB0 && p1 & 0x80 != 0 {
            let sfi = p1 & 0x1F;
            let fid = match sfi {
                0x1C => FileId::CARD_ACCESS.0,
                0x1D => FileId::SOD.0,
                0x1E => FileId::COM.0,
                n => 0x0100 | u16::from(n),
            };
            self.selected = Some(fid);
            (Some(fid), usize::from(p2))
        } else if ins == 0xB0 {
            (
                self.selected,
                usize::from(u16::from_be_bytes([p1 & 0x7F, p2])),
            )
        } else {
            let offset = tlv::read_exact(&c.data)
                .ok()
                .filter(|t| t.tag == Tag(0x54) && !t.content.is_empty() && t.content.len() <= 3)
                .map(|t| {
                    t.content
                        .iter()
                        .fold(0usize, |a, b| (a << 8) | usize::from(*b))
                });
            let Some(offset) = offset else {
                return (Vec::new(), sw::WRONG_DATA);
            };
            (self.selected, offset)
        };
        let Some(fid) = fid else {
            return (Vec::new(), sw::CONDITIONS_NOT_SATISFIED);
        };
        if fid != FileId::CARD_ACCESS.0 && self.channel.is_none() {
            return (Vec::new(), sw::SECURITY_STATUS_NOT_SATISFIED);
        }
        let Some(file) = self.file(fid) else {
            return (Vec::new(), sw::FILE_NOT_FOUND);
        };
        let le = c.le.unwrap_or(256);
        if le > self.behaviour.max_le {
            if self.behaviour.exact_length_hint {
                let hint = u8::try_from(self.behaviour.max_le.min(255)).unwrap_or(0xFF);
                return (Vec::new(), 0x6C00 | u16::from(hint));
            }
            return (Vec::new(), sw::WRONG_LENGTH);
        }
        if offset >= file.len() {
            return (Vec::new(), sw::WRONG_OFFSET);
        }
        // For B1 the answer is wrapped in DO'53', whose header counts against Le.
        let room = if ins == 0xB1 {
            // The largest n with `53 L(n) n bytes` ≤ Le.
            match le {
                0..=2 => 0,
                3..=129 => le - 2,
                130..=258 => (le - 3).min(255),
                _ => le - 4,
            }
        } else {
            le
        };
        let end = offset.saturating_add(room).min(file.len());
        let data = file.get(offset..end).unwrap_or_default().to_vec();
        let status = if data.len() < room {
            sw::END_OF_FILE
        } else {
            sw::OK
        };
        if ins == 0xB1 {
            (tlv::encode(Tag(0x53), &data), status)
        } else {
            (data, status)
        }
    }

    fn mutual_authenticate(&mut self, data: &[u8]) -> (Vec<u8>, u16) {
        let Some(rnd_ic) = self.rnd_ic.take() else {
            return (Vec::new(), sw::CONDITIONS_NOT_SATISFIED);
        };
        let keys = self.mrz_key.bac_keys();
        let Some((e_ifd, m_ifd)) = data.split_at_checked(32).filter(|(_, m)| m.len() == 8) else {
            return (Vec::new(), sw::WRONG_LENGTH);
        };
        let Ok(mac) = sm::mac8(SmCipher::Tdes, &keys.k_mac, e_ifd) else {
            return (Vec::new(), sw::CONDITIONS_NOT_SATISFIED);
        };
        if !bool::from(mac.as_slice().ct_eq(m_ifd)) {
            return (Vec::new(), sw::AUTH_FAILED);
        }
        let Ok(s) = sm::cbc_zero_iv(SmCipher::Tdes, &keys.k_enc, e_ifd, false) else {
            return (Vec::new(), sw::AUTH_FAILED);
        };
        let (rnd_ifd, rest) = s.split_at(8);
        let (rnd_ic_echo, k_ifd) = rest.split_at(8);
        if rnd_ic_echo != rnd_ic {
            return (Vec::new(), sw::AUTH_FAILED);
        }
        let k_ic = random::<16>();
        let mut r = Vec::with_capacity(32);
        r.extend_from_slice(&rnd_ic);
        r.extend_from_slice(rnd_ifd);
        r.extend_from_slice(&k_ic);
        let (Ok(e_ic), seed) = (
            sm::cbc_zero_iv(SmCipher::Tdes, &keys.k_enc, &r, true),
            Zeroizing::new(
                k_ifd
                    .iter()
                    .zip(&k_ic)
                    .map(|(a, b)| a ^ b)
                    .collect::<Vec<u8>>(),
            ),
        ) else {
            return (Vec::new(), sw::CONDITIONS_NOT_SATISFIED);
        };
        let Ok(m_ic) = sm::mac8(SmCipher::Tdes, &keys.k_mac, &e_ic) else {
            return (Vec::new(), sw::CONDITIONS_NOT_SATISFIED);
        };
        let mut ssc = [0u8; 8];
        for (o, b) in ssc
            .iter_mut()
            .zip(rnd_ic.iter().skip(4).chain(rnd_ifd.iter().skip(4)))
        {
            *o = *b;
        }
        let (ks_enc, ks_mac) = sm::derive_keys(SmCipher::Tdes, &seed);
        let mut out = e_ic.to_vec();
        out.extend_from_slice(&m_ic);
        // The answer goes out in plain; the session starts with the next command.
        self.pending_channel(SecureChannel::new(
            SmCipher::Tdes,
            ks_enc,
            ks_mac,
            u128::from(u64::from_be_bytes(ssc)),
        ));
        (out, sw::OK)
    }

    fn pending_channel(&mut self, channel: Result<SecureChannel, sm::SmError>) {
        self.pending = channel.ok();
    }

    fn pace_start(&mut self, data: &[u8]) -> (Vec<u8>, u16) {
        let Some(params) = self.behaviour.pace else {
            return (Vec::new(), sw::FUNCTION_NOT_SUPPORTED);
        };
        if self.behaviour.pace_refused {
            return (Vec::new(), sw::WRONG_DATA);
        }
        let Ok(objects) = tlv::read_all(data) else {
            return (Vec::new(), sw::WRONG_DATA);
        };
        let oid = objects
            .iter()
            .find(|o| o.tag == Tag(0x80))
            .map(|o| o.content);
        if oid != Some(params.oid().as_bytes()) {
            return (Vec::new(), sw::REFERENCED_DATA_NOT_FOUND);
        }
        let reference = objects
            .iter()
            .find(|o| o.tag == Tag(0x83))
            .map(|o| o.content);
        let key = match reference {
            Some([1]) => AccessKey::Mrz(self.mrz_key.clone()),
            Some([2]) => match &self.behaviour.can {
                Some(can) => AccessKey::Can(can.clone()),
                None => return (Vec::new(), sw::REFERENCED_DATA_NOT_FOUND),
            },
            _ => return (Vec::new(), sw::REFERENCED_DATA_NOT_FOUND),
        };
        let Ok(secret) = PaceSecret::new(&key) else {
            return (Vec::new(), sw::CONDITIONS_NOT_SATISFIED);
        };
        self.pace = Some(PaceRun {
            params,
            secret,
            step: PaceStep::Started,
        });
        (Vec::new(), sw::OK)
    }

    fn pace_step(&mut self, data: &[u8]) -> (Vec<u8>, u16) {
        let Some(mut run) = self.pace.take() else {
            return (Vec::new(), sw::CONDITIONS_NOT_SATISFIED);
        };
        let Ok(domain) = Domain::from_params(&run.params) else {
            return (Vec::new(), sw::CONDITIONS_NOT_SATISFIED);
        };
        let inner = tlv::read_exact(data)
            .ok()
            .filter(|t| t.tag == Tag(0x7C))
            .and_then(|t| {
                t.children()
                    .ok()
                    .map(|c| c.first().map(|f| (f.tag, f.content.to_vec())))
            });
        let Some(inner) = inner else {
            return (Vec::new(), sw::WRONG_DATA);
        };
        let answer = |tag: u32, value: &[u8]| tlv::encode(Tag(0x7C), &tlv::encode(Tag(tag), value));
        let cipher = run.params.cipher;
        let step = std::mem::replace(&mut run.step, PaceStep::Started);
        let result = match (step, inner) {
            (PaceStep::Started, None) => {
                let mut s = Zeroizing::new(vec![0u8; cipher.block_len()]);
                let _ = getrandom::fill(&mut s);
                let k_pi = run.secret.k_pi(cipher);
                sm::cbc_zero_iv(cipher, &k_pi, &s, true)
                    .ok()
                    .map(|z| (answer(0x80, &z), PaceStep::Nonce { s }))
            }
            (PaceStep::Nonce { s }, Some((Tag(0x81), terminal_map))) => (|| {
                let terminal = domain.decode_public(&terminal_map).ok()?;
                let k = domain.random_private(&mut os_fill).ok()?;
                let public = domain.public(&domain.generator(), &k).ok()?;
                let generator = domain.map(&s, &k, &terminal).ok()?;
                Some((answer(0x82, &public), PaceStep::Mapped { generator }))
            })(),
            (PaceStep::Mapped { generator }, Some((Tag(0x83), terminal_public))) => (|| {
                let terminal = domain.decode_public(&terminal_public).ok()?;
                let k = domain.random_private(&mut os_fill).ok()?;
                let chip_public = domain.public(&generator, &k).ok()?;
                let shared = domain.agree(&k, &terminal).ok()?;
                let (ks_enc, ks_mac) = sm::derive_keys(cipher, &shared);
                Some((
                    answer(0x84, &chip_public),
                    PaceStep::Agreed {
                        ks_enc,
                        ks_mac,
                        terminal_public,
                        chip_public,
                    },
                ))
            })(
            ),
            (
                PaceStep::Agreed {
                    ks_enc,
                    ks_mac,
                    terminal_public,
                    chip_public,
                },
                Some((Tag(0x85), token)),
            ) => {
                let expected = sm::mac8(
                    cipher,
                    &ks_mac,
                    &token_input(&run.params, &domain, &chip_public),
                );
                match expected {
                    Ok(t) if bool::from(t.as_slice().ct_eq(&token)) => {
                        let t_ic = sm::mac8(
                            cipher,
                            &ks_mac,
                            &token_input(&run.params, &domain, &terminal_public),
                        );
                        let channel = SecureChannel::new(cipher, ks_enc, ks_mac, 0);
                        match (t_ic, channel) {
                            (Ok(t_ic), Ok(channel)) => {
                                self.pending = Some(channel);
                                return (answer(0x86, &t_ic), sw::OK);
                            }
                            _ => None,
                        }
                    }
                    // Wrong password: the chip's keys differ, so the terminal's token fails.
                    _ => return (Vec::new(), sw::AUTH_FAILED),
                }
            }
            _ => None,
        };
        match result {
            Some((out, step)) => {
                run.step = step;
                self.pace = Some(run);
                (out, sw::OK)
            }
            None => (Vec::new(), sw::WRONG_DATA),
        }
    }

    fn finish_pace(&mut self) {
        if let Some(channel) = self.pending.take() {
            self.pace = None;
            self.channel = Some(channel);
        }
    }

    fn chip_auth_mse(&mut self, p2: u8, data: &[u8]) -> (Vec<u8>, u16) {
        if self.channel.is_none() || !self.chip.supports_chip_authentication() {
            return (Vec::new(), sw::CONDITIONS_NOT_SATISFIED);
        }
        let Ok(objects) = tlv::read_all(data) else {
            return (Vec::new(), sw::WRONG_DATA);
        };
        if p2 == 0xA6 {
            // MSE:Set KAT: 3DES, the ephemeral key is already here (§6.2.4.1).
            let Some(key) = objects.iter().find(|o| o.tag == Tag(0x91)) else {
                return (Vec::new(), sw::WRONG_DATA);
            };
            return self.chip_auth_agree(SmCipher::Tdes, key.content);
        }
        let protocol = objects
            .iter()
            .find(|o| o.tag == Tag(0x80))
            .and_then(|o| der::asn1::ObjectIdentifier::from_bytes(o.content).ok())
            .and_then(|oid| CaProtocol::from_oid(&oid));
        match protocol {
            Some(p) => {
                self.ca_cipher = Some(p.cipher);
                (Vec::new(), sw::OK)
            }
            None => (Vec::new(), sw::REFERENCED_DATA_NOT_FOUND),
        }
    }

    fn chip_auth_general_authenticate(&mut self, data: &[u8]) -> (Vec<u8>, u16) {
        let Some(cipher) = self.ca_cipher.take() else {
            return (Vec::new(), sw::CONDITIONS_NOT_SATISFIED);
        };
        let key = tlv::read_exact(data)
            .ok()
            .filter(|t| t.tag == Tag(0x7C))
            .and_then(|t| {
                t.child(Tag(0x80))
                    .ok()
                    .flatten()
                    .map(|k| k.content.to_vec())
            });
        match key {
            Some(key) => {
                let (_, status) = self.chip_auth_agree(cipher, &key);
                (
                    if status == sw::OK {
                        tlv::encode(Tag(0x7C), &[])
                    } else {
                        Vec::new()
                    },
                    status,
                )
            }
            None => (Vec::new(), sw::WRONG_DATA),
        }
    }

    fn chip_auth_agree(&mut self, cipher: SmCipher, ephemeral: &[u8]) -> (Vec<u8>, u16) {
        let Some(secret) = self.chip.ca_shared_secret(ephemeral) else {
            return (Vec::new(), sw::WRONG_DATA);
        };
        let (k_enc, k_mac) = sm::derive_keys(cipher, &secret);
        self.pending_ca = SecureChannel::new(cipher, k_enc, k_mac, 0).ok();
        (Vec::new(), sw::OK)
    }

    fn finish_chip_auth(&mut self) {
        if let Some(channel) = self.pending_ca.take() {
            self.channel = Some(channel);
        }
        if let Some(channel) = self.pending.take() {
            self.channel = Some(channel);
        }
    }
}

impl Transport for VirtualCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.removed {
            return Err(TransportError::CardRemoved);
        }
        self.apdus += 1;
        if self
            .behaviour
            .remove_after_apdus
            .is_some_and(|n| self.apdus >= n)
        {
            self.removed = true;
            return Err(TransportError::CardRemoved);
        }
        Ok(self.respond(command))
    }
}

/// `YYMMDD` of a date, as the MRZ writes it.
pub fn yymmdd(date: time::Date) -> String {
    format!(
        "{:02}{:02}{:02}",
        date.year().rem_euclid(100),
        u8::from(date.month()),
        date.day()
    )
}
