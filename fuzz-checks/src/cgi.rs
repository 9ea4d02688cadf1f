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

/// The application side's environ → HTTP request conversion never panics on any vars
/// block, and what it accepts is consistent with the environ it came from.
pub fn environ_to_request(data: &[u8]) {
    let Ok(env) = uwsgi_codec::wire::decode_vars(bytes::Bytes::copy_from_slice(data), usize::MAX)
    else {
        return;
    };
    let Ok(request) = cgi_env::CgiRequest::from_environ(&env) else {
        return;
    };
    assert_eq!(
        Some(request.parts.method.as_str().as_bytes()),
        env.get("REQUEST_METHOD")
    );
    if let Some(len) = request.content_length {
        let declared = env
            .get("CONTENT_LENGTH")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<u64>().ok());
        assert_eq!(
            Some(len),
            declared,
            "content length not from CONTENT_LENGTH"
        );
    }
    let _ = cgi_env::wsgi_url_scheme(&env, cgi_env::ProxyTrust::Untrusted);
    let _ = cgi_env::check_pep3333(&env);
}
