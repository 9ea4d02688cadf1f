//! Presets: ordered lists of variables to send, like nginx's `fastcgi_params`,
//! `fastcgi.conf` and `uwsgi_params`, plus a strict RFC 3875 list.

use std::borrow::Cow;

use crate::headers::HeaderRules;

/// Where a variable's value comes from: the request facts a gateway knows, named after the
/// nginx variables they mirror, or a fixed value from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// The raw query without `?`, or empty (`$query_string`).
    QueryString,
    /// The method (`$request_method`).
    RequestMethod,
    /// The Content-Type header, or empty (`$content_type`).
    ContentType,
    /// The checked Content-Length, or empty (`$content_length`).
    ContentLength,
    /// SCRIPT_NAME from the script mapping (`$fastcgi_script_name`).
    ScriptName,
    /// PATH_INFO from the script mapping (`$fastcgi_path_info`).
    PathInfo,
    /// The document root joined with PATH_INFO; empty when either is empty.
    PathTranslated,
    /// The document root joined with SCRIPT_NAME
    /// (`$document_root$fastcgi_script_name`).
    ScriptFilename,
    /// The raw request target's path and query (`$request_uri`).
    RequestUri,
    /// The decoded, normalised path (`$document_uri`, `$uri`).
    DocumentUri,
    /// The document root, or empty (`$document_root`).
    DocumentRoot,
    /// `HTTP/1.1` and so on (`$server_protocol`).
    ServerProtocol,
    /// `http` or `https` (`$scheme`).
    RequestScheme,
    /// `on` over TLS, otherwise empty (`$https`).
    Https,
    /// `CGI/1.1`.
    GatewayInterface,
    /// The gateway's product/version (`nginx/$nginx_version`).
    ServerSoftware,
    /// The client's IP address (`$remote_addr`).
    RemoteAddr,
    /// The client's port (`$remote_port`).
    RemotePort,
    /// The client's address again, as RFC 3875 allows for REMOTE_HOST.
    RemoteHost,
    /// The authenticated user, or empty (`$remote_user`).
    RemoteUser,
    /// The authentication scheme, or empty.
    AuthType,
    /// The local IP address the request arrived on (`$server_addr`).
    ServerAddr,
    /// The local port the request arrived on (`$server_port`).
    ServerPort,
    /// The configured server name (`$server_name`).
    ServerName,
    /// The Host header without its port, lower-cased, else the target's host, else the
    /// server name (`$host`).
    Host,
    /// A value from the configuration.
    Fixed(Cow<'static, [u8]>),
}

/// One variable of a preset: a name, where its value comes from, and whether it is left
/// out when the value is empty (nginx's `if_not_empty`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The variable name.
    pub name: Cow<'static, str>,
    /// The value's source.
    pub value: Var,
    /// Leave the variable out when its value is empty.
    pub if_not_empty: bool,
}

impl Param {
    /// A variable sent even when empty.
    pub fn new(name: impl Into<Cow<'static, str>>, value: Var) -> Self {
        Param {
            name: name.into(),
            value,
            if_not_empty: false,
        }
    }

    /// A variable left out when empty.
    pub fn if_not_empty(name: impl Into<Cow<'static, str>>, value: Var) -> Self {
        Param {
            if_not_empty: true,
            ..Param::new(name, value)
        }
    }

    /// A variable with a fixed value.
    pub fn fixed(name: impl Into<Cow<'static, str>>, value: impl Into<Cow<'static, [u8]>>) -> Self {
        Param::new(name, Var::Fixed(value.into()))
    }
}

/// The variables a gateway sends, in order, and which headers become `HTTP_*`
/// variables after them.
///
/// The nginx presets give the same names, in the same order, with the same values as
/// nginx 1.22 with the stock configuration files, except that `Proxy` never becomes
/// `HTTP_PROXY`. Add variables before or after the stock list, as an nginx configuration
/// adds `fastcgi_param` lines around its `include`:
///
/// ```
/// use cgi_env::{Param, Preset, Var};
///
/// // Debian's snippets/fastcgi-php.conf: PATH_INFO first, then fastcgi.conf.
/// let preset = Preset::nginx_fastcgi_conf()
///     .with_first(Param::new("PATH_INFO", Var::PathInfo))
///     .with(Param::fixed("PHP_VALUE", &b"display_errors=0"[..]));
/// let names: Vec<_> = preset.params().iter().map(|p| p.name.as_ref()).collect();
/// assert_eq!(names[..3], ["PATH_INFO", "SCRIPT_FILENAME", "QUERY_STRING"]);
/// assert_eq!(names.last(), Some(&"PHP_VALUE"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    params: Vec<Param>,
    /// Which request headers become `HTTP_*` variables.
    pub headers: HeaderRules,
}

impl Preset {
    /// A preset with these variables and header rules.
    pub fn new(params: Vec<Param>, headers: HeaderRules) -> Self {
        Preset { params, headers }
    }

    /// nginx's `conf/fastcgi_params`, in file order.
    pub fn nginx_fastcgi_params() -> Self {
        use Var::{
            ContentLength, ContentType, DocumentRoot, DocumentUri, GatewayInterface, Https,
            QueryString, RemoteAddr, RemotePort, RemoteUser, RequestMethod, RequestScheme,
            RequestUri, ScriptName, ServerAddr, ServerName, ServerPort, ServerProtocol,
            ServerSoftware,
        };
        let params = vec![
            Param::new("QUERY_STRING", QueryString),
            Param::new("REQUEST_METHOD", RequestMethod),
            Param::new("CONTENT_TYPE", ContentType),
            Param::new("CONTENT_LENGTH", ContentLength),
            Param::new("SCRIPT_NAME", ScriptName),
            Param::new("REQUEST_URI", RequestUri),
            Param::new("DOCUMENT_URI", DocumentUri),
            Param::new("DOCUMENT_ROOT", DocumentRoot),
            Param::new("SERVER_PROTOCOL", ServerProtocol),
            Param::new("REQUEST_SCHEME", RequestScheme),
            Param::if_not_empty("HTTPS", Https),
            Param::new("GATEWAY_INTERFACE", GatewayInterface),
            Param::new("SERVER_SOFTWARE", ServerSoftware),
            Param::new("REMOTE_ADDR", RemoteAddr),
            Param::new("REMOTE_PORT", RemotePort),
            Param::new("REMOTE_USER", RemoteUser),
            Param::new("SERVER_ADDR", ServerAddr),
            Param::new("SERVER_PORT", ServerPort),
            Param::new("SERVER_NAME", ServerName),
            Param::fixed("REDIRECT_STATUS", &b"200"[..]),
        ];
        Preset::new(params, HeaderRules::nginx())
    }

    /// nginx's `conf/fastcgi.conf`: `fastcgi_params` with SCRIPT_FILENAME first.
    pub fn nginx_fastcgi_conf() -> Self {
        Preset::nginx_fastcgi_params()
            .with_first(Param::new("SCRIPT_FILENAME", Var::ScriptFilename))
    }

    /// nginx's `conf/uwsgi_params`, in file order. PATH_INFO is the whole decoded path and
    /// there is no SCRIPT_NAME, as in the stock file.
    pub fn nginx_uwsgi_params() -> Self {
        use Var::{
            ContentLength, ContentType, DocumentRoot, DocumentUri, Https, QueryString, RemoteAddr,
            RemotePort, RequestMethod, RequestScheme, RequestUri, ServerName, ServerPort,
            ServerProtocol,
        };
        let params = vec![
            Param::new("QUERY_STRING", QueryString),
            Param::new("REQUEST_METHOD", RequestMethod),
            Param::new("CONTENT_TYPE", ContentType),
            Param::new("CONTENT_LENGTH", ContentLength),
            Param::new("REQUEST_URI", RequestUri),
            Param::new("PATH_INFO", DocumentUri),
            Param::new("DOCUMENT_ROOT", DocumentRoot),
            Param::new("SERVER_PROTOCOL", ServerProtocol),
            Param::new("REQUEST_SCHEME", RequestScheme),
            Param::if_not_empty("HTTPS", Https),
            Param::new("REMOTE_ADDR", RemoteAddr),
            Param::new("REMOTE_PORT", RemotePort),
            Param::new("SERVER_PORT", ServerPort),
            Param::new("SERVER_NAME", ServerName),
        ];
        Preset::new(params, HeaderRules::nginx())
    }

    /// The meta-variables of RFC 3875 §4.1, in the RFC's order: the MUST ones always,
    /// the conditional ones only when they have a value (CONTENT_LENGTH only with a body,
    /// PATH_TRANSLATED only with path info and a document root), HTTPS=on over TLS, and
    /// headers under [`HeaderRules::rfc3875`].
    pub fn rfc3875() -> Self {
        use Var::{
            AuthType, ContentLength, ContentType, GatewayInterface, Https, PathInfo,
            PathTranslated, QueryString, RemoteAddr, RemoteHost, RemoteUser, RequestMethod,
            ScriptName, ServerName, ServerPort, ServerProtocol, ServerSoftware,
        };
        let params = vec![
            Param::if_not_empty("AUTH_TYPE", AuthType),
            Param::if_not_empty("CONTENT_LENGTH", ContentLength),
            Param::if_not_empty("CONTENT_TYPE", ContentType),
            Param::new("GATEWAY_INTERFACE", GatewayInterface),
            Param::new("PATH_INFO", PathInfo),
            Param::if_not_empty("PATH_TRANSLATED", PathTranslated),
            Param::new("QUERY_STRING", QueryString),
            Param::new("REMOTE_ADDR", RemoteAddr),
            Param::new("REMOTE_HOST", RemoteHost),
            Param::if_not_empty("REMOTE_USER", RemoteUser),
            Param::new("REQUEST_METHOD", RequestMethod),
            Param::new("SCRIPT_NAME", ScriptName),
            Param::new("SERVER_NAME", ServerName),
            Param::new("SERVER_PORT", ServerPort),
            Param::new("SERVER_PROTOCOL", ServerProtocol),
            Param::new("SERVER_SOFTWARE", ServerSoftware),
            Param::if_not_empty("HTTPS", Https),
        ];
        Preset::new(params, HeaderRules::rfc3875())
    }

    /// The variables in order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Adds a variable after the others, replacing one of the same name in place.
    #[must_use]
    pub fn with(mut self, param: Param) -> Self {
        self.set(param);
        self
    }

    /// Adds a variable before the others, removing any earlier one of the same name.
    #[must_use]
    pub fn with_first(mut self, param: Param) -> Self {
        self.params.retain(|p| p.name != param.name);
        self.params.insert(0, param);
        self
    }

    /// Removes the variable of this name.
    #[must_use]
    pub fn without(mut self, name: &str) -> Self {
        self.params.retain(|p| p.name != name);
        self
    }

    /// Replaces the variable of the same name in place, or appends it.
    pub fn set(&mut self, param: Param) {
        match self.params.iter_mut().find(|p| p.name == param.name) {
            Some(existing) => *existing = param,
            None => self.params.push(param),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(preset: &Preset) -> Vec<&str> {
        preset.params().iter().map(|p| p.name.as_ref()).collect()
    }

    #[test]
    fn fastcgi_conf_is_fastcgi_params_with_script_filename_first() {
        let conf = Preset::nginx_fastcgi_conf();
        let params = Preset::nginx_fastcgi_params();
        assert_eq!(names(&conf).first(), Some(&"SCRIPT_FILENAME"));
        assert_eq!(names(&conf)[1..], names(&params)[..]);
        assert_eq!(names(&params).len(), 20);
    }

    #[test]
    fn set_replaces_in_place_and_with_first_moves() {
        let preset = Preset::nginx_uwsgi_params()
            .with(Param::fixed("REQUEST_METHOD", &b"GET"[..]))
            .with_first(Param::new("SERVER_NAME", Var::Host))
            .without("HTTPS");
        let names = names(&preset);
        assert_eq!(names[0], "SERVER_NAME");
        assert_eq!(names[2], "REQUEST_METHOD");
        assert_eq!(preset.params()[2].value, Var::Fixed(Cow::Borrowed(b"GET")));
        assert!(!names.contains(&"HTTPS"));
        assert_eq!(names.len(), 13);
    }
}
