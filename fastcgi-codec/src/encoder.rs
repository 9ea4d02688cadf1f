//! [`RecordEncoder`]: records onto the wire, payloads passed through without copying.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::EncodeError;
use crate::ids::RequestId;
use crate::record::{
    BeginRequestBody, EndRequestBody, HEADER_LEN, MAX_CONTENT_LEN, MAX_PADDED_CONTENT_LEN,
    RecordHeader, RecordType, UnknownTypeBody,
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

/// Payloads shorter than this are copied next to their record header instead of being
/// chained as a slice of their own (h2's `CHAIN_THRESHOLD`): a small response goes out as
/// one slice, a large body is never copied.
pub const CHAIN_THRESHOLD: usize = 256;

/// The least the queue's own buffer grows by, so that a run of small records shares one
/// allocation (small enough for the allocator's fast path).
const TAIL_RESERVE: usize = 512;

/// Encoded output waiting to be written: record headers, padding, small payloads and PARAMS
/// records (written in place) in a buffer of the queue's own, and payloads of [`CHAIN_THRESHOLD`] bytes or
/// more chained in between as the [`Bytes`] they came in, unchanged. It implements
/// [`Buf`] (with [`Buf::chunks_vectored`]), so it can be written with vectored writes,
/// e.g. tokio's `write_all_buf`, without copying the large payloads.
///
/// ```
/// use bytes::{Buf, Bytes};
/// use fastcgi_codec::{OutputQueue, Padding, RecordEncoder, RecordType, RequestId};
///
/// let id = RequestId::new(1);
/// let body = Bytes::from(vec![7u8; 100_000]);
/// let mut out = OutputQueue::new();
/// let mut encoder = RecordEncoder::new(Padding::Align8);
/// encoder.stream(RecordType::Stdin, id, body.clone(), &mut out);
/// encoder.stream_end(RecordType::Stdin, id, &mut out);
/// // The first payload chunk is the body's own memory.
/// assert!(out.iter().any(|chunk| chunk.as_ptr() == body.as_ptr()));
/// // Two records of content (65528 + 34472, no padding needed) and the end record.
/// assert_eq!(out.remaining(), 100_000 + 3 * 8);
///
/// // A small record is one slice: header, content and padding together.
/// let mut small = OutputQueue::new();
/// encoder.stream(RecordType::Stdout, id, Bytes::from_static(b"hi"), &mut small);
/// encoder.stream_end(RecordType::Stdout, id, &mut small);
/// assert_eq!(small.iter().count(), 1);
/// assert_eq!(small.len(), 8 + 2 + 6 + 8);
/// ```
#[derive(Debug, Clone, Default)]
pub struct OutputQueue {
    /// OutputQueue before `tail`, in order.
    parts: VecDeque<Bytes>,
    /// Bytes of `parts`.
    parts_len: usize,
    /// Small writes after every chunk of `parts`.
    tail: BytesMut,
    /// Taken from before: the queue of a connection that lives on, whose own buffer's room
    /// is kept for the next writes (a one-shot queue hands its buffer over whole).
    taken_before: bool,
}

impl OutputQueue {
    /// An empty queue; it allocates with its first write.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a chunk: chained as it is from [`CHAIN_THRESHOLD`] bytes on, copied into
    /// the queue's own buffer below.
    pub fn push(&mut self, chunk: Bytes) {
        if chunk.len() < CHAIN_THRESHOLD {
            self.put_slice(&chunk);
        } else {
            self.flush_tail();
            self.parts_len += chunk.len();
            self.parts.push_back(chunk);
        }
    }

    /// Copies `bytes` into the queue's own buffer.
    pub(crate) fn put_slice(&mut self, bytes: &[u8]) {
        if self.tail.capacity() - self.tail.len() < bytes.len() {
            self.tail.reserve(bytes.len().max(TAIL_RESERVE));
        }
        self.tail.extend_from_slice(bytes);
    }

    /// Makes room in the queue's own buffer for `additional` more bytes, for a caller that
    /// knows more writes are coming (a request's head).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.tail.reserve(additional);
    }

    /// The queue's own buffer, with room for `additional` more bytes: for an encoder that
    /// writes records in place (the params), after everything queued so far.
    pub(crate) fn tail_with_room(&mut self, additional: usize) -> &mut BytesMut {
        self.tail.reserve(additional);
        &mut self.tail
    }

    /// Moves the small writes so far into `parts`; the buffer's spare room stays for the
    /// next ones.
    fn flush_tail(&mut self) {
        if !self.tail.is_empty() {
            self.parts_len += self.tail.len();
            self.parts.push_back(self.tail.split().freeze());
        }
    }

    /// Takes everything queued, leaving the room the own buffer has left for what is
    /// queued next: a connection that queues a few small records at a time reuses one
    /// allocation for many takes.
    pub(crate) fn take_queued(&mut self) -> OutputQueue {
        // Nothing to take: callers take after every step, most often with nothing queued,
        // and a split costs two atomic operations on the shared buffer.
        if self.is_empty() {
            return OutputQueue::default();
        }
        // Splitting makes the buffer shared, an allocation of its own: worth it from the
        // second take on, when the buffer's room serves many.
        let tail = if std::mem::replace(&mut self.taken_before, true) {
            self.tail.split()
        } else {
            std::mem::take(&mut self.tail)
        };
        OutputQueue {
            parts: std::mem::take(&mut self.parts),
            parts_len: std::mem::take(&mut self.parts_len),
            tail,
            taken_before: false,
        }
    }

    /// Moves every chunk of `other` to the end of this queue.
    pub fn append(&mut self, other: &mut OutputQueue) {
        if other.is_empty() {
            return;
        }
        self.flush_tail();
        self.parts_len += other.parts_len;
        other.parts_len = 0;
        self.parts.append(&mut other.parts);
        self.tail = std::mem::take(&mut other.tail);
    }

    /// Total bytes left.
    pub fn len(&self) -> usize {
        self.parts_len + self.tail.len()
    }

    /// Whether no bytes are left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunks, in order: what a vectored write sends as slices.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.parts
            .iter()
            .map(|part| &part[..])
            .chain(Some(&self.tail[..]).filter(|tail| !tail.is_empty()))
    }

    /// The copying path: appends every byte to `dst` and empties this queue.
    ///
    /// When `dst` is empty, no larger than this queue's own buffer and everything queued
    /// is in that buffer, the two buffers trade places instead: `dst` gets the bytes
    /// without a copy, and the queue keeps `dst`'s room for its next writes.
    pub fn copy_into(&mut self, dst: &mut BytesMut) {
        if self.parts.is_empty() && dst.is_empty() && dst.capacity() <= self.tail.capacity() {
            std::mem::swap(dst, &mut self.tail);
            return;
        }
        dst.reserve(self.len());
        for part in self.parts.drain(..) {
            dst.put(part);
        }
        self.parts_len = 0;
        dst.extend_from_slice(&self.tail);
        self.tail.clear();
    }

    /// All bytes in one buffer (copies).
    pub fn to_bytes_mut(&self) -> BytesMut {
        let mut dst = BytesMut::with_capacity(self.len());
        for chunk in self.iter() {
            dst.extend_from_slice(chunk);
        }
        dst
    }
}

impl Buf for OutputQueue {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&self.tail[..], |b| &b[..])
    }

    fn advance(&mut self, cnt: usize) {
        let mut cnt = cnt.min(self.len());
        while cnt > 0 {
            let Some(front) = self.parts.front_mut() else {
                self.tail.advance(cnt);
                return;
            };
            if cnt < front.len() {
                front.advance(cnt);
                self.parts_len -= cnt;
                return;
            }
            cnt -= front.len();
            self.parts_len -= front.len();
            self.parts.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, chunk) in dst.iter_mut().zip(self.iter()) {
            *slot = IoSlice::new(chunk);
            filled += 1;
        }
        filled
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        // A whole front chunk comes out without a copy.
        if self.parts.front().is_some_and(|front| front.len() == len) {
            self.parts_len -= len;
            return self.parts.pop_front().unwrap_or_default();
        }
        // So does the own buffer, when nothing is chained before it: the bytes asked for
        // are split off it (all of it, most of the time: a driver takes a chunk at once).
        if self.parts.is_empty() && len <= self.tail.len() {
            return if len == self.tail.len() {
                std::mem::take(&mut self.tail).freeze()
            } else {
                self.tail.split_to(len).freeze()
            };
        }
        let mut dst = BytesMut::with_capacity(len);
        dst.put(self.take(len));
        dst.freeze()
    }
}

/// Writes records into an [`OutputQueue`]: headers and small payloads into the queue's
/// own buffer, payloads of [`CHAIN_THRESHOLD`] bytes or more passed through as the
/// [`Bytes`] they came in.
///
/// Streams of any length are cut into records of at most [`Padding::max_content`] bytes;
/// the content length written is always the length of the content that follows, checked
/// into a `u16` (no API takes a length that could be truncated).
#[derive(Debug, Clone, Default)]
pub struct RecordEncoder {
    padding: Padding,
}

impl RecordEncoder {
    /// An encoder with the given padding.
    pub fn new(padding: Padding) -> Self {
        RecordEncoder { padding }
    }

    /// The padding this encoder writes.
    pub fn padding(&self) -> Padding {
        self.padding
    }

    /// The most content one record carries.
    pub fn max_content(&self) -> usize {
        usize::from(self.padding.max_content())
    }

    fn push_record(
        &mut self,
        record_type: RecordType,
        request_id: RequestId,
        content: Bytes,
        len: u16,
        out: &mut OutputQueue,
    ) {
        let padding = self.padding.padding_for(len);
        out.put_slice(&RecordHeader::new(record_type, request_id, len, padding).to_bytes());
        out.push(content);
        out.put_slice(ZEROS.get(..usize::from(padding)).unwrap_or_default());
    }

    /// One record with `content`.
    ///
    /// # Errors
    /// [`EncodeError::ContentTooLong`] when `content` exceeds [`Padding::max_content`].
    pub fn record(
        &mut self,
        record_type: RecordType,
        request_id: RequestId,
        content: Bytes,
        out: &mut OutputQueue,
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
        request_id: RequestId,
        mut payload: Bytes,
        out: &mut OutputQueue,
    ) {
        let max = self.padding.max_content();
        while !payload.is_empty() {
            let len = u16::try_from(payload.len()).map_or(max, |len| len.min(max));
            let piece = payload.split_to(usize::from(len));
            self.push_record(record_type, request_id, piece, len, out);
        }
    }

    /// The empty record that ends a stream.
    pub fn stream_end(
        &mut self,
        record_type: RecordType,
        request_id: RequestId,
        out: &mut OutputQueue,
    ) {
        self.push_record(record_type, request_id, Bytes::new(), 0, out);
    }

    fn fixed(record_type: RecordType, request_id: RequestId, body: [u8; 8], out: &mut OutputQueue) {
        let header = RecordHeader::new(record_type, request_id, 8, 0);
        out.put_slice(&header.to_bytes());
        out.put_slice(&body);
    }

    /// A BEGIN_REQUEST record.
    pub fn begin_request(
        &mut self,
        request_id: RequestId,
        body: BeginRequestBody,
        out: &mut OutputQueue,
    ) {
        Self::fixed(RecordType::BeginRequest, request_id, body.to_bytes(), out);
    }

    /// An END_REQUEST record.
    pub fn end_request(
        &mut self,
        request_id: RequestId,
        body: EndRequestBody,
        out: &mut OutputQueue,
    ) {
        Self::fixed(RecordType::EndRequest, request_id, body.to_bytes(), out);
    }

    /// An UNKNOWN_TYPE record (on request id 0).
    pub fn unknown_type(&mut self, body: UnknownTypeBody, out: &mut OutputQueue) {
        Self::fixed(
            RecordType::UnknownType,
            RequestId::MANAGEMENT,
            body.to_bytes(),
            out,
        );
    }

    /// An ABORT_REQUEST record.
    pub fn abort_request(&mut self, request_id: RequestId, out: &mut OutputQueue) {
        self.push_record(RecordType::AbortRequest, request_id, Bytes::new(), 0, out);
    }

    /// The copying path: one record with `content`, appended to `dst`.
    ///
    /// # Errors
    /// [`EncodeError::ContentTooLong`] when `content` exceeds [`Padding::max_content`].
    pub fn record_into(
        &self,
        record_type: RecordType,
        request_id: RequestId,
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
        request_id: RequestId,
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
        request_id: RequestId,
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
    use crate::test_support::decode_all;

    #[test]
    fn padded_stream_caps_content_at_65528() {
        let payload = Bytes::from(vec![1u8; 200_000]);
        let mut out = OutputQueue::new();
        let mut encoder = RecordEncoder::new(Padding::Align8);
        encoder.stream(
            RecordType::Stdout,
            RequestId::new(1),
            payload.clone(),
            &mut out,
        );
        encoder.stream_end(RecordType::Stdout, RequestId::new(1), &mut out);
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
        let mut out = OutputQueue::new();
        let mut encoder = RecordEncoder::new(Padding::None);
        encoder.stream(
            RecordType::Stdout,
            RequestId::new(1),
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
            let mut out = OutputQueue::new();
            encoder.stream(
                RecordType::Stdin,
                RequestId::new(9),
                Bytes::from(payload.clone()),
                &mut out,
            );
            encoder.stream_end(RecordType::Stdin, RequestId::new(9), &mut out);
            let mut copied = BytesMut::new();
            encoder.stream_into(
                RecordType::Stdin,
                RequestId::new(9),
                &payload,
                true,
                &mut copied,
            );
            assert_eq!(out.to_bytes_mut(), copied);
        }
    }

    #[test]
    fn copy_into_an_empty_buffer_trades_buffers_instead_of_copying() {
        let id = RequestId::new(1);
        let mut encoder = RecordEncoder::new(Padding::None);
        let begin = crate::BeginRequestBody::new(crate::Role::Responder, true);
        let mut out = OutputQueue::new();
        encoder.begin_request(id, begin, &mut out);
        let written = out.to_bytes_mut();
        let queued_at = out.iter().next().map(<[u8]>::as_ptr);

        // An empty destination with less room: the queue's buffer moves into it.
        let mut dst = BytesMut::with_capacity(16);
        let dst_room = dst.capacity();
        out.copy_into(&mut dst);
        assert_eq!(dst, written);
        assert_eq!(Some(dst.as_ptr()), queued_at, "no copy");
        assert!(out.is_empty());
        assert!(out.tail.capacity() >= dst_room, "the queue keeps the room");

        // A destination holding bytes already, or with more room: copied, appended.
        for mut dst in [BytesMut::from(&b"x"[..]), BytesMut::with_capacity(1 << 20)] {
            let before = dst.clone();
            encoder.begin_request(id, begin, &mut out);
            let room = dst.capacity();
            out.copy_into(&mut dst);
            assert_eq!(&dst[..before.len()], &before[..]);
            assert_eq!(&dst[before.len()..], &written[..]);
            assert!(dst.capacity() >= room);
            assert!(out.is_empty());
        }
    }

    #[test]
    fn too_long_content_is_refused() {
        let mut encoder = RecordEncoder::new(Padding::Align8);
        let mut out = OutputQueue::new();
        let err = encoder
            .record(
                RecordType::GetValuesResult,
                RequestId::new(0),
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
                .record_into(
                    RecordType::Stdout,
                    RequestId::new(1),
                    &vec![0; 70_000],
                    &mut dst
                )
                .is_err()
        );
        assert!(dst.is_empty());
        let unpadded = RecordEncoder::new(Padding::None);
        unpadded
            .record_into(
                RecordType::Stdout,
                RequestId::new(1),
                &vec![0; 65535],
                &mut dst,
            )
            .unwrap();
        assert_eq!(dst.len(), 65535 + 8);
    }

    #[test]
    fn output_queue_buf_advances_across_parts() {
        let mut queue = OutputQueue::new();
        let first = Bytes::from(vec![b'a'; 300]);
        let second = Bytes::from(vec![b'b'; 400]);
        queue.push(first.clone());
        queue.push(Bytes::new());
        queue.push(second.clone());
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(queue.chunks_vectored(&mut slices), 2);
        assert_eq!(slices[0].as_ptr(), first.as_ptr(), "chained, not copied");
        queue.advance(301);
        assert_eq!(queue.chunk(), &second[1..]);
        assert_eq!(queue.copy_to_bytes(399), second.slice(1..));
        assert!(queue.is_empty());
    }

    #[test]
    fn output_queue_hands_out_its_own_buffer_without_a_copy() {
        let mut queue = OutputQueue::new();
        queue.push(Bytes::from_static(b"header"));
        queue.push(Bytes::from_static(b"payload"));
        let start = queue.chunk().as_ptr();
        let head = queue.copy_to_bytes(6);
        assert_eq!((&head[..], head.as_ptr()), (&b"header"[..], start));
        let rest = queue.copy_to_bytes(7);
        assert_eq!(&rest[..], b"payload");
        assert_eq!(rest.as_ptr(), start.wrapping_add(6), "split, not copied");
        assert!(queue.is_empty());
        // After a chained part, the part comes first, then the own buffer.
        let big = Bytes::from(vec![b'x'; 300]);
        queue.push(big.clone());
        queue.push(Bytes::from_static(b"end"));
        assert_eq!(queue.copy_to_bytes(300), big);
        assert_eq!(queue.copy_to_bytes(3), "end");
        assert!(queue.is_empty());
    }

    #[test]
    fn taking_the_queue_keeps_the_room_left_for_the_next_writes() {
        let mut queue = OutputQueue::new();
        // A first take hands the buffer over whole; from the second on, its room is kept.
        queue.push(Bytes::from_static(b"zeroth"));
        let _ = queue.take_queued();
        queue.push(Bytes::from_static(b"first"));
        let first = queue.take_queued();
        queue.push(Bytes::from_static(b"second"));
        let second = queue.take_queued();
        assert_eq!(
            (first.chunk(), second.chunk()),
            (&b"first"[..], &b"second"[..])
        );
        assert_eq!(
            second.chunk().as_ptr(),
            first.chunk().as_ptr().wrapping_add(5),
            "one allocation for both"
        );
        assert!(queue.is_empty());
    }

    #[test]
    fn small_payloads_share_the_header_slice() {
        let id = RequestId::new(1);
        let mut encoder = RecordEncoder::new(Padding::Align8);
        let mut out = OutputQueue::new();
        encoder.stream(
            RecordType::Stdout,
            id,
            Bytes::from_static(b"Content-Type: text/plain\r\n\r\nhi"),
            &mut out,
        );
        encoder.stream_end(RecordType::Stdout, id, &mut out);
        encoder.end_request(
            id,
            EndRequestBody {
                app_status: 0,
                protocol_status: crate::ProtocolStatus::RequestComplete,
            },
            &mut out,
        );
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(
            out.chunks_vectored(&mut slices),
            1,
            "one slice for a small response"
        );
        let records = decode_all(out.to_bytes_mut());
        assert_eq!(records.len(), 3);
        assert_eq!(
            &records[0].content[..],
            b"Content-Type: text/plain\r\n\r\nhi"
        );

        // At the threshold the payload is chained: header, payload, then padding and the
        // next header together.
        let body = Bytes::from(vec![b'x'; CHAIN_THRESHOLD + 1]);
        let mut out = OutputQueue::new();
        encoder.stream(RecordType::Stdout, id, body.clone(), &mut out);
        encoder.stream_end(RecordType::Stdout, id, &mut out);
        let chunks: Vec<&[u8]> = out.iter().collect();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].as_ptr(), body.as_ptr());
        assert_eq!(chunks[2].len(), 7 + HEADER_LEN);
        let lens: Vec<_> = decode_all(out.to_bytes_mut())
            .iter()
            .map(|r| r.content.len())
            .collect();
        assert_eq!(lens, vec![CHAIN_THRESHOLD + 1, 0]);
    }

    #[test]
    fn fixed_records_have_zero_reserved_bytes() {
        let mut encoder = RecordEncoder::new(Padding::Align8);
        let mut out = OutputQueue::new();
        encoder.begin_request(
            RequestId::new(1),
            BeginRequestBody::new(crate::Role::Responder, false),
            &mut out,
        );
        assert_eq!(
            &out.to_bytes_mut()[..],
            &[1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        );
    }
}
