//! The gateway side: the environ a web server sends for an HTTP request.

use std::io::Write as _;
use std::net::SocketAddr;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::request::Parts;
use http::{HeaderMap, Version};

use crate::environ::Environ;
use crate::error::GatewayError;
use crate::grammar::parse_decimal;
use crate::preset::{Preset, Var};
use crate::script::{EncodedSlash, ScriptMapping, SplitPath};

/// What the gateway knows about the connection a request arrived on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// The local address the request arrived on.
    pub local: SocketAddr,
    /// Whether the connection is TLS (HTTPS=on, REQUEST_SCHEME=https).
    pub tls: bool,
    /// The configured server name (SERVER_NAME; nginx's first `server_name`, not the Host
    /// header).
    pub server_name: String,
    /// The authenticated user, when the gateway authenticated the request.
    pub user: Option<AuthUser>,
}

/// A user the gateway authenticated (REMOTE_USER, AUTH_TYPE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// The user-id (REMOTE_USER).
    pub name: String,
    /// The authentication scheme, e.g. `Basic` (AUTH_TYPE).
    pub auth_type: String,
}

impl ConnectionInfo {
    /// A plain-HTTP connection with no authenticated user.
    pub fn new(remote: SocketAddr, local: SocketAddr, server_name: impl Into<String>) -> Self {
        ConnectionInfo {
            remote,
            local,
            tls: false,
            server_name: server_name.into(),
            user: None,
        }
    }
}

/// A gateway's configuration: which variables to send, how paths map to scripts, and
/// where the scripts live. [`Gateway::build`] turns a request into an [`Environ`].
///
/// # Example
/// ```
/// use cgi_env::{ConnectionInfo, Gateway, Param, Preset, ScriptMapping, Var};
///
/// let gateway = Gateway::new(Preset::nginx_fastcgi_conf().with_first(Param::new("PATH_INFO", Var::PathInfo)))
///     .with_mapping(ScriptMapping::SplitAtExtension(".php".into()))
///     .with_document_root("/srv/www");
/// let (parts, ()) = http::Request::get("/app/index.php/users?id=7")
///     .header("host", "example.org")
///     .body(())?
///     .into_parts();
/// let conn = ConnectionInfo::new("192.0.2.1:50000".parse()?, "192.0.2.80:80".parse()?, "example.org");
/// let env = gateway.build(&parts, &conn)?;
/// assert_eq!(env.get_str("SCRIPT_FILENAME"), Some("/srv/www/app/index.php"));
/// assert_eq!(env.get_str("PATH_INFO"), Some("/users"));
/// assert_eq!(env.get_str("QUERY_STRING"), Some("id=7"));
/// assert_eq!(env.get_str("HTTP_HOST"), Some("example.org"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    preset: Preset,
    mapping: ScriptMapping,
    encoded_slash: EncodedSlash,
    document_root: Option<String>,
    server_software: String,
}

/// SERVER_SOFTWARE unless the caller sets another.
const DEFAULT_SERVER_SOFTWARE: &str = concat!("cgi-env/", env!("CARGO_PKG_VERSION"));

impl Gateway {
    /// A gateway with this preset, the whole path as the script
    /// ([`ScriptMapping::WholePath`]), `%2F` refused, no document root, and
    /// `SERVER_SOFTWARE = cgi-env/<version>`.
    pub fn new(preset: Preset) -> Self {
        Gateway {
            preset,
            mapping: ScriptMapping::WholePath,
            encoded_slash: EncodedSlash::Reject,
            document_root: None,
            server_software: DEFAULT_SERVER_SOFTWARE.to_owned(),
        }
    }

    /// The variables to send and the header rules.
    pub fn preset(&self) -> &Preset {
        &self.preset
    }

    /// How the path maps to SCRIPT_NAME and PATH_INFO.
    pub fn mapping(&self) -> &ScriptMapping {
        &self.mapping
    }

    /// Whether `%2F` in the path is refused (the default) or decoded.
    pub fn encoded_slash(&self) -> EncodedSlash {
        self.encoded_slash
    }

    /// The document root (DOCUMENT_ROOT; the base of SCRIPT_FILENAME and
    /// PATH_TRANSLATED), if set.
    pub fn document_root(&self) -> Option<&str> {
        self.document_root.as_deref()
    }

    /// SERVER_SOFTWARE.
    pub fn server_software(&self) -> &str {
        &self.server_software
    }

    /// Sets [`Gateway::preset`].
    #[must_use]
    pub fn with_preset(mut self, preset: Preset) -> Self {
        self.preset = preset;
        self
    }

    /// Sets [`Gateway::mapping`].
    #[must_use]
    pub fn with_mapping(mut self, mapping: ScriptMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// Sets [`Gateway::encoded_slash`].
    #[must_use]
    pub fn with_encoded_slash(mut self, encoded_slash: EncodedSlash) -> Self {
        self.encoded_slash = encoded_slash;
        self
    }

    /// Sets [`Gateway::document_root`]. Trailing slashes are dropped, as they would double
    /// the one SCRIPT_NAME starts with.
    #[must_use]
    pub fn with_document_root(mut self, root: impl Into<String>) -> Self {
        let root: String = root.into();
        let trimmed = root.trim_end_matches('/');
        self.document_root = Some(if trimmed.is_empty() {
            "/".to_owned()
        } else {
            trimmed.to_owned()
        });
        self
    }

    /// Sets [`Gateway::server_software`] (nginx sends `nginx/<version>`).
    #[must_use]
    pub fn with_server_software(mut self, software: impl Into<String>) -> Self {
        self.server_software = software.into();
        self
    }

    /// Builds the environ for a request: the preset's variables in order (those marked
    /// `if_not_empty` only when they have a value), then one `HTTP_*` variable per header
    /// the preset's [`HeaderRules`](crate::HeaderRules) pass, minus any header whose
    /// variable the preset already sets.
    ///
    /// CONTENT_LENGTH is the request's Content-Length header. A gateway that de-chunks and
    /// buffers a body sends its length instead, as nginx does: set it afterwards with
    /// `env.insert("CONTENT_LENGTH", len.to_string())`, which keeps the variable's place.
    ///
    /// # Errors
    /// A [`GatewayError`] for a path that cannot be decoded, holds NUL, CR or LF once
    /// decoded, climbs above the root or lies outside a mount point, and for a
    /// Content-Length that is not a number or disagrees with another.
    pub fn build(&self, request: &Parts, conn: &ConnectionInfo) -> Result<Environ, GatewayError> {
        let script = self
            .mapping
            .map_split(request.uri.path(), self.encoded_slash)?;
        let content_length = content_length(&request.headers)?;
        let facts = Facts {
            request,
            conn,
            gateway: self,
            script: &script,
            content_length,
        };
        let params = self.preset.params();
        let mut env = Environ::with_capacity(params.len() + request.headers.keys_len());
        // The bytes the variables will copy, estimated so that they are stored without
        // growing: each header as HTTP_NAME and value, each parameter at a typical size,
        // and the paths the URI gives several of them.
        let header_bytes: usize = request
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 5)
            .sum();
        let uri = request.uri.path_and_query().map_or(0, |p| p.as_str().len());
        env.reserve_bytes(header_bytes + params.len() * PARAM_BYTES + uri * 3);
        // Each value is written where the environ keeps it: no buffer, no second copy.
        for param in params {
            let built = env.append_built(|out| {
                let start = out.len();
                out.extend_from_slice(param.name.as_bytes());
                let name_len = param.name.len();
                facts.write_value(&param.value, out);
                let empty = out.len() == start + name_len;
                Ok::<_, std::convert::Infallible>(
                    (!(param.if_not_empty && empty)).then_some(name_len),
                )
            });
            if let Err(never) = built {
                match never {}
            }
        }
        let configured: Vec<&[u8]> = params
            .iter()
            .map(|p| p.name.as_bytes())
            .filter(|name| name.starts_with(b"HTTP_"))
            .collect();
        let rules = &self.preset.headers;
        if let Some(authority) = request.uri.authority().filter(|_| {
            rules.pass_headers
                && rules.host_from_authority
                && !request.headers.contains_key(HOST)
                && !configured.contains(&&b"HTTP_HOST"[..])
        }) {
            env.append("HTTP_HOST", authority.as_str());
        }
        rules.append_headers(&request.headers, &configured, &mut env)?;
        Ok(env)
    }
}

/// Bytes a parameter's name and value take, as most run (`SERVER_PROTOCOL` and
/// `HTTP/1.1`, `REMOTE_ADDR` and an address).
const PARAM_BYTES: usize = 32;

/// Everything a variable's value can come from, gathered once per request.
struct Facts<'a> {
    request: &'a Parts,
    conn: &'a ConnectionInfo,
    gateway: &'a Gateway,
    script: &'a SplitPath,
    content_length: Option<u64>,
}

impl Facts<'_> {
    fn write_value(&self, var: &Var, out: &mut Vec<u8>) {
        let request = self.request;
        let conn = self.conn;
        let root = self.gateway.document_root.as_deref().unwrap_or_default();
        // Writes into a Vec cannot fail.
        let _ = match var {
            Var::QueryString => out.write_all(request.uri.query().unwrap_or_default().as_bytes()),
            Var::RequestMethod => out.write_all(request.method.as_str().as_bytes()),
            Var::ContentType => out.write_all(
                request
                    .headers
                    .get(CONTENT_TYPE)
                    .map(http::HeaderValue::as_bytes)
                    .unwrap_or_default(),
            ),
            Var::ContentLength => match self.content_length {
                Some(length) => write!(out, "{length}"),
                None => Ok(()),
            },
            Var::ScriptName => out.write_all(self.script.script_name()),
            Var::PathInfo => out.write_all(self.script.path_info()),
            Var::PathTranslated => {
                if !root.is_empty() && !self.script.path_info().is_empty() {
                    join_root(root, self.script.path_info(), out);
                }
                Ok(())
            }
            Var::ScriptFilename => {
                join_root(root, self.script.script_name(), out);
                Ok(())
            }
            Var::RequestUri => out.write_all(
                request
                    .uri
                    .path_and_query()
                    .map_or_else(|| request.uri.path(), http::uri::PathAndQuery::as_str)
                    .as_bytes(),
            ),
            Var::DocumentUri => out.write_all(&self.script.uri),
            Var::DocumentRoot => out.write_all(root.as_bytes()),
            Var::ServerProtocol => out.write_all(server_protocol(request.version).as_bytes()),
            Var::RequestScheme => out.write_all(if conn.tls { b"https" } else { b"http" }),
            Var::Https => out.write_all(if conn.tls { b"on" } else { b"" }),
            Var::GatewayInterface => out.write_all(b"CGI/1.1"),
            Var::ServerSoftware => out.write_all(self.gateway.server_software.as_bytes()),
            Var::RemoteAddr | Var::RemoteHost => write!(out, "{}", conn.remote.ip()),
            Var::RemotePort => write!(out, "{}", conn.remote.port()),
            Var::RemoteUser => out.write_all(
                conn.user
                    .as_ref()
                    .map_or("", |u| u.name.as_str())
                    .as_bytes(),
            ),
            Var::AuthType => out.write_all(
                conn.user
                    .as_ref()
                    .map_or("", |u| u.auth_type.as_str())
                    .as_bytes(),
            ),
            Var::ServerAddr => write!(out, "{}", conn.local.ip()),
            Var::ServerPort => write!(out, "{}", conn.local.port()),
            Var::ServerName => out.write_all(conn.server_name.as_bytes()),
            Var::Host => {
                host(request, conn, out);
                Ok(())
            }
            Var::Fixed(value) => out.write_all(value),
        };
    }
}

fn join_root(root: &str, path: &[u8], out: &mut Vec<u8>) {
    // A root of "/" would double the slash the path starts with.
    out.extend_from_slice(root.trim_end_matches('/').as_bytes());
    out.extend_from_slice(path);
}

/// SERVER_PROTOCOL as nginx writes it.
pub(crate) fn server_protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// nginx's `$host`: the Host header (or the target's authority) without its port, lower
/// case; the server name when the request names no host.
fn host(request: &Parts, conn: &ConnectionInfo, out: &mut Vec<u8>) {
    let from_header = request.headers.get(HOST).map(http::HeaderValue::as_bytes);
    let from_target = request.uri.authority().map(|a| a.as_str().as_bytes());
    let Some(authority) = from_target.or(from_header).filter(|a| !a.is_empty()) else {
        out.extend_from_slice(conn.server_name.as_bytes());
        return;
    };
    let without_port = if authority.first() == Some(&b'[') {
        // An IPv6 literal keeps its brackets; the port follows the ']'.
        authority
            .iter()
            .position(|&b| b == b']')
            .and_then(|end| authority.get(..=end))
            .unwrap_or(authority)
    } else {
        authority.split(|&b| b == b':').next().unwrap_or(authority)
    };
    out.extend(without_port.iter().map(u8::to_ascii_lowercase));
}

/// The request's Content-Length: every value (and every element of a comma-separated list)
/// must be a decimal number, and they must all agree.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, GatewayError> {
    let mut length: Option<u64> = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for element in value.as_bytes().split(|&b| b == b',') {
            let element = element.trim_ascii();
            let parsed =
                parse_decimal(element).ok_or_else(|| GatewayError::InvalidContentLength {
                    value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                })?;
            match length {
                Some(first) if first != parsed => {
                    return Err(GatewayError::ConflictingContentLength {
                        first,
                        other: parsed,
                    });
                }
                _ => length = Some(parsed),
            }
        }
    }
    Ok(length)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::Param;

    fn conn() -> ConnectionInfo {
        ConnectionInfo::new(
            "127.0.0.1:49138".parse().unwrap(),
            "127.0.0.1:19080".parse().unwrap(),
            "localhost",
        )
    }

    fn parts(builder: http::request::Builder) -> Parts {
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn content_length_rules() {
        let gateway = Gateway::new(Preset::rfc3875());
        let ok = parts(
            http::Request::post("/x")
                .header("content-length", "5")
                .header("content-length", "5, 5"),
        );
        assert_eq!(
            gateway
                .build(&ok, &conn())
                .unwrap()
                .get_str("CONTENT_LENGTH"),
            Some("5")
        );
        for bad in ["", "-1", "+5", "5 5", "0x10", "18446744073709551616", "5,"] {
            let request = parts(http::Request::post("/x").header("content-length", bad));
            assert!(
                matches!(
                    gateway.build(&request, &conn()),
                    Err(GatewayError::InvalidContentLength { .. })
                ),
                "{bad:?}"
            );
        }
        let conflict = parts(
            http::Request::post("/x")
                .header("content-length", "5")
                .header("content-length", "6"),
        );
        assert_eq!(
            gateway.build(&conflict, &conn()),
            Err(GatewayError::ConflictingContentLength { first: 5, other: 6 })
        );
        let list = parts(http::Request::post("/x").header("content-length", "7, 8"));
        assert!(matches!(
            gateway.build(&list, &conn()),
            Err(GatewayError::ConflictingContentLength { .. })
        ));
    }

    #[test]
    fn rfc3875_preset_omits_empty_conditionals() {
        let gateway = Gateway::new(Preset::rfc3875()).with_document_root("/srv/");
        let env = gateway
            .build(&parts(http::Request::get("/a?b")), &conn())
            .unwrap();
        for absent in [
            "AUTH_TYPE",
            "CONTENT_LENGTH",
            "CONTENT_TYPE",
            "PATH_TRANSLATED",
            "REMOTE_USER",
            "HTTPS",
        ] {
            assert!(!env.contains(absent), "{absent}");
        }
        assert_eq!(env.get_str("QUERY_STRING"), Some("b"));
        assert_eq!(env.get_str("SCRIPT_NAME"), Some("/a"));
        assert_eq!(env.get_str("PATH_INFO"), Some(""));
        assert_eq!(env.get_str("REMOTE_HOST"), Some("127.0.0.1"));
        assert_eq!(env.get_str("SERVER_PROTOCOL"), Some("HTTP/1.1"));
    }

    #[test]
    fn tls_user_and_path_translated() {
        let gateway = Gateway::new(Preset::rfc3875())
            .with_mapping(ScriptMapping::SplitAtExtension(".cgi".into()))
            .with_document_root("/srv/www/");
        let mut conn = conn();
        conn.tls = true;
        conn.user = Some(AuthUser {
            name: "ann".into(),
            auth_type: "Basic".into(),
        });
        let request =
            parts(http::Request::post("/bin/x.cgi/a%20b").header("content-type", "text/plain"));
        let env = gateway.build(&request, &conn).unwrap();
        assert_eq!(env.get_str("HTTPS"), Some("on"));
        assert_eq!(env.get_str("REMOTE_USER"), Some("ann"));
        assert_eq!(env.get_str("AUTH_TYPE"), Some("Basic"));
        assert_eq!(env.get_str("PATH_INFO"), Some("/a b"));
        assert_eq!(env.get_str("PATH_TRANSLATED"), Some("/srv/www/a b"));
        assert_eq!(env.get_str("CONTENT_TYPE"), Some("text/plain"));
        assert!(!env.contains("HTTP_CONTENT_TYPE"));
    }

    #[test]
    fn nginx_preset_sends_https_only_over_tls_and_keeps_empty_values() {
        let gateway = Gateway::new(Preset::nginx_fastcgi_params());
        let request = parts(http::Request::get("/"));
        let plain = gateway.build(&request, &conn()).unwrap();
        assert!(!plain.contains("HTTPS"));
        assert_eq!(plain.get_str("REMOTE_USER"), Some(""));
        assert_eq!(plain.get_str("CONTENT_LENGTH"), Some(""));
        assert_eq!(plain.get_str("REQUEST_SCHEME"), Some("http"));
        let mut tls = conn();
        tls.tls = true;
        let secure = gateway.build(&request, &tls).unwrap();
        assert_eq!(secure.get_str("HTTPS"), Some("on"));
        assert_eq!(secure.get_str("REQUEST_SCHEME"), Some("https"));
        assert_eq!(secure.len(), plain.len() + 1);
    }

    #[test]
    fn host_variable_strips_port_and_lowercases() {
        let gateway = Gateway::new(Preset::new(
            vec![Param::new("H", Var::Host)],
            crate::HeaderRules::nginx(),
        ));
        for (host, expected) in [
            ("Example.ORG:8080", "example.org"),
            ("[::1]:80", "[::1]"),
            ("a", "a"),
        ] {
            let env = gateway
                .build(
                    &parts(http::Request::get("/").header("host", host)),
                    &conn(),
                )
                .unwrap();
            assert_eq!(env.get_str("H"), Some(expected));
        }
        let env = gateway
            .build(&parts(http::Request::get("/")), &conn())
            .unwrap();
        assert_eq!(env.get_str("H"), Some("localhost"));
    }

    #[test]
    fn path_errors_propagate() {
        let gateway = Gateway::new(Preset::nginx_fastcgi_conf())
            .with_mapping(ScriptMapping::SplitAtExtension(".php".into()));
        let request = parts(http::Request::get("/x.php%0a/y.php"));
        assert!(matches!(
            gateway.build(&request, &conn()),
            Err(GatewayError::ControlByteInPath { byte: b'\n', .. })
        ));
        let request = parts(http::Request::get("/a/../../etc/passwd"));
        assert_eq!(
            gateway.build(&request, &conn()),
            Err(GatewayError::PathEscapesRoot)
        );
    }

    #[test]
    fn ipv6_addresses_have_no_brackets() {
        let gateway = Gateway::new(Preset::nginx_fastcgi_params());
        let conn = ConnectionInfo::new(
            "[::1]:5000".parse().unwrap(),
            "[::1]:80".parse().unwrap(),
            "h",
        );
        let env = gateway
            .build(&parts(http::Request::get("/")), &conn)
            .unwrap();
        assert_eq!(env.get_str("REMOTE_ADDR"), Some("::1"));
        assert_eq!(env.get_str("SERVER_ADDR"), Some("::1"));
        assert_eq!(env.get_str("SERVER_PORT"), Some("80"));
    }

    #[test]
    fn http2_authority_becomes_http_host_unless_host_is_sent() {
        let gateway = Gateway::new(Preset::nginx_fastcgi_params());
        let h2 = parts(
            http::Request::get("https://example.org:8443/x")
                .version(Version::HTTP_2)
                .header("accept", "*/*"),
        );
        let env = gateway.build(&h2, &conn()).unwrap();
        assert_eq!(env.get_str("HTTP_HOST"), Some("example.org:8443"));
        assert_eq!(env.get_str("SERVER_PROTOCOL"), Some("HTTP/2.0"));
        assert_eq!(env.get_index(19).map(|(n, _)| n), Some(&b"HTTP_HOST"[..]));
        let with_host = parts(http::Request::get("https://example.org/x").header("host", "other"));
        let env = gateway.build(&with_host, &conn()).unwrap();
        assert_eq!(env.get_str("HTTP_HOST"), Some("other"));
        let mut rules = crate::HeaderRules::nginx();
        rules.host_from_authority = false;
        let env = Gateway::new(Preset::new(vec![], rules))
            .build(&h2, &conn())
            .unwrap();
        assert!(!env.contains("HTTP_HOST"));
    }
}
