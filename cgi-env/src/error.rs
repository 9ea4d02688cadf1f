//! Errors of the environ itself.

use thiserror::Error;

/// A variable could not be recorded in an [`Environ`](crate::Environ).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvironError {
    /// A range given to `push_segment_var` is reversed or runs past its segment.
    #[error("variable range {start}..{end} lies outside its segment of {segment_len} bytes")]
    RangeOutOfBounds {
        /// Start of the offending range.
        start: usize,
        /// End of the offending range.
        end: usize,
        /// Length of the segment.
        segment_len: usize,
    },
    /// The segment id does not belong to this environ.
    #[error("segment id does not belong to this environ")]
    UnknownSegment,
    /// A segment of 4 GiB or more, or more segments than an environ indexes.
    #[error("environ storage limit reached (a segment of 4 GiB or more, or too many segments)")]
    TooLarge,
}
