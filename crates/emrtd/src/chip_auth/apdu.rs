//! The plain command APDUs of chip authentication (ICAO 9303-11 §6.2.4; ISO/IEC 7816-4).

use super::sm::{PlainCommand, SmCipher};
use super::{CaProtocol, EF_COM_SFI, PROBE_READ_LEN};
use crate::tlv::{self, Tag};

/// READ BINARY of EF.COM by short EF identifier, offset 0 (ICAO 9303-10 §4.6.1; ISO/IEC 7816-4
/// §11.2.3, P1 = `0x80 | SFI`).
pub(crate) fn probe_command() -> PlainCommand {
    PlainCommand {
        header: [0x00, 0xB0, 0x80 | EF_COM_SFI, 0x00],
        data: Vec::new(),
        le: Some(usize::from(PROBE_READ_LEN)),
    }
}

/// MSE:Set KAT (3DES, ICAO 9303-11 §6.2.4.1) or MSE:Set AT + General Authenticate
/// (AES, ICAO 9303-11 §6.2.4.2).
pub(super) fn setup_apdus(
    protocol: CaProtocol,
    ephemeral: &[u8],
    key_id: Option<u32>,
) -> (Vec<u8>, Option<Vec<u8>>) {
    let key_ref = key_id.map(|id| {
        let bytes = id.to_be_bytes();
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(3);
        tlv::encode(Tag(0x84), bytes.get(start..).unwrap_or(&[0]))
    });
    if protocol.cipher == SmCipher::Tdes {
        let mut data = tlv::encode(Tag(0x91), ephemeral);
        data.extend(key_ref.unwrap_or_default());
        (apdu([0x00, 0x22, 0x41, 0xA6], &data, None), None)
    } else {
        let mut data = tlv::encode(Tag(0x80), protocol.oid().as_bytes());
        data.extend(key_ref.unwrap_or_default());
        let mse = apdu([0x00, 0x22, 0x41, 0xA4], &data, None);
        let ga_data = tlv::encode(Tag(0x7C), &tlv::encode(Tag(0x80), ephemeral));
        (
            mse,
            Some(apdu([0x00, 0x86, 0x00, 0x00], &ga_data, Some(256))),
        )
    }
}

/// A plain command APDU with short or extended lengths (ISO/IEC 7816-4 §5.1).
fn apdu(header: [u8; 4], data: &[u8], le: Option<usize>) -> Vec<u8> {
    let mut out = header.to_vec();
    let extended = data.len() > 255;
    if !data.is_empty() {
        if extended {
            out.push(0);
            out.extend(u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes());
        } else {
            out.push(u8::try_from(data.len()).unwrap_or(0));
        }
        out.extend_from_slice(data);
    }
    if let Some(le) = le {
        if extended {
            out.extend([0, 0]);
        } else {
            out.push(u8::try_from(le % 256).unwrap_or(0));
        }
    }
    out
}
