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
            Some(dst) => copy_short(dst, bytes),
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

    /// Writes one byte (a length prefix) and moves past it.
    #[inline]
    pub fn put_u8(&mut self, byte: u8) {
        match self.out.get_mut(self.at) {
            Some(slot) => *slot = byte,
            None => debug_assert!(
                false,
                "write at {} past a buffer of {}",
                self.at,
                self.out.len()
            ),
        }
        self.at += 1;
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.at
    }
}

/// Copies `src` into `dst`, of the same length. Up to 64 bytes (most CGI names, values and
/// whole FastCGI pairs) are two overlapping fixed-size moves, which the compiler inlines,
/// chosen by a few well-predicted branches: no call to `memcpy` per field.
#[inline]
pub fn copy_short(dst: &mut [u8], src: &[u8]) {
    debug_assert_eq!(dst.len(), src.len(), "copy_short between unequal slices");
    let len = src.len();
    if len >= 16 {
        if len <= 32 {
            copy_ends::<16>(dst, src);
        } else if len <= 64 {
            copy_ends::<32>(dst, src);
        } else if dst.len() == len {
            dst.copy_from_slice(src);
        }
    } else if len >= 8 {
        copy_ends::<8>(dst, src);
    } else if len >= 4 {
        copy_ends::<4>(dst, src);
    } else {
        for (to, from) in dst.iter_mut().zip(src) {
            *to = *from;
        }
    }
}

/// Copies the first and the last `N` bytes of `src` (at least `N` long) into `dst`: all of
/// it when `src` is at most `2 * N` bytes.
#[inline]
fn copy_ends<const N: usize>(dst: &mut [u8], src: &[u8]) {
    if let (Some(to), Some(from)) = (dst.first_chunk_mut::<N>(), src.first_chunk::<N>()) {
        *to = *from;
    }
    if let (Some(to), Some(from)) = (dst.last_chunk_mut::<N>(), src.last_chunk::<N>()) {
        *to = *from;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_short_copies_every_length_exactly() {
        let src: Vec<u8> = (1..=200u8).collect();
        for len in 0..=150 {
            // Guard bytes around the destination must stay untouched.
            let mut dst = vec![0u8; len + 2];
            copy_short(&mut dst[1..=len], &src[..len]);
            assert_eq!(&dst[1..=len], &src[..len], "{len}");
            assert_eq!((dst[0], dst[len + 1]), (0, 0), "{len}");
        }
    }

    #[test]
    fn slice_writer_puts_fields_back_to_back() {
        let fields: Vec<Vec<u8>> = (0..70).map(|len| vec![len as u8; len]).collect();
        let total = fields.iter().map(Vec::len).sum();
        let mut out = vec![0xaa; total];
        let mut writer = SliceWriter::new(&mut out);
        for field in &fields {
            writer.put(field);
        }
        assert_eq!(writer.position(), total);
        assert_eq!(out, fields.concat());

        let mut out = [0u8; 3];
        let mut writer = SliceWriter::new(&mut out);
        writer.put_u8(7);
        writer.put(b"ab");
        assert_eq!((writer.position(), out), (3, *b"\x07ab"));
    }
}
