//! Wire-level helpers the codecs share.

/// Writes consecutive byte strings into a buffer whose exact size was computed up front.
///
/// The encoders size their output from the environ's lengths, then fill it in one pass;
/// writing past the end would mean that size was wrong. That is a bug in the encoder, not
/// something input can cause, so it is a `debug_assert!` (and in release builds the bytes
/// that do not fit are not written, never a panic).
///
/// ```
/// use cgi_env::wire::SliceWriter;
///
/// let mut out = [0u8; 5];
/// let mut writer = SliceWriter::new(&mut out);
/// writer.put(b"ab");
/// writer.put(b"cde");
/// assert_eq!(writer.position(), 5);
/// assert_eq!(&out, b"abcde");
/// ```
#[derive(Debug)]
pub struct SliceWriter<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl<'a> SliceWriter<'a> {
    /// A writer at the start of `out`.
    pub fn new(out: &'a mut [u8]) -> Self {
        SliceWriter { out, at: 0 }
    }

    /// Copies `bytes` at the current position and moves past them.
    #[inline]
    pub fn put(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        match self.out.get_mut(self.at..end) {
            Some(dst) => dst.copy_from_slice(bytes),
            None => debug_assert!(
                false,
                "write of {} bytes at {} past a buffer of {}",
                bytes.len(),
                self.at,
                self.out.len()
            ),
        }
        self.at = end;
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.at
    }
}
