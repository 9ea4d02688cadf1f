//! Turning an `http::Request` into what a backend is sent: the environ, and the body
//! either whole (replayable) or as a stream of known length.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use cgi_env::{ConnectionInfo, Environ};
use http::Method;
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use super::config::ClientConfig;
use super::error::ClientError;
use crate::BoxError;

/// A request body of known length up to this is gathered before sending, so it goes out
/// in the same write as the params and the request can be replayed on another connection.
const GATHER_UP_TO: u64 = 64 * 1024;

/// The request body as it will be sent.
pub(crate) enum Outgoing {
    /// All of it (possibly empty): sent at once, replayable.
    Whole(Bytes),
    /// Streamed as it is read; `length` bytes, as CONTENT_LENGTH says.
    Stream {
        body: UnsyncBoxBody<Bytes, BoxError>,
        length: u64,
    },
}

/// Variables a mounted service sets over what the gateway built (keeping their places):
/// the client's REQUEST_URI, SCRIPT_NAME under the mount point.
#[derive(Debug, Clone)]
pub(crate) struct EnvironOverrides(pub(crate) Vec<(&'static str, Vec<u8>)>);

/// A request ready to be sent.
pub(crate) struct Prepared {
    /// Shared with each connection it is offered to, so a retry copies nothing.
    pub(crate) env: Arc<Environ>,
    pub(crate) body: Outgoing,
    /// Whether the request may be sent again after a connection closed under it without
    /// an answer: an idempotent method (RFC 9110 §9.2.2) and a body we still hold.
    pub(crate) replayable: bool,
    pub(crate) head_request: bool,
}

/// What a request's head says for the backend, built before its body is looked at.
pub(crate) struct PreparedHead {
    env: Environ,
    idempotent: bool,
    head_request: bool,
}

/// Builds the environ with the config's gateway (and the request's own
/// [`ConnectionInfo`], if it carries one). It copies what it needs: the head can be
/// dropped after, and with it the bytes its connection read it into.
pub(crate) fn prepare_head(
    parts: &http::request::Parts,
    config: &ClientConfig,
) -> Result<PreparedHead, ClientError> {
    let info = parts
        .extensions
        .get::<ConnectionInfo>()
        .unwrap_or(config.connection_info());
    let mut env = config.gateway().build(parts, info)?;
    if let Some(EnvironOverrides(vars)) = parts.extensions.get::<EnvironOverrides>() {
        for (name, value) in vars {
            env.insert(name, value);
        }
    }
    Ok(PreparedHead {
        env,
        idempotent: matches!(
            parts.method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::TRACE
                | Method::PUT
                | Method::DELETE
        ),
        head_request: parts.method == Method::HEAD,
    })
}

/// [`prepare_head`], then [`prepare_body`].
#[cfg(test)]
async fn prepare<B>(
    request: http::Request<B>,
    config: &ClientConfig,
) -> Result<Prepared, ClientError>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    prepare_body(prepare_head(&parts, config)?, body, config).await
}

/// Settles the body's length: an exact size hint streams; an unknown length is buffered
/// up to the config's limit.
pub(crate) async fn prepare_body<B>(
    head: PreparedHead,
    body: B,
    config: &ClientConfig,
) -> Result<Prepared, ClientError>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let PreparedHead {
        mut env,
        idempotent,
        head_request,
    } = head;
    let body = if body.is_end_stream() {
        Outgoing::Whole(Bytes::new())
    } else if let Some(length) = body.size_hint().exact() {
        if length <= GATHER_UP_TO {
            Outgoing::Whole(gather(body, usize::MAX).await?)
        } else {
            Outgoing::Stream {
                body: body.map_err(Into::into).boxed_unsync(),
                length,
            }
        }
    } else if config.max_buffered_body() == 0 {
        return Err(ClientError::LengthRequired);
    } else {
        gather(body, config.max_buffered_body())
            .await
            .map(Outgoing::Whole)?
    };
    let length = match &body {
        Outgoing::Whole(bytes) => bytes.len() as u64,
        Outgoing::Stream { length, .. } => *length,
    };
    // The body is the authority on its length (a de-chunked upload has no header); an
    // empty body keeps whatever the preset wrote (nginx sends an empty CONTENT_LENGTH).
    if length > 0 || env.get("CONTENT_LENGTH").is_some_and(|v| !v.is_empty()) {
        env.insert("CONTENT_LENGTH", length.to_string());
    }
    let replayable = idempotent && matches!(body, Outgoing::Whole(_));
    Ok(Prepared {
        env: Arc::new(env),
        body,
        replayable,
        head_request,
    })
}

/// Reads the whole body, refusing more than `limit` bytes.
async fn gather<B>(body: B, limit: usize) -> Result<Bytes, ClientError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut gathered = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ClientError::RequestBody(e.into()))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let total = first.as_ref().map_or(0, Bytes::len) + gathered.len() + chunk.len();
        if total > limit {
            return Err(ClientError::BodyTooLarge { limit });
        }
        // One chunk is kept as it is; only a body in several chunks is copied together.
        match first.take() {
            None if gathered.is_empty() => first = Some(chunk),
            None => gathered.extend_from_slice(&chunk),
            Some(earlier) => {
                gathered.extend_from_slice(&earlier);
                gathered.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| gathered.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;
    use http_body_util::{Full, StreamBody};

    fn chunked(
        parts: &[&'static [u8]],
    ) -> impl HttpBody<Data = Bytes, Error = std::convert::Infallible> + Send + 'static {
        let frames: Vec<Result<_, std::convert::Infallible>> = parts
            .iter()
            .map(|p| Ok(http_body::Frame::data(Bytes::from_static(p))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_of_unknown_length_is_buffered_and_measured() {
        let config = ClientConfig::fastcgi();
        let request = Request::post("/x.php")
            .body(chunked(&[b"ab", b"cd", b"e"]))
            .unwrap();
        let prepared = prepare(request, &config).await.unwrap();
        assert_eq!(prepared.env.get_str("CONTENT_LENGTH"), Some("5"));
        assert!(matches!(&prepared.body, Outgoing::Whole(b) if b == "abcde"));
        assert!(!prepared.replayable, "POST is not idempotent");
    }

    #[tokio::test]
    async fn past_the_buffer_is_413_and_no_buffer_is_411() {
        let config = ClientConfig::fastcgi().with_max_buffered_body(4);
        let request = Request::post("/x.php")
            .body(chunked(&[b"abc", b"de"]))
            .unwrap();
        let error = prepare(request, &config).await.err().unwrap();
        assert!(
            matches!(error, ClientError::BodyTooLarge { limit: 4 }),
            "{error}"
        );
        let config = ClientConfig::fastcgi().with_max_buffered_body(0);
        let request = Request::post("/x.php").body(chunked(&[b"abc"])).unwrap();
        let error = prepare(request, &config).await.err().unwrap();
        assert!(matches!(error, ClientError::LengthRequired), "{error}");
    }

    #[tokio::test]
    async fn a_known_length_streams_when_large_and_gets_are_replayable() {
        let config = ClientConfig::fastcgi();
        let big = Bytes::from(vec![7u8; 100_000]);
        let request = Request::put("/x.php").body(Full::new(big)).unwrap();
        let prepared = prepare(request, &config).await.unwrap();
        assert!(matches!(
            prepared.body,
            Outgoing::Stream {
                length: 100_000,
                ..
            }
        ));
        assert_eq!(prepared.env.get_str("CONTENT_LENGTH"), Some("100000"));
        assert!(!prepared.replayable, "a streamed body cannot be sent twice");
        let request = Request::get("/x.php?a=1")
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let prepared = prepare(request, &config).await.unwrap();
        assert!(prepared.replayable);
        assert_eq!(prepared.env.get_str("QUERY_STRING"), Some("a=1"));
    }
}
