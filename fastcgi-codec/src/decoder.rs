//! [`RecordDecoder`]: records out of a byte stream, incrementally and without copying.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::record::{HEADER_LEN, Record, RecordHeader};

/// Reads records from a [`BytesMut`] as bytes arrive.
///
/// Each record's content is split off the front of the buffer as [`bytes::Bytes`], so it
/// shares the buffer's memory instead of being copied. Padding is skipped, also when it
/// arrives in a later call. The decoder keeps only a header between calls, and never
/// allocates: a record not yet complete waits in the caller's buffer, which the caller
/// grows as it reads (as a tokio `FramedRead` does), so that a reader that counts its
/// memory counts every allocation.
///
/// A header whose version is not 1 is an error; the decoder then stays failed, since the
/// stream's framing can no longer be trusted.
///
/// ```
/// use bytes::BytesMut;
/// use fastcgi_codec::{RecordDecoder, RecordType};
///
/// let mut decoder = RecordDecoder::new();
/// // STDOUT, id 1, 2 bytes of content, 6 bytes of padding.
/// let mut buf = BytesMut::from(&[1, 6, 0, 1, 0, 2, 6, 0, b'h', b'i'][..]);
/// let record = decoder.decode(&mut buf).unwrap().unwrap();
/// assert_eq!(record.record_type(), RecordType::Stdout);
/// assert_eq!(&record.content[..], b"hi");
/// // The padding has not arrived yet; it is skipped when it does.
/// buf.extend_from_slice(&[0; 6]);
/// assert!(decoder.decode(&mut buf).unwrap().is_none());
/// assert!(buf.is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordDecoder {
    state: State,
}

#[derive(Debug, Clone, Default)]
enum State {
    #[default]
    Header,
    Content(RecordHeader),
    Padding(u8),
    Failed(ProtocolError),
}

impl RecordDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the decoder stopped at a record boundary: no partial header, content or
    /// padding is pending.
    pub fn is_at_boundary(&self) -> bool {
        matches!(self.state, State::Header)
    }

    /// Whether the decoder failed on a bad header.
    pub fn has_failed(&self) -> bool {
        matches!(self.state, State::Failed(_))
    }

    /// The next complete record, or `None` when `buf` does not hold one yet.
    ///
    /// # Errors
    /// [`crate::Violation::UnsupportedVersion`] for a header that is not version 1, then the
    /// same error on every later call.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Record>, ProtocolError> {
        loop {
            match &self.state {
                State::Failed(error) => return Err(error.clone()),
                State::Padding(left) => {
                    let left = *left;
                    if !skip_padding(&mut self.state, buf, left) {
                        return Ok(None);
                    }
                }
                State::Header => {
                    let Some(head) = buf.get(..HEADER_LEN) else {
                        return Ok(None);
                    };
                    let mut bytes = [0; HEADER_LEN];
                    bytes.copy_from_slice(head);
                    let header = match RecordHeader::parse(bytes) {
                        Ok(header) => header,
                        Err(error) => {
                            self.state = State::Failed(error.clone());
                            return Err(error);
                        }
                    };
                    buf.advance(HEADER_LEN);
                    self.state = State::Content(header);
                }
                State::Content(header) => {
                    let header = *header;
                    let len = usize::from(header.content_length);
                    if buf.len() < len {
                        // Room for the rest of this record where the buffer already has it
                        // (moving the record to the front of an allocation nothing else
                        // holds), never a new allocation: how much a reader allocates, and
                        // counts against its budgets, is the reader's to decide.
                        let _ =
                            buf.try_reclaim(len - buf.len() + usize::from(header.padding_length));
                        return Ok(None);
                    }
                    // An empty record (a stream's end) takes no slice of the buffer: that
                    // would cost a reference count increment and decrement for nothing.
                    let content = if len == 0 {
                        Bytes::new()
                    } else {
                        buf.split_to(len).freeze()
                    };
                    skip_padding(&mut self.state, buf, header.padding_length);
                    return Ok(Some(Record { header, content }));
                }
            }
        }
    }
}

/// Skips up to `left` padding bytes; true when all of them are gone.
fn skip_padding(state: &mut State, buf: &mut BytesMut, left: u8) -> bool {
    let skip = usize::from(left).min(buf.len());
    buf.advance(skip);
    // `skip` is at most `left`, so it fits a u8.
    let still = left.saturating_sub(u8::try_from(skip).unwrap_or(u8::MAX));
    if still == 0 {
        *state = State::Header;
        true
    } else {
        *state = State::Padding(still);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Violation;
    use crate::record::RecordType;

    fn all(decoder: &mut RecordDecoder, buf: &mut BytesMut) -> Vec<Record> {
        let mut out = Vec::new();
        while let Some(record) = decoder.decode(buf).unwrap() {
            out.push(record);
        }
        out
    }

    #[test]
    fn content_is_split_off_the_buffer_without_copy() {
        let mut buf =
            BytesMut::from(&[1, 5, 0, 7, 0, 3, 5, 0, b'a', b'b', b'c', 0, 0, 0, 0, 0][..]);
        let start = buf.as_ptr();
        let record = RecordDecoder::new().decode(&mut buf).unwrap().unwrap();
        assert_eq!(record.content.as_ptr(), start.wrapping_add(8));
        assert_eq!(record.header.request_id, crate::RequestId::new(7));
        assert!(buf.is_empty(), "padding skipped");
    }

    #[test]
    fn padding_split_across_calls_is_skipped() {
        let bytes = [1, 6, 0, 1, 0, 1, 200, 0, b'x'];
        let mut decoder = RecordDecoder::new();
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(all(&mut decoder, &mut buf).len(), 1);
        for _ in 0..199 {
            buf.extend_from_slice(&[0xEE]);
            assert!(decoder.decode(&mut buf).unwrap().is_none());
            assert!(buf.is_empty());
        }
        assert!(!decoder.is_at_boundary());
        buf.extend_from_slice(&[0xEE, 1, 3, 0, 1, 0, 0, 0, 0]);
        let records = all(&mut decoder, &mut buf);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].record_type(), RecordType::EndRequest);
        assert!(decoder.is_at_boundary());
    }

    #[test]
    fn bad_version_fails_and_stays_failed() {
        let mut buf = BytesMut::from(&[0, 1, 0, 1, 0, 8, 0, 0][..]);
        let mut decoder = RecordDecoder::new();
        let err = decoder.decode(&mut buf).unwrap_err();
        assert_eq!(err.violation, Violation::UnsupportedVersion { version: 0 });
        assert!(decoder.has_failed());
        buf.clear();
        buf.extend_from_slice(&[1, 1, 0, 1, 0, 0, 0, 0]);
        assert!(decoder.decode(&mut buf).is_err());
    }

    #[test]
    fn unknown_types_are_carried() {
        let mut buf = BytesMut::from(&[1, 200, 0, 0, 0, 1, 0, 0, 9][..]);
        let record = RecordDecoder::new().decode(&mut buf).unwrap().unwrap();
        assert_eq!(record.record_type(), RecordType::Other(200));
        assert_eq!(&record.content[..], &[9]);
    }
}
