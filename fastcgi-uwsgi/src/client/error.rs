//! What can go wrong calling a backend, and which HTTP status a proxy answers for it.

use std::io;

use http::StatusCode;

use crate::BoxError;

/// Which wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Connecting, or waiting for a free connection.
    Connect,
    /// Waiting for the response head.
    FirstByte,
    /// Waiting for the next byte of the response body.
    BetweenBytes,
    /// Writing the request made no progress.
    Write,
    /// Response body bytes were ready and the caller took none of them
    /// ([`ClientConfig::delivery_timeout`](super::ClientConfig::delivery_timeout)).
    Delivery,
}

/// Why a call to a backend failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The backend could not be reached (refused, unreachable, no such socket file).
    #[error("cannot connect to {backend}: {source}")]
    Connect {
        /// The backend's address.
        backend: String,
        /// What connecting failed with.
        source: io::Error,
    },
    /// A wait ran out; the connection is closed, never reused.
    #[error("{kind:?} timeout calling {backend}")]
    Timeout {
        /// The backend's address.
        backend: String,
        /// Which wait.
        kind: TimeoutKind,
    },
    /// Reading or writing failed after the connection was made.
    #[error("connection to {backend} failed: {source}")]
    Io {
        /// The backend's address.
        backend: String,
        /// The error.
        source: io::Error,
    },
    /// The backend closed the connection before the response ended.
    #[error("{backend} closed the connection before the response ended")]
    Closed {
        /// The backend's address.
        backend: String,
    },
    /// The backend broke the FastCGI protocol.
    #[error("FastCGI protocol error from {backend}: {source}")]
    FastCgi {
        /// The backend's address.
        backend: String,
        /// The broken rule.
        source: fastcgi_codec::ProtocolError,
    },
    /// The backend broke the uwsgi protocol (or sent a malformed HTTP response).
    #[error("uwsgi protocol error from {backend}: {source}")]
    Uwsgi {
        /// The backend's address.
        backend: String,
        /// The broken rule.
        source: uwsgi_codec::ProtocolError,
    },
    /// The response head the backend wrote is malformed.
    #[error("bad response head from {backend}: {source}")]
    ResponseHead {
        /// The backend's address.
        backend: String,
        /// What was wrong with it.
        source: cgi_env::ResponseHeadError,
    },
    /// The FastCGI backend refused the request (END_REQUEST with FCGI_OVERLOADED,
    /// FCGI_CANT_MPX_CONN or FCGI_UNKNOWN_ROLE).
    #[error("{backend} refused the request: {status:?}")]
    Refused {
        /// The backend's address.
        backend: String,
        /// The protocol status it answered.
        status: fastcgi_codec::ProtocolStatus,
    },
    /// More of the response waited for its caller than
    /// [`ClientConfig::response_window`](super::ClientConfig::response_window) allows
    /// while other requests shared its multiplexed FastCGI connection: the request was
    /// aborted so that they could go on.
    #[error("the caller read too slowly: over the {window}-byte response window from {backend}")]
    ResponseWindowFull {
        /// The backend's address.
        backend: String,
        /// The window, in bytes.
        window: usize,
    },
    /// The request cannot be turned into an environ (a path that climbs above the root,
    /// a Content-Length that is not a number, ...).
    #[error("the request cannot be passed on: {0}")]
    BadRequest(#[from] cgi_env::GatewayError),
    /// The request body has no known length and the client buffers none
    /// ([`ClientConfig::max_buffered_body`](super::ClientConfig::max_buffered_body) is 0).
    #[error("a request body of unknown length needs a Content-Length here")]
    LengthRequired,
    /// The request body has no known length and is longer than the client buffers.
    #[error("a request body of unknown length is over the {limit}-byte buffer")]
    BodyTooLarge {
        /// The buffer limit.
        limit: usize,
    },
    /// The request body failed while it was read.
    #[error("the request body failed: {0}")]
    RequestBody(BoxError),
    /// Every backend of a balanced client is down, or the client was shut down.
    #[error("no backend is available")]
    Unavailable,
}

impl ClientError {
    /// The status a reverse proxy answers with, as nginx does: 411, 413 and 400 for the
    /// request's own faults, 504 for a timeout, 503 when no backend is available, 502 for
    /// everything else the backend did.
    pub fn status_code(&self) -> StatusCode {
        match self {
            ClientError::LengthRequired => StatusCode::LENGTH_REQUIRED,
            ClientError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ClientError::BadRequest(_) | ClientError::RequestBody(_) => StatusCode::BAD_REQUEST,
            ClientError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ClientError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    /// Whether the backend was never reached: a connection could not be made.
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. }
                | ClientError::Timeout {
                    kind: TimeoutKind::Connect,
                    ..
                }
        )
    }

    /// Whether a wait ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_nginx() {
        let backend = "127.0.0.1:9000".to_owned();
        let timeout = ClientError::Timeout {
            backend: backend.clone(),
            kind: TimeoutKind::FirstByte,
        };
        assert_eq!(timeout.status_code(), StatusCode::GATEWAY_TIMEOUT);
        assert!(timeout.is_timeout() && !timeout.is_connect());
        let refused = ClientError::Connect {
            backend,
            source: io::ErrorKind::ConnectionRefused.into(),
        };
        assert_eq!(refused.status_code(), StatusCode::BAD_GATEWAY);
        assert!(refused.is_connect());
        assert!(refused.to_string().contains("127.0.0.1:9000"));
        assert_eq!(
            ClientError::BodyTooLarge { limit: 1 }.status_code(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            ClientError::LengthRequired.status_code(),
            StatusCode::LENGTH_REQUIRED
        );
    }
}
