//! The uwsgi vars block: `u16 LE key length, key, u16 LE value length, value`, repeated,
//! with no count and no terminator; the block ends exactly at the packet's datasize.

use bytes::{Bytes, BytesMut};
use cgi_env::wire::copy_short;
use cgi_env::{Environ, PairBytes};

use crate::error::{MisuseError, VarPart, VarsError};
use crate::packet::{Header, Modifier1};

/// Decodes a vars block into an [`Environ`] without copying: the block is added to the
/// environ once as a segment and every key and value is a range of it.
///
/// Keys of length 0 are refused (uWSGI drops such requests), every length is checked
/// against the bytes left before it is used, and more than `max_vars` vars is an error.
/// Duplicate keys are kept; [`Environ::get`] answers with the last one, as uWSGI does.
///
/// ```
/// use bytes::Bytes;
/// use uwsgi_codec::wire::decode_vars;
///
/// let block = Bytes::from_static(b"\x0e\0REQUEST_METHOD\x03\0GET");
/// let env = decode_vars(block, 128).unwrap();
/// assert_eq!(env.get("REQUEST_METHOD"), Some(&b"GET"[..]));
/// ```
///
/// # Errors
/// [`VarsError::EmptyKey`], [`VarsError::PastEnd`], [`VarsError::MissingValueLength`],
/// [`VarsError::TrailingBytes`], [`VarsError::TooManyVars`].
pub fn decode_vars(block: Bytes, max_vars: usize) -> Result<Environ, VarsError> {
    decode_request_vars(block, max_vars).map(|decoded| decoded.environ)
}

/// A decoded vars block and what its last CONTENT_LENGTH says, found on the way.
pub(crate) struct DecodedVars {
    pub(crate) environ: Environ,
    /// As [`crate::wire::environ_content_length`] of `environ`: 0 when absent or empty,
    /// `None` when not a plain decimal number.
    pub(crate) content_length: Option<u64>,
}

/// How many vars the one-scan decoder records on the stack; a block with more is decoded
/// in two scans (count, then record) so that the index is still allocated once, at its
/// size.
const STACK_VARS: usize = 64;

const CONTENT_LENGTH: &[u8; 14] = b"CONTENT_LENGTH";

/// [`decode_vars`], also answering the block's CONTENT_LENGTH.
///
/// One scan over the block checks every length and records where each key and value
/// starts (as u16 offsets, on the stack); then the environ's index is allocated at its
/// exact size and filled from the record, and the block is handed to it without a clone.
pub(crate) fn decode_request_vars(block: Bytes, max_vars: usize) -> Result<DecodedVars, VarsError> {
    // Offsets fit in u16 for every block a packet can carry (datasize is a u16).
    if block.len() > usize::from(u16::MAX) {
        return decode_counted(block, max_vars);
    }
    let mut spans = [[0u16; 3]; STACK_VARS];
    let mut count = 0;
    let mut overflow = false;
    let mut content_length = None;
    scan_vars(&block, max_vars, |key, value| {
        if key.len() == CONTENT_LENGTH.len() && block.get(key.clone()) == Some(&CONTENT_LENGTH[..])
        {
            content_length = Some(value.clone());
        }
        // Within u16: the block is at most 65535 bytes.
        match spans.get_mut(count) {
            Some(span) => {
                *span = [key.start as u16, key.end as u16, value.end as u16];
                count += 1;
            }
            None => overflow = true,
        }
    })?;
    if overflow {
        return decode_counted(block, max_vars);
    }
    let content_length = match content_length.and_then(|range| block.get(range)) {
        None | Some([]) => Some(0),
        Some(value) => cgi_env::grammar::parse_decimal(value),
    };
    let mut environ = Environ::with_capacity(count);
    let segment = environ.add_segment(block)?;
    // A value starts 2 bytes (its length) after its key ends.
    let spans = spans.get(..count).unwrap_or_default().iter().map(|span| {
        let [key, key_end, value_end] = span.map(usize::from);
        (key..key_end, key_end + 2..value_end)
    });
    environ.extend_segment_vars(segment, spans)?;
    Ok(DecodedVars {
        environ,
        content_length,
    })
}

/// The two-scan decoder, for blocks with more vars than [`STACK_VARS`] (or longer than a
/// packet can carry): the first scan checks everything and counts, the second records the
/// ranges, so that the environ's index is the one allocation.
fn decode_counted(block: Bytes, max_vars: usize) -> Result<DecodedVars, VarsError> {
    let count = scan_vars(&block, max_vars, |_, _| {})?;
    let mut environ = Environ::with_capacity(count);
    let view = block.clone();
    let segment = environ.add_segment(block)?;
    let mut pushed = Ok(());
    scan_vars(&view, max_vars, |key, value| {
        if pushed.is_ok() {
            pushed = environ.push_segment_var(segment, key, value);
        }
    })?;
    pushed?;
    let content_length = crate::request::environ_content_length(&environ);
    Ok(DecodedVars {
        environ,
        content_length,
    })
}

/// Walks the block, checking every length before it is used, and calls `visit` with the
/// key and value ranges of each var; returns how many there are.
fn scan_vars(
    block: &[u8],
    max_vars: usize,
    mut visit: impl FnMut(std::ops::Range<usize>, std::ops::Range<usize>),
) -> Result<usize, VarsError> {
    let mut count = 0;
    let mut offset = 0;
    while offset < block.len() {
        let Some(key_len) = read_len(block, offset) else {
            return Err(VarsError::TrailingBytes {
                offset,
                count: block.len() - offset,
            });
        };
        if key_len == 0 {
            return Err(VarsError::EmptyKey { offset });
        }
        if count >= max_vars {
            return Err(VarsError::TooManyVars {
                limit: max_vars,
                offset,
            });
        }
        let key = field(block, offset, key_len, VarPart::Key)?;
        let value_offset = key.end;
        let Some(value_len) = read_len(block, value_offset) else {
            return Err(VarsError::MissingValueLength {
                offset: value_offset,
            });
        };
        let value = field(block, value_offset, value_len, VarPart::Value)?;
        offset = value.end;
        count += 1;
        visit(key, value);
    }
    Ok(count)
}

fn read_len(block: &[u8], offset: usize) -> Option<u16> {
    match block.get(offset..)? {
        [low, high, ..] => Some(u16::from_le_bytes([*low, *high])),
        _ => None,
    }
}

/// The range of a key or value whose length field starts at `offset`.
fn field(
    block: &[u8],
    offset: usize,
    len: u16,
    part: VarPart,
) -> Result<std::ops::Range<usize>, VarsError> {
    let start = offset + 2;
    let remaining = block.len().saturating_sub(start);
    if usize::from(len) > remaining {
        return Err(VarsError::PastEnd {
            part,
            offset,
            len,
            remaining,
        });
    }
    Ok(start..start + usize::from(len))
}

/// The exact size of `env` as a vars block, checked: every key non-empty and at most
/// 65535 bytes, every value at most 65535 bytes, and the whole block at most 65535 bytes.
///
/// ```
/// use cgi_env::Environ;
/// use uwsgi_codec::wire::encoded_vars_len;
///
/// let env: Environ = [("A", "1")].into_iter().collect();
/// assert_eq!(encoded_vars_len(&env).unwrap(), 2 + 1 + 2 + 1);
/// ```
///
/// # Errors
/// [`MisuseError::EmptyKey`], [`MisuseError::VarTooLarge`],
/// [`MisuseError::VarsBlockTooLarge`].
pub fn encoded_vars_len(env: &Environ) -> Result<u16, MisuseError> {
    // The environ keeps its size and whether a name is empty: a block that fits has no
    // var too large either, so the usual case needs no pass at all.
    if let Ok(len) = u16::try_from(env.uwsgi_encoded_len())
        && !env.has_empty_name()
    {
        return Ok(len);
    }
    // One pass over the lengths alone, without a branch per var: the bytes are not needed
    // to size or check a block, and which var is wrong is looked up only when one is.
    let max = usize::from(u16::MAX);
    let mut total = 0usize;
    let mut bad = false;
    for (key_len, value_len) in env.lengths() {
        total += 4 + key_len + value_len;
        // An empty key wraps to usize::MAX.
        bad |= key_len.wrapping_sub(1) >= max || value_len > max;
    }
    if bad {
        return Err(first_bad_var(env));
    }
    u16::try_from(total).map_err(|_| MisuseError::VarsBlockTooLarge { len: total })
}

/// The error for the first var [`encoded_vars_len`] found wrong.
#[cold]
fn first_bad_var(env: &Environ) -> MisuseError {
    for (index, (key_len, value_len)) in env.lengths().enumerate() {
        if key_len == 0 {
            return MisuseError::EmptyKey { index };
        }
        for (part, len) in [(VarPart::Key, key_len), (VarPart::Value, value_len)] {
            if len > usize::from(u16::MAX) {
                return MisuseError::VarTooLarge { part, index, len };
            }
        }
    }
    // Not reached: encoded_vars_len asks only when a var is wrong.
    MisuseError::VarsBlockTooLarge { len: usize::MAX }
}

/// Appends `env` as a vars block to `dst` and returns its size. The size is computed and
/// checked first and `dst` grows once; nothing is written when the environ cannot be
/// encoded.
///
/// # Errors
/// As [`encoded_vars_len`].
pub fn encode_vars(env: &Environ, dst: &mut BytesMut) -> Result<u16, MisuseError> {
    let len = encoded_vars_len(env)?;
    write_vars(env, len, dst);
    Ok(len)
}

/// Writes the vars of `env`, already checked by [`encoded_vars_len`] to take `len` bytes,
/// and returns the value of the last CONTENT_LENGTH among them, noticed on the way.
///
/// The block is sized once and filled as a plain slice: no capacity check per field, and
/// short fields are copied with a few fixed-size moves rather than a call to `memcpy`.
fn write_vars<'a>(env: &'a Environ, len: u16, dst: &mut BytesMut) -> Option<&'a [u8]> {
    let start = dst.len();
    dst.resize(start + usize::from(len), 0);
    let out = dst.get_mut(start..)?;
    let mut content_length = None;
    let mut at = 0;
    for (key_len, _, bytes) in env.pairs() {
        // A name and its value side by side in the environ's storage (the usual case)
        // are one slice: one store lookup for both.
        let (key, value) = match bytes {
            PairBytes::Joined(pair) => pair.split_at_checked(key_len).unwrap_or_default(),
            PairBytes::Apart(key, value) => (key, value),
        };
        if key.len() == CONTENT_LENGTH.len() && key == CONTENT_LENGTH {
            content_length = Some(value);
        }
        at = put_field(out, at, key);
        at = put_field(out, at, value);
    }
    debug_assert_eq!(at, usize::from(len));
    content_length
}

/// Writes `bytes` with its u16 length before it at `at` in `out`, and returns where the
/// next field goes. The size was computed up front: the field always fits (if it did not,
/// nothing would be written, never a panic).
#[inline]
fn put_field(out: &mut [u8], at: usize, bytes: &[u8]) -> usize {
    let end = at + 2 + bytes.len();
    if let Some((len, rest)) = out
        .get_mut(at..end)
        .and_then(<[u8]>::split_first_chunk_mut::<2>)
    {
        // Checked by encoded_vars_len to fit in a u16.
        *len = (bytes.len() as u16).to_le_bytes();
        copy_short(rest, bytes);
    }
    end
}

/// Appends a whole request packet to `dst`: the header (datasize = the vars block size)
/// and the vars block.
///
/// ```
/// use bytes::BytesMut;
/// use cgi_env::Environ;
/// use uwsgi_codec::Modifier1;
/// use uwsgi_codec::wire::encode_request_packet;
///
/// let env: Environ = [("A", "1")].into_iter().collect();
/// let mut wire = BytesMut::new();
/// encode_request_packet(&env, Modifier1::WSGI, 0, &mut wire).unwrap();
/// assert_eq!(&wire[..], b"\0\x06\0\0\x01\0A\x01\x001");
/// ```
///
/// # Errors
/// As [`encoded_vars_len`].
pub fn encode_request_packet(
    env: &Environ,
    modifier1: Modifier1,
    modifier2: u8,
    dst: &mut BytesMut,
) -> Result<(), MisuseError> {
    write_request_packet(env, modifier1, modifier2, dst).map(|_| ())
}

/// [`encode_request_packet`], also answering the value of the environ's last
/// CONTENT_LENGTH (`None` when it has none).
pub(crate) fn write_request_packet<'a>(
    env: &'a Environ,
    modifier1: Modifier1,
    modifier2: u8,
    dst: &mut BytesMut,
) -> Result<Option<&'a [u8]>, MisuseError> {
    let datasize = encoded_vars_len(env)?;
    dst.reserve(Header::LEN + usize::from(datasize));
    Header {
        modifier1,
        datasize,
        modifier2,
    }
    .encode(dst);
    Ok(write_vars(env, datasize, dst))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(parts: &[&[u8]]) -> Bytes {
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(&u16::try_from(part.len()).unwrap().to_le_bytes());
            out.extend_from_slice(part);
        }
        Bytes::from(out)
    }

    #[test]
    fn decodes_in_order_with_empty_values_and_duplicates() {
        let wire = block(&[b"A", b"1", b"B", b"", b"A", b"3"]);
        let env = decode_vars(wire.clone(), 128).unwrap();
        assert_eq!(env.len(), 3);
        assert_eq!(env.get("A"), Some(&b"3"[..]));
        assert_eq!(env.get("B"), Some(&b""[..]));
        assert_eq!(
            env.get("A").unwrap().as_ptr(),
            wire[wire.len() - 1..].as_ptr()
        );
    }

    #[test]
    fn empty_block_is_an_empty_environ() {
        assert!(decode_vars(Bytes::new(), 128).unwrap().is_empty());
    }

    #[test]
    fn empty_key_is_refused() {
        let wire = block(&[b"A", b"1", b"", b"x"]);
        assert_eq!(
            decode_vars(wire, 128),
            Err(VarsError::EmptyKey { offset: 6 })
        );
    }

    #[test]
    fn key_past_end() {
        let wire = Bytes::from_static(b"\x05\0AB");
        assert_eq!(
            decode_vars(wire, 128),
            Err(VarsError::PastEnd {
                part: VarPart::Key,
                offset: 0,
                len: 5,
                remaining: 2
            })
        );
    }

    #[test]
    fn value_past_end() {
        let wire = Bytes::from_static(b"\x01\0A\x09\0xyz");
        assert_eq!(
            decode_vars(wire, 128),
            Err(VarsError::PastEnd {
                part: VarPart::Value,
                offset: 3,
                len: 9,
                remaining: 3
            })
        );
    }

    #[test]
    fn key_without_value_length() {
        assert_eq!(
            decode_vars(Bytes::from_static(b"\x01\0A"), 128),
            Err(VarsError::MissingValueLength { offset: 3 })
        );
        assert_eq!(
            decode_vars(Bytes::from_static(b"\x01\0A\0"), 128),
            Err(VarsError::MissingValueLength { offset: 3 })
        );
    }

    #[test]
    fn trailing_byte_is_refused() {
        let mut wire = block(&[b"A", b"1"]).to_vec();
        wire.push(7);
        assert_eq!(
            decode_vars(Bytes::from(wire), 128),
            Err(VarsError::TrailingBytes {
                offset: 6,
                count: 1
            })
        );
    }

    #[test]
    fn var_count_is_capped() {
        let wire = block(&[b"A", b"1", b"B", b"2", b"C", b"3"]);
        assert!(decode_vars(wire.clone(), 3).is_ok());
        assert_eq!(
            decode_vars(wire, 2),
            Err(VarsError::TooManyVars {
                limit: 2,
                offset: 12
            })
        );
    }

    #[test]
    fn more_vars_than_the_stack_record_and_content_length() {
        for count in [STACK_VARS - 1, STACK_VARS, STACK_VARS + 1, 3 * STACK_VARS] {
            let mut env = Environ::new();
            env.append("CONTENT_LENGTH", "7");
            for i in 0..count {
                env.append(format!("K{i}"), "v".repeat(i % 40));
            }
            env.append("CONTENT_LENGTH", "12");
            let mut wire = BytesMut::new();
            encode_vars(&env, &mut wire).unwrap();
            let decoded = decode_request_vars(wire.freeze(), 1024).unwrap();
            assert_eq!(decoded.environ, env, "{count} vars");
            assert_eq!(decoded.content_length, Some(12), "the last one");
        }
        let too_many = block(&[&b"A"[..], &b"1"[..]].repeat(STACK_VARS + 2));
        assert_eq!(
            decode_vars(too_many, STACK_VARS + 1),
            Err(VarsError::TooManyVars {
                limit: STACK_VARS + 1,
                offset: 6 * (STACK_VARS + 1)
            })
        );
        let invalid = block(&[b"CONTENT_LENGTH", b"x1"]);
        assert_eq!(
            decode_request_vars(invalid, 8).unwrap().content_length,
            None
        );
        let empty = block(&[b"CONTENT_LENGTH", b""]);
        assert_eq!(
            decode_request_vars(empty, 8).unwrap().content_length,
            Some(0)
        );
    }

    #[test]
    fn short_and_long_fields_are_copied_whole() {
        let mut env = Environ::new();
        for len in 1..100usize {
            let name: Vec<u8> = (0..len).map(|i| b'A' + (i % 26) as u8).collect();
            let value: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            env.append(name, value);
        }
        let mut wire = BytesMut::new();
        encode_vars(&env, &mut wire).unwrap();
        assert_eq!(decode_vars(wire.freeze(), 1024).unwrap(), env);
    }

    #[test]
    fn encode_roundtrip_and_exact_size() {
        let env: Environ = [("QUERY_STRING", ""), ("A", "xyz")].into_iter().collect();
        let mut dst = BytesMut::new();
        let len = encode_vars(&env, &mut dst).unwrap();
        assert_eq!(usize::from(len), dst.len());
        assert_eq!(decode_vars(dst.freeze(), 128).unwrap(), env);
    }

    #[test]
    fn encoder_refuses_oversized_and_empty_keys() {
        let mut env = Environ::new();
        env.append("BIG", vec![b'x'; 65536]);
        assert_eq!(
            encoded_vars_len(&env),
            Err(MisuseError::VarTooLarge {
                part: VarPart::Value,
                index: 0,
                len: 65536
            })
        );
        // Built from a segment: Environ::append loses a name longer than 4096 bytes.
        let mut env = Environ::new();
        let segment = env.add_segment(Bytes::from(vec![b'k'; 65536])).unwrap();
        env.push_segment_var(segment, 0..65536, 0..0).unwrap();
        let result = encoded_vars_len(&env);
        assert!(
            matches!(
                result,
                Err(MisuseError::VarTooLarge {
                    part: VarPart::Key,
                    ..
                })
            ),
            "{result:?}"
        );
        // Each var fits, the block does not: 65531 + 4 + 1 = 65536.
        let mut env = Environ::new();
        env.append("K", vec![b'x'; 65530]);
        assert_eq!(encoded_vars_len(&env), Ok(65535));
        env.append("L", "");
        let mut dst = BytesMut::new();
        assert_eq!(
            encode_vars(&env, &mut dst),
            Err(MisuseError::VarsBlockTooLarge { len: 65540 })
        );
        assert!(dst.is_empty(), "nothing written on error");
        let env: Environ = [("", "x")].into_iter().collect();
        assert_eq!(
            encoded_vars_len(&env),
            Err(MisuseError::EmptyKey { index: 0 })
        );
    }
}
