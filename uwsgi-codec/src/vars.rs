//! The uwsgi vars block: `u16 LE key length, key, u16 LE value length, value`, repeated,
//! with no count and no terminator; the block ends exactly at the packet's datasize.

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use cgi_env::wire::SliceWriter;

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
    // Two passes over the block, so that the environ's index is the one allocation: the
    // first checks everything and counts, the second records the ranges.
    let count = scan_vars(&block, max_vars, |_, _| {})?;
    let mut env = Environ::with_capacity(count);
    let view = block.clone();
    let segment = env.add_segment(block)?;
    let mut pushed = Ok(());
    scan_vars(&view, max_vars, |key, value| {
        if pushed.is_ok() {
            pushed = env.push_segment_var(segment, key, value);
        }
    })?;
    pushed?;
    Ok(env)
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
    // One pass over the lengths alone: the bytes are not needed to size or check a block.
    let mut total = 0usize;
    for (index, (key_len, value_len)) in env.lengths().enumerate() {
        if key_len == 0 {
            return Err(MisuseError::EmptyKey { index });
        }
        for (part, len) in [(VarPart::Key, key_len), (VarPart::Value, value_len)] {
            if len > usize::from(u16::MAX) {
                return Err(MisuseError::VarTooLarge { part, index, len });
            }
        }
        total += 4 + key_len + value_len;
    }
    u16::try_from(total).map_err(|_| MisuseError::VarsBlockTooLarge { len: total })
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

/// Writes the vars of `env`, already checked by [`encoded_vars_len`] to take `len` bytes.
///
/// The block is sized once and filled as a plain slice: no capacity check per field.
fn write_vars(env: &Environ, len: u16, dst: &mut BytesMut) {
    let start = dst.len();
    dst.resize(start + usize::from(len), 0);
    let Some(out) = dst.get_mut(start..) else {
        return;
    };
    let mut out = SliceWriter::new(out);
    for (key, value) in env {
        // Lengths were checked in encoded_vars_len; the fallbacks are never taken.
        out.put(&u16::try_from(key.len()).unwrap_or(u16::MAX).to_le_bytes());
        out.put(key);
        out.put(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_le_bytes());
        out.put(value);
    }
    debug_assert_eq!(out.position(), usize::from(len));
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
    let datasize = encoded_vars_len(env)?;
    dst.reserve(Header::LEN + usize::from(datasize));
    Header {
        modifier1,
        datasize,
        modifier2,
    }
    .encode(dst);
    write_vars(env, datasize, dst);
    Ok(())
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
