//! A minimal baseline JPEG encoder (ITU-T T.81) for placeholder portraits: greyscale, one
//! uniform level per 8×8 block (DC coefficients only). Real decoders read it, which is all a
//! generated DG2 needs; tests of face matching pass real photographs instead.

/// Encodes `levels` (one grey level per 8×8 block, row-major, `blocks_x × blocks_y`) as a JPEG
/// of `8·blocks_x × 8·blocks_y` pixels.
pub fn encode_blocks(levels: &[u8], blocks_x: u16, blocks_y: u16) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    // DQT: table 0, all ones, so a DC coefficient is the level difference times 8.
    out.extend([0xFF, 0xDB, 0x00, 0x43, 0x00]);
    out.extend([1u8; 64]);
    // SOF0: 8-bit precision, height, width, one component (id 1, no subsampling, table 0).
    out.extend([0xFF, 0xC0, 0x00, 0x0B, 0x08]);
    out.extend((blocks_y * 8).to_be_bytes());
    out.extend((blocks_x * 8).to_be_bytes());
    out.extend([0x01, 0x01, 0x11, 0x00]);
    // DHT DC table 0: categories 0..=11, each a 4-bit code 0000..1011 (canonical order).
    out.extend([0xFF, 0xC4, 0x00, 0x1F, 0x00]);
    out.extend([0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend(0u8..12);
    // DHT AC table 0: only end-of-block (symbol 0x00) with the 1-bit code 0.
    out.extend([0xFF, 0xC4, 0x00, 0x14, 0x10]);
    out.extend([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.push(0x00);
    // SOS: one component, tables 0/0, full spectral range.
    out.extend([0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
    let mut bits = BitWriter::default();
    let mut previous = 0i32;
    let count = usize::from(blocks_x) * usize::from(blocks_y);
    for i in 0..count {
        let level = i32::from(levels.get(i).copied().unwrap_or(128));
        let dc = (level - 128) * 8;
        let diff = dc - previous;
        previous = dc;
        let category = 32 - diff.unsigned_abs().leading_zeros();
        bits.put(category, 4);
        if category > 0 {
            // Negative values are sent as the one's complement in `category` bits (T.81 F.1.2.1).
            let value = if diff < 0 { diff - 1 } else { diff };
            let value = u32::from_ne_bytes(value.to_ne_bytes()) & ((1 << category) - 1);
            bits.put(value, category);
        }
        bits.put(0, 1); // end of block
    }
    out.extend(bits.finish());
    out.extend([0xFF, 0xD9]);
    out
}

/// A portrait-like placeholder: a light background with a darker oval, `8·w × 8·h` pixels.
pub fn placeholder_portrait(blocks_x: u16, blocks_y: u16) -> Vec<u8> {
    let (cx, cy) = (f32::from(blocks_x) / 2.0, f32::from(blocks_y) / 2.2);
    let (rx, ry) = (f32::from(blocks_x) / 3.2, f32::from(blocks_y) / 2.8);
    let mut levels = Vec::with_capacity(usize::from(blocks_x) * usize::from(blocks_y));
    for y in 0..blocks_y {
        for x in 0..blocks_x {
            let dx = (f32::from(x) + 0.5 - cx) / rx;
            let dy = (f32::from(y) + 0.5 - cy) / ry;
            levels.push(if dx * dx + dy * dy < 1.0 { 150 } else { 220 });
        }
    }
    encode_blocks(&levels, blocks_x, blocks_y)
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    acc: u32,
    used: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, len: u32) {
        for i in (0..len).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.used += 1;
            if self.used == 8 {
                self.push_byte();
            }
        }
    }

    fn push_byte(&mut self) {
        let byte = u8::try_from(self.acc & 0xFF).unwrap_or(0);
        self.bytes.push(byte);
        if byte == 0xFF {
            self.bytes.push(0x00); // byte stuffing, T.81 F.1.2.3
        }
        self.acc = 0;
        self.used = 0;
    }

    fn finish(mut self) -> Vec<u8> {
        while self.used != 0 {
            self.acc = (self.acc << 1) | 1; // pad with 1-bits
            self.used += 1;
            if self.used == 8 {
                self.push_byte();
            }
        }
        self.bytes
    }
}
