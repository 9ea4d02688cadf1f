//! Incremental decoder for the HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), used when
//! a backend frames its response body that way.
//!
//! Framing is read byte by byte, so any split of the input gives the same data; chunk data
//! is split off the buffer without copying. Chunk extensions and trailer fields are
//! skipped (bounded by the line limit). Line ends must be CRLF.

use bytes::{Buf, Bytes, BytesMut};

use cgi_env::grammar::hex_value;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size { value: u64, digits: usize },
    Extension { value: u64 },
    SizeLf { value: u64 },
    Data { remaining: u64 },
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerLineLf,
    EndLf,
    Done,
}

/// What one step of the chunked decoder produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Chunk data, as it arrived.
    Data(Bytes),
    /// The last chunk and the trailer section have been read.
    End,
}

#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// Body bytes consumed so far: where errors are reported.
    offset: u64,
    /// Bytes of the current size line, or of the whole trailer section.
    line_len: usize,
    max_line: usize,
}

impl ChunkedDecoder {
    pub(crate) fn new(max_line: usize) -> Self {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            offset: 0,
            line_len: 0,
            max_line,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The next piece of data, or the end; `Ok(None)` when `src` ran out first.
    pub(crate) fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Chunk>, Error> {
        loop {
            if let State::Data { remaining } = self.state {
                if src.is_empty() {
                    return Ok(None);
                }
                let take = usize::try_from(remaining).map_or(src.len(), |r| r.min(src.len()));
                let data = src.split_to(take).freeze();
                self.offset += take as u64;
                let remaining = remaining - take as u64;
                self.state = if remaining == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining }
                };
                return Ok(Some(Chunk::Data(data)));
            }
            if self.state == State::Done {
                return Ok(Some(Chunk::End));
            }
            let Some(&byte) = src.first() else {
                return Ok(None);
            };
            self.framing_byte(byte)?;
            src.advance(1);
            self.offset += 1;
            if self.state == State::Done {
                return Ok(Some(Chunk::End));
            }
        }
    }

    fn framing_byte(&mut self, byte: u8) -> Result<(), Error> {
        self.state = match self.state {
            State::Size { value, digits } => {
                self.count_line("chunk size line too long")?;
                match hex_value(byte) {
                    Some(digit) => {
                        let digit = u64::from(digit);
                        let value = value
                            .checked_mul(16)
                            .and_then(|v| v.checked_add(digit))
                            .ok_or_else(|| self.error("chunk size overflows"))?;
                        State::Size {
                            value,
                            digits: digits + 1,
                        }
                    }
                    None if digits == 0 => return Err(self.error("missing chunk size")),
                    // Extensions carry nothing this decoder uses; only the size is kept.
                    None if matches!(byte, b';' | b' ' | b'\t') => State::Extension { value },
                    None if byte == b'\r' => State::SizeLf { value },
                    None => return Err(self.error("invalid byte in chunk size")),
                }
            }
            State::Extension { value } => {
                self.count_line("chunk size line too long")?;
                match byte {
                    b'\r' => State::SizeLf { value },
                    b'\n' | 0 => return Err(self.error("invalid byte in chunk extension")),
                    _ => State::Extension { value },
                }
            }
            State::SizeLf { value } => {
                if byte != b'\n' {
                    return Err(self.error("expected LF after chunk size"));
                }
                self.line_len = 0;
                if value == 0 {
                    State::TrailerStart
                } else {
                    State::Data { remaining: value }
                }
            }
            State::DataCr if byte == b'\r' => State::DataLf,
            State::DataLf if byte == b'\n' => State::Size {
                value: 0,
                digits: 0,
            },
            State::DataCr | State::DataLf => {
                return Err(self.error("expected CRLF after chunk data"));
            }
            State::TrailerStart if byte == b'\r' => State::EndLf,
            State::TrailerStart | State::TrailerLine => {
                self.count_line("trailer section too long")?;
                match byte {
                    b'\r' => State::TrailerLineLf,
                    b'\n' | 0 => return Err(self.error("invalid byte in trailer field")),
                    _ => State::TrailerLine,
                }
            }
            State::TrailerLineLf if byte == b'\n' => State::TrailerStart,
            State::TrailerLineLf => return Err(self.error("expected LF after trailer field")),
            State::EndLf if byte == b'\n' => State::Done,
            State::EndLf => return Err(self.error("expected LF after the last chunk")),
            // Handled by the caller; never reached.
            State::Data { .. } | State::Done => self.state,
        };
        Ok(())
    }

    fn count_line(&mut self, reason: &'static str) -> Result<(), Error> {
        self.line_len += 1;
        if self.line_len > self.max_line {
            return Err(self.error(reason));
        }
        Ok(())
    }

    fn error(&self, reason: &'static str) -> Error {
        Error::Chunked {
            offset: self.offset,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], max_line: usize) -> Result<(Vec<u8>, bool, usize), Error> {
        let mut decoder = ChunkedDecoder::new(max_line);
        let mut src = BytesMut::from(input);
        let mut data = Vec::new();
        while let Some(chunk) = decoder.decode(&mut src)? {
            match chunk {
                Chunk::Data(bytes) => data.extend_from_slice(&bytes),
                Chunk::End => return Ok((data, true, src.len())),
            }
        }
        Ok((data, decoder.is_done(), src.len()))
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let input = b"5;name=value\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-T: 1\r\n\r\nrest";
        let (data, done, left) = run(input, 100).unwrap();
        assert_eq!(data, b"hello, world!!!");
        assert!(done);
        assert_eq!(left, 4);
    }

    #[test]
    fn incomplete_is_not_done() {
        let (data, done, _) = run(b"3\r\nab", 100).unwrap();
        assert_eq!(data, b"ab");
        assert!(!done);
    }

    #[test]
    fn malformed_framing() {
        let cases: &[(&[u8], &str)] = &[
            (b"\r\n", "missing chunk size"),
            (b"g\r\n", "missing chunk size"),
            (b"1x\r\n", "invalid byte in chunk size"),
            (b"1\rx", "expected LF after chunk size"),
            (b"1\r\nab", "expected CRLF after chunk data"),
            (b"11111111111111111\r\n", "chunk size overflows"),
            (b"0\r\nbad\n", "invalid byte in trailer field"),
            (b"0\r\n\rx", "expected LF after the last chunk"),
            (b"1;\n", "invalid byte in chunk extension"),
        ];
        for (input, want) in cases {
            match run(input, 100) {
                Err(Error::Chunked { reason, .. }) => assert_eq!(reason, *want, "{input:?}"),
                other => panic!("{input:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn line_limit() {
        assert!(run(b"1;aaaaaaaa\r\nx\r\n0\r\n\r\n", 11).is_ok());
        assert!(matches!(
            run(b"1;aaaaaaaaa\r\nx\r\n0\r\n\r\n", 11),
            Err(Error::Chunked {
                reason: "chunk size line too long",
                offset: 11
            })
        ));
        assert!(matches!(
            run(b"0\r\nX: aaaaaaa\r\n\r\n", 8),
            Err(Error::Chunked {
                reason: "trailer section too long",
                ..
            })
        ));
    }
}
