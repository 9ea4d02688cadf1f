//! Incremental decoder for the HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), used when
//! a backend frames its response body that way.
//!
//! Framing is read byte by byte, so any split of the input gives the same data; chunk data
//! is split off the buffer without copying. Chunk extensions and trailer fields are
//! skipped (bounded by the line limit). Line ends must be CRLF.

use bytes::{Buf, Bytes, BytesMut};

use cgi_env::grammar::hex_value;

use crate::body::split_body;
use crate::error::ChunkedError;

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
            line_len: 0,
            max_line,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The next piece of data, or the end; `Ok(None)` when `src` ran out first. On error,
    /// the offending byte is the first one left in `src`.
    pub(crate) fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Chunk>, ChunkedError> {
        loop {
            if let State::Data { mut remaining } = self.state {
                let Some(data) = split_body(src, &mut remaining) else {
                    return Ok(None);
                };
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
            if self.state == State::Done {
                return Ok(Some(Chunk::End));
            }
        }
    }

    fn framing_byte(&mut self, byte: u8) -> Result<(), ChunkedError> {
        self.state = match self.state {
            State::Size { value, digits } => {
                self.count_line(ChunkedError::SizeLineTooLong)?;
                match hex_value(byte) {
                    Some(digit) => {
                        let digit = u64::from(digit);
                        let value = value
                            .checked_mul(16)
                            .and_then(|v| v.checked_add(digit))
                            .ok_or(ChunkedError::SizeOverflow)?;
                        State::Size {
                            value,
                            digits: digits + 1,
                        }
                    }
                    None if digits == 0 => return Err(ChunkedError::MissingSize),
                    // Extensions carry nothing this decoder uses; only the size is kept.
                    None if matches!(byte, b';' | b' ' | b'\t') => State::Extension { value },
                    None if byte == b'\r' => State::SizeLf { value },
                    None => return Err(ChunkedError::InvalidSizeByte),
                }
            }
            State::Extension { value } => {
                self.count_line(ChunkedError::SizeLineTooLong)?;
                match byte {
                    b'\r' => State::SizeLf { value },
                    b'\n' | 0 => return Err(ChunkedError::InvalidExtensionByte),
                    _ => State::Extension { value },
                }
            }
            State::SizeLf { value } => {
                if byte != b'\n' {
                    return Err(ChunkedError::ExpectedLfAfterSize);
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
                return Err(ChunkedError::ExpectedCrlfAfterData);
            }
            State::TrailerStart if byte == b'\r' => State::EndLf,
            State::TrailerStart | State::TrailerLine => {
                self.count_line(ChunkedError::TrailerTooLong)?;
                match byte {
                    b'\r' => State::TrailerLineLf,
                    b'\n' | 0 => return Err(ChunkedError::InvalidTrailerByte),
                    _ => State::TrailerLine,
                }
            }
            State::TrailerLineLf if byte == b'\n' => State::TrailerStart,
            State::TrailerLineLf => return Err(ChunkedError::ExpectedLfAfterTrailer),
            State::EndLf if byte == b'\n' => State::Done,
            State::EndLf => return Err(ChunkedError::ExpectedLfAfterLastChunk),
            // Handled by the caller; never reached.
            State::Data { .. } | State::Done => self.state,
        };
        Ok(())
    }

    fn count_line(&mut self, too_long: ChunkedError) -> Result<(), ChunkedError> {
        self.line_len += 1;
        if self.line_len > self.max_line {
            return Err(too_long);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data, whether the end was seen and the bytes left; or the error and the offset
    /// of the offending byte.
    fn run(input: &[u8], max_line: usize) -> Result<(Vec<u8>, bool, usize), (ChunkedError, usize)> {
        let mut decoder = ChunkedDecoder::new(max_line);
        let mut src = BytesMut::from(input);
        let mut data = Vec::new();
        while let Some(chunk) = decoder
            .decode(&mut src)
            .map_err(|error| (error, input.len() - src.len()))?
        {
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
        let cases: &[(&[u8], ChunkedError)] = &[
            (b"\r\n", ChunkedError::MissingSize),
            (b"g\r\n", ChunkedError::MissingSize),
            (b"1x\r\n", ChunkedError::InvalidSizeByte),
            (b"1\rx", ChunkedError::ExpectedLfAfterSize),
            (b"1\r\nab", ChunkedError::ExpectedCrlfAfterData),
            (b"11111111111111111\r\n", ChunkedError::SizeOverflow),
            (b"0\r\nbad\n", ChunkedError::InvalidTrailerByte),
            (b"0\r\n\rx", ChunkedError::ExpectedLfAfterLastChunk),
            (b"1;\n", ChunkedError::InvalidExtensionByte),
        ];
        for (input, want) in cases {
            match run(input, 100) {
                Err((reason, _)) => assert_eq!(reason, *want, "{input:?}"),
                other => panic!("{input:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn line_limit() {
        assert!(run(b"1;aaaaaaaa\r\nx\r\n0\r\n\r\n", 11).is_ok());
        assert!(matches!(
            run(b"1;aaaaaaaaa\r\nx\r\n0\r\n\r\n", 11),
            Err((ChunkedError::SizeLineTooLong, 11))
        ));
        assert!(matches!(
            run(b"0\r\nX: aaaaaaa\r\n\r\n", 8),
            Err((ChunkedError::TrailerTooLong, _))
        ));
    }
}
