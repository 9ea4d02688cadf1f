//! hyper's services (what `hyper::service::service_fn` makes) served as they are.

use std::task::{Context, Poll};

/// A hyper `Service` as a tower `Service`, so that a handler written for hyper is served
/// unchanged (feature `hyper`).
///
/// ```
/// use std::convert::Infallible;
/// use fastcgi_uwsgi::HyperService;
///
/// async fn handler(_request: http::Request<fastcgi_uwsgi::Body>) -> Result<http::Response<String>, Infallible> {
///     Ok(http::Response::new("hello\n".into()))
/// }
///
/// # async fn run(listener: fastcgi_uwsgi::Listener) {
/// fastcgi_uwsgi::serve_fastcgi(listener, HyperService(hyper::service::service_fn(handler))).await;
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HyperService<S>(pub S);

impl<S, R> tower_service::Service<R> for HyperService<S>
where
    S: hyper::service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // hyper services are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.0.call(request)
    }
}
