//! One request's task: call the service, then stream its response to the connection
//! driver, within the connection's and the process's byte budgets.
//!
//! The task knows nothing of the protocol: it hands the driver the response head and the
//! body's data frames, and the driver encodes them (a CGI head and STDOUT records for
//! FastCGI, an HTTP/1.x head and raw bytes for uwsgi).

use std::any::Any;
use std::error::Error as StdError;
use std::future::poll_fn;
use std::panic::AssertUnwindSafe;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use tower_service::Service;

use crate::body::Body;
use crate::budget::{Budgets, Reservation};
use crate::server::answers::AnswerSender;

/// The error type services and bodies may return.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// What a request's task tells its connection driver.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// The response head.
    Head(http::response::Parts),
    /// Response body bytes, holding their budget until the driver has written them.
    Data(Bytes, Reservation),
    /// The response is over: `complete` unless the body failed or panicked part way.
    End { complete: bool },
}

/// A byte stream a connection is served over: a TCP or Unix stream, or anything else
/// (a `tokio::io::duplex` in a test) given to [`crate::Server::serve_connection`].
pub trait Transport: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}

impl<T> Transport for T where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static
{
}

/// The bounds a [`crate::Server`] puts on a response body: any `http_body::Body` of
/// `Bytes` that can move between threads (axum's, `String`, `http_body_util::Full`, ...).
pub trait ResponseBody: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static {}

impl<B> ResponseBody for B where B: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static {}

/// The bounds a [`crate::Server`] puts on a service: a `tower::Service` of
/// `http::Request<Body>` answering `http::Response<B>`, cloned per request (an axum
/// `Router`, a `tower::service_fn`).
pub trait CgiService<B>:
    Service<Request<Body>, Response = Response<B>, Error: Into<BoxError>, Future: Send + 'static>
    + Clone
    + Send
    + 'static
where
    B: ResponseBody,
{
}

impl<S, B> CgiService<B> for S
where
    S: Service<
            Request<Body>,
            Response = Response<B>,
            Error: Into<BoxError>,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static,
    B: ResponseBody,
{
}

/// Runs one request: waits for the process-wide request permit, calls the service and
/// streams the response. A service error or panic becomes a 500 for this request only.
pub(crate) async fn run<S, B>(
    mut service: S,
    request: Request<Body>,
    key: u16,
    out: AnswerSender,
    budgets: Budgets,
    admission: crate::limit::Admission,
) where
    S: CgiService<B>,
    B: ResponseBody,
{
    let _permit = admission.permit().await;
    let response = AssertUnwindSafe(async {
        poll_fn(|cx| service.poll_ready(cx))
            .await
            .map_err(Into::<BoxError>::into)?;
        service.call(request).await.map_err(Into::<BoxError>::into)
    })
    .catch_unwind()
    .await;
    let body = match response {
        Ok(Ok(response)) => {
            let (parts, body) = response.into_parts();
            out.send(key, Outbound::Head(parts));
            body
        }
        Ok(Err(error)) => {
            tracing::error!(%error, "service failed; answering 500");
            out.send(key, Outbound::Head(internal_error()));
            out.send(key, Outbound::End { complete: true });
            return;
        }
        Err(panic) => {
            tracing::error!(
                panic = panic_message(&panic),
                "service panicked; answering 500"
            );
            out.send(key, Outbound::Head(internal_error()));
            out.send(key, Outbound::End { complete: true });
            return;
        }
    };
    let complete = stream_body(body, key, &out, &budgets).await;
    out.send(key, Outbound::End { complete });
}

/// Streams the body's data frames to the driver, waiting for budget room before each so
/// that a slow peer slows the body down. Trailers are dropped: neither protocol carries
/// them. Returns whether the body ended normally.
async fn stream_body<B>(body: B, key: u16, out: &AnswerSender, budgets: &Budgets) -> bool
where
    B: ResponseBody,
{
    let mut body = std::pin::pin!(body);
    loop {
        let frame = AssertUnwindSafe(body.frame())
            .catch_unwind()
            .await
            .map(|frame| frame.map(|frame| frame.map_err(Into::<BoxError>::into)));
        let data = match frame {
            Ok(None) => return true,
            Ok(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) if data.is_empty() => continue,
                Ok(data) => data,
                Err(_trailers) => continue,
            },
            Ok(Some(Err(error))) => {
                tracing::error!(%error, "response body failed; ending the response early");
                return false;
            }
            Err(panic) => {
                tracing::error!(
                    panic = panic_message(&panic),
                    "response body panicked; ending the response early"
                );
                return false;
            }
        };
        let mut data = data;
        while !data.is_empty() {
            // Pieces no larger than the smallest budget, so that each fits once room is
            // made, however large the frame (a split, not a copy).
            let piece = data.split_to(data.len().min(PIECE));
            let reservation = budgets.reserve(piece.len()).await;
            out.send(key, Outbound::Data(piece, reservation));
        }
    }
}

/// The largest piece of a response frame reserved at once: the smallest budget
/// [`crate::ServeConfig`] allows.
const PIECE: usize = crate::config::MIN_BUFFER;

/// The head of the 500 a failed service is answered with.
fn internal_error() -> http::response::Parts {
    let (mut parts, ()) = Response::new(()).into_parts();
    parts.status = StatusCode::INTERNAL_SERVER_ERROR;
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    parts
}

fn panic_message(panic: &Box<dyn Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}
