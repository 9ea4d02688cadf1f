//! The gateway side's reading of one response: STDOUT chunks in, the parsed head and the
//! body out, with the family's one response-head parser.

use bytes::{Bytes, BytesMut};
use cgi_env::{ResponseHead, ResponseHeadError, ResponseHeadLimits, ResponseHeadParser};

/// What one STDOUT chunk gave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseRead {
    /// The response head, when it was completed by this chunk.
    pub head: Option<ResponseHead>,
    /// Body bytes this chunk carried (empty while the head is still arriving).
    pub body: Bytes,
}

/// Turns a request's STDOUT into its response head and body, with
/// [`cgi_env::ResponseHeadParser`]: the same rules as the uwsgi gateway side, for the CGI
/// heads php-fpm writes and the HTTP/1.x heads some applications write.
///
/// A head that arrives whole in one STDOUT record (php-fpm's always does) is parsed in
/// place: header values and the body are slices of the record, not copies. A head split
/// over records is gathered into one buffer first.
///
/// ```
/// use bytes::Bytes;
/// use fastcgi_codec::ResponseReader;
///
/// let mut reader = ResponseReader::default();
/// let first = reader.read(Bytes::from_static(b"Status: 404 Not Found\r\nContent-Ty"))?;
/// assert!(first.head.is_none());
/// let second = reader.read(Bytes::from_static(b"pe: text/plain\r\n\r\nnot here"))?;
/// assert_eq!(second.head.unwrap().status, http::StatusCode::NOT_FOUND);
/// assert_eq!(second.body, "not here");
/// assert_eq!(reader.read(Bytes::from_static(b"!"))?.body, "!");
/// # Ok::<(), cgi_env::ResponseHeadError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResponseReader {
    parser: ResponseHeadParser,
    /// The head so far, when it spans records.
    partial: BytesMut,
    head_done: bool,
}

impl ResponseReader {
    /// A reader with these head limits.
    pub fn new(limits: ResponseHeadLimits) -> Self {
        ResponseReader {
            parser: ResponseHeadParser::new(limits),
            partial: BytesMut::new(),
            head_done: false,
        }
    }

    /// Whether the head has been read.
    pub fn head_done(&self) -> bool {
        self.head_done
    }

    /// Takes one STDOUT chunk.
    ///
    /// # Errors
    /// The [`ResponseHeadError`] of a malformed or oversized head; the response cannot be
    /// used after it.
    pub fn read(&mut self, chunk: Bytes) -> Result<ResponseRead, ResponseHeadError> {
        if self.head_done {
            return Ok(ResponseRead {
                head: None,
                body: chunk,
            });
        }
        // When this does not complete the head, the parser keeps its scanning progress for
        // the same bytes in `partial`.
        if self.partial.is_empty()
            && let Some(head) = self.parser.parse(&chunk)?
        {
            self.head_done = true;
            let body = chunk.slice(head.body_offset..);
            return Ok(ResponseRead {
                head: Some(head),
                body,
            });
        }
        self.partial.extend_from_slice(&chunk);
        match self.parser.decode(&mut self.partial)? {
            Some(head) => {
                self.head_done = true;
                let body = std::mem::take(&mut self.partial).freeze();
                Ok(ResponseRead {
                    head: Some(head),
                    body,
                })
            }
            None => Ok(ResponseRead::default()),
        }
    }

    /// Checks that the response ended after its head: STDOUT that ended early has no
    /// response in it.
    ///
    /// # Errors
    /// [`ResponseHeadError::Incomplete`] when the head never ended.
    pub fn finish(&self) -> Result<(), ResponseHeadError> {
        if self.head_done {
            Ok(())
        } else {
            Err(ResponseHeadError::Incomplete {
                received: self.partial.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_in_one_chunk_is_not_copied() {
        let chunk = Bytes::from_static(b"Content-Type: text/plain\r\nX-A: long value\r\n\r\nbody");
        let mut reader = ResponseReader::default();
        let read = reader.read(chunk.clone()).unwrap();
        let head = read.head.unwrap();
        let range = chunk.as_ptr_range();
        assert!(range.contains(&head.headers["x-a"].as_bytes().as_ptr()));
        assert!(range.contains(&read.body.as_ptr()));
        assert_eq!(read.body, "body");
        reader.finish().unwrap();
    }

    #[test]
    fn a_head_split_anywhere_gives_the_same_answer() {
        let stdout = b"Status: 201 Created\r\nLocation: /x\r\nContent-Type: a/b\r\n\r\nbody bytes";
        let whole = ResponseReader::default()
            .read(Bytes::from_static(stdout))
            .unwrap();
        for cut in 0..stdout.len() {
            let mut reader = ResponseReader::default();
            let first = reader.read(Bytes::copy_from_slice(&stdout[..cut])).unwrap();
            let second = reader.read(Bytes::copy_from_slice(&stdout[cut..])).unwrap();
            let head = first.head.clone().or(second.head.clone()).unwrap();
            let mut body = first.body.to_vec();
            body.extend_from_slice(&second.body);
            assert_eq!(Some(head), whole.head, "cut at {cut}");
            assert_eq!(body, whole.body, "cut at {cut}");
        }
    }

    #[test]
    fn stdout_that_ends_inside_the_head_is_an_error() {
        let mut reader = ResponseReader::default();
        reader.read(Bytes::from_static(b"Status: 200\r\n")).unwrap();
        assert_eq!(
            reader.finish(),
            Err(ResponseHeadError::Incomplete { received: 13 })
        );
        let bad = ResponseReader::default().read(Bytes::from_static(b"Status: 000\r\n\r\n"));
        assert!(matches!(bad, Err(ResponseHeadError::InvalidStatus { .. })));
    }
}
