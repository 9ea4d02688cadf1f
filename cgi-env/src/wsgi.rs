//! WSGI (PEP 3333): checking an environ, deriving `wsgi.url_scheme`, and the latin-1
//! "native strings" a host that embeds Python hands to the application.

use crate::environ::Environ;
use crate::error::WsgiError;

/// Whether the proxy in front of the application may be believed about the client's
/// scheme. uWSGI always believes `X-Forwarded-Proto` and `X-Forwarded-SSL`, which lets any
/// client that reaches it directly claim https; here they count only when trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyTrust {
    /// Ignore `HTTP_X_FORWARDED_PROTO` and `HTTP_X_FORWARDED_SSL`.
    #[default]
    Untrusted,
    /// The gateway strips or sets these headers itself, so they can be believed.
    Trusted,
}

/// `wsgi.url_scheme`, derived as uWSGI does, in this order:
///
/// 1. UWSGI_SCHEME, as given (the gateway's configuration);
/// 2. `HTTP_X_FORWARDED_PROTO`, as given, only with [`ProxyTrust::Trusted`];
/// 3. HTTPS, then (trusted only) `HTTP_X_FORWARDED_SSL`: `https` when the value starts
///    with `on` in any case or with `1`, otherwise `http`;
/// 4. REQUEST_SCHEME when it is `http` or `https` (any case), which uWSGI ignores but
///    nginx's presets send;
/// 5. `http`.
///
/// Values are latin-1 decoded.
///
/// ```
/// use cgi_env::{Environ, ProxyTrust, wsgi_url_scheme};
///
/// let env: Environ = [("HTTPS", "on"), ("HTTP_X_FORWARDED_PROTO", "http")].into_iter().collect();
/// assert_eq!(wsgi_url_scheme(&env, ProxyTrust::Untrusted), "https");
/// assert_eq!(wsgi_url_scheme(&env, ProxyTrust::Trusted), "http");
/// ```
pub fn wsgi_url_scheme(env: &Environ, trust: ProxyTrust) -> String {
    let trusted = trust == ProxyTrust::Trusted;
    let set = |name: &str| env.get(name).filter(|v| !v.is_empty());
    if let Some(scheme) = set("UWSGI_SCHEME") {
        return native_string(scheme);
    }
    if let Some(scheme) = set("HTTP_X_FORWARDED_PROTO").filter(|_| trusted) {
        return native_string(scheme);
    }
    if let Some(flag) = set("HTTPS").or_else(|| set("HTTP_X_FORWARDED_SSL").filter(|_| trusted)) {
        let on = flag.get(..2).is_some_and(|p| p.eq_ignore_ascii_case(b"on"))
            || flag.first() == Some(&b'1');
        return if on { "https" } else { "http" }.to_owned();
    }
    match set("REQUEST_SCHEME") {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"https") => "https".to_owned(),
        _ => "http".to_owned(),
    }
}

/// Checks the CGI part of a WSGI environ against PEP 3333 (the rules `wsgiref.validate`
/// applies): REQUEST_METHOD, SERVER_NAME and SERVER_PORT present and not empty;
/// SCRIPT_NAME empty or starting with `/` but not `/` alone; PATH_INFO empty or starting
/// with `/`; PATH_INFO present when SCRIPT_NAME is empty; CONTENT_LENGTH empty or
/// decimal. The `wsgi.*` keys are the Python host's to add and are not checked.
///
/// ```
/// use cgi_env::{Environ, WsgiError, check_pep3333};
///
/// let mut env: Environ = [("REQUEST_METHOD", "GET"), ("SERVER_NAME", "localhost"), ("SERVER_PORT", "80"), ("PATH_INFO", "/")]
///     .into_iter()
///     .collect();
/// assert_eq!(check_pep3333(&env), Ok(()));
/// env.insert("SCRIPT_NAME", "/");
/// assert!(matches!(check_pep3333(&env), Err(WsgiError::Malformed { name: "SCRIPT_NAME", .. })));
/// ```
pub fn check_pep3333(env: &Environ) -> Result<(), WsgiError> {
    for name in ["REQUEST_METHOD", "SERVER_NAME", "SERVER_PORT"] {
        match env.get(name) {
            None => return Err(WsgiError::Missing(name)),
            Some([]) => return Err(WsgiError::Empty(name)),
            Some(_) => {}
        }
    }
    if !env
        .get("SERVER_PORT")
        .unwrap_or_default()
        .iter()
        .all(u8::is_ascii_digit)
    {
        return Err(WsgiError::Malformed {
            name: "SERVER_PORT",
            reason: "not a port number",
        });
    }
    let script_name = env.get("SCRIPT_NAME").unwrap_or_default();
    if !(script_name.is_empty() || script_name.first() == Some(&b'/')) {
        return Err(WsgiError::Malformed {
            name: "SCRIPT_NAME",
            reason: "neither empty nor starting with '/'",
        });
    }
    if script_name == b"/" {
        return Err(WsgiError::Malformed {
            name: "SCRIPT_NAME",
            reason: "'/' alone: an application at the root has an empty SCRIPT_NAME",
        });
    }
    match env.get("PATH_INFO") {
        Some(path) if !(path.is_empty() || path.first() == Some(&b'/')) => {
            return Err(WsgiError::Malformed {
                name: "PATH_INFO",
                reason: "neither empty nor starting with '/'",
            });
        }
        None if script_name.is_empty() => return Err(WsgiError::Missing("PATH_INFO")),
        _ => {}
    }
    if !env
        .get("CONTENT_LENGTH")
        .unwrap_or_default()
        .iter()
        .all(u8::is_ascii_digit)
    {
        return Err(WsgiError::Malformed {
            name: "CONTENT_LENGTH",
            reason: "not a decimal number",
        });
    }
    Ok(())
}

/// A PEP 3333 "native string": the bytes decoded as latin-1, one char per byte, so that
/// the application can get the bytes back with `.encode('latin-1')`.
///
/// ```
/// assert_eq!(cgi_env::native_string(b"caf\xc3\xa9"), "caf\u{c3}\u{a9}");
/// ```
pub fn native_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The environ as a Python dict would hold it: each name once, at the position of its
/// first occurrence, with its last value (as uWSGI builds it), names and values as
/// native strings.
pub fn native_environ(env: &Environ) -> Vec<(String, String)> {
    let mut vars: Vec<(&[u8], &[u8])> = Vec::with_capacity(env.len());
    for (name, value) in env {
        match vars.iter_mut().find(|(n, _)| *n == name) {
            Some(existing) => existing.1 = value,
            None => vars.push((name, value)),
        }
    }
    vars.into_iter()
        .map(|(name, value)| (native_string(name), native_string(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environ {
        pairs.iter().copied().collect()
    }

    #[test]
    fn scheme_precedence() {
        use ProxyTrust::{Trusted, Untrusted};
        type Case<'a> = (&'a [(&'a str, &'a str)], ProxyTrust, &'a str);
        let cases: [Case; 11] = [
            (&[], Untrusted, "http"),
            (
                &[("UWSGI_SCHEME", "https"), ("HTTPS", "off")],
                Untrusted,
                "https",
            ),
            (&[("HTTPS", "on")], Untrusted, "https"),
            (&[("HTTPS", "On-ish")], Untrusted, "https"),
            (&[("HTTPS", "1")], Untrusted, "https"),
            (
                &[("HTTPS", "off"), ("REQUEST_SCHEME", "https")],
                Untrusted,
                "http",
            ),
            (&[("REQUEST_SCHEME", "https")], Untrusted, "https"),
            (&[("HTTP_X_FORWARDED_PROTO", "https")], Untrusted, "http"),
            (&[("HTTP_X_FORWARDED_PROTO", "https")], Trusted, "https"),
            (&[("HTTP_X_FORWARDED_SSL", "on")], Untrusted, "http"),
            (&[("HTTP_X_FORWARDED_SSL", "on")], Trusted, "https"),
        ];
        for (vars, trust, expected) in cases {
            assert_eq!(
                wsgi_url_scheme(&env(vars), trust),
                expected,
                "{vars:?} {trust:?}"
            );
        }
    }

    #[test]
    fn pep3333_rules() {
        let base = [
            ("REQUEST_METHOD", "GET"),
            ("SERVER_NAME", "h"),
            ("SERVER_PORT", "80"),
            ("PATH_INFO", ""),
        ];
        assert_eq!(check_pep3333(&env(&base)), Ok(()));
        let mut missing = env(&base);
        missing.remove("SERVER_PORT");
        assert_eq!(
            check_pep3333(&missing),
            Err(WsgiError::Missing("SERVER_PORT"))
        );
        let mut empty = env(&base);
        empty.insert("REQUEST_METHOD", "");
        assert_eq!(
            check_pep3333(&empty),
            Err(WsgiError::Empty("REQUEST_METHOD"))
        );
        let mut no_path = env(&base);
        no_path.remove("PATH_INFO");
        assert_eq!(
            check_pep3333(&no_path),
            Err(WsgiError::Missing("PATH_INFO"))
        );
        no_path.insert("SCRIPT_NAME", "/app");
        assert_eq!(check_pep3333(&no_path), Ok(()));
        for (name, value) in [
            ("PATH_INFO", "x"),
            ("SCRIPT_NAME", "app"),
            ("CONTENT_LENGTH", "1e3"),
            ("SERVER_PORT", "http"),
        ] {
            let mut bad = env(&base);
            bad.insert(name, value);
            assert!(
                matches!(check_pep3333(&bad), Err(WsgiError::Malformed { name: n, .. }) if n == name),
                "{name}"
            );
        }
    }

    #[test]
    fn native_environ_is_dict_like() {
        let vars: Environ = [(&b"A"[..], &b"1"[..]), (b"B", b"\xff"), (b"A", b"2")]
            .into_iter()
            .collect();
        assert_eq!(
            native_environ(&vars),
            [
                ("A".to_owned(), "2".to_owned()),
                ("B".to_owned(), "\u{ff}".to_owned())
            ]
        );
    }
}
