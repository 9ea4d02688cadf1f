//! cgi-env: the CGI response head, and the HTTP request rebuilt from an environ.

use cgi_env::{
    Parsed, ResponseHeadError, ResponseHeadLimits, ResponseHeadParser, parse_response_head,
};

use crate::split::cut_points;

/// The response-head parser never panics, stays within its limits, and gives the same
/// result when the input arrives in pieces (the caller re-offers the growing buffer).
pub fn cgi_response_head(data: &[u8]) {
    let limits = ResponseHeadLimits {
        max_bytes: 1024,
        max_headers: 16,
    };
    let whole = parse_response_head(data, limits);
    if let Ok(Parsed::Complete(head)) = &whole {
        assert!(head.body_offset <= data.len().min(limits.max_bytes));
        assert!(head.headers.len() <= limits.max_headers);
    }
    let mut parser = ResponseHeadParser::new(limits);
    let mut incremental: Result<Parsed, ResponseHeadError> = Ok(Parsed::Partial);
    for cut in cut_points(data).into_iter().chain([data.len()]) {
        incremental = parser.parse(&data[..cut]);
        if !matches!(incremental, Ok(Parsed::Partial)) {
            break;
        }
    }
    assert_eq!(
        whole, incremental,
        "response head depends on how the input arrived"
    );
}
