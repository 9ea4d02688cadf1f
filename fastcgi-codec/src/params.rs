//! Name-value pairs: the PARAMS stream decoded into an [`Environ`] without copying, an
//! [`Environ`] encoded into PARAMS records, and the GET_VALUES management exchange.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use cgi_env::wire::SliceWriter;
use cgi_env::{Environ, PairBytes, fastcgi_pair_len};

use crate::encoder::{OutputQueue, Padding, RecordEncoder};
use crate::error::{EncodeError, Violation};
use crate::ids::RequestId;
use crate::record::{HEADER_LEN, RecordHeader, RecordType};

/// The longest name or value a 4-byte length can express (2^31 − 1).
pub const MAX_PAIR_FIELD_LEN: u32 = 0x7FFF_FFFF;

/// GET_VALUES name: most concurrent transport connections.
pub const FCGI_MAX_CONNS: &str = "FCGI_MAX_CONNS";
/// GET_VALUES name: most concurrent requests.
pub const FCGI_MAX_REQS: &str = "FCGI_MAX_REQS";
/// GET_VALUES name: "1" when the application multiplexes connections, "0" otherwise.
pub const FCGI_MPXS_CONNS: &str = "FCGI_MPXS_CONNS";

/// Reads one length field: `Some((length, bytes used))`, or `None` when `bytes` ends
/// before the field does. A 4-byte encoding of a small value is accepted.
pub fn read_length(bytes: &[u8]) -> Option<(u32, usize)> {
    let (&first, rest) = bytes.split_first()?;
    if first & 0x80 == 0 {
        return Some((u32::from(first), 1));
    }
    let [b1, b2, b3] = *rest.get(..3)? else {
        return None;
    };
    Some((u32::from_be_bytes([first & 0x7F, b1, b2, b3]), 4))
}

/// The two length fields of a pair: `Some((name_len, value_len, header_len))`, or `None`
/// when `bytes` ends before they do.
pub fn read_pair_header(bytes: &[u8]) -> Option<(u32, u32, usize)> {
    let (name_len, used) = read_length(bytes)?;
    let (value_len, used2) = read_length(bytes.get(used..)?)?;
    Some((name_len, value_len, used + used2))
}

/// Writes a length field: 1 byte up to 127, 4 bytes above.
///
/// # Errors
/// [`EncodeError::LengthTooLong`] above 2^31 − 1.
pub fn write_length(len: usize, dst: &mut BytesMut) -> Result<(), EncodeError> {
    if let Ok(small) = u8::try_from(len)
        && small < 0x80
    {
        dst.put_u8(small);
        return Ok(());
    }
    let field = u32::try_from(len)
        .ok()
        .filter(|&l| l <= MAX_PAIR_FIELD_LEN)
        .ok_or(EncodeError::LengthTooLong { len })?;
    dst.put_u32(field | 0x8000_0000);
    Ok(())
}

/// Writes one name-value pair.
///
/// # Errors
/// [`EncodeError::LengthTooLong`] when the name or value is longer than 2^31 − 1.
pub fn write_pair(name: &[u8], value: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
    check_field(name.len())?;
    check_field(value.len())?;
    dst.reserve(fastcgi_pair_len(name.len(), value.len()));
    write_length(name.len(), dst)?;
    write_length(value.len(), dst)?;
    dst.extend_from_slice(name);
    dst.extend_from_slice(value);
    Ok(())
}

fn check_field(len: usize) -> Result<(), EncodeError> {
    if u32::try_from(len).is_ok_and(|l| l <= MAX_PAIR_FIELD_LEN) {
        Ok(())
    } else {
        Err(EncodeError::LengthTooLong { len })
    }
}

/// Size of a pair from its header, in u64 so that lengths near 2^31 cannot wrap.
fn pair_size(name_len: u32, value_len: u32, header_len: usize) -> u64 {
    header_len as u64 + u64::from(name_len) + u64::from(value_len)
}

/// Decodes the pairs of one complete buffer (a GET_VALUES or GET_VALUES_RESULT body):
/// names and values are slices of `content`.
///
/// # Errors
/// [`Violation::PairOverrun`] when a pair's lengths run past the end of `content`.
pub fn decode_pairs(content: &Bytes) -> Result<Vec<(Bytes, Bytes)>, Violation> {
    let mut pairs = Vec::new();
    let mut offset = 0;
    while let Some(rest) = content.get(offset..).filter(|rest| !rest.is_empty()) {
        let overrun = |name_len, value_len| Violation::PairOverrun {
            offset,
            name_len,
            value_len,
            available: rest.len(),
        };
        let (name_len, value_len, header_len) =
            read_pair_header(rest).ok_or_else(|| overrun(0, 0))?;
        let size = pair_size(name_len, value_len, header_len);
        if size > rest.len() as u64 {
            return Err(overrun(name_len, value_len));
        }
        // All three fit in `rest.len()`, checked above.
        let name_start = offset + header_len;
        let value_start = name_start + name_len as usize;
        let end = value_start + value_len as usize;
        pairs.push((
            content.slice(name_start..value_start),
            content.slice(value_start..end),
        ));
        offset = end;
    }
    Ok(pairs)
}

/// Decodes a PARAMS stream into an [`Environ`], record by record.
///
/// Each record's content is added to the environ as a segment and every pair inside it is
/// recorded as two ranges: no name or value is copied. A pair split across two records
/// (the spec allows it; nginx and PHP never do it) is gathered in a small buffer of its
/// own, the one copy this decoder makes, and added as a segment of its own.
///
/// Lengths are checked in 64-bit arithmetic against the limit before any byte is kept, so
/// lengths near 2^31 neither wrap nor allocate (the CVE-2025-23016 shape).
///
/// ```
/// use bytes::Bytes;
/// use fastcgi_codec::ParamsDecoder;
///
/// let mut decoder = ParamsDecoder::new(64 * 1024);
/// decoder.feed(Bytes::from_static(b"\x0e\x03REQUEST_METHODGET\x0c\x00QUER")).unwrap();
/// decoder.feed(Bytes::from_static(b"Y_STRING")).unwrap();
/// let env = decoder.finish().unwrap();
/// assert_eq!(env.get("REQUEST_METHOD"), Some(&b"GET"[..]));
/// assert_eq!(env.get("QUERY_STRING"), Some(&b""[..]));
/// ```
#[derive(Debug, Clone)]
pub struct ParamsDecoder {
    environ: Environ,
    /// Bytes of a pair that started in an earlier record.
    partial: Vec<u8>,
    total: usize,
    limit: usize,
}

impl ParamsDecoder {
    /// A decoder that accepts at most `limit` bytes of PARAMS content.
    pub fn new(limit: usize) -> Self {
        ParamsDecoder {
            environ: Environ::new(),
            partial: Vec::new(),
            total: 0,
            limit,
        }
    }

    /// PARAMS content bytes received so far.
    pub fn received(&self) -> usize {
        self.total
    }

    /// Adds one PARAMS record's content.
    ///
    /// # Errors
    /// [`Violation::ParamsTooLarge`] past the limit, [`Violation::PairTooLarge`] for a pair
    /// that alone exceeds it.
    pub fn feed(&mut self, content: Bytes) -> Result<(), Violation> {
        self.total = self
            .total
            .checked_add(content.len())
            .filter(|&total| total <= self.limit)
            .ok_or(Violation::ParamsTooLarge { limit: self.limit })?;
        let mut rest = content;
        if !self.partial.is_empty() {
            let used = self.continue_partial(&rest)?;
            rest.advance(used);
        }
        if rest.is_empty() {
            return Ok(());
        }
        // One scan that checks the pairs and notes where they are, on the stack; then the
        // index grows once, by the count, and the record is shared with the environ.
        let mut spans = [[0u16; 3]; STACK_PAIRS];
        let mut count = 0;
        let mut overflow = rest.len() > usize::from(u16::MAX);
        let whole = if overflow {
            0
        } else {
            scan_pairs(&rest, self.limit, |name, value| {
                match spans.get_mut(count) {
                    // Within u16: `rest` is at most 65535 bytes.
                    Some(span) => {
                        *span = [name.start as u16, value.start as u16, value.end as u16];
                        count += 1;
                    }
                    None => overflow = true,
                }
            })?
        };
        if overflow {
            return self.feed_counted(&rest);
        }
        if count > 0 {
            self.environ.reserve(count);
            let segment = self.add_segment(rest.clone())?;
            let spans = spans.get(..count).unwrap_or_default().iter().map(|span| {
                let [name, value, end] = span.map(usize::from);
                (name..value, value..end)
            });
            self.environ
                .extend_segment_vars(segment, spans)
                .map_err(Violation::Environ)?;
        }
        self.partial
            .extend_from_slice(rest.get(whole..).unwrap_or_default());
        Ok(())
    }

    /// [`ParamsDecoder::feed`] for content with more pairs than [`STACK_PAIRS`] (or more
    /// than a record holds): a scan to count them, so that the index grows once, then one
    /// to index them.
    fn feed_counted(&mut self, rest: &Bytes) -> Result<(), Violation> {
        self.environ.reserve(complete_pairs(rest));
        let mut segment = None;
        let mut pushed = Ok(());
        let whole = scan_pairs(rest, self.limit, |name, value| {
            if pushed.is_err() {
                return;
            }
            let seg = match segment {
                Some(seg) => seg,
                None => match self.environ.add_segment(rest.clone()) {
                    Ok(seg) => *segment.insert(seg),
                    Err(error) => {
                        pushed = Err(Violation::Environ(error));
                        return;
                    }
                },
            };
            pushed = self
                .environ
                .push_segment_var(seg, name, value)
                .map_err(Violation::Environ);
        })?;
        pushed?;
        self.partial
            .extend_from_slice(rest.get(whole..).unwrap_or_default());
        Ok(())
    }

    fn check_pair_size(&self, size: u64) -> Result<(), Violation> {
        if size > self.limit as u64 {
            return Err(Violation::PairTooLarge {
                len: size,
                limit: self.limit,
            });
        }
        Ok(())
    }

    fn add_segment(&mut self, bytes: Bytes) -> Result<cgi_env::SegmentId, Violation> {
        self.environ.add_segment(bytes).map_err(Violation::Environ)
    }

    /// Moves bytes of `content` into the pending pair until it is complete; returns how
    /// many bytes were used.
    fn continue_partial(&mut self, content: &[u8]) -> Result<usize, Violation> {
        let mut used = 0;
        // First complete the two length fields (at most 8 bytes).
        let (name_len, value_len, header_len) = loop {
            if let Some(header) = read_pair_header(&self.partial) {
                break header;
            }
            let Some(&byte) = content.get(used) else {
                return Ok(used);
            };
            self.partial.push(byte);
            used += 1;
        };
        let size = pair_size(name_len, value_len, header_len);
        self.check_pair_size(size)?;
        // size ≤ limit, which is a usize.
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let want = size.saturating_sub(self.partial.len());
        let available = content.len().saturating_sub(used);
        let take = want.min(available);
        self.partial
            .extend_from_slice(content.get(used..used + take).unwrap_or_default());
        used += take;
        if self.partial.len() == size {
            let pair = Bytes::from(std::mem::take(&mut self.partial));
            let seg = self.add_segment(pair)?;
            let value_start = header_len + name_len as usize;
            self.environ
                .push_segment_var(seg, header_len..value_start, value_start..size)
                .map_err(Violation::Environ)?;
        }
        Ok(used)
    }

    /// Ends the stream and returns the environ.
    ///
    /// # Errors
    /// [`Violation::TruncatedPair`] when the stream ended inside a pair.
    pub fn finish(self) -> Result<Environ, Violation> {
        if self.partial.is_empty() {
            Ok(self.environ)
        } else {
            Err(Violation::TruncatedPair {
                pending: self.partial.len(),
            })
        }
    }
}

/// Pairs [`ParamsDecoder::feed`] indexes in one scan, noting them on the stack; a record
/// with more is indexed in two scans.
const STACK_PAIRS: usize = 64;

/// Walks the whole pairs `content` starts with, checking each pair against `limit`, and
/// calls `visit` with each name's and value's range; returns where the whole pairs end
/// (an incomplete pair may follow).
fn scan_pairs(
    content: &[u8],
    limit: usize,
    mut visit: impl FnMut(std::ops::Range<usize>, std::ops::Range<usize>),
) -> Result<usize, Violation> {
    let mut offset = 0;
    while let Some(tail) = content.get(offset..).filter(|tail| !tail.is_empty()) {
        let Some((name_len, value_len, header_len)) = read_pair_header(tail) else {
            break;
        };
        let size = pair_size(name_len, value_len, header_len);
        if size > limit as u64 {
            return Err(Violation::PairTooLarge { len: size, limit });
        }
        if size > tail.len() as u64 {
            break;
        }
        let name_start = offset + header_len;
        let value_start = name_start + name_len as usize;
        let end = value_start + value_len as usize;
        visit(name_start..value_start, value_start..end);
        offset = end;
    }
    Ok(offset)
}

/// How many whole pairs `content` starts with: a cheap pass over the lengths, so that the
/// environ's index is sized once.
fn complete_pairs(content: &[u8]) -> usize {
    let mut count = 0;
    let mut offset = 0usize;
    while let Some((name_len, value_len, header_len)) =
        content.get(offset..).and_then(read_pair_header)
    {
        let size = pair_size(name_len, value_len, header_len);
        match usize::try_from(size)
            .ok()
            .and_then(|size| offset.checked_add(size))
        {
            Some(end) if end <= content.len() => offset = end,
            _ => break,
        }
        count += 1;
    }
    count
}

/// Checks that every pair of `environ` fits one record of at most `max` bytes, from the
/// lengths alone.
fn check_environ(environ: &Environ, max: usize) -> Result<usize, EncodeError> {
    // The environ keeps its encoded size: when all of it fits one record, so does every
    // pair, and every field is far below 2^31. The usual case needs no pass.
    let total = environ.fastcgi_encoded_len();
    if total <= max {
        return Ok(total);
    }
    let mut total = 0;
    for (name_len, value_len) in environ.lengths() {
        check_field(name_len)?;
        check_field(value_len)?;
        let len = fastcgi_pair_len(name_len, value_len);
        if len > max {
            return Err(EncodeError::PairTooLarge { len, max });
        }
        total += len;
    }
    Ok(total)
}

/// Appends `environ` (already checked; its pairs take `total` bytes) to `dst` as PARAMS
/// records of at most `max` bytes of content each, never splitting a pair: header, pairs
/// and padding of each record written in place.
///
/// Each record is sized from the lengths, then its bytes are filled as a plain slice, with
/// no capacity check per field.
fn write_params_records(
    environ: &Environ,
    total: usize,
    request_id: RequestId,
    padding: Padding,
    dst: &mut BytesMut,
) {
    let max = usize::from(padding.max_content());
    let mut lengths = environ.lengths();
    let mut vars = environ.pairs();
    loop {
        let (mut size, mut count) = (0, 0);
        if total <= max {
            // The usual case: everything fits one record, whose size is already known
            // (after it, no var is left and the loop ends).
            (size, count) = (total, vars.len());
        } else {
            for (name_len, value_len) in lengths.clone() {
                let len = fastcgi_pair_len(name_len, value_len);
                if size + len > max {
                    break;
                }
                size += len;
                count += 1;
            }
        }
        if count == 0 {
            return;
        }
        lengths.nth(count - 1);
        // size ≤ max ≤ 65535.
        let content_len = u16::try_from(size).unwrap_or(u16::MAX);
        let pad = padding.padding_for(content_len);
        let start = dst.len();
        dst.resize(start + HEADER_LEN + size + usize::from(pad), 0);
        let mut out = SliceWriter::new(dst.get_mut(start..).unwrap_or_default());
        out.put(&RecordHeader::new(RecordType::Params, request_id, content_len, pad).to_bytes());
        for (name_len, value_len, bytes) in vars.by_ref().take(count) {
            put_length(&mut out, name_len);
            put_length(&mut out, value_len);
            match bytes {
                PairBytes::Joined(pair) => out.put(pair),
                PairBytes::Apart(name, value) => {
                    out.put(name);
                    out.put(value);
                }
            }
        }
    }
}

/// The bytes [`write_params_records`] appends for pairs of `total` bytes: the pairs, and a
/// header and at most 7 bytes of padding per record.
fn params_records_len(total: usize, max: usize) -> usize {
    total + total.div_ceil(max.max(1)) * (HEADER_LEN + 7)
}

/// Writes a pair length (checked ≤ 2^31 − 1): 1 byte below 128, else 4.
#[inline]
fn put_length(out: &mut SliceWriter<'_>, len: usize) {
    if len < 0x80 {
        out.put_u8(len as u8);
    } else {
        out.put(&((len as u32) | 0x8000_0000).to_be_bytes());
    }
}

/// Encodes `environ` as PARAMS records for `request_id`, followed by the empty PARAMS
/// record. Pairs are never split across records (PHP-FPM refuses that), and a record
/// carries at most [`RecordEncoder::max_content`] bytes (65528 when padding).
///
/// Nothing is written when an error is returned.
///
/// # Errors
/// [`EncodeError::PairTooLarge`] when a single pair does not fit one record,
/// [`EncodeError::LengthTooLong`] for a name or value over 2^31 − 1 bytes.
pub fn encode_params(
    environ: &Environ,
    request_id: RequestId,
    encoder: &mut RecordEncoder,
    out: &mut OutputQueue,
) -> Result<(), EncodeError> {
    let total = check_environ(environ, encoder.max_content())?;
    // Written in place after what is queued: with BEGIN_REQUEST before and the end
    // records after, a request is one buffer to write. The room also holds the empty
    // PARAMS and an empty STDIN, so a bodiless request grows the buffer at most once.
    let room = params_records_len(total, encoder.max_content()) + 2 * HEADER_LEN;
    write_params_records(
        environ,
        total,
        request_id,
        encoder.padding(),
        out.tail_with_room(room),
    );
    encoder.stream_end(RecordType::Params, request_id, out);
    Ok(())
}

/// The copying path of [`encode_params`]: the records are appended to `dst`.
///
/// # Errors
/// As [`encode_params`]; nothing is written on error.
pub fn encode_params_into(
    environ: &Environ,
    request_id: RequestId,
    encoder: &RecordEncoder,
    dst: &mut BytesMut,
) -> Result<(), EncodeError> {
    let total = check_environ(environ, encoder.max_content())?;
    dst.reserve(params_records_len(total, encoder.max_content()) + HEADER_LEN);
    write_params_records(environ, total, request_id, encoder.padding(), dst);
    encoder.stream_into(RecordType::Params, request_id, &[], true, dst);
    Ok(())
}

/// The values of a GET_VALUES_RESULT: what a gateway learns from
/// [`crate::GatewayConnection::get_values`], or what an application answers with. A name
/// the peer left out is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GetValuesAnswer {
    /// FCGI_MAX_CONNS.
    pub max_conns: Option<u32>,
    /// FCGI_MAX_REQS.
    pub max_reqs: Option<u32>,
    /// FCGI_MPXS_CONNS.
    pub mpxs_conns: Option<bool>,
}

impl GetValuesAnswer {
    /// Reads the values from decoded pairs; unknown names and unparsable values are
    /// ignored.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Self {
        let mut values = GetValuesAnswer::default();
        for (name, value) in pairs {
            let number = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse::<u32>().ok());
            match name {
                n if n == FCGI_MAX_CONNS.as_bytes() => values.max_conns = number,
                n if n == FCGI_MAX_REQS.as_bytes() => values.max_reqs = number,
                n if n == FCGI_MPXS_CONNS.as_bytes() => values.mpxs_conns = number.map(|n| n != 0),
                _ => {}
            }
        }
        values
    }

    /// The answer to a GET_VALUES query for `names`, as pair content: the names this set
    /// knows, with their values, in the order asked (unknown names are left out).
    ///
    /// # Errors
    /// [`Violation::GetValuesAnswerTooLarge`] when the answer would not fit one record of
    /// `max` bytes (a query that repeats names); nothing is answered then.
    pub fn answer<'a>(
        &self,
        names: impl IntoIterator<Item = &'a [u8]>,
        max: usize,
    ) -> Result<BytesMut, Violation> {
        let mut content = BytesMut::new();
        for name in names {
            let value = match name {
                n if n == FCGI_MAX_CONNS.as_bytes() => self.max_conns.map(|v| v.to_string()),
                n if n == FCGI_MAX_REQS.as_bytes() => self.max_reqs.map(|v| v.to_string()),
                n if n == FCGI_MPXS_CONNS.as_bytes() => {
                    self.mpxs_conns.map(|v| u8::from(v).to_string())
                }
                _ => None,
            };
            let Some(value) = value else { continue };
            let len = content.len() + fastcgi_pair_len(name.len(), value.len());
            if len > max {
                return Err(Violation::GetValuesAnswerTooLarge { len, max });
            }
            // Both lengths are below `max` (≤ 65535), far below 2^31.
            write_pair(name, value.as_bytes(), &mut content)
                .map_err(|_| Violation::GetValuesAnswerTooLarge { len, max })?;
        }
        Ok(content)
    }
}

/// The content of a GET_VALUES query for the three standard names (FCGI_MAX_CONNS,
/// FCGI_MAX_REQS, FCGI_MPXS_CONNS, each with an empty value).
pub fn get_values_query() -> Bytes {
    Bytes::from_static(b"\x0e\x00FCGI_MAX_CONNS\x0d\x00FCGI_MAX_REQS\x0f\x00FCGI_MPXS_CONNS")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoder::RecordDecoder;
    use crate::encoder::Padding;

    #[test]
    fn more_pairs_than_the_stack_holds_are_decoded_in_order() {
        for pairs in [
            STACK_PAIRS - 1,
            STACK_PAIRS,
            STACK_PAIRS + 1,
            3 * STACK_PAIRS,
        ] {
            let mut content = BytesMut::new();
            for i in 0..pairs {
                let (name, value) = (format!("N{i}"), format!("v{i}"));
                write_pair(name.as_bytes(), value.as_bytes(), &mut content).unwrap();
            }
            // Split inside a pair, so the second feed continues a partial one.
            let content = content.freeze();
            let cut = content.len() / 2 + 1;
            let mut decoder = ParamsDecoder::new(1 << 20);
            decoder.feed(content.slice(..cut)).unwrap();
            decoder.feed(content.slice(cut..)).unwrap();
            let env = decoder.finish().unwrap();
            assert_eq!(env.len(), pairs);
            for (i, (name, value)) in env.iter().enumerate() {
                assert_eq!(name, format!("N{i}").as_bytes());
                assert_eq!(value, format!("v{i}").as_bytes());
            }
        }
    }

    #[test]
    fn four_byte_encoding_of_small_lengths_is_accepted() {
        let wire = Bytes::from_static(b"\x80\x00\x00\x01\x80\x00\x00\x02AXY");
        let pairs = decode_pairs(&wire).unwrap();
        assert_eq!(
            pairs,
            vec![(Bytes::from_static(b"A"), Bytes::from_static(b"XY"))]
        );
    }

    #[test]
    fn lengths_cross_the_127_boundary() {
        for len in [0usize, 1, 127, 128, 129, 300] {
            let mut dst = BytesMut::new();
            write_pair(&vec![b'n'; len], &vec![b'v'; len], &mut dst).unwrap();
            assert_eq!(dst.len(), fastcgi_pair_len(len, len));
            let pairs = decode_pairs(&dst.freeze()).unwrap();
            assert_eq!(pairs[0].0.len(), len);
            assert_eq!(pairs[0].1.len(), len);
        }
    }

    #[test]
    fn huge_lengths_neither_wrap_nor_allocate() {
        // name length 2^31 - 1, value length 2^31 - 1: CVE-2025-23016 shape.
        let wire = Bytes::from_static(b"\xff\xff\xff\xff\xff\xff\xff\xffAB");
        let err = decode_pairs(&wire).unwrap_err();
        assert!(matches!(
            err,
            Violation::PairOverrun {
                offset: 0,
                name_len: 0x7FFF_FFFF,
                value_len: 0x7FFF_FFFF,
                available: 10
            }
        ));
        let mut decoder = ParamsDecoder::new(1 << 20);
        let err = decoder.feed(wire).unwrap_err();
        assert_eq!(
            err,
            Violation::PairTooLarge {
                len: 8 + 2 * 0x7FFF_FFFF,
                limit: 1 << 20
            }
        );
        assert!(
            decoder.partial.capacity() < 64,
            "nothing reserved for the pair"
        );
    }

    #[test]
    fn a_pair_split_in_its_length_field_is_joined() {
        let mut dst = BytesMut::new();
        write_pair(&[b'N'; 200], b"value", &mut dst).unwrap();
        write_pair(b"B", b"2", &mut dst).unwrap();
        let wire = dst.freeze();
        for cut in 0..wire.len() {
            let mut decoder = ParamsDecoder::new(4096);
            decoder.feed(wire.slice(..cut)).unwrap();
            decoder.feed(wire.slice(cut..)).unwrap();
            let env = decoder.finish().unwrap();
            assert_eq!(env.get(vec![b'N'; 200]), Some(&b"value"[..]), "cut {cut}");
            assert_eq!(env.get("B"), Some(&b"2"[..]));
            assert_eq!(env.len(), 2);
        }
    }

    #[test]
    fn pairs_inside_one_record_are_not_copied() {
        let wire = Bytes::from_static(b"\x01\x02ABC\x01\x01DE");
        let mut decoder = ParamsDecoder::new(100);
        decoder.feed(wire.clone()).unwrap();
        let env = decoder.finish().unwrap();
        assert_eq!(env.get("A").unwrap().as_ptr(), wire[3..].as_ptr());
        assert_eq!(env.get("D").unwrap().as_ptr(), wire[8..].as_ptr());
    }

    #[test]
    fn params_limit_and_truncation() {
        let mut decoder = ParamsDecoder::new(10);
        decoder.feed(Bytes::from_static(b"\x01\x01AB")).unwrap();
        assert_eq!(
            decoder.feed(Bytes::from_static(b"\x01\x05ABCDEFG")),
            Err(Violation::ParamsTooLarge { limit: 10 })
        );
        let mut decoder = ParamsDecoder::new(100);
        decoder.feed(Bytes::from_static(b"\x05\x05ABC")).unwrap();
        assert_eq!(
            decoder.finish(),
            Err(Violation::TruncatedPair { pending: 5 })
        );
    }

    #[test]
    fn encoding_never_splits_a_pair_and_caps_records() {
        let mut env = Environ::new();
        for i in 0..40 {
            env.append(format!("NAME_{i}"), vec![b'x'; 4000]);
        }
        let mut encoder = RecordEncoder::new(Padding::Align8);
        let mut out = OutputQueue::new();
        encode_params(&env, RequestId::new(1), &mut encoder, &mut out).unwrap();
        let mut bytes = out.to_bytes_mut();
        let mut decoder = RecordDecoder::new();
        let mut params = ParamsDecoder::new(1 << 20);
        let mut lens = Vec::new();
        while let Some(record) = decoder.decode(&mut bytes).unwrap() {
            lens.push(record.content.len());
            // Every record holds whole pairs.
            decode_pairs(&record.content).unwrap();
            params.feed(record.content).unwrap();
        }
        assert!(lens.iter().all(|&l| l <= 65528));
        assert_eq!(lens.last(), Some(&0));
        assert!(lens.len() > 2);
        assert_eq!(params.finish().unwrap(), env);
        let mut copied = BytesMut::new();
        encode_params_into(&env, RequestId::new(1), &encoder, &mut copied).unwrap();
        let mut again = OutputQueue::new();
        encode_params(&env, RequestId::new(1), &mut encoder, &mut again).unwrap();
        assert_eq!(copied, again.to_bytes_mut());
    }

    #[test]
    fn a_pair_too_large_for_one_record_is_an_error() {
        let mut env = Environ::new();
        env.append("SMALL", "1");
        env.append("BIG", vec![b'x'; 65528]);
        let mut out = OutputQueue::new();
        let err = encode_params(
            &env,
            RequestId::new(1),
            &mut RecordEncoder::new(Padding::Align8),
            &mut out,
        )
        .unwrap_err();
        assert_eq!(
            err,
            EncodeError::PairTooLarge {
                len: 1 + 4 + 3 + 65528,
                max: 65528
            }
        );
        assert!(out.is_empty());
    }

    #[test]
    fn values_answer_and_parse() {
        let query = get_values_query();
        let names = decode_pairs(&query).unwrap();
        assert_eq!(names.len(), 3);
        for name in [FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS] {
            assert!(
                names
                    .iter()
                    .any(|(n, v)| n == name.as_bytes() && v.is_empty())
            );
        }
        let mine = GetValuesAnswer {
            max_conns: Some(10),
            max_reqs: None,
            mpxs_conns: Some(true),
        };
        let answer = mine
            .answer(names.iter().map(|(n, _)| &n[..]), 65528)
            .unwrap()
            .freeze();
        let pairs = decode_pairs(&answer).unwrap();
        assert_eq!(pairs.len(), 2);
        let parsed = GetValuesAnswer::from_pairs(pairs.iter().map(|(n, v)| (&n[..], &v[..])));
        assert_eq!(parsed, mine);
    }

    #[test]
    fn an_answer_longer_than_one_record_is_refused() {
        let mine = GetValuesAnswer {
            max_reqs: Some(1),
            ..GetValuesAnswer::default()
        };
        let names = std::iter::repeat_n(FCGI_MAX_REQS.as_bytes(), 5000);
        assert_eq!(
            mine.answer(names, 65528),
            Err(Violation::GetValuesAnswerTooLarge {
                len: 65528 - 65528 % 16 + 16,
                max: 65528
            })
        );
    }
}
