//! The small text grammar every crate of the family reads: decimal lengths, RFC 9110
//! tokens and field values, hex digits.
//!
//! Written once here so that `Content-Length`, `CONTENT_LENGTH`, a chunk size or a header
//! name means the same thing in the FastCGI and the uwsgi crates. These are byte-class
//! loops, not a parser-combinator grammar: measured against `nom` 8 on the same inputs,
//! the hand loops were as fast or faster and the binary framing around them (record
//! headers, length-prefixed pairs) is fixed-width, so nothing here needs backtracking.

/// Parses a non-empty run of ASCII digits as a `u64`, refusing signs, spaces, other bytes
/// and overflow (RFC 9110 `1*DIGIT`, RFC 3875 `CONTENT_LENGTH`).
///
/// ```
/// use cgi_env::grammar::parse_decimal;
///
/// assert_eq!(parse_decimal(b"1024"), Some(1024));
/// assert_eq!(parse_decimal(b"007"), Some(7));
/// for bad in [&b""[..], b"-1", b"+1", b" 1", b"1 ", b"1e3", b"18446744073709551616"] {
///     assert_eq!(parse_decimal(bad), None);
/// }
/// ```
pub fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Whether `byte` is an RFC 9110 `tchar`.
#[inline]
pub fn is_tchar(byte: u8) -> bool {
    TCHAR.get(usize::from(byte)).copied().unwrap_or(false)
}

/// [`is_tchar`] for every byte: one load per byte of a name instead of a search of the
/// punctuation list.
// The loop index stays below 256, the table's length (and `get` is not const).
#[allow(clippy::indexing_slicing)]
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        byte += 1;
    }
    table
};

/// Bytes a word-at-a-time scan reads at once.
const WORD: usize = 8;
const ONES: u64 = u64::from_ne_bytes([0x01; WORD]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; WORD]);

/// Whether some byte of `word` is below `limit` (at most 0x80). It may also answer yes for
/// a byte after one that is below it, never for a word with none below it: a caller that
/// gets yes looks at the bytes one by one.
#[inline]
fn has_byte_below(word: u64, limit: u8) -> bool {
    word.wrapping_sub(ONES.wrapping_mul(u64::from(limit))) & !word & HIGHS != 0
}

/// Whether some byte of `word` equals `byte` (with the same caveat as
/// [`has_byte_below`]).
#[inline]
fn has_byte(word: u64, byte: u8) -> bool {
    has_byte_below(word ^ ONES.wrapping_mul(u64::from(byte)), 1)
}

/// The first position in `haystack` at or after which a byte may match, skipping whole
/// words for which `may_match` says no: where a byte-by-byte search can start.
#[inline]
fn skip_words(haystack: &[u8], may_match: impl Fn(u64) -> bool) -> usize {
    let mut at = 0;
    for chunk in haystack.chunks_exact(WORD) {
        let word = u64::from_ne_bytes(chunk.try_into().unwrap_or_default());
        if may_match(word) {
            break;
        }
        at += WORD;
    }
    at
}

/// The position of the first `\n` in `bytes`, read a word at a time: how the head parsers
/// find line ends.
///
/// ```
/// use cgi_env::grammar::find_newline;
///
/// assert_eq!(find_newline(b"Status: 200 OK\r\n\r\n"), Some(15));
/// assert_eq!(find_newline(b"no line end"), None);
/// ```
#[inline]
pub fn find_newline(bytes: &[u8]) -> Option<usize> {
    let start = skip_words(bytes, |word| has_byte(word, b'\n'));
    let tail = bytes.get(start..).unwrap_or_default();
    tail.iter().position(|&b| b == b'\n').map(|at| start + at)
}

/// Whether `name` is an RFC 9110 `token` (one or more `tchar`s): a valid field name.
///
/// ```
/// use cgi_env::grammar::is_token;
///
/// assert!(is_token(b"X-Request-Id"));
/// assert!(!is_token(b""));
/// assert!(!is_token(b"Content Type"));
/// assert!(!is_token(b"X(y)"));
/// ```
pub fn is_token(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| is_tchar(b))
}

/// Whether `byte` may appear in an RFC 9110 field value: visible ASCII, space, tab and
/// obs-text (0x80 and up); never NUL, CR, LF, other controls or DEL.
pub fn is_field_value_byte(byte: u8) -> bool {
    byte == b'\t' || (byte >= 0x20 && byte != 0x7f)
}

/// The position and value of the first byte of `value` that may not appear in a field
/// value, if any.
///
/// ```
/// use cgi_env::grammar::invalid_field_value_byte;
///
/// assert_eq!(invalid_field_value_byte(b"text/html; charset=\xe9"), None);
/// assert_eq!(invalid_field_value_byte(b"a\r\nSet-Cookie: x"), Some((1, b'\r')));
/// ```
pub fn invalid_field_value_byte(value: &[u8]) -> Option<(usize, u8)> {
    // Words without a control byte (tab included, for simplicity) or DEL are skipped
    // whole; the rest is checked byte by byte.
    let start = skip_words(value, |word| {
        has_byte_below(word, 0x20) || has_byte(word, 0x7f)
    });
    let tail = value.get(start..).unwrap_or_default();
    tail.iter()
        .position(|&b| !is_field_value_byte(b))
        .and_then(|at| tail.get(at).map(|&b| (start + at, b)))
}

/// The value of one hex digit (`0-9`, `a-f`, `A-F`).
///
/// ```
/// use cgi_env::grammar::hex_value;
///
/// assert_eq!(hex_value(b'b'), Some(11));
/// assert_eq!(hex_value(b'F'), Some(15));
/// assert_eq!(hex_value(b'g'), None);
/// ```
pub fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_agrees_with_std_on_digit_strings() {
        for text in ["0", "9", "10", "18446744073709551615", "0000000001"] {
            assert_eq!(parse_decimal(text.as_bytes()), text.parse().ok(), "{text}");
        }
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
    }

    #[test]
    fn token_and_value_classes() {
        for byte in 0..=255u8 {
            let tchar = is_tchar(byte);
            if tchar {
                assert!(is_field_value_byte(byte), "{byte}");
            }
            assert_eq!(
                tchar,
                byte.is_ascii_graphic() && !b"\"(),/:;<=>?@[\\]{}".contains(&byte),
                "{byte}"
            );
        }
        assert!(!is_field_value_byte(0));
        assert!(!is_field_value_byte(b'\n'));
        assert!(!is_field_value_byte(0x7f));
        assert!(is_field_value_byte(0xff));
    }

    #[test]
    fn word_scans_agree_with_byte_scans() {
        // Every byte value at every position of inputs around the word size, over a
        // background of plain text and of obs-text (high bytes, which the word tests must
        // not mistake for controls).
        for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 40] {
            for fill in [b'a', 0x80, 0xff, b'\t'] {
                for at in 0..len {
                    for byte in 0..=255u8 {
                        let mut bytes = vec![fill; len];
                        bytes[at] = byte;
                        assert_eq!(
                            find_newline(&bytes),
                            bytes.iter().position(|&b| b == b'\n'),
                            "{bytes:?}"
                        );
                        let first_bad = bytes.iter().position(|&b| !is_field_value_byte(b));
                        assert_eq!(
                            invalid_field_value_byte(&bytes),
                            first_bad.map(|at| (at, bytes[at])),
                            "{bytes:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn hex_digits() {
        let digits: Vec<u8> = (0..=255u8).filter_map(hex_value).collect();
        assert_eq!(digits.len(), 22);
        assert_eq!(
            hex_value(b'a'),
            u8::from_str_radix("a", 16).ok(),
            "lower case"
        );
    }
}
