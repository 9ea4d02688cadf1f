//! The application side: the HTTP request back from an environ.

use std::net::IpAddr;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http::request::Parts;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Uri, Version};

use crate::environ::Environ;
use crate::error::RequestError;
use crate::grammar::parse_decimal;

/// An HTTP request rebuilt from an environ, with the CGI facts HTTP has no place for.
#[derive(Debug)]
pub struct CgiRequest {
    /// Method, URI (with scheme and authority), version and headers.
    pub parts: Parts,
    /// REMOTE_ADDR, when present.
    pub remote_addr: Option<IpAddr>,
    /// REMOTE_PORT, when present.
    pub remote_port: Option<u16>,
    /// SCRIPT_NAME (decoded bytes; empty when absent).
    pub script_name: Vec<u8>,
    /// PATH_INFO (decoded bytes; empty when absent).
    pub path_info: Vec<u8>,
    /// CONTENT_LENGTH: the body's exact length, `None` when there is no body.
    pub content_length: Option<u64>,
}

impl CgiRequest {
    /// Rebuilds the request an environ describes.
    ///
    /// - Method from REQUEST_METHOD (required).
    /// - Scheme `https` when HTTPS is `on`, `1` or `yes` (any case), else REQUEST_SCHEME,
    ///   else `http`.
    /// - Authority from HTTP_HOST, else SERVER_NAME with SERVER_PORT (left out when it is
    ///   the scheme's default port).
    /// - Path and query from REQUEST_URI (the raw target, as the client sent it), else from
    ///   SCRIPT_NAME + PATH_INFO percent-encoded again, plus `?` QUERY_STRING.
    /// - Version from SERVER_PROTOCOL (`HTTP/1.0` when absent, as uWSGI assumes; `INCLUDED`
    ///   is HTTP/1.0 as RFC 3875 says).
    /// - Headers from every `HTTP_*` variable (`_` → `-`), then Content-Type and
    ///   Content-Length from CONTENT_TYPE and CONTENT_LENGTH when they are not empty,
    ///   which win over `HTTP_CONTENT_TYPE` and `HTTP_CONTENT_LENGTH`. A name that occurs
    ///   twice takes its last value, as PHP-FPM and uWSGI do.
    ///
    /// # Errors
    /// [`RequestError::Missing`] or [`RequestError::Malformed`] naming the variable, and
    /// [`RequestError::InvalidHeader`] for an `HTTP_*` variable that is not a valid header.
    ///
    /// # Example
    /// ```
    /// use cgi_env::{CgiRequest, Environ};
    ///
    /// let env: Environ = [
    ///     ("REQUEST_METHOD", "POST"),
    ///     ("REQUEST_URI", "/app/items?page=2"),
    ///     ("SCRIPT_NAME", "/app"),
    ///     ("PATH_INFO", "/items"),
    ///     ("SERVER_PROTOCOL", "HTTP/1.1"),
    ///     ("HTTPS", "on"),
    ///     ("HTTP_HOST", "example.org"),
    ///     ("CONTENT_LENGTH", "3"),
    ///     ("REMOTE_ADDR", "192.0.2.1"),
    /// ]
    /// .into_iter()
    /// .collect();
    /// let request = CgiRequest::from_environ(&env)?;
    /// assert_eq!(request.parts.uri, "https://example.org/app/items?page=2");
    /// assert_eq!(request.parts.headers["content-length"], "3");
    /// assert_eq!(request.content_length, Some(3));
    /// assert_eq!(request.path_info, b"/items");
    /// # Ok::<(), cgi_env::RequestError>(())
    /// ```
    pub fn from_environ(env: &Environ) -> Result<CgiRequest, RequestError> {
        let known = Known::find(env);
        let method = known
            .method
            .ok_or(RequestError::Missing("REQUEST_METHOD"))?;
        let method = Method::from_bytes(method)
            .map_err(|_| malformed("REQUEST_METHOD", "not an HTTP method token"))?;
        let version = version(known.protocol)?;
        let scheme = scheme(&known)?;
        let authority = authority(env, &known, &scheme)?;
        let path_and_query = path_and_query(env, &known)?;
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(scheme);
        uri.authority = Some(authority);
        uri.path_and_query = Some(path_and_query);
        let uri =
            Uri::from_parts(uri).map_err(|_| malformed("REQUEST_URI", "does not form a URI"))?;
        let content_length = match non_empty(known.content_length) {
            Some(value) => Some(
                parse_decimal(value).ok_or(malformed("CONTENT_LENGTH", "not a decimal number"))?,
            ),
            None => None,
        };
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = method;
        parts.uri = uri;
        parts.version = version;
        add_headers(env, &known, &mut parts.headers)?;
        if let Some(content_type) = non_empty(known.content_type) {
            let value = HeaderValue::from_bytes(content_type)
                .map_err(|_| malformed("CONTENT_TYPE", "not a header value"))?;
            parts.headers.insert(CONTENT_TYPE, value);
        }
        if let Some(length) = content_length {
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
        let remote_addr = match non_empty(known.remote_addr) {
            Some(addr) => {
                Some(parse_text(addr).ok_or(malformed("REMOTE_ADDR", "not an IP address"))?)
            }
            None => None,
        };
        let remote_port = match non_empty(known.remote_port) {
            Some(port) => {
                Some(parse_text(port).ok_or(malformed("REMOTE_PORT", "not a port number"))?)
            }
            None => None,
        };
        Ok(CgiRequest {
            parts,
            remote_addr,
            remote_port,
            script_name: known.script_name.unwrap_or_default().to_vec(),
            path_info: known.path_info.unwrap_or_default().to_vec(),
            content_length,
        })
    }
}

/// The variables a request is rebuilt from, found in one pass over the environ (the
/// last of duplicates, as [`Environ::get`] finds it), and whether it has headers.
#[derive(Default)]
struct Known<'a> {
    method: Option<&'a [u8]>,
    protocol: Option<&'a [u8]>,
    https: Option<&'a [u8]>,
    request_scheme: Option<&'a [u8]>,
    host: Option<&'a [u8]>,
    server_name: Option<&'a [u8]>,
    server_port: Option<&'a [u8]>,
    request_uri: Option<&'a [u8]>,
    script_name: Option<&'a [u8]>,
    path_info: Option<&'a [u8]>,
    query_string: Option<&'a [u8]>,
    content_length: Option<&'a [u8]>,
    content_type: Option<&'a [u8]>,
    remote_addr: Option<&'a [u8]>,
    remote_port: Option<&'a [u8]>,
    /// Whether any HTTP_ variable is present.
    headers: bool,
    /// Where HTTP_HOST and REQUEST_URI are, for URI parts that share the environ's bytes.
    host_at: usize,
    request_uri_at: usize,
}

impl<'a> Known<'a> {
    fn find(env: &'a Environ) -> Self {
        let mut known = Known::default();
        for (at, (name, value)) in env.iter().enumerate() {
            match name {
                b"HTTP_HOST" => known.host_at = at,
                b"REQUEST_URI" => known.request_uri_at = at,
                _ => {}
            }
            let slot = match name {
                b"REQUEST_METHOD" => &mut known.method,
                b"SERVER_PROTOCOL" => &mut known.protocol,
                b"HTTPS" => &mut known.https,
                b"REQUEST_SCHEME" => &mut known.request_scheme,
                b"HTTP_HOST" => &mut known.host,
                b"SERVER_NAME" => &mut known.server_name,
                b"SERVER_PORT" => &mut known.server_port,
                b"REQUEST_URI" => &mut known.request_uri,
                b"SCRIPT_NAME" => &mut known.script_name,
                b"PATH_INFO" => &mut known.path_info,
                b"QUERY_STRING" => &mut known.query_string,
                b"CONTENT_LENGTH" => &mut known.content_length,
                b"CONTENT_TYPE" => &mut known.content_type,
                b"REMOTE_ADDR" => &mut known.remote_addr,
                b"REMOTE_PORT" => &mut known.remote_port,
                _ => {
                    known.headers |= name.starts_with(b"HTTP_");
                    continue;
                }
            };
            *slot = Some(value);
        }
        known.headers |= known.host.is_some();
        known
    }
}

fn malformed(name: &'static str, reason: &'static str) -> RequestError {
    RequestError::Malformed { name, reason }
}

fn non_empty(value: Option<&[u8]>) -> Option<&[u8]> {
    value.filter(|v| !v.is_empty())
}

fn parse_text<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn version(protocol: Option<&[u8]>) -> Result<Version, RequestError> {
    Ok(match protocol {
        None | Some(b"HTTP/1.0" | b"INCLUDED") => Version::HTTP_10,
        Some(b"HTTP/1.1") => Version::HTTP_11,
        Some(b"HTTP/2.0" | b"HTTP/2") => Version::HTTP_2,
        Some(b"HTTP/3.0" | b"HTTP/3") => Version::HTTP_3,
        Some(b"HTTP/0.9") => Version::HTTP_09,
        Some(_) => return Err(malformed("SERVER_PROTOCOL", "not a known HTTP version")),
    })
}

/// HTTPS set to on/1/yes means https (wsgiref's rule, which also covers uWSGI's "on…"
/// and "1…" prefixes for the usual values); else REQUEST_SCHEME; else http.
fn scheme(known: &Known<'_>) -> Result<Scheme, RequestError> {
    if known.https.is_some_and(https_is_on) {
        return Ok(Scheme::HTTPS);
    }
    match non_empty(known.request_scheme) {
        None => Ok(Scheme::HTTP),
        Some(scheme) if scheme.eq_ignore_ascii_case(b"https") => Ok(Scheme::HTTPS),
        Some(scheme) if scheme.eq_ignore_ascii_case(b"http") => Ok(Scheme::HTTP),
        Some(_) => Err(malformed("REQUEST_SCHEME", "neither http nor https")),
    }
}

pub(crate) fn https_is_on(value: &[u8]) -> bool {
    [&b"on"[..], b"1", b"yes"]
        .iter()
        .any(|on| value.eq_ignore_ascii_case(on))
}

/// The value at `at`, sharing the environ's bytes where it holds received ones.
fn shared_value(env: &Environ, at: usize) -> bytes::Bytes {
    env.value_bytes_at(at).unwrap_or_default()
}

fn authority(env: &Environ, known: &Known<'_>, scheme: &Scheme) -> Result<Authority, RequestError> {
    if non_empty(known.host).is_some() {
        return Authority::from_maybe_shared(shared_value(env, known.host_at))
            .map_err(|_| malformed("HTTP_HOST", "not a host[:port]"));
    }
    let name = non_empty(known.server_name).ok_or(RequestError::Missing("SERVER_NAME"))?;
    let port = non_empty(known.server_port);
    let default_port: &[u8] = if *scheme == Scheme::HTTPS {
        b"443"
    } else {
        b"80"
    };
    let mut text = name.to_vec();
    if let Some(port) = port.filter(|p| *p != default_port) {
        if parse_text::<u16>(port).is_none() {
            return Err(malformed("SERVER_PORT", "not a port number"));
        }
        text.push(b':');
        text.extend_from_slice(port);
    }
    Authority::try_from(text.as_slice()).map_err(|_| malformed("SERVER_NAME", "not a host name"))
}

fn path_and_query(env: &Environ, known: &Known<'_>) -> Result<PathAndQuery, RequestError> {
    if non_empty(known.request_uri).is_some() {
        return PathAndQuery::from_maybe_shared(shared_value(env, known.request_uri_at))
            .ok()
            .filter(|p| p.as_str().starts_with('/'))
            .ok_or(malformed(
                "REQUEST_URI",
                "not an origin-form request target",
            ));
    }
    let mut text = Vec::new();
    percent_encode_path(known.script_name.unwrap_or_default(), &mut text);
    percent_encode_path(known.path_info.unwrap_or_default(), &mut text);
    if text.first() != Some(&b'/') {
        text.insert(0, b'/');
    }
    if let Some(query) = non_empty(known.query_string) {
        text.push(b'?');
        text.extend_from_slice(query);
    }
    PathAndQuery::try_from(text.as_slice())
        .map_err(|_| malformed("QUERY_STRING", "not a valid query"))
}

/// Percent-encodes a decoded path for a URI: everything but unreserved characters, `/`,
/// and the sub-delimiters RFC 3875 §3.3 does not reserve (`;`, `=` and `?` are encoded).
pub fn percent_encode_path(path: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in path {
        let keep = byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,:@".contains(&byte);
        if keep {
            out.push(byte);
        } else {
            let hex = |nibble: u8| HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
            out.extend_from_slice(&[b'%', hex(byte >> 4), hex(byte & 15)]);
        }
    }
}

fn add_headers(
    env: &Environ,
    known: &Known<'_>,
    headers: &mut http::HeaderMap,
) -> Result<(), RequestError> {
    if !known.headers {
        return Ok(());
    }
    let has_type = non_empty(known.content_type).is_some();
    let has_length = non_empty(known.content_length).is_some();
    // Header names are short: lowered in a buffer on the stack, never allocated.
    let mut name_buf = [0u8; 64];
    let mut long_name = Vec::new();
    for index in 0..env.len() {
        let Some((name, _)) = env.get_index(index) else {
            continue;
        };
        let Some(header) = name.strip_prefix(b"HTTP_") else {
            continue;
        };
        if (has_type && header == b"CONTENT_TYPE") || (has_length && header == b"CONTENT_LENGTH") {
            continue;
        }
        let invalid = || RequestError::InvalidHeader {
            name: String::from_utf8_lossy(name).into_owned(),
        };
        let lowered = |b: &u8| {
            if *b == b'_' {
                b'-'
            } else {
                b.to_ascii_lowercase()
            }
        };
        let lowered_name: &[u8] = if let Some(short) = name_buf.get_mut(..header.len()) {
            for (to, from) in short.iter_mut().zip(header) {
                *to = lowered(from);
            }
            short
        } else {
            long_name.clear();
            long_name.extend(header.iter().map(lowered));
            &long_name
        };
        let header_name = HeaderName::from_bytes(lowered_name).map_err(|_| invalid())?;
        // Shares the received buffer the value was decoded from: no copy per header.
        let value = env.value_bytes_at(index).unwrap_or_default();
        let header_value = HeaderValue::from_maybe_shared(value).map_err(|_| invalid())?;
        // Later duplicates win, as they do in PHP-FPM and uWSGI.
        headers.insert(header_name, header_value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environ {
        pairs.iter().copied().collect()
    }

    const BASE: [(&str, &str); 3] = [
        ("REQUEST_METHOD", "GET"),
        ("SERVER_NAME", "h"),
        ("SERVER_PORT", "80"),
    ];

    fn with(extra: &[(&str, &str)]) -> Environ {
        let mut e = env(&BASE);
        e.extend(extra.iter().copied());
        e
    }

    #[test]
    fn header_names_of_any_length_are_lowered_and_dashed() {
        for length in [1, 63, 64, 65, 200] {
            let suffix = "X_".repeat(length / 2) + &"Y".repeat(length % 2);
            let variable = format!("HTTP_{suffix}");
            let request = CgiRequest::from_environ(&with(&[(&variable, "v")])).unwrap();
            let expected = suffix.replace('_', "-").to_ascii_lowercase();
            assert_eq!(request.parts.headers.len(), 1, "{variable}");
            assert_eq!(request.parts.headers[expected.as_str()], "v", "{variable}");
        }
    }

    #[test]
    fn missing_method_is_named() {
        assert_eq!(
            CgiRequest::from_environ(&env(&[("SERVER_NAME", "h")])).unwrap_err(),
            RequestError::Missing("REQUEST_METHOD")
        );
        assert_eq!(
            CgiRequest::from_environ(&env(&[("REQUEST_METHOD", "GET")])).unwrap_err(),
            RequestError::Missing("SERVER_NAME")
        );
    }

    #[test]
    fn malformed_variables_are_named() {
        let cases: [(&str, &str, &str); 8] = [
            ("REQUEST_METHOD", "G ET", "REQUEST_METHOD"),
            ("SERVER_PROTOCOL", "SPDY/3", "SERVER_PROTOCOL"),
            ("CONTENT_LENGTH", "12a", "CONTENT_LENGTH"),
            ("REMOTE_ADDR", "localhost", "REMOTE_ADDR"),
            ("REMOTE_PORT", "70000", "REMOTE_PORT"),
            ("REQUEST_URI", "no-slash", "REQUEST_URI"),
            ("HTTP_HOST", "a b", "HTTP_HOST"),
            ("REQUEST_SCHEME", "ftp", "REQUEST_SCHEME"),
        ];
        for (name, value, expected) in cases {
            match CgiRequest::from_environ(&with(&[(name, value)])) {
                Err(RequestError::Malformed { name, .. }) => assert_eq!(name, expected),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
        assert!(matches!(
            CgiRequest::from_environ(&with(&[("HTTP_X_A", "a\u{1}b")])),
            Err(RequestError::InvalidHeader { name }) if name == "HTTP_X_A"
        ));
    }

    #[test]
    fn uri_from_script_name_path_info_and_query() {
        let request = CgiRequest::from_environ(&with(&[
            ("SCRIPT_NAME", "/app"),
            ("PATH_INFO", "/a b/c;d=e?f%"),
            ("QUERY_STRING", "x=1&y=%20"),
            ("SERVER_PORT", "8080"),
        ]))
        .unwrap();
        assert_eq!(
            request.parts.uri,
            "http://h:8080/app/a%20b/c%3Bd%3De%3Ff%25?x=1&y=%20"
        );
        assert_eq!(request.parts.version, Version::HTTP_10);
        let bare = CgiRequest::from_environ(&with(&[])).unwrap();
        assert_eq!(bare.parts.uri, "http://h/");
    }

    #[test]
    fn scheme_sources() {
        for (vars, scheme) in [
            (&[("HTTPS", "on")][..], "https"),
            (&[("HTTPS", "ON")], "https"),
            (&[("HTTPS", "1")], "https"),
            (&[("HTTPS", "off")], "http"),
            (&[("REQUEST_SCHEME", "https")], "https"),
            (&[("HTTPS", "off"), ("REQUEST_SCHEME", "https")], "https"),
            (&[], "http"),
        ] {
            let request = CgiRequest::from_environ(&with(vars)).unwrap();
            assert_eq!(request.parts.uri.scheme_str(), Some(scheme), "{vars:?}");
        }
        let request =
            CgiRequest::from_environ(&with(&[("HTTPS", "on"), ("SERVER_PORT", "443")])).unwrap();
        assert_eq!(request.parts.uri, "https://h/");
    }

    #[test]
    fn headers_and_content_variables() {
        let request = CgiRequest::from_environ(&with(&[
            ("CONTENT_TYPE", "text/plain"),
            ("CONTENT_LENGTH", "5"),
            ("HTTP_CONTENT_TYPE", "text/html"),
            ("HTTP_CONTENT_LENGTH", "7"),
            ("HTTP_X_FORWARDED_FOR", "1.2.3.4"),
            ("HTTP_COOKIE", "a=b; c=d"),
            ("HTTP_X_DUP", "first"),
            ("HTTP_X_DUP", "last"),
            ("NOT_A_HEADER", "x"),
            ("REMOTE_ADDR", "::1"),
            ("REMOTE_PORT", "5000"),
        ]))
        .unwrap();
        let headers = &request.parts.headers;
        assert_eq!(headers["content-type"], "text/plain");
        assert_eq!(headers["content-length"], "5");
        assert_eq!(headers["x-forwarded-for"], "1.2.3.4");
        assert_eq!(headers["cookie"], "a=b; c=d");
        assert_eq!(headers["x-dup"], "last");
        assert_eq!(headers.len(), 5);
        assert_eq!(request.content_length, Some(5));
        assert_eq!(request.remote_addr, Some("::1".parse().unwrap()));
        assert_eq!(request.remote_port, Some(5000));
    }

    #[test]
    fn header_values_share_the_buffer_the_environ_was_decoded_from() {
        let wire = bytes::Bytes::from_static(b"REQUEST_METHODGETHTTP_X_TOKENabc123");
        let mut env = Environ::new();
        let segment = env.add_segment(wire.clone()).unwrap();
        env.push_segment_var(segment, 0..14, 14..17).unwrap();
        env.push_segment_var(segment, 17..29, 29..35).unwrap();
        env.append("SERVER_NAME", "h");
        env.append("SERVER_PORT", "80");
        let request = CgiRequest::from_environ(&env).unwrap();
        let token = &request.parts.headers["x-token"];
        assert_eq!(token, "abc123");
        assert_eq!(token.as_bytes().as_ptr(), wire[29..].as_ptr(), "no copy");
    }

    #[test]
    fn empty_content_variables_mean_none() {
        let request =
            CgiRequest::from_environ(&with(&[("CONTENT_TYPE", ""), ("CONTENT_LENGTH", "")]))
                .unwrap();
        assert!(request.parts.headers.is_empty());
        assert_eq!(request.content_length, None);
    }

    #[test]
    fn versions() {
        for (protocol, version) in [
            ("HTTP/1.1", Version::HTTP_11),
            ("HTTP/2.0", Version::HTTP_2),
            ("INCLUDED", Version::HTTP_10),
            ("HTTP/3.0", Version::HTTP_3),
        ] {
            let request =
                CgiRequest::from_environ(&with(&[("SERVER_PROTOCOL", protocol)])).unwrap();
            assert_eq!(request.parts.version, version);
        }
    }
}
