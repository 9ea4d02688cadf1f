//! The floors of the typical request: the least work any decoder of the same bytes does.
//!
//! A decoder of a name-value block must at least read every length and remember where
//! each name and value is. These scans do only that: one pass, every pair's
//! `[name start, name end, value start, value end]` (offsets into the block) pushed into
//! a fresh `Vec` made with the capacity the caller gives, and no check beyond the bounds
//! of the block (a length running past the end stops the scan). No record framing, no
//! empty-name or count limits, no error values, no environ.
//!
//! The bench passes the exact pair count as the capacity (one allocation, no growth), as
//! if the count were known: a real decoder has to learn it (ours count in a first pass)
//! or grow, so the floor pays neither.

/// Offsets of one pair in its block: name start, name end, value start, value end.
pub type PairOffsets = [u32; 4];

/// Scans a FastCGI name-value block (a PARAMS stream's content): per pair a name length
/// and a value length, each 1 byte when below 128 or 4 bytes big-endian with the top bit
/// set, then the name and the value.
///
/// ```
/// let block = b"\x0e\x03REQUEST_METHODGET\x01\x80\0\0\x02Xab";
/// let pairs = benches::floor::fastcgi_pairs(block, 2);
/// assert_eq!(pairs, [[2, 16, 16, 19], [24, 25, 25, 27]]);
/// ```
pub fn fastcgi_pairs(block: &[u8], capacity: usize) -> Vec<PairOffsets> {
    let mut pairs = Vec::with_capacity(capacity);
    let mut at = 0;
    while let Some((name_len, after_name_len)) = fastcgi_length(block, at) {
        let Some((value_len, name_start)) = fastcgi_length(block, after_name_len) else {
            break;
        };
        let name_end = name_start + name_len;
        let value_end = name_end + value_len;
        if value_end > block.len() {
            break;
        }
        pairs.push([
            name_start as u32,
            name_end as u32,
            name_end as u32,
            value_end as u32,
        ]);
        at = value_end;
    }
    pairs
}

/// One FastCGI length at `at` and the offset after it; `None` past the end.
#[inline]
fn fastcgi_length(block: &[u8], at: usize) -> Option<(usize, usize)> {
    let first = *block.get(at)?;
    if first < 0x80 {
        Some((usize::from(first), at + 1))
    } else {
        let bytes: [u8; 4] = block.get(at..at + 4)?.try_into().ok()?;
        Some(((u32::from_be_bytes(bytes) & 0x7fff_ffff) as usize, at + 4))
    }
}

/// Scans a uwsgi vars block: per var a 2-byte little-endian key length, the key, a 2-byte
/// little-endian value length, the value.
///
/// ```
/// let block = b"\x0e\0REQUEST_METHOD\x03\0GET";
/// assert_eq!(benches::floor::uwsgi_vars(block, 1), [[2, 16, 18, 21]]);
/// ```
pub fn uwsgi_vars(block: &[u8], capacity: usize) -> Vec<PairOffsets> {
    let mut vars = Vec::with_capacity(capacity);
    let mut at = 0;
    while let Some(key_len) = uwsgi_length(block, at) {
        let key_start = at + 2;
        let key_end = key_start + key_len;
        let Some(value_len) = uwsgi_length(block, key_end) else {
            break;
        };
        let value_start = key_end + 2;
        let value_end = value_start + value_len;
        if value_end > block.len() {
            break;
        }
        vars.push([
            key_start as u32,
            key_end as u32,
            value_start as u32,
            value_end as u32,
        ]);
        at = value_end;
    }
    vars
}

/// One uwsgi length at `at`; `None` past the end.
#[inline]
fn uwsgi_length(block: &[u8], at: usize) -> Option<usize> {
    let bytes: [u8; 2] = block.get(at..at + 2)?.try_into().ok()?;
    Some(usize::from(u16::from_le_bytes(bytes)))
}

/// The bytes of `block` a pair's offsets point at: `(name, value)`.
///
/// ```
/// let block = b"\x01\x02Aab";
/// let pair = benches::floor::fastcgi_pairs(block, 1)[0];
/// assert_eq!(benches::floor::pair_bytes(block, pair), (&b"A"[..], &b"ab"[..]));
/// ```
pub fn pair_bytes(block: &[u8], pair: PairOffsets) -> (&[u8], &[u8]) {
    let [name_start, name_end, value_start, value_end] = pair.map(|offset| offset as usize);
    (&block[name_start..name_end], &block[value_start..value_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastcgi_long_lengths_and_empty_values() {
        let mut block = vec![0x80, 0, 0, 200, 0];
        block.extend_from_slice(&[b'N'; 200]);
        block.extend_from_slice(b"\x01\x80\0\x01\0X");
        block.extend_from_slice(&[b'v'; 256]);
        let pairs = fastcgi_pairs(&block, 0);
        assert_eq!(pairs.len(), 2);
        assert_eq!(pair_bytes(&block, pairs[0]), (&[b'N'; 200][..], &b""[..]));
        assert_eq!(pair_bytes(&block, pairs[1]), (&b"X"[..], &[b'v'; 256][..]));
    }

    #[test]
    fn fastcgi_stops_at_the_bounds() {
        // A whole pair, then a pair whose value runs past the end.
        assert_eq!(fastcgi_pairs(b"\x01\x01ab\x01\x05cd", 4).len(), 1);
        // A 4-byte length cut short.
        assert_eq!(fastcgi_pairs(b"\x01\x01ab\x80\0", 4).len(), 1);
        assert!(fastcgi_pairs(b"", 4).is_empty());
    }

    #[test]
    fn uwsgi_stops_at_the_bounds() {
        let block = b"\x01\0A\x02\0ab\x01\0B\x09\0b";
        let vars = uwsgi_vars(block, 2);
        assert_eq!(vars.len(), 1);
        assert_eq!(pair_bytes(block, vars[0]), (&b"A"[..], &b"ab"[..]));
        assert!(uwsgi_vars(b"\x01", 2).is_empty());
    }

    #[test]
    fn capacity_is_one_allocation_when_enough() {
        let pairs = fastcgi_pairs(b"\x01\x01ab\x01\x01cd", 2);
        assert_eq!((pairs.len(), pairs.capacity()), (2, 2));
    }
}
