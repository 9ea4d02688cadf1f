//! Configurable limits on what a peer may make a connection hold.

/// Limits a connection enforces on its peer. Every length read from the wire is checked
/// against these before anything is allocated for it.
///
/// ```
/// use fastcgi_codec::Limits;
///
/// let limits = Limits {
///     max_params_bytes: 64 * 1024,
///     ..Limits::default()
/// };
/// assert_eq!(limits.max_records_before_params_end, Limits::default().max_records_before_params_end);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most PARAMS content bytes one request may send (its whole PARAMS stream). Default
    /// 256 KiB: four times what nginx can send (it puts all params in one record).
    pub max_params_bytes: usize,
    /// Most requests in flight on one connection (application side, when multiplexing).
    /// Default 64.
    pub max_requests_in_flight: usize,
    /// Most records a request may send before its PARAMS stream ends (each one costs a
    /// segment in the environ). Default 256; nginx sends one.
    pub max_records_before_params_end: usize,
}

impl Limits {
    /// The defaults: 256 KiB of params, 64 requests in flight, 256 records before the end
    /// of PARAMS.
    pub const DEFAULT: Limits = Limits {
        max_params_bytes: 256 * 1024,
        max_requests_in_flight: 64,
        max_records_before_params_end: 256,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
