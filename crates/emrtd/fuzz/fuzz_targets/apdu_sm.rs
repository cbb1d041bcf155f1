//! Response-APDU parsing and secure-messaging unwrapping on arbitrary bytes, as a hostile chip
//! would send them: no panic, no unbounded allocation. The first byte picks the cipher; the
//! terminal side (`unwrap_response`) and the card side (`unwrap_command`) both run.
#![no_main]

use emrtd::apdu::{CommandApdu, ResponseApdu};
use emrtd::sm::{SecureChannel, SmCipher};
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
    if let Ok(mut channel) = SecureChannel::new(cipher, key(), key(), 1) {
        let _ = channel.unwrap_response(rest);
    }
    if let Ok(mut channel) = SecureChannel::new(cipher, key(), key(), 1) {
        let _ = channel.unwrap_command(rest);
    }
});
