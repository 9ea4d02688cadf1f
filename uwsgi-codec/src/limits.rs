//! Limits a receiver enforces on what the peer sends.

/// uWSGI's default `buffer-size`: the largest vars block it accepts.
pub const DEFAULT_BUFFER_SIZE: u16 = 4096;

/// About what uWSGI accepts by default: `max-vars` 64 gives 261 iovec slots, two per var.
pub const DEFAULT_MAX_VARS: usize = 128;

/// Default cap on a response head (status line and header fields, with the blank line).
pub const DEFAULT_MAX_HEAD_LEN: usize = 16 * 1024;

/// Default cap on the number of header fields in a response head.
pub const DEFAULT_MAX_HEADERS: usize = 100;

/// Default cap on one line of chunked framing (chunk size and extensions) and on the
/// trailer section.
pub const DEFAULT_MAX_CHUNK_LINE: usize = 4096;

/// What a decoder accepts before it refuses the input with a typed error.
///
/// Every length read off the wire is checked against these before anything is buffered
/// or reserved for it.
///
/// ```
/// use uwsgi_codec::Limits;
///
/// let limits = Limits::default().with_buffer_size(32768).with_max_vars(256);
/// assert_eq!(limits.buffer_size, 32768);
/// assert_eq!(Limits::default().buffer_size, 4096);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest vars block (datasize) accepted, as uWSGI's `buffer-size` (default 4096; the
    /// header cannot say more than 65535).
    pub buffer_size: u16,
    /// Largest number of vars in a block (default 128).
    pub max_vars: usize,
    /// Largest request body (CONTENT_LENGTH) accepted, as uWSGI's `limit-post`; `None`
    /// (the default) accepts any length that fits in a u64.
    pub max_body: Option<u64>,
    /// Largest response head, status line to blank line (default 16 KiB).
    pub max_head_len: usize,
    /// Largest number of header fields in a response head (default 100).
    pub max_headers: usize,
    /// Largest chunk-size line, and largest trailer section, of a chunked response body
    /// (default 4096).
    pub max_chunk_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            buffer_size: DEFAULT_BUFFER_SIZE,
            max_vars: DEFAULT_MAX_VARS,
            max_body: None,
            max_head_len: DEFAULT_MAX_HEAD_LEN,
            max_headers: DEFAULT_MAX_HEADERS,
            max_chunk_line: DEFAULT_MAX_CHUNK_LINE,
        }
    }
}

impl Limits {
    /// Sets [`Limits::buffer_size`].
    #[must_use]
    pub fn with_buffer_size(mut self, buffer_size: u16) -> Self {
        self.buffer_size = buffer_size;
        self
    }

    /// Sets [`Limits::max_vars`].
    #[must_use]
    pub fn with_max_vars(mut self, max_vars: usize) -> Self {
        self.max_vars = max_vars;
        self
    }

    /// Sets [`Limits::max_body`].
    #[must_use]
    pub fn with_max_body(mut self, max_body: Option<u64>) -> Self {
        self.max_body = max_body;
        self
    }

    /// Sets [`Limits::max_head_len`].
    #[must_use]
    pub fn with_max_head_len(mut self, max_head_len: usize) -> Self {
        self.max_head_len = max_head_len;
        self
    }

    /// Sets [`Limits::max_headers`].
    #[must_use]
    pub fn with_max_headers(mut self, max_headers: usize) -> Self {
        self.max_headers = max_headers;
        self
    }

    /// Sets [`Limits::max_chunk_line`].
    #[must_use]
    pub fn with_max_chunk_line(mut self, max_chunk_line: usize) -> Self {
        self.max_chunk_line = max_chunk_line;
        self
    }
}
