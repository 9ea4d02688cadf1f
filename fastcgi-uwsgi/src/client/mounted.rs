//! What the services mounted in a router share ([`PhpService`](super::PhpService),
//! [`UwsgiService`](super::UwsgiService)): the mount point, the client's address, and a
//! failed call answered as a status page.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use cgi_env::ConnectionInfo;
use http::{Request, Response, Uri};
use http_body_util::{Either, Full};

use super::body::BackendBody;
use super::error::ClientError;

/// The response body of a mounted service: the backend's, or the status page of a call
/// that failed.
pub type GatewayBody = Either<BackendBody, Full<Bytes>>;

/// The future of a mounted service's call: never an error, a failure is a response.
pub type GatewayFuture =
    Pin<Box<dyn Future<Output = Result<Response<GatewayBody>, Infallible>> + Send>>;

/// A mount point: empty for the root, else `/` and segments, without a trailing `/`.
pub(crate) fn normalise_mount(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

/// The target the client sent: the mount point, then what the router left of it.
pub(crate) fn client_target(mount: &str, uri: &Uri) -> String {
    let rest = uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    if mount.is_empty() {
        rest.to_owned()
    } else if rest == "/" {
        format!("{mount}/")
    } else {
        format!("{mount}{rest}")
    }
}

/// The client's address and the local one, from axum's `ConnectInfo` (an app served with
/// `into_make_service_with_connect_info::<SocketAddr>()`), unless the request carries a
/// [`ConnectionInfo`] already.
pub(crate) fn connection_info<B>(
    request: &Request<B>,
    local: &ConnectionInfo,
) -> Option<ConnectionInfo> {
    if request.extensions().get::<ConnectionInfo>().is_some() {
        return None;
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(remote)) = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        let mut info = local.clone();
        info.remote = *remote;
        return Some(info);
    }
    let _ = local;
    None
}

/// A failed call as a response: its status ([`ClientError::status_code`]) and a line of
/// text; logged, as a front server logs an upstream error.
pub(crate) fn failure(error: &ClientError, target: &str) -> Response<GatewayBody> {
    let status = error.status_code();
    if status.is_server_error() {
        tracing::warn!(%error, target, "backend call failed");
    } else {
        tracing::debug!(%error, target, "request refused");
    }
    status_page(status)
}

/// A response of `status` with its reason as the body.
pub(crate) fn status_page(status: http::StatusCode) -> Response<GatewayBody> {
    let text = format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(text))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_target_is_the_mount_point_and_the_rest() {
        let uri: Uri = "/users/7?full=1".parse().unwrap();
        assert_eq!(client_target("/app", &uri), "/app/users/7?full=1");
        assert_eq!(client_target("", &uri), "/users/7?full=1");
        assert_eq!(client_target("/app", &"/".parse().unwrap()), "/app/");
        for (given, mount) in [("/app/", "/app"), ("app", "/app"), ("/", ""), ("", "")] {
            assert_eq!(normalise_mount(given), mount);
        }
    }
}
