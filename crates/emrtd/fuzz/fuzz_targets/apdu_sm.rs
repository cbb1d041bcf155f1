//! Response-APDU parsing and secure-messaging unwrapping on arbitrary bytes, as a hostile chip
//! would send them: no panic, no unbounded allocation. The first byte picks the cipher and the
//! mode: raw bytes for the terminal side (`unwrap_response`) and the card side
//! (`unwrap_command`), or arbitrary data objects given a *valid* MAC (ICAO 9303-11 §9.8.5), so
//! the decryption, padding and status-word paths behind the MAC check are reached too.
#![no_main]

use emrtd::apdu::{CommandApdu, ResponseApdu};
use emrtd::sm::{SecureChannel, SmCipher, mac8};
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

fuzz_target!(|data: &[u8]| {
    let _ = ResponseApdu::parse(data);
    let _ = CommandApdu::parse(data);
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let cipher = match selector % 4 {
        0 => SmCipher::Tdes,
        1 => SmCipher::Aes128,
        2 => SmCipher::Aes192,
        _ => SmCipher::Aes256,
    };
    let key = || Zeroizing::new(vec![0x42; cipher.key_len()]);
    let Ok(mut channel) = SecureChannel::new(cipher, key(), key(), 1) else {
        return;
    };
    if selector & 0x80 == 0 {
        let _ = channel.unwrap_response(rest);
        if let Ok(mut card) = SecureChannel::new(cipher, key(), key(), 1) {
            let _ = card.unwrap_command(rest);
        }
        return;
    }
    // `rest` = data objects ‖ SW1-SW2; append DO'8E' with the MAC the chip would compute at
    // SSC 2 over pad(SSC ‖ objects).
    let Some((objects, sw)) = rest.split_last_chunk::<2>() else {
        return;
    };
    let block = cipher.block_len();
    let mut input = 2u128.to_be_bytes()[16 - block..].to_vec();
    input.extend_from_slice(objects);
    let mac = match cipher {
        // mac8 applies ISO/IEC 9797-1 padding itself for 3DES; CMAC input is padded here.
        SmCipher::Tdes => mac8(cipher, &key(), &input),
        _ => {
            input.push(0x80);
            while input.len() % block != 0 {
                input.push(0);
            }
            mac8(cipher, &key(), &input)
        }
    };
    let Ok(mac) = mac else {
        return;
    };
    let mut response = objects.to_vec();
    response.extend([0x8E, 0x08]);
    response.extend(mac);
    response.extend(sw);
    // The channel stands at SSC 1, so it checks this response at SSC 2.
    let _ = channel.unwrap_response(&response);
});
