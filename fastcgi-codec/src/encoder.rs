//! [`RecordEncoder`]: records onto the wire, payloads passed through without copying.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::EncodeError;
use crate::record::{
    BeginRequestBody, EndRequestBody, HEADER_LEN, MANAGEMENT_ID, MAX_CONTENT_LEN,
    MAX_PADDED_CONTENT_LEN, RecordHeader, RecordType, UnknownTypeBody,
};

/// How records are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Padding {
    /// No padding; content up to 65535 bytes per record (uWSGI does this).
    None,
    /// Pad each record to a multiple of 8 bytes, as nginx and PHP-FPM do; content is then
    /// capped at 65528 bytes so that content plus padding stays within 65535.
    #[default]
    Align8,
}

impl Padding {
    /// Padding bytes after `content_len` bytes of content.
    pub const fn padding_for(self, content_len: u16) -> u8 {
        match self {
            Self::None => 0,
            // (8 - len % 8) % 8 is below 8, so the cast cannot truncate.
            Self::Align8 => ((8 - content_len % 8) % 8) as u8,
        }
    }

    /// The most content one record carries with this padding.
    pub const fn max_content(self) -> u16 {
        match self {
            Self::None => MAX_CONTENT_LEN,
            Self::Align8 => MAX_PADDED_CONTENT_LEN,
        }
    }
}

static ZEROS: [u8; 8] = [0; 8];

/// Encoded output as a list of [`Bytes`]: headers the encoder wrote, interleaved with the
/// payloads it was given, unchanged. It implements [`Buf`] (with
/// [`Buf::chunks_vectored`]), so it can be written with vectored writes, e.g. tokio's
/// `write_all_buf`, without copying the payloads.
///
/// ```
/// use bytes::{Buf, Bytes};
/// use fastcgi_codec::{Chunks, Padding, RecordEncoder, RecordType};
///
/// let body = Bytes::from(vec![7u8; 100_000]);
/// let mut out = Chunks::new();
/// let mut encoder = RecordEncoder::new(Padding::Align8);
/// encoder.stream(RecordType::Stdin, 1, body.clone(), &mut out);
/// encoder.stream_end(RecordType::Stdin, 1, &mut out);
/// // The first payload chunk is the body's own memory.
/// assert!(out.iter().any(|chunk| chunk.as_ptr() == body.as_ptr()));
/// // Two records of content (65528 + 34472, no padding needed) and the end record.
/// assert_eq!(out.remaining(), 100_000 + 3 * 8);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Chunks {
    parts: VecDeque<Bytes>,
    remaining: usize,
}

impl Chunks {
    /// An empty list, with room for the chunks of a typical request (BEGIN_REQUEST,
    /// PARAMS, the end records) before it grows.
    pub fn new() -> Self {
        Chunks {
            parts: VecDeque::with_capacity(8),
            remaining: 0,
        }
    }

    /// Appends a chunk (empty chunks are dropped).
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.remaining += chunk.len();
            self.parts.push_back(chunk);
        }
    }

    /// Moves every chunk of `other` to the end of this list.
    pub fn append(&mut self, other: &mut Chunks) {
        self.remaining += other.remaining;
        other.remaining = 0;
        self.parts.append(&mut other.parts);
    }

    /// Total bytes left.
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// Whether no bytes are left.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// The chunks, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.parts.iter()
    }

    /// The copying path: appends every byte to `dst` and empties this list.
    pub fn copy_into(&mut self, dst: &mut BytesMut) {
        dst.reserve(self.remaining);
        for part in self.parts.drain(..) {
            dst.put(part);
        }
        self.remaining = 0;
    }

    /// All bytes in one buffer (copies).
    pub fn to_bytes_mut(&self) -> BytesMut {
        let mut dst = BytesMut::with_capacity(self.remaining);
        for part in &self.parts {
            dst.extend_from_slice(part);
        }
        dst
    }
}

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |b| &b[..])
    }

    fn advance(&mut self, cnt: usize) {
        let mut cnt = cnt.min(self.remaining);
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(front) = self.parts.front_mut() else {
                break;
            };
            if cnt < front.len() {
                front.advance(cnt);
                break;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, part) in dst.iter_mut().zip(self.parts.iter()) {
            *slot = IoSlice::new(part);
            filled += 1;
        }
        filled
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        // A whole front chunk comes out without a copy.
        if self.parts.front().is_some_and(|front| front.len() == len) {
            self.remaining -= len;
            return self.parts.pop_front().unwrap_or_default();
        }
        let mut dst = BytesMut::with_capacity(len);
        dst.put(self.take(len));
        dst.freeze()
    }
}

/// Writes records: headers into a small buffer of its own, payloads passed through as the
/// [`Bytes`] they came in.
///
/// Streams of any length are cut into records of at most [`Padding::max_content`] bytes;
/// the content length written is always the length of the content that follows, checked
/// into a `u16` (no API takes a length that could be truncated).
#[derive(Debug, Clone, Default)]
pub struct RecordEncoder {
    padding: Padding,
    scratch: BytesMut,
}

impl RecordEncoder {
    /// An encoder with the given padding.
    pub fn new(padding: Padding) -> Self {
        RecordEncoder {
            padding,
            scratch: BytesMut::new(),
        }
    }

    /// The padding this encoder writes.
    pub fn padding(&self) -> Padding {
        self.padding
    }

    /// The most content one record carries.
    pub fn max_content(&self) -> usize {
        usize::from(self.padding.max_content())
    }

    fn header(&mut self, header: RecordHeader) -> Bytes {
        if self.scratch.capacity() < HEADER_LEN {
            // Headers share one allocation until it is used up.
            self.scratch.reserve(64 * HEADER_LEN);
        }
        self.scratch.extend_from_slice(&header.to_bytes());
        self.scratch.split().freeze()
    }

    fn push_record(
        &mut self,
        record_type: RecordType,
        request_id: u16,
        content: Bytes,
        len: u16,
        out: &mut Chunks,
    ) {
        let padding = self.padding.padding_for(len);
        let header = self.header(RecordHeader::new(record_type, request_id, len, padding));
        out.push(header);
        out.push(content);
        out.push(Bytes::from_static(
            ZEROS.get(..usize::from(padding)).unwrap_or_default(),
        ));
    }

    /// One record with `content`.
    ///
    /// # Errors
    /// [`EncodeError::ContentTooLong`] when `content` exceeds [`Padding::max_content`].
    pub fn record(
        &mut self,
        record_type: RecordType,
        request_id: u16,
        content: Bytes,
        out: &mut Chunks,
    ) -> Result<(), EncodeError> {
        let len = self.checked_len(record_type, content.len())?;
        self.push_record(record_type, request_id, content, len, out);
        Ok(())
    }

    fn checked_len(&self, record_type: RecordType, len: usize) -> Result<u16, EncodeError> {
        u16::try_from(len)
            .ok()
            .filter(|&len| len <= self.padding.max_content())
            .ok_or(EncodeError::ContentTooLong {
                record_type,
                len,
                max: self.max_content(),
            })
    }

    /// Stream content of any length, cut into as many records as it needs. Empty content
    /// writes nothing: the stream's end is [`RecordEncoder::stream_end`].
    pub fn stream(
        &mut self,
        record_type: RecordType,
        request_id: u16,
        mut payload: Bytes,
        out: &mut Chunks,
    ) {
        let max = self.padding.max_content();
        while !payload.is_empty() {
            let len = u16::try_from(payload.len()).map_or(max, |len| len.min(max));
            let piece = payload.split_to(usize::from(len));
            self.push_record(record_type, request_id, piece, len, out);
        }
    }

    /// The empty record that ends a stream.
    pub fn stream_end(&mut self, record_type: RecordType, request_id: u16, out: &mut Chunks) {
        self.push_record(record_type, request_id, Bytes::new(), 0, out);
    }

    fn fixed(&mut self, record_type: RecordType, request_id: u16, body: [u8; 8], out: &mut Chunks) {
        self.scratch.reserve(2 * HEADER_LEN);
        let header = RecordHeader::new(record_type, request_id, 8, 0);
        self.scratch.extend_from_slice(&header.to_bytes());
        self.scratch.extend_from_slice(&body);
        out.push(self.scratch.split().freeze());
    }

    /// A BEGIN_REQUEST record.
    pub fn begin_request(&mut self, request_id: u16, body: BeginRequestBody, out: &mut Chunks) {
        self.fixed(RecordType::BeginRequest, request_id, body.to_bytes(), out);
    }

    /// An END_REQUEST record.
    pub fn end_request(&mut self, request_id: u16, body: EndRequestBody, out: &mut Chunks) {
        self.fixed(RecordType::EndRequest, request_id, body.to_bytes(), out);
    }

    /// An UNKNOWN_TYPE record (on request id 0).
    pub fn unknown_type(&mut self, body: UnknownTypeBody, out: &mut Chunks) {
        self.fixed(RecordType::UnknownType, MANAGEMENT_ID, body.to_bytes(), out);
    }

    /// An ABORT_REQUEST record.
    pub fn abort_request(&mut self, request_id: u16, out: &mut Chunks) {
        self.push_record(RecordType::AbortRequest, request_id, Bytes::new(), 0, out);
    }

    /// The copying path: one record with `content`, appended to `dst`.
    ///
    /// # Errors
    /// [`EncodeError::ContentTooLong`] when `content` exceeds [`Padding::max_content`].
    pub fn record_into(
        &self,
        record_type: RecordType,
        request_id: u16,
        content: &[u8],
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let len = self.checked_len(record_type, content.len())?;
        self.put_record(record_type, request_id, content, len, dst);
        Ok(())
    }

    fn put_record(
        &self,
        record_type: RecordType,
        request_id: u16,
        content: &[u8],
        len: u16,
        dst: &mut BytesMut,
    ) {
        let padding = self.padding.padding_for(len);
        dst.reserve(HEADER_LEN + content.len() + usize::from(padding));
        dst.extend_from_slice(&RecordHeader::new(record_type, request_id, len, padding).to_bytes());
        dst.extend_from_slice(content);
        dst.extend_from_slice(ZEROS.get(..usize::from(padding)).unwrap_or_default());
    }

    /// The copying path for streams: `payload` cut into records appended to `dst`, and the
    /// empty end record when `end`.
    pub fn stream_into(
        &self,
        record_type: RecordType,
        request_id: u16,
        payload: &[u8],
        end: bool,
        dst: &mut BytesMut,
    ) {
        let max = self.max_content();
        for piece in payload.chunks(max) {
            // Pieces are at most `max` (≤ 65535) long.
            let len = u16::try_from(piece.len()).unwrap_or(MAX_CONTENT_LEN);
            self.put_record(record_type, request_id, piece, len, dst);
        }
        if end {
            self.put_record(record_type, request_id, &[], 0, dst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoder::RecordDecoder;

    fn decode_all(mut bytes: BytesMut) -> Vec<crate::Record> {
        let mut decoder = RecordDecoder::new();
        let mut out = Vec::new();
        while let Some(record) = decoder.decode(&mut bytes).unwrap() {
            out.push(record);
        }
        assert!(bytes.is_empty());
        out
    }

    #[test]
    fn padded_stream_caps_content_at_65528() {
        let payload = Bytes::from(vec![1u8; 200_000]);
        let mut out = Chunks::new();
        let mut encoder = RecordEncoder::new(Padding::Align8);
        encoder.stream(RecordType::Stdout, 1, payload.clone(), &mut out);
        encoder.stream_end(RecordType::Stdout, 1, &mut out);
        let records = decode_all(out.to_bytes_mut());
        let lens: Vec<_> = records.iter().map(|r| r.content.len()).collect();
        assert_eq!(lens, vec![65528, 65528, 65528, 3416, 0]);
        for record in &records {
            let total = usize::from(record.header.content_length)
                + usize::from(record.header.padding_length);
            assert!(total <= 65535);
            assert_eq!(total % 8, 0);
        }
    }

    #[test]
    fn unpadded_stream_uses_full_records() {
        let mut out = Chunks::new();
        let mut encoder = RecordEncoder::new(Padding::None);
        encoder.stream(
            RecordType::Stdout,
            1,
            Bytes::from(vec![1u8; 65536]),
            &mut out,
        );
        let lens: Vec<_> = decode_all(out.to_bytes_mut())
            .iter()
            .map(|r| r.content.len())
            .collect();
        assert_eq!(lens, vec![65535, 1]);
    }

    #[test]
    fn copying_path_gives_the_same_bytes() {
        let payload: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        for padding in [Padding::None, Padding::Align8] {
            let mut encoder = RecordEncoder::new(padding);
            let mut out = Chunks::new();
            encoder.stream(RecordType::Stdin, 9, Bytes::from(payload.clone()), &mut out);
            encoder.stream_end(RecordType::Stdin, 9, &mut out);
            let mut copied = BytesMut::new();
            encoder.stream_into(RecordType::Stdin, 9, &payload, true, &mut copied);
            assert_eq!(out.to_bytes_mut(), copied);
        }
    }

    #[test]
    fn too_long_content_is_refused() {
        let mut encoder = RecordEncoder::new(Padding::Align8);
        let mut out = Chunks::new();
        let err = encoder
            .record(
                RecordType::GetValuesResult,
                0,
                Bytes::from(vec![0; 65529]),
                &mut out,
            )
            .unwrap_err();
        assert_eq!(
            err,
            EncodeError::ContentTooLong {
                record_type: RecordType::GetValuesResult,
                len: 65529,
                max: 65528
            }
        );
        assert!(out.is_empty());
        let mut dst = BytesMut::new();
        assert!(
            encoder
                .record_into(RecordType::Stdout, 1, &vec![0; 70_000], &mut dst)
                .is_err()
        );
        assert!(dst.is_empty());
        let unpadded = RecordEncoder::new(Padding::None);
        unpadded
            .record_into(RecordType::Stdout, 1, &vec![0; 65535], &mut dst)
            .unwrap();
        assert_eq!(dst.len(), 65535 + 8);
    }

    #[test]
    fn chunks_buf_advances_across_parts() {
        let mut chunks = Chunks::new();
        chunks.push(Bytes::from_static(b"abc"));
        chunks.push(Bytes::new());
        chunks.push(Bytes::from_static(b"defg"));
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(chunks.chunks_vectored(&mut slices), 2);
        chunks.advance(4);
        assert_eq!(chunks.chunk(), b"efg");
        assert_eq!(chunks.copy_to_bytes(3), Bytes::from_static(b"efg"));
        assert!(chunks.is_empty());
    }

    #[test]
    fn fixed_records_have_zero_reserved_bytes() {
        let mut encoder = RecordEncoder::new(Padding::Align8);
        let mut out = Chunks::new();
        encoder.begin_request(
            1,
            BeginRequestBody::new(crate::Role::Responder, false),
            &mut out,
        );
        assert_eq!(
            &out.to_bytes_mut()[..],
            &[1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        );
    }
}
