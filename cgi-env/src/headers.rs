//! Request headers to `HTTP_*` variables (RFC 3875 §4.1.18, as nginx does it).

use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HeaderName};

use crate::environ::Environ;
use crate::error::GatewayError;

/// Hop-by-hop headers (RFC 9110 §7.6.1 and RFC 2616 §13.5.1) plus the legacy
/// `Proxy-Connection`: they concern the client connection, never the backend.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

/// Which request headers become `HTTP_*` variables.
///
/// Whatever the rules, a `Proxy` header never becomes `HTTP_PROXY` (httpoxy), and a
/// header can only ever produce a name starting with `HTTP_`, so it can never set
/// `PHP_VALUE`, `UWSGI_*`, `SCRIPT_FILENAME` or any other name that steers a backend.
// Independent switches, each mirroring one nginx directive or RFC 3875 recommendation.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRules {
    /// Pass headers at all (nginx's `fastcgi_pass_request_headers`).
    pub pass_headers: bool,
    /// Pass headers whose names hold `_` (nginx's `underscores_in_headers`). Off by
    /// default: `X-Forwarded_For` would otherwise become `HTTP_X_FORWARDED_FOR` too.
    pub allow_underscores: bool,
    /// Send `HTTP_CONTENT_TYPE` and `HTTP_CONTENT_LENGTH` besides `CONTENT_TYPE` and
    /// `CONTENT_LENGTH` (nginx does; RFC 3875 says the server should not).
    pub pass_content_headers: bool,
    /// Send `HTTP_AUTHORIZATION` (nginx does and PHP reads it; RFC 3875 says the server
    /// should not).
    pub pass_authorization: bool,
    /// Drop the [`HOP_BY_HOP`] headers (RFC 3875 allows it; nginx passes them).
    pub drop_hop_by_hop: bool,
    /// Send HTTP_HOST from the target's authority when the request has no Host header,
    /// as HTTP/2 and HTTP/3 requests carry the host in `:authority` (nginx does so
    /// since 1.29.5).
    pub host_from_authority: bool,
}

impl Default for HeaderRules {
    /// nginx's defaults.
    fn default() -> Self {
        HeaderRules::nginx()
    }
}

impl HeaderRules {
    /// What nginx passes by default: every header whose name is letters, digits and `-`,
    /// including Content-Type, Content-Length, Authorization and hop-by-hop headers. Unlike
    /// stock nginx, `Proxy` is dropped.
    pub fn nginx() -> Self {
        HeaderRules {
            pass_headers: true,
            allow_underscores: false,
            pass_content_headers: true,
            pass_authorization: true,
            drop_hop_by_hop: false,
            host_from_authority: true,
        }
    }

    /// RFC 3875's recommendations: no Content-Type, Content-Length, Authorization or
    /// hop-by-hop headers as `HTTP_*`.
    pub fn rfc3875() -> Self {
        HeaderRules {
            pass_headers: true,
            allow_underscores: false,
            pass_content_headers: false,
            pass_authorization: false,
            drop_hop_by_hop: true,
            host_from_authority: true,
        }
    }

    /// Whether a header of this name is passed under these rules.
    pub fn passes(&self, name: &HeaderName) -> bool {
        let text = name.as_str();
        if !self.pass_headers || text == "proxy" {
            return false;
        }
        if text.contains('_') && !self.allow_underscores {
            return false;
        }
        if (name == CONTENT_TYPE || name == CONTENT_LENGTH) && !self.pass_content_headers {
            return false;
        }
        if name == AUTHORIZATION && !self.pass_authorization {
            return false;
        }
        !(self.drop_hop_by_hop && HOP_BY_HOP.contains(&text))
    }

    /// Appends one `HTTP_*` variable per distinct header name, in the order the names
    /// first appear, skipping names in `configured` (variables the configuration sets
    /// itself, as nginx skips a header when a `fastcgi_param HTTP_*` of that name exists).
    pub(crate) fn append_headers(
        &self,
        headers: &HeaderMap,
        configured: &[&[u8]],
        env: &mut Environ,
    ) -> Result<(), GatewayError> {
        for name in headers.keys() {
            if !self.passes(name) {
                continue;
            }
            // The variable's name, then its value (a header sent more than once: joined),
            // written where the environ keeps them: no allocation per request here.
            env.append_built(|out| {
                let start = out.len();
                out.extend_from_slice(b"HTTP_");
                out.extend(name.as_str().bytes().map(http_var_byte));
                let name_len = out.len() - start;
                if out
                    .get(start..)
                    .is_some_and(|var| configured.contains(&var))
                {
                    return Ok(None);
                }
                let separator: &[u8] = if name == COOKIE { b"; " } else { b", " };
                for (index, value) in headers.get_all(name).iter().enumerate() {
                    check_value(name, value.as_bytes())?;
                    if index > 0 {
                        out.extend_from_slice(separator);
                    }
                    out.extend_from_slice(value.as_bytes());
                }
                Ok(Some(name_len))
            })?;
        }
        Ok(())
    }
}

/// Refuses a header value holding a byte no CGI variable may carry.
fn check_value(name: &http::HeaderName, value: &[u8]) -> Result<(), GatewayError> {
    if value.iter().any(|b| matches!(b, 0 | b'\r' | b'\n')) {
        return Err(GatewayError::ControlByteInHeader {
            name: name.as_str().to_owned(),
        });
    }
    Ok(())
}

/// The CGI variable name for a header: `HTTP_` + the name upper-cased with `-` → `_`.
///
/// ```
/// assert_eq!(cgi_env::http_var_name("x-forwarded-for"), "HTTP_X_FORWARDED_FOR");
/// ```
pub fn http_var_name(header: &str) -> String {
    let mut name = Vec::with_capacity(header.len() + 5);
    http_var_name_into(header, &mut name);
    // Only ASCII bytes are changed, so UTF-8 input stays UTF-8.
    String::from_utf8_lossy(&name).into_owned()
}

fn http_var_name_into(header: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(b"HTTP_");
    out.extend(header.bytes().map(http_var_byte));
}

/// A header name's byte in its `HTTP_*` variable: upper case, `-` as `_`.
fn http_var_byte(byte: u8) -> u8 {
    if byte == b'-' {
        b'_'
    } else {
        byte.to_ascii_uppercase()
    }
}

/// Names that steer a backend (PHP-FPM's INI overrides, uWSGI's magic variables, the
/// script path and PHP's redirect check). They may come from the gateway's configuration
/// only; nothing derived from a request ever produces them.
pub fn is_reserved_name(name: &[u8]) -> bool {
    matches!(
        name,
        b"PHP_VALUE"
            | b"PHP_ADMIN_VALUE"
            | b"SCRIPT_FILENAME"
            | b"DOCUMENT_ROOT"
            | b"REDIRECT_STATUS"
            | b"REQUEST_BODY_FILE"
    ) || name.starts_with(b"UWSGI_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn convert(rules: &HeaderRules, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let mut env = Environ::new();
        rules.append_headers(&headers, &[], &mut env).unwrap();
        env.iter()
            .map(|(n, v)| {
                (
                    String::from_utf8(n.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn names_are_upper_cased_with_underscores() {
        assert_eq!(
            convert(
                &HeaderRules::nginx(),
                &[("x-test", "yes"), ("user-agent", "curl")]
            ),
            [pair("HTTP_X_TEST", "yes"), pair("HTTP_USER_AGENT", "curl")]
        );
    }

    #[test]
    fn repeated_headers_are_joined_cookie_with_semicolon() {
        let got = convert(
            &HeaderRules::nginx(),
            &[
                ("accept", "a"),
                ("cookie", "a=b"),
                ("accept", "b"),
                ("cookie", "c=d"),
            ],
        );
        assert_eq!(
            got,
            [pair("HTTP_ACCEPT", "a, b"), pair("HTTP_COOKIE", "a=b; c=d")]
        );
    }

    #[test]
    fn proxy_is_never_passed() {
        let mut rules = HeaderRules::nginx();
        rules.allow_underscores = true;
        assert_eq!(convert(&rules, &[("proxy", "http://evil")]), []);
        assert_eq!(
            convert(&HeaderRules::rfc3875(), &[("proxy", "http://evil")]),
            []
        );
    }

    #[test]
    fn underscore_names_dropped_unless_allowed() {
        let headers = [
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded_for", "6.6.6.6"),
        ];
        assert_eq!(
            convert(&HeaderRules::nginx(), &headers),
            [pair("HTTP_X_FORWARDED_FOR", "1.1.1.1")]
        );
        let mut rules = HeaderRules::nginx();
        rules.allow_underscores = true;
        assert_eq!(convert(&rules, &headers).len(), 2);
    }

    #[test]
    fn content_authorization_and_hop_by_hop_follow_the_rules() {
        let headers = [
            ("content-type", "text/plain"),
            ("content-length", "3"),
            ("authorization", "Basic eDp5"),
            ("connection", "close"),
            ("te", "trailers"),
            ("x-a", "1"),
        ];
        assert_eq!(convert(&HeaderRules::nginx(), &headers).len(), 6);
        assert_eq!(
            convert(&HeaderRules::rfc3875(), &headers),
            [pair("HTTP_X_A", "1")]
        );
    }

    #[test]
    fn headers_cannot_produce_reserved_names() {
        let got = convert(
            &HeaderRules::nginx(),
            &[
                ("php-value", "auto_prepend_file=x"),
                ("uwsgi-file", "x"),
                ("script-filename", "/etc/passwd"),
            ],
        );
        for (name, _) in &got {
            assert!(name.starts_with("HTTP_"), "{name}");
            assert!(!is_reserved_name(name.as_bytes()), "{name}");
        }
        assert_eq!(got.len(), 3);
        assert!(is_reserved_name(b"UWSGI_SETENV"));
        assert!(is_reserved_name(b"PHP_ADMIN_VALUE"));
        assert!(!is_reserved_name(b"HTTP_PHP_VALUE"));
    }

    #[test]
    fn configured_names_suppress_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("a:1"));
        headers.insert("x-b", HeaderValue::from_static("b"));
        let mut env = Environ::new();
        HeaderRules::nginx()
            .append_headers(&headers, &[b"HTTP_HOST"], &mut env)
            .unwrap();
        assert_eq!(env.len(), 1);
        assert_eq!(env.get("HTTP_X_B"), Some(&b"b"[..]));
    }
}
