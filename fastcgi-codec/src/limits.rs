//! Configurable limits on what a peer may make a connection hold.

/// Limits a connection enforces on its peer. Every length read from the wire is checked
/// against these before anything is allocated for it.
///
/// ```
/// use fastcgi_codec::Limits;
///
/// let limits = Limits::default().with_max_params_bytes(64 * 1024);
/// assert_eq!(limits.max_params_bytes(), 64 * 1024);
/// assert_eq!(limits.max_request_errors(), Limits::default().max_request_errors());
/// ```
// Every limit is a maximum; the fields are named as their getters.
#[allow(clippy::struct_field_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_params_bytes: usize,
    max_requests_in_flight: usize,
    max_records_before_params_end: usize,
    max_request_errors: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_params_bytes: 256 * 1024,
            max_requests_in_flight: 64,
            max_records_before_params_end: 256,
            max_request_errors: 16,
        }
    }
}

impl Limits {
    /// Most PARAMS content bytes one request may send (its whole PARAMS stream). Default
    /// 256 KiB: four times what nginx can send (it puts all params in one record).
    pub fn max_params_bytes(&self) -> usize {
        self.max_params_bytes
    }

    /// Sets [`Limits::max_params_bytes`].
    #[must_use]
    pub fn with_max_params_bytes(mut self, max: usize) -> Self {
        self.max_params_bytes = max;
        self
    }

    /// Most requests in flight on one connection when it multiplexes. Default 64.
    ///
    /// The application side refuses a BEGIN_REQUEST past it with OVERLOADED and answers it
    /// as FCGI_MAX_REQS to GET_VALUES; the gateway side begins no more than this many.
    /// Without multiplexing both sides keep to one.
    pub fn max_requests_in_flight(&self) -> usize {
        self.max_requests_in_flight
    }

    /// Sets [`Limits::max_requests_in_flight`].
    #[must_use]
    pub fn with_max_requests_in_flight(mut self, max: usize) -> Self {
        self.max_requests_in_flight = max;
        self
    }

    /// Most records a request may send before its PARAMS stream ends (each one costs a
    /// segment in the environ). Default 256; nginx sends one.
    pub fn max_records_before_params_end(&self) -> usize {
        self.max_records_before_params_end
    }

    /// Sets [`Limits::max_records_before_params_end`].
    #[must_use]
    pub fn with_max_records_before_params_end(mut self, max: usize) -> Self {
        self.max_records_before_params_end = max;
        self
    }

    /// Most request-level errors ([`crate::ErrorScope::Request`]) a peer may cause on one
    /// connection; the next one is a connection error
    /// ([`crate::Violation::TooManyRequestErrors`]). Default 16. PHP-FPM closes at the
    /// first; a bound keeps a peer from making one error per 8-byte record.
    pub fn max_request_errors(&self) -> usize {
        self.max_request_errors
    }

    /// Sets [`Limits::max_request_errors`].
    #[must_use]
    pub fn with_max_request_errors(mut self, max: usize) -> Self {
        self.max_request_errors = max;
        self
    }
}
