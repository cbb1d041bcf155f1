//! Basic Access Control (ICAO 9303-11 §4.3): document basic access keys from the MRZ, the
//! challenge-response of GET CHALLENGE / MUTUAL AUTHENTICATE, and the session keys and send
//! sequence counter of the 3DES secure messaging that follows.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{ReadError, Reader, Transport, status_error};
use crate::apdu::{CommandApdu, sw};
use crate::sm::{self, SecureChannel, SmCipher};

/// The MRZ fields BAC and PACE derive their key from (ICAO 9303-11 §4.3.2 / §9.7.3): document
/// number, date of birth and date of expiry, each followed by its check digit.
#[derive(Clone, PartialEq, Eq)]
pub struct MrzKey {
    document_number: String,
    date_of_birth: String,
    date_of_expiry: String,
}

impl std::fmt::Debug for MrzKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MrzKey(<redacted>)")
    }
}

/// The document basic access keys (ICAO 9303-11 §4.3.2, §9.7.2): `K_seed` and the 3DES keys
/// derived from it. Exposed so the published worked examples can be checked step by step.
pub struct BacKeys {
    pub k_seed: Zeroizing<Vec<u8>>,
    pub k_enc: Zeroizing<Vec<u8>>,
    pub k_mac: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for BacKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BacKeys(<redacted>)")
    }
}

fn is_mrz_char(c: u8) -> bool {
    matches!(c, b'0'..=b'9' | b'A'..=b'Z' | b'<')
}

impl MrzKey {
    /// From the printed fields: document number (as on the MRZ, fillers `<` optional; a longer
    /// TD1 number is used whole), dates as `YYMMDD`. Lower-case letters are accepted.
    ///
    /// # Errors
    /// [`ReadError::InvalidAccessKey`] naming the field that is malformed.
    pub fn new(
        document_number: &str,
        date_of_birth: &str,
        date_of_expiry: &str,
    ) -> Result<Self, ReadError> {
        let mut number = document_number.trim().to_ascii_uppercase();
        if number.is_empty() || number.len() > 22 || !number.bytes().all(is_mrz_char) {
            return Err(ReadError::InvalidAccessKey("document number"));
        }
        while number.len() < 9 {
            number.push('<');
        }
        let date = |d: &str, what| {
            if d.len() == 6 && d.bytes().all(|c| c.is_ascii_digit()) {
                Ok(d.to_owned())
            } else {
                Err(ReadError::InvalidAccessKey(what))
            }
        };
        Ok(Self {
            document_number: number,
            date_of_birth: date(date_of_birth.trim(), "date of birth")?,
            date_of_expiry: date(date_of_expiry.trim(), "date of expiry")?,
        })
    }

    /// `MRZ_information` of ICAO 9303-11 §4.3.2: each field followed by its check digit.
    pub fn mrz_information(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(40));
        for field in [
            &self.document_number,
            &self.date_of_birth,
            &self.date_of_expiry,
        ] {
            out.extend_from_slice(field.as_bytes());
            out.push(b'0' + crate::mrz::check_digit(field.as_bytes()));
        }
        out
    }

    /// `SHA-1(MRZ_information)`: the PACE password key `K` (ICAO 9303-11 §9.7.3) and, truncated
    /// to 16 bytes, the BAC `K_seed`.
    pub fn sha1(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(Sha1::digest(self.mrz_information().as_slice()).to_vec())
    }

    /// The document basic access keys (ICAO 9303-11 §4.3.2, §9.7.1).
    pub fn bac_keys(&self) -> BacKeys {
        let mut k_seed = self.sha1();
        k_seed.truncate(16);
        let (k_enc, k_mac) = sm::derive_keys(SmCipher::Tdes, &k_seed);
        BacKeys {
            k_seed,
            k_enc,
            k_mac,
        }
    }
}

impl<T: Transport> Reader<T> {
    /// BAC (ICAO 9303-11 §4.3.3) with the eMRTD application already selected: GET CHALLENGE,
    /// MUTUAL AUTHENTICATE with `E_IFD ‖ M_IFD`, check of the chip's cryptogram, then 3DES
    /// secure messaging with `KS_enc`, `KS_mac` from `K.IFD ⊕ K.IC` and
    /// `SSC = RND.IC[4..8] ‖ RND.IFD[4..8]`.
    ///
    /// # Errors
    /// [`ReadError::WrongAccessKey`] when the chip refuses the terminal's cryptogram (`6300`)
    /// or its own does not verify under the MRZ key.
    pub fn bac(&mut self, key: &MrzKey) -> Result<(), ReadError> {
        self.channel = None;
        self.protocol = None;
        let keys = key.bac_keys();
        let challenge = self.transceive(&CommandApdu::new(0x00, 0x84, 0x00, 0x00).with_le(8))?;
        if challenge.sw != sw::OK {
            return Err(status_error(challenge.sw, None));
        }
        let rnd_ic: [u8; 8] = challenge
            .data
            .as_slice()
            .try_into()
            .map_err(|_| ReadError::HostileAnswer("GET CHALLENGE answer is not 8 bytes"))?;
        let rnd_ifd = self.random::<8>()?;
        let k_ifd = self.random::<16>()?;
        let mut s = Zeroizing::new(Vec::with_capacity(32));
        s.extend_from_slice(rnd_ifd.as_slice());
        s.extend_from_slice(&rnd_ic);
        s.extend_from_slice(k_ifd.as_slice());
        let e_ifd = sm::cbc_zero_iv(SmCipher::Tdes, &keys.k_enc, &s, true)?;
        let m_ifd = sm::mac8(SmCipher::Tdes, &keys.k_mac, &e_ifd)?;
        let mut data = e_ifd.to_vec();
        data.extend_from_slice(&m_ifd);
        let answer = self.transceive(
            &CommandApdu::new(0x00, 0x82, 0x00, 0x00)
                .with_data(data)
                .with_le(40),
        )?;
        match answer.sw {
            sw::OK => {}
            sw::AUTH_FAILED => return Err(ReadError::WrongAccessKey { tries_left: None }),
            other => {
                if let Some(tries_left) = sw::tries_left(other) {
                    return Err(ReadError::WrongAccessKey {
                        tries_left: Some(tries_left),
                    });
                }
                return Err(status_error(other, None));
            }
        }
        let (e_ic, m_ic) = answer
            .data
            .split_at_checked(32)
            .filter(|(_, m)| m.len() == 8)
            .ok_or(ReadError::HostileAnswer(
                "MUTUAL AUTHENTICATE answer is not 40 bytes",
            ))?;
        let expected = sm::mac8(SmCipher::Tdes, &keys.k_mac, e_ic)?;
        if !bool::from(expected.as_slice().ct_eq(m_ic)) {
            // The chip answered with a key other than the one derived from this MRZ.
            return Err(ReadError::WrongAccessKey { tries_left: None });
        }
        let r = sm::cbc_zero_iv(SmCipher::Tdes, &keys.k_enc, e_ic, false)?;
        let (r_ic, rest) = r.split_at(8);
        let (r_ifd, k_ic) = rest.split_at(8);
        if r_ic != rnd_ic || !bool::from(r_ifd.ct_eq(rnd_ifd.as_slice())) {
            return Err(ReadError::HostileAnswer(
                "MUTUAL AUTHENTICATE answer does not echo the nonces",
            ));
        }
        let seed: Zeroizing<Vec<u8>> = Zeroizing::new(
            k_ifd
                .iter()
                .zip(k_ic)
                .map(|(a, b)| a ^ b)
                .collect::<Vec<u8>>(),
        );
        let (ks_enc, ks_mac) = sm::derive_keys(SmCipher::Tdes, &seed);
        let mut ssc = [0u8; 8];
        for (o, b) in ssc
            .iter_mut()
            .zip(rnd_ic.iter().skip(4).chain(rnd_ifd.iter().skip(4)))
        {
            *o = *b;
        }
        self.channel = Some(SecureChannel::new(
            SmCipher::Tdes,
            ks_enc,
            ks_mac,
            u128::from(u64::from_be_bytes(ssc)),
        )?);
        self.protocol = Some(super::AccessProtocol::Bac);
        Ok(())
    }
}
