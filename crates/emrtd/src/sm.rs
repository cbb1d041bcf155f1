//! Secure messaging (ICAO 9303-11 §9.8): the one implementation behind every protected session,
//! whether its keys come from BAC (§4.3.3, SSC from the nonces), PACE (§4.4.3.4, SSC zero) or
//! chip authentication (§6.2.3, SSC zero).
//!
//! Both directions live here because both sides are needed: the terminal ([`crate::reader`], or
//! the server relaying chip authentication) wraps commands and unwraps the chip's answers; the
//! test kit's virtual chip does the opposite. Commands with an odd INS (READ BINARY `B1` with an
//! offset data object) carry their data in `DO'85'` instead of `DO'87'` (ICAO 9303-11 §9.8.4,
//! ISO/IEC 7816-4 §10.2). Ciphers: two-key 3DES in CBC mode with the ISO/IEC 9797-1 MAC algorithm 3
//! ("retail MAC", DES, padding method 2), or AES in CBC mode with CMAC truncated to 8 bytes
//! (ICAO 9303-11 §9.8.6 / BSI TR-03110-3 §F). Keys come from [`derive_keys`]
//! (ICAO 9303-11 §9.7.1).

use aes::{Aes128, Aes192, Aes256};
use cmac::{Cmac, Mac};
use des::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use des::{Des, TdesEde2};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::tlv::{self, Tag};

/// The largest protected APDU body accepted from the card (extended length, ISO/IEC 7816-4).
pub const MAX_APDU_BODY: usize = 65_536;

/// The block cipher and MAC family of a chip-authentication protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmCipher {
    /// Two-key 3DES CBC + ISO/IEC 9797-1 MAC algorithm 3 (`*-3DES-CBC-CBC`).
    Tdes,
    /// AES-128 CBC + CMAC (`*-AES-CBC-CMAC-128`).
    Aes128,
    Aes192,
    Aes256,
}

impl SmCipher {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::Tdes | Self::Aes128 => 16,
            Self::Aes192 => 24,
            Self::Aes256 => 32,
        }
    }

    /// Cipher block length, also the padding block and the SSC length (ICAO 9303-11 §9.8.2).
    pub fn block_len(self) -> usize {
        match self {
            Self::Tdes => 8,
            _ => 16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Tdes => "3DES",
            Self::Aes128 => "AES-128",
            Self::Aes192 => "AES-192",
            Self::Aes256 => "AES-256",
        }
    }
}

/// Why a protected APDU was refused. No variant carries APDU contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmError {
    #[error("APDU too short")]
    Truncated,
    #[error("APDU length fields are inconsistent")]
    BadLength,
    #[error("response carries no secure-messaging data objects (status word {0:04X})")]
    Unprotected(u16),
    #[error("secure-messaging data objects are malformed")]
    MalformedObjects,
    #[error("a required secure-messaging data object ({0}) is missing")]
    MissingObject(&'static str),
    #[error("cryptographic checksum does not verify")]
    BadMac,
    #[error("encrypted data is not a whole number of blocks or its padding is wrong")]
    BadPadding,
    #[error("the protected status word differs from the plain one")]
    StatusMismatch,
    #[error("send sequence counter overflow")]
    CounterOverflow,
    #[error("session key has the wrong length")]
    KeyLength,
}

/// KDF of ICAO 9303-11 §9.7.1: `Hash(K ‖ c)` with `c` = 1 for encryption and 2 for MAC,
/// SHA-1 for 3DES and AES-128, SHA-256 for AES-192/256, truncated to the key length.
pub fn derive_key(cipher: SmCipher, shared_secret: &[u8], counter: u32) -> Zeroizing<Vec<u8>> {
    let c = counter.to_be_bytes();
    let mut out = Zeroizing::new(match cipher {
        SmCipher::Tdes | SmCipher::Aes128 => {
            let mut h = Sha1::new();
            h.update(shared_secret);
            h.update(c);
            h.finalize().to_vec()
        }
        SmCipher::Aes192 | SmCipher::Aes256 => {
            let mut h = Sha256::new();
            h.update(shared_secret);
            h.update(c);
            h.finalize().to_vec()
        }
    });
    out.truncate(cipher.key_len());
    if cipher == SmCipher::Tdes {
        // DES parity bits are ignored by the cipher, but ICAO 9303-11 §9.7.1 says to adjust
        // them, and a relayed key check value would otherwise differ.
        for b in out.iter_mut() {
            let ones = (*b & 0xFE).count_ones();
            *b = (*b & 0xFE) | u8::from(ones % 2 == 0);
        }
    }
    out
}

/// `(KSenc, KSmac)` from the shared secret.
pub fn derive_keys(
    cipher: SmCipher,
    shared_secret: &[u8],
) -> (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>) {
    (
        derive_key(cipher, shared_secret, 1),
        derive_key(cipher, shared_secret, 2),
    )
}

/// ISO/IEC 9797-1 padding method 2 (`0x80` then zeros to a block boundary), used for both
/// encryption and MAC input (ICAO 9303-11 §9.8.3).
fn pad(data: &[u8], block: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + block);
    out.extend_from_slice(data);
    out.push(0x80);
    while out.len() % block != 0 {
        out.push(0);
    }
    out
}

fn unpad(data: &[u8]) -> Result<&[u8], SmError> {
    let end = data
        .iter()
        .rposition(|b| *b != 0)
        .ok_or(SmError::BadPadding)?;
    match data.get(end) {
        Some(0x80) => data.get(..end).ok_or(SmError::BadPadding),
        _ => Err(SmError::BadPadding),
    }
}

enum BlockKey {
    Tdes(Box<TdesEde2>),
    Aes128(Box<Aes128>),
    Aes192(Box<Aes192>),
    Aes256(Box<Aes256>),
}

fn enc_block<C: BlockCipherEncrypt>(cipher: &C, block: &mut [u8]) {
    if let Ok(b) = <&mut des::cipher::Block<C>>::try_from(block) {
        cipher.encrypt_block(b);
    }
}

fn dec_block<C: BlockCipherDecrypt>(cipher: &C, block: &mut [u8]) {
    if let Ok(b) = <&mut des::cipher::Block<C>>::try_from(block) {
        cipher.decrypt_block(b);
    }
}

impl BlockKey {
    fn new(cipher: SmCipher, key: &[u8]) -> Result<Self, SmError> {
        let bad = |_| SmError::KeyLength;
        Ok(match cipher {
            SmCipher::Tdes => Self::Tdes(Box::new(TdesEde2::new_from_slice(key).map_err(bad)?)),
            SmCipher::Aes128 => Self::Aes128(Box::new(Aes128::new_from_slice(key).map_err(bad)?)),
            SmCipher::Aes192 => Self::Aes192(Box::new(Aes192::new_from_slice(key).map_err(bad)?)),
            SmCipher::Aes256 => Self::Aes256(Box::new(Aes256::new_from_slice(key).map_err(bad)?)),
        })
    }

    fn encrypt(&self, block: &mut [u8]) {
        match self {
            Self::Tdes(c) => enc_block(c.as_ref(), block),
            Self::Aes128(c) => enc_block(c.as_ref(), block),
            Self::Aes192(c) => enc_block(c.as_ref(), block),
            Self::Aes256(c) => enc_block(c.as_ref(), block),
        }
    }

    fn decrypt(&self, block: &mut [u8]) {
        match self {
            Self::Tdes(c) => dec_block(c.as_ref(), block),
            Self::Aes128(c) => dec_block(c.as_ref(), block),
            Self::Aes192(c) => dec_block(c.as_ref(), block),
            Self::Aes256(c) => dec_block(c.as_ref(), block),
        }
    }
}

/// One direction-agnostic secure-messaging context: the session keys and the send sequence
/// counter, which both sides increment before every command and every response.
pub struct SecureChannel {
    cipher: SmCipher,
    k_enc: Zeroizing<Vec<u8>>,
    k_mac: Zeroizing<Vec<u8>>,
    ssc: u128,
}

impl std::fmt::Debug for SecureChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureChannel")
            .field("cipher", &self.cipher)
            .field("keys", &"<redacted>")
            .field("ssc", &self.ssc)
            .finish()
    }
}

/// A command as the card sees it after removing secure messaging: the same type as an
/// unprotected command APDU.
pub type PlainCommand = crate::apdu::CommandApdu;

impl SecureChannel {
    /// A channel with keys derived from the shared secret and the SSC at `ssc`
    /// (zero after chip authentication, ICAO 9303-11 §6.2.3).
    ///
    /// # Errors
    /// [`SmError::KeyLength`] if a key does not fit the cipher.
    pub fn new(
        cipher: SmCipher,
        k_enc: Zeroizing<Vec<u8>>,
        k_mac: Zeroizing<Vec<u8>>,
        ssc: u128,
    ) -> Result<Self, SmError> {
        if k_enc.len() != cipher.key_len() || k_mac.len() != cipher.key_len() {
            return Err(SmError::KeyLength);
        }
        Ok(Self {
            cipher,
            k_enc,
            k_mac,
            ssc,
        })
    }

    pub fn cipher(&self) -> SmCipher {
        self.cipher
    }

    pub fn ssc(&self) -> u128 {
        self.ssc
    }

    pub(crate) fn k_enc(&self) -> &[u8] {
        &self.k_enc
    }

    pub(crate) fn k_mac(&self) -> &[u8] {
        &self.k_mac
    }

    fn ssc_bytes(&self) -> Vec<u8> {
        let all = self.ssc.to_be_bytes();
        all.get(16 - self.cipher.block_len()..)
            .unwrap_or(&all)
            .to_vec()
    }

    fn bump(&mut self) -> Result<(), SmError> {
        let max = if self.cipher == SmCipher::Tdes {
            u128::from(u64::MAX)
        } else {
            u128::MAX
        };
        if self.ssc >= max {
            return Err(SmError::CounterOverflow);
        }
        self.ssc += 1;
        Ok(())
    }

    /// The CBC IV: zero for 3DES, `E(KSenc, SSC)` for AES (ICAO 9303-11 §9.8.6.1).
    fn iv(&self, key: &BlockKey) -> Vec<u8> {
        let mut iv = self.ssc_bytes();
        if self.cipher == SmCipher::Tdes {
            iv.fill(0);
        } else {
            key.encrypt(&mut iv);
        }
        iv
    }

    fn encrypt(&self, plain: &[u8]) -> Result<Vec<u8>, SmError> {
        let key = BlockKey::new(self.cipher, &self.k_enc)?;
        let bl = self.cipher.block_len();
        let mut prev = self.iv(&key);
        let mut out = pad(plain, bl);
        for block in out.chunks_mut(bl) {
            for (b, p) in block.iter_mut().zip(&prev) {
                *b ^= p;
            }
            key.encrypt(block);
            prev.copy_from_slice(block);
        }
        Ok(out)
    }

    fn decrypt(&self, cipher_text: &[u8]) -> Result<Zeroizing<Vec<u8>>, SmError> {
        let bl = self.cipher.block_len();
        if cipher_text.is_empty() || !cipher_text.len().is_multiple_of(bl) {
            return Err(SmError::BadPadding);
        }
        let key = BlockKey::new(self.cipher, &self.k_enc)?;
        let mut prev = self.iv(&key);
        let mut out = Zeroizing::new(cipher_text.to_vec());
        for block in out.chunks_mut(bl) {
            let this = block.to_vec();
            key.decrypt(block);
            for (b, p) in block.iter_mut().zip(&prev) {
                *b ^= p;
            }
            prev = this;
        }
        let len = unpad(&out)?.len();
        out.truncate(len);
        Ok(out)
    }

    /// The 8-byte cryptographic checksum over `pad(SSC ‖ input)`.
    fn mac(&self, input: &[u8]) -> Result<[u8; 8], SmError> {
        let mut n = self.ssc_bytes();
        n.extend_from_slice(input);
        let n = pad(&n, self.cipher.block_len());
        match self.cipher {
            SmCipher::Tdes => retail_mac(&self.k_mac, &n),
            SmCipher::Aes128 => cmac8::<Aes128>(&self.k_mac, &n),
            SmCipher::Aes192 => cmac8::<Aes192>(&self.k_mac, &n),
            SmCipher::Aes256 => cmac8::<Aes256>(&self.k_mac, &n),
        }
    }

    fn check_mac(&self, input: &[u8], received: &[u8]) -> Result<(), SmError> {
        let expected = self.mac(input)?;
        if received.len() == 8 && bool::from(expected.as_slice().ct_eq(received)) {
            Ok(())
        } else {
            Err(SmError::BadMac)
        }
    }

    /// Protects a command (ICAO 9303-11 §9.8.4): `DO'87'` with the encrypted data, `DO'97'` with
    /// Le, `DO'8E'` with the MAC over the padded header and both objects.
    ///
    /// # Errors
    /// [`SmError::CounterOverflow`] or [`SmError::KeyLength`].
    pub fn wrap_command(&mut self, command: &PlainCommand) -> Result<Vec<u8>, SmError> {
        self.bump()?;
        let [cla, ins, p1, p2] = command.header;
        let header = [cla | 0x0C, ins, p1, p2];
        let mut objects = Vec::new();
        if !command.data.is_empty() {
            let cryptogram = self.encrypt(&command.data)?;
            if ins & 1 == 1 {
                tlv::write(Tag(0x85), &cryptogram, &mut objects);
            } else {
                let mut content = vec![0x01];
                content.extend(cryptogram);
                tlv::write(Tag(0x87), &content, &mut objects);
            }
        }
        if let Some(le) = command.le {
            let le_bytes = match le {
                0..=255 => vec![u8::try_from(le).unwrap_or(0)],
                256 => vec![0],
                _ => u16::try_from(le).unwrap_or(0).to_be_bytes().to_vec(),
            };
            tlv::write(Tag(0x97), &le_bytes, &mut objects);
        }
        let mut mac_input = pad(&header, self.cipher.block_len());
        mac_input.extend_from_slice(&objects);
        let mac = self.mac(&mac_input)?;
        tlv::write(Tag(0x8E), &mac, &mut objects);
        let mut apdu = header.to_vec();
        // The protected response of a read beyond 256 bytes needs an extended Le, and ISO/IEC
        // 7816-4 §5.1 forbids mixing short Lc with extended Le.
        let extended = objects.len() > 255 || command.le.is_some_and(|le| le > 256);
        if !extended {
            apdu.push(u8::try_from(objects.len()).unwrap_or(0));
            apdu.extend(&objects);
            apdu.push(0);
        } else {
            apdu.push(0);
            apdu.extend(
                u16::try_from(objects.len())
                    .map_err(|_| SmError::BadLength)?
                    .to_be_bytes(),
            );
            apdu.extend(&objects);
            apdu.extend([0, 0]);
        }
        Ok(apdu)
    }

    /// Checks and decrypts a protected response (ICAO 9303-11 §9.8.5): returns the plain data
    /// and the status word.
    ///
    /// # Errors
    /// [`SmError::BadMac`] when the chip did not use the same keys, or a format error.
    pub fn unwrap_response(
        &mut self,
        response: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, u16), SmError> {
        let split = response.len().checked_sub(2).ok_or(SmError::Truncated)?;
        let (body, sw) = response.split_at(split);
        let sw_value = u16::from_be_bytes([
            sw.first().copied().unwrap_or(0),
            sw.get(1).copied().unwrap_or(0),
        ]);
        if body.is_empty() {
            return Err(SmError::Unprotected(sw_value));
        }
        if body.len() > MAX_APDU_BODY {
            return Err(SmError::BadLength);
        }
        self.bump()?;
        let objects = tlv::read_all(body).map_err(|_| SmError::MalformedObjects)?;
        let (mac_obj, covered) = objects.split_last().ok_or(SmError::MissingObject("8E"))?;
        if mac_obj.tag != Tag(0x8E) {
            return Err(SmError::MissingObject("8E"));
        }
        let mut mac_input = Vec::new();
        for obj in covered {
            mac_input.extend_from_slice(obj.raw);
        }
        self.check_mac(&mac_input, mac_obj.content)?;
        let status = covered
            .iter()
            .find(|o| o.tag == Tag(0x99))
            .ok_or(SmError::MissingObject("99"))?;
        if status.content != sw {
            return Err(SmError::StatusMismatch);
        }
        let data = match covered
            .iter()
            .find(|o| o.tag == Tag(0x87) || o.tag == Tag(0x85))
        {
            Some(enc) if enc.tag == Tag(0x85) => self.decrypt(enc.content)?,
            Some(enc) => match enc.content.split_first() {
                Some((0x01, ct)) => self.decrypt(ct)?,
                _ => return Err(SmError::MalformedObjects),
            },
            None => Zeroizing::new(Vec::new()),
        };
        Ok((data, sw_value))
    }

    /// Card side: checks and decrypts a protected command.
    ///
    /// # Errors
    /// [`SmError::BadMac`] or a format error.
    pub fn unwrap_command(&mut self, apdu: &[u8]) -> Result<PlainCommand, SmError> {
        let (header, rest) = apdu.split_first_chunk::<4>().ok_or(SmError::Truncated)?;
        let body = parse_command_body(rest)?;
        self.bump()?;
        let objects = tlv::read_all(body).map_err(|_| SmError::MalformedObjects)?;
        let (mac_obj, covered) = objects.split_last().ok_or(SmError::MissingObject("8E"))?;
        if mac_obj.tag != Tag(0x8E) {
            return Err(SmError::MissingObject("8E"));
        }
        let mut mac_input = pad(header, self.cipher.block_len());
        for obj in covered {
            mac_input.extend_from_slice(obj.raw);
        }
        self.check_mac(&mac_input, mac_obj.content)?;
        let data = match covered
            .iter()
            .find(|o| o.tag == Tag(0x87) || o.tag == Tag(0x85))
        {
            Some(enc) if enc.tag == Tag(0x85) => self.decrypt(enc.content)?.to_vec(),
            Some(enc) => match enc.content.split_first() {
                Some((0x01, ct)) => self.decrypt(ct)?.to_vec(),
                _ => return Err(SmError::MalformedObjects),
            },
            None => Vec::new(),
        };
        let le = covered
            .iter()
            .find(|o| o.tag == Tag(0x97))
            .map(|o| match o.content {
                [0] => 256,
                [b] => usize::from(*b),
                [0, 0] => 65_536,
                [h, l] => usize::from(u16::from_be_bytes([*h, *l])),
                _ => 0,
            });
        let [cla, ins, p1, p2] = *header;
        Ok(PlainCommand {
            header: [cla & !0x0C, ins, p1, p2],
            data,
            le,
        })
    }

    /// Card side: protects a response (`DO'87'`, `DO'99'`, `DO'8E'`, then SW1-SW2 in plain).
    ///
    /// # Errors
    /// [`SmError::CounterOverflow`] or [`SmError::KeyLength`].
    pub fn wrap_response(&mut self, data: &[u8], sw: u16) -> Result<Vec<u8>, SmError> {
        self.wrap_response_for(0xB0, data, sw)
    }

    /// Card side: protects the response to a command with instruction `ins`; an odd INS puts
    /// the data in `DO'85'` (ICAO 9303-11 §9.8.5).
    ///
    /// # Errors
    /// [`SmError::CounterOverflow`] or [`SmError::KeyLength`].
    pub fn wrap_response_for(&mut self, ins: u8, data: &[u8], sw: u16) -> Result<Vec<u8>, SmError> {
        self.bump()?;
        let mut objects = Vec::new();
        if !data.is_empty() {
            let cryptogram = self.encrypt(data)?;
            if ins & 1 == 1 {
                tlv::write(Tag(0x85), &cryptogram, &mut objects);
            } else {
                let mut content = vec![0x01];
                content.extend(cryptogram);
                tlv::write(Tag(0x87), &content, &mut objects);
            }
        }
        tlv::write(Tag(0x99), &sw.to_be_bytes(), &mut objects);
        let mac = self.mac(&objects)?;
        tlv::write(Tag(0x8E), &mac, &mut objects);
        objects.extend(sw.to_be_bytes());
        Ok(objects)
    }
}

/// ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC") with a two-key 3DES key over input that is
/// already padded: CBC-DES with `Ka`, then `D(Kb)` and `E(Ka)` on the last block.
pub(crate) fn retail_mac(k_mac: &[u8], padded: &[u8]) -> Result<[u8; 8], SmError> {
    if k_mac.len() != 16 || !padded.len().is_multiple_of(8) {
        return Err(SmError::KeyLength);
    }
    let (ka, kb) = k_mac.split_at(8);
    let ka = Des::new_from_slice(ka).map_err(|_| SmError::KeyLength)?;
    let kb = Des::new_from_slice(kb).map_err(|_| SmError::KeyLength)?;
    let mut out = [0u8; 8];
    for block in padded.chunks(8) {
        for (o, b) in out.iter_mut().zip(block) {
            *o ^= b;
        }
        enc_block(&ka, &mut out);
    }
    dec_block(&kb, &mut out);
    enc_block(&ka, &mut out);
    Ok(out)
}

/// The 8-byte MAC of the session's cipher without an SSC: the BAC cryptograms
/// (ICAO 9303-11 §4.3.3.2, 3DES over padded input) and the PACE authentication tokens
/// (§4.4.3.4: CMAC over the unpadded input for AES, retail MAC over padded input for 3DES).
pub fn mac8(cipher: SmCipher, k_mac: &[u8], input: &[u8]) -> Result<[u8; 8], SmError> {
    match cipher {
        SmCipher::Tdes => retail_mac(k_mac, &pad(input, 8)),
        SmCipher::Aes128 => cmac8::<Aes128>(k_mac, input),
        SmCipher::Aes192 => cmac8::<Aes192>(k_mac, input),
        SmCipher::Aes256 => cmac8::<Aes256>(k_mac, input),
    }
}

/// CBC with a zero IV and no padding, in either direction: the BAC cryptograms (3DES,
/// ICAO 9303-11 §4.3.3.2) and the PACE nonce (§4.4.3.1, `E(K_π, s)`).
///
/// # Errors
/// [`SmError::KeyLength`] for a key that does not fit, [`SmError::BadPadding`] when the input is
/// not a whole number of blocks.
pub fn cbc_zero_iv(
    cipher: SmCipher,
    key: &[u8],
    data: &[u8],
    encrypt: bool,
) -> Result<Zeroizing<Vec<u8>>, SmError> {
    let bl = cipher.block_len();
    if !data.len().is_multiple_of(bl) {
        return Err(SmError::BadPadding);
    }
    let key = BlockKey::new(cipher, key)?;
    let mut prev = vec![0u8; bl];
    let mut out = Zeroizing::new(data.to_vec());
    for block in out.chunks_mut(bl) {
        if encrypt {
            for (b, p) in block.iter_mut().zip(&prev) {
                *b ^= p;
            }
            key.encrypt(block);
            prev.copy_from_slice(block);
        } else {
            let this = block.to_vec();
            key.decrypt(block);
            for (b, p) in block.iter_mut().zip(&prev) {
                *b ^= p;
            }
            prev = this;
        }
    }
    Ok(out)
}

fn cmac8<C>(key: &[u8], input: &[u8]) -> Result<[u8; 8], SmError>
where
    C: cmac::block_api::CmacCipher + KeyInit,
    Cmac<C>: KeyInit + Mac,
{
    let mut mac = <Cmac<C> as KeyInit>::new_from_slice(key).map_err(|_| SmError::KeyLength)?;
    mac.update(input);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; 8];
    for (o, b) in out.iter_mut().zip(full.iter()) {
        *o = *b;
    }
    Ok(out)
}

/// Splits `Lc ‖ body ‖ Le` of a case-3/4 APDU (short or extended length, ISO/IEC 7816-4 §5.1).
fn parse_command_body(rest: &[u8]) -> Result<&[u8], SmError> {
    match rest {
        [0, hi, lo, tail @ ..] if tail.len() >= 2 => {
            let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
            tail.get(..lc)
                .filter(|_| tail.len() == lc + 2)
                .ok_or(SmError::BadLength)
        }
        [lc, tail @ ..] if *lc != 0 => {
            let lc = usize::from(*lc);
            tail.get(..lc)
                .filter(|_| tail.len() == lc + 1 || tail.len() == lc)
                .ok_or(SmError::BadLength)
        }
        _ => Err(SmError::BadLength),
    }
}
