//! The `http::Request` a service receives, rebuilt from the environ the front server sent.

use std::net::IpAddr;

use cgi_env::{CgiRequest, Environ, RequestError};
use http::Request;

use crate::body::Body;

/// The CGI facts of a request that HTTP has no place for, in the request's extensions.
///
/// ```
/// use fastcgi_uwsgi::CgiFacts;
///
/// async fn handler(request: http::Request<fastcgi_uwsgi::Body>) -> String {
///     let facts = request.extensions().get::<CgiFacts>().expect("set by the server");
///     format!("{:?} via {}", facts.remote_addr, String::from_utf8_lossy(&facts.script_name))
/// }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CgiFacts {
    /// REMOTE_ADDR: the client's address as the front server saw it.
    pub remote_addr: Option<IpAddr>,
    /// REMOTE_PORT.
    pub remote_port: Option<u16>,
    /// SCRIPT_NAME, decoded (empty when absent).
    pub script_name: Vec<u8>,
    /// PATH_INFO, decoded (empty when absent).
    pub path_info: Vec<u8>,
    /// Every variable the front server sent, in order, pointing into the received bytes.
    pub environ: Environ,
    /// The connection from the front server the request came on: a number unique within
    /// the process, for logs (and to see a front server multiplex requests on one
    /// FastCGI connection).
    pub connection: u64,
}

/// A fresh [`CgiFacts::connection`] number.
pub(crate) fn next_connection() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Rebuilds the request, its body to come from `body`.
///
/// With `body_framed_by_protocol` (FastCGI, where the empty STDIN record ends the body), a
/// CONTENT_LENGTH that is not a decimal number is dropped rather than refused: front
/// servers send nothing, an empty value or even `-1` for a chunked upload, and the body
/// still ends where the protocol says.
pub(crate) fn build(
    mut environ: Environ,
    body: Body,
    body_framed_by_protocol: bool,
    connection: u64,
    route: crate::RoutePath,
) -> Result<Request<Body>, RequestError> {
    if body_framed_by_protocol
        && environ
            .get("CONTENT_LENGTH")
            .is_some_and(|value| cgi_env::grammar::parse_decimal(value).is_none())
    {
        environ.remove("CONTENT_LENGTH");
    }
    let mut cgi = CgiRequest::from_environ(&environ)?;
    if route != crate::RoutePath::RequestUri {
        cgi.parts.uri =
            crate::route::route_uri(std::mem::take(&mut cgi.parts.uri), &environ, route)?;
    }
    let mut request = Request::from_parts(cgi.parts, body);
    request.extensions_mut().insert(CgiFacts {
        remote_addr: cgi.remote_addr,
        remote_port: cgi.remote_port,
        script_name: cgi.script_name,
        path_info: cgi.path_info,
        environ,
        connection,
    });
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environ(content_length: &str) -> Environ {
        [
            ("REQUEST_METHOD", "POST"),
            ("REQUEST_URI", "/upload"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("HTTP_HOST", "example.org"),
            ("CONTENT_LENGTH", content_length),
            ("REMOTE_ADDR", "192.0.2.9"),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn a_chunked_upload_is_not_refused_over_fastcgi() {
        for odd in ["", "-1", "chunked"] {
            let request = build(
                environ(odd),
                Body::empty(),
                true,
                1,
                crate::RoutePath::RequestUri,
            )
            .unwrap();
            assert!(!request.headers().contains_key("content-length"), "{odd:?}");
            let facts = request.extensions().get::<CgiFacts>().unwrap();
            assert_eq!(facts.remote_addr, Some("192.0.2.9".parse().unwrap()));
        }
        let request = build(
            environ("12"),
            Body::empty(),
            true,
            1,
            crate::RoutePath::RequestUri,
        )
        .unwrap();
        assert_eq!(request.headers()["content-length"], "12");
        assert!(
            build(
                environ("-1"),
                Body::empty(),
                false,
                1,
                crate::RoutePath::RequestUri
            )
            .is_err()
        );
    }
}
