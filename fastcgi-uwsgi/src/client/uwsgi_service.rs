//! A WSGI (or any uWSGI) application in a router: SCRIPT_NAME the mount point, PATH_INFO
//! the rest, REQUEST_URI the client's target.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use cgi_env::{ConnectionInfo, EncodedSlash, ScriptMapping};
use http::{Request, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::Either;

use super::backend::Backend;
use super::client::UwsgiClient;
use super::config::ClientConfig;
use super::mounted::{self, GatewayBody, GatewayFuture};
use super::prepare::EnvironOverrides;
use crate::BoxError;

/// A `tower::Service` that forwards every request to a uWSGI application, for axum's
/// `Router::nest_service`: mounted with [`UwsgiService::mounted_at`], the application sees
/// SCRIPT_NAME the mount point and PATH_INFO the path under it (as WSGI expects of an
/// application under a prefix: it builds its links from SCRIPT_NAME) and REQUEST_URI the
/// client's target. The client's address, failures and STDERR are as for
/// [`PhpService`](super::PhpService).
#[derive(Debug, Clone)]
pub struct UwsgiService {
    client: UwsgiClient,
    backends: Arc<[Backend]>,
    mount: Arc<str>,
    local: Arc<ConnectionInfo>,
}

impl UwsgiService {
    /// Forwards to the uWSGI at `backend` with [`ClientConfig::uwsgi`].
    pub fn new(backend: impl Into<Backend>) -> Self {
        Self::balanced([backend.into()])
    }

    /// As [`UwsgiService::new`], balanced over several uWSGI instances.
    ///
    /// # Panics
    /// With no backend.
    pub fn balanced(backends: impl IntoIterator<Item = impl Into<Backend>>) -> Self {
        let backends: Arc<[Backend]> = backends.into_iter().map(Into::into).collect();
        let config = ClientConfig::uwsgi();
        UwsgiService {
            local: Arc::new(config.connection_info().clone()),
            client: UwsgiClient::balanced(backends.iter().cloned(), config),
            backends,
            mount: Arc::from(""),
        }
    }

    /// Calls uWSGI with `config`.
    #[must_use]
    pub fn with_config(mut self, config: ClientConfig) -> Self {
        self.local = Arc::new(config.connection_info().clone());
        self.client = UwsgiClient::balanced(self.backends.iter().cloned(), config);
        self
    }

    /// The prefix the router mounts this service at (stripped from the path this service
    /// sees): sent as SCRIPT_NAME, and put back in REQUEST_URI. Default none.
    #[must_use]
    pub fn mounted_at(mut self, prefix: &str) -> Self {
        self.mount = mounted::normalise_mount(prefix).into();
        self
    }
}

impl<B> tower_service::Service<Request<B>> for UwsgiService
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<GatewayBody>;
    type Error = Infallible;
    type Future = GatewayFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> GatewayFuture {
        let service = self.clone();
        Box::pin(async move {
            let target = mounted::client_target(&service.mount, request.uri());
            let Ok(path) = ScriptMapping::WholePath.map(request.uri().path(), EncodedSlash::Reject)
            else {
                return Ok(mounted::status_page(StatusCode::BAD_REQUEST));
            };
            let info = mounted::connection_info(&request, &service.local);
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(EnvironOverrides(vec![
                ("REQUEST_URI", target.clone().into_bytes()),
                ("SCRIPT_NAME", service.mount.as_bytes().to_vec()),
                ("PATH_INFO", path.uri),
            ]));
            if let Some(info) = info {
                parts.extensions.insert(info);
            }
            match service.client.send(Request::from_parts(parts, body)).await {
                Ok(response) => Ok(response.map(Either::Left)),
                Err(error) => Ok(mounted::failure(&error, &target)),
            }
        })
    }
}
