//! Limits a receiver enforces on what the peer sends.

use cgi_env::ResponseHeadLimits;

/// uWSGI's default `buffer-size`: the largest vars block it accepts.
pub const DEFAULT_MAX_VARS_BLOCK: u16 = 4096;

/// About what uWSGI accepts by default: `max-vars` 64 gives 261 iovec slots, two per var.
pub const DEFAULT_MAX_VARS: usize = 128;

/// Default cap on one line of chunked framing (chunk size and extensions) and on the
/// trailer section.
pub const DEFAULT_MAX_CHUNK_LINE: usize = 4096;

/// What a decoder accepts before it refuses the input with a typed error.
///
/// Every length read off the wire is checked against these before anything is buffered
/// or reserved for it. Start from [`Limits::default`] and change what you need with the
/// `with_*` methods.
///
/// ```
/// use uwsgi_codec::Limits;
///
/// let limits = Limits::default().with_max_vars_block(32768).with_max_vars(256);
/// assert_eq!(limits.max_vars_block(), 32768);
/// assert_eq!(Limits::default().max_vars_block(), 4096);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Each field is named as its getter, and every limit is a maximum.
#[allow(clippy::struct_field_names)]
pub struct Limits {
    max_vars_block: u16,
    max_vars: usize,
    max_body: Option<u64>,
    response_head: ResponseHeadLimits,
    max_chunk_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_vars_block: DEFAULT_MAX_VARS_BLOCK,
            max_vars: DEFAULT_MAX_VARS,
            max_body: None,
            response_head: ResponseHeadLimits::default(),
            max_chunk_line: DEFAULT_MAX_CHUNK_LINE,
        }
    }
}

impl Limits {
    /// Largest vars block (the request packet's datasize) accepted, as uWSGI's
    /// `buffer-size`. Default 4096; the header cannot say more than 65535.
    pub fn max_vars_block(&self) -> u16 {
        self.max_vars_block
    }

    /// Largest number of vars in a block. Default 128.
    pub fn max_vars(&self) -> usize {
        self.max_vars
    }

    /// Largest request body (CONTENT_LENGTH) accepted, as uWSGI's `limit-post`. Default
    /// `None`: any length that fits in a u64.
    pub fn max_body(&self) -> Option<u64> {
        self.max_body
    }

    /// Bounds on a response head (bytes, blank line included, and header fields), the
    /// family's [`ResponseHeadLimits`]. Default [`ResponseHeadLimits::default`]: 8192
    /// bytes (nginx's `uwsgi_buffer_size`) and 100 fields.
    pub fn response_head(&self) -> ResponseHeadLimits {
        self.response_head
    }

    /// Largest chunk-size line, and largest trailer section, of a chunked response body.
    /// Default 4096.
    pub fn max_chunk_line(&self) -> usize {
        self.max_chunk_line
    }

    /// Sets [`Limits::max_vars_block`].
    #[must_use]
    pub fn with_max_vars_block(mut self, max_vars_block: u16) -> Self {
        self.max_vars_block = max_vars_block;
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

    /// Sets [`Limits::response_head`].
    #[must_use]
    pub fn with_response_head(mut self, response_head: ResponseHeadLimits) -> Self {
        self.response_head = response_head;
        self
    }

    /// Sets [`Limits::max_chunk_line`].
    #[must_use]
    pub fn with_max_chunk_line(mut self, max_chunk_line: usize) -> Self {
        self.max_chunk_line = max_chunk_line;
        self
    }
}
