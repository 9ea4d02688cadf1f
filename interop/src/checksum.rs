//! CRC-32 (IEEE 802.3, as zlib's `crc32` and PHP's `crc32()`), to compare bodies with what a
//! peer computed.

const fn table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static TABLE: [u32; 256] = table();

/// The CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    Crc32::default().update(data).value()
}

/// A CRC-32 computed piece by piece.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crc32 {
    /// The running value, not yet inverted; 0 for nothing seen (the inverted start value).
    inverted: u32,
}

impl Crc32 {
    /// Adds `data`.
    #[must_use]
    pub fn update(self, data: &[u8]) -> Crc32 {
        let c = data.iter().fold(!self.inverted, |c, &b| {
            TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
        });
        Crc32 { inverted: !c }
    }

    /// The CRC-32 of everything added.
    pub fn value(self) -> u32 {
        self.inverted
    }
}

/// The bytes the test applications send for a response of `n` bytes: `i % 251` repeated
/// in blocks of 65536.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i % 65536) % 251) as u8).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_answers() {
        assert_eq!(super::crc32(b""), 0);
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
        let pieces = super::Crc32::default()
            .update(b"1234")
            .update(b"")
            .update(b"56789");
        assert_eq!(pieces.value(), 0xCBF4_3926);
    }
}
