//! Body accounting shared by both sides: splitting a counted body off the receive buffer,
//! and holding what an encoder sends to the announced length.

use bytes::{Bytes, BytesMut};

use crate::error::{MisuseError, Violation};

/// Splits the next piece of a body that has `remaining` more bytes off the front of `src`,
/// without copying, and counts it off `remaining`. `None` when `src` is empty or the body
/// is complete.
pub(crate) fn split_body(src: &mut BytesMut, remaining: &mut u64) -> Option<Bytes> {
    if src.is_empty() || *remaining == 0 {
        return None;
    }
    let take = usize::try_from(*remaining).map_or(src.len(), |r| r.min(src.len()));
    // take <= remaining, so this cannot underflow.
    *remaining -= take as u64;
    Some(src.split_to(take).freeze())
}

/// A body of a known length being received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counted {
    expected: u64,
    remaining: u64,
}

impl Counted {
    pub(crate) fn new(expected: u64) -> Self {
        Counted {
            expected,
            remaining: expected,
        }
    }

    /// The next piece of the body from the front of `src`.
    pub(crate) fn split(&mut self, src: &mut BytesMut) -> Option<Bytes> {
        split_body(src, &mut self.remaining)
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.remaining == 0
    }

    /// What it means when the stream ends now.
    pub(crate) fn truncated(&self) -> Violation {
        Violation::TruncatedBody {
            expected: self.expected,
            received: self.expected - self.remaining,
        }
    }
}

/// A body being sent, held to its declared length when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    declared: Option<u64>,
    sent: u64,
}

impl Sent {
    pub(crate) fn new(declared: Option<u64>) -> Self {
        Sent { declared, sent: 0 }
    }

    /// Counts `len` more bytes; refuses them past the declared length.
    pub(crate) fn count(&mut self, len: usize) -> Result<(), MisuseError> {
        let got = self.sent.saturating_add(len as u64);
        if let Some(expected) = self.declared.filter(|&expected| got > expected) {
            return Err(MisuseError::BodyTooLong { expected, got });
        }
        self.sent = got;
        Ok(())
    }

    /// Bytes still to send (0 without a declared length).
    pub(crate) fn remaining(&self) -> u64 {
        self.declared.map_or(0, |declared| declared - self.sent)
    }

    /// Checks that the declared length was sent.
    pub(crate) fn finish(&self) -> Result<(), MisuseError> {
        match self.declared {
            Some(expected) if self.sent < expected => Err(MisuseError::BodyTooShort {
                expected,
                sent: self.sent,
            }),
            _ => Ok(()),
        }
    }
}
