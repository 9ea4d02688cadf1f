//! Where the path a service routes on comes from, when the application is mounted under
//! a prefix or the front server rewrites the request.

use cgi_env::{Environ, RequestError};
use http::Uri;
use http::uri::PathAndQuery;

/// Which part of the environ becomes the request's URI path (and so what an axum
/// `Router` matches), set with [`ServeConfig::with_route_path`](crate::ServeConfig::with_route_path).
///
/// Whichever is chosen, the client's own REQUEST_URI stays in
/// [`CgiFacts::environ`](crate::CgiFacts::environ), and SCRIPT_NAME and PATH_INFO in
/// [`CgiFacts`](crate::CgiFacts).
///
/// An application mounted at `/app`, the front server sending SCRIPT_NAME `/app` and
/// PATH_INFO the rest, routes on `/users/7` for a request to `/app/users/7` with
/// [`RoutePath::PathInfo`]:
///
/// - nginx, FastCGI:
///   ```nginx
///   location /app/ {
///       include fastcgi_params;
///       fastcgi_split_path_info ^(/app)(/.*)$;
///       fastcgi_param SCRIPT_NAME $fastcgi_script_name;
///       fastcgi_param PATH_INFO $fastcgi_path_info;
///       fastcgi_pass 127.0.0.1:9000;
///   }
///   ```
/// - nginx, uwsgi (`uwsgi_params` sends PATH_INFO as the whole path; the later value
///   wins):
///   ```nginx
///   location ~ ^/app(?<app_path>/.*)$ {
///       include uwsgi_params;
///       uwsgi_param SCRIPT_NAME /app;
///       uwsgi_param PATH_INFO $app_path;
///       uwsgi_pass 127.0.0.1:3031;
///   }
///   ```
/// - Apache `mod_proxy_fcgi` and `mod_proxy_uwsgi`: what they send as SCRIPT_NAME and
///   PATH_INFO depends on the module's settings (`ProxyFCGIBackendType`,
///   `proxy-fcgi-pathinfo`); route on [`RoutePath::RequestUri`] with the prefix in the
///   routes (axum's `Router::nest`), or print the environ (the `fcgi_server` and
///   `uwsgi_server` examples answer with it) and choose.
/// - HAProxy `fcgi-app`: `path-info ^(/app)(/.*)$` sets SCRIPT_NAME and PATH_INFO
///   from the path as nginx's `fastcgi_split_path_info` does.
/// - Caddy `reverse_proxy` with `transport fastcgi { split /app }` and lighttpd's
///   `fastcgi.server = ("/app" => ((... "check-local" => "disable")))` send SCRIPT_NAME
///   `/app` and PATH_INFO the rest.
///
/// [`RoutePath::ScriptNameAndPathInfo`] routes on the path the front server resolved
/// after its rewrites (nginx `rewrite`, Apache `RewriteRule`), prefix included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RoutePath {
    /// REQUEST_URI, the target the client sent, whatever the front server made of it
    /// (the default: what the client asked for is what the application sees).
    #[default]
    RequestUri,
    /// SCRIPT_NAME followed by PATH_INFO, percent-encoded again, with QUERY_STRING: the
    /// path after the front server's rewrites and splits.
    ScriptNameAndPathInfo,
    /// PATH_INFO, with QUERY_STRING; SCRIPT_NAME is where the application is mounted, as
    /// WSGI has it. Without PATH_INFO, REQUEST_URI's path with the SCRIPT_NAME prefix
    /// removed (when it is one, up to a `/`).
    PathInfo,
}

/// The URI `route` routes on, from `uri` (built from REQUEST_URI) and the environ.
pub(crate) fn route_uri(
    uri: Uri,
    environ: &Environ,
    route: RoutePath,
) -> Result<Uri, RequestError> {
    let script_name = environ.get("SCRIPT_NAME").unwrap_or_default();
    let path_info = environ.get("PATH_INFO");
    let mut path = Vec::new();
    match route {
        RoutePath::RequestUri => return Ok(uri),
        RoutePath::ScriptNameAndPathInfo => {
            if script_name.is_empty() && path_info.is_none_or(<[u8]>::is_empty) {
                return Ok(uri);
            }
            cgi_env::percent_encode_path(script_name, &mut path);
            cgi_env::percent_encode_path(path_info.unwrap_or_default(), &mut path);
        }
        RoutePath::PathInfo => {
            if let Some(info) = path_info {
                cgi_env::percent_encode_path(info, &mut path);
            } else {
                let full = uri.path().as_bytes();
                let mount = script_name.strip_suffix(b"/").unwrap_or(script_name);
                let mut prefix = Vec::new();
                cgi_env::percent_encode_path(mount, &mut prefix);
                let rest = full
                    .strip_prefix(prefix.as_slice())
                    .filter(|rest| rest.is_empty() || rest.starts_with(b"/"))
                    .unwrap_or(full);
                path.extend_from_slice(rest);
            }
        }
    }
    if path.first() != Some(&b'/') {
        path.insert(0, b'/');
    }
    let query = match environ.get("QUERY_STRING") {
        Some(query) => Some(query),
        None => uri.query().map(str::as_bytes),
    };
    if let Some(query) = query.filter(|query| !query.is_empty()) {
        path.push(b'?');
        path.extend_from_slice(query);
    }
    let path_and_query = PathAndQuery::try_from(path).map_err(|_| RequestError::Malformed {
        name: "PATH_INFO",
        reason: "does not form a URI path",
    })?;
    let mut parts = uri.into_parts();
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).map_err(|_| RequestError::Malformed {
        name: "PATH_INFO",
        reason: "does not form a URI",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(route: RoutePath, vars: &[(&str, &str)]) -> String {
        let environ: Environ = vars.iter().copied().collect();
        let uri: Uri = environ
            .get_str("REQUEST_URI")
            .unwrap_or("/")
            .parse()
            .unwrap();
        route_uri(uri, &environ, route).unwrap().to_string()
    }

    const MOUNTED: &[(&str, &str)] = &[
        ("REQUEST_URI", "/app/users/7?full=1"),
        ("SCRIPT_NAME", "/app"),
        ("PATH_INFO", "/users/7"),
        ("QUERY_STRING", "full=1"),
    ];

    #[test]
    fn each_route_path_takes_its_part_of_the_environ() {
        assert_eq!(
            routed(RoutePath::RequestUri, MOUNTED),
            "/app/users/7?full=1"
        );
        assert_eq!(routed(RoutePath::PathInfo, MOUNTED), "/users/7?full=1");
        assert_eq!(
            routed(RoutePath::ScriptNameAndPathInfo, MOUNTED),
            "/app/users/7?full=1"
        );
        // After a rewrite the resolved path differs from what the client asked for.
        let rewritten = [
            ("REQUEST_URI", "/old/page"),
            ("SCRIPT_NAME", "/new/page"),
            ("QUERY_STRING", ""),
        ];
        assert_eq!(routed(RoutePath::RequestUri, &rewritten), "/old/page");
        assert_eq!(
            routed(RoutePath::ScriptNameAndPathInfo, &rewritten),
            "/new/page"
        );
    }

    #[test]
    fn decoded_paths_are_encoded_again() {
        let vars = [
            ("REQUEST_URI", "/app/a%20b%3Fc%25d"),
            ("SCRIPT_NAME", "/app"),
            ("PATH_INFO", "/a b?c%d"),
        ];
        assert_eq!(routed(RoutePath::PathInfo, &vars), "/a%20b%3Fc%25d");
    }

    #[test]
    fn without_path_info_the_mount_point_is_cut_off_the_request_uri() {
        let vars = [("REQUEST_URI", "/app/users?x=1"), ("SCRIPT_NAME", "/app/")];
        assert_eq!(routed(RoutePath::PathInfo, &vars), "/users?x=1");
        // Only at a segment boundary: /application is not under /app.
        let vars = [("REQUEST_URI", "/application"), ("SCRIPT_NAME", "/app")];
        assert_eq!(routed(RoutePath::PathInfo, &vars), "/application");
        // The mount point itself is the application's root.
        let vars = [("REQUEST_URI", "/app"), ("SCRIPT_NAME", "/app")];
        assert_eq!(routed(RoutePath::PathInfo, &vars), "/");
        // An empty PATH_INFO is the root too.
        let vars = [
            ("REQUEST_URI", "/app"),
            ("SCRIPT_NAME", "/app"),
            ("PATH_INFO", ""),
        ];
        assert_eq!(routed(RoutePath::PathInfo, &vars), "/");
    }

    #[test]
    fn nothing_to_route_on_keeps_the_request_uri() {
        let vars = [("REQUEST_URI", "/x?y")];
        assert_eq!(routed(RoutePath::ScriptNameAndPathInfo, &vars), "/x?y");
        assert_eq!(routed(RoutePath::PathInfo, &vars), "/x?y");
    }
}
