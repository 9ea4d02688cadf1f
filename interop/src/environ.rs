//! Environs for test requests, built with `cgi-env` as a gateway would.

use cgi_env::{ConnectionInfo, Environ, Gateway};

/// The environ `gateway` builds for `method target` with `headers` (and `Host: localhost`),
/// from 127.0.0.1:40000 to 127.0.0.1:8080.
///
/// # Panics
/// When the request cannot be built or the gateway refuses it.
pub fn build(gateway: &Gateway, method: &str, target: &str, headers: &[(&str, &str)]) -> Environ {
    let mut request = http::Request::builder()
        .method(method)
        .uri(target)
        .header("host", "localhost");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (parts, ()) = request
        .body(())
        .unwrap_or_else(|e| panic!("bad test request: {e}"))
        .into_parts();
    let conn = ConnectionInfo::new(
        "127.0.0.1:40000".parse().unwrap_or_else(|e| panic!("{e}")),
        "127.0.0.1:8080".parse().unwrap_or_else(|e| panic!("{e}")),
        "localhost",
    );
    gateway
        .build(&parts, &conn)
        .unwrap_or_else(|e| panic!("gateway refused {method} {target}: {e}"))
}

/// Asserts that every variable of `sent` reached the peer unchanged, as `seen` reports it.
///
/// # Panics
/// On the first variable that is missing or differs, naming it and `context`.
pub fn assert_holds(
    seen: &std::collections::BTreeMap<String, Vec<u8>>,
    sent: &Environ,
    context: &str,
) {
    for (name, value) in sent {
        let name = String::from_utf8_lossy(name);
        assert_eq!(
            seen.get(name.as_ref()).map(Vec::as_slice),
            Some(value),
            "{context}: {name} differs from what was sent"
        );
    }
}

/// Splits CGI output (php-cgi's stdout, FastCGI STDOUT) into its parsed head and its body.
///
/// # Panics
/// When the head is invalid or incomplete.
pub fn split_cgi_output(output: &[u8]) -> (cgi_env::ResponseHead, Vec<u8>) {
    let bytes = bytes::Bytes::copy_from_slice(output);
    match cgi_env::parse_response_head(&bytes, cgi_env::ResponseHeadLimits::default()) {
        Ok(Some(head)) => {
            let body = output.get(head.body_offset..).unwrap_or_default().to_vec();
            (head, body)
        }
        other => panic!(
            "no valid CGI head ({other:?}) in {:?}",
            String::from_utf8_lossy(output)
        ),
    }
}
