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
pub fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
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
    value
        .iter()
        .position(|&b| !is_field_value_byte(b))
        .and_then(|at| value.get(at).map(|&b| (at, b)))
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
