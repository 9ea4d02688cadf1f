//! What one call to one backend gives: a response, a failure, or the request back when
//! the backend was never reached (so a balanced client can send it to another).

use std::sync::Arc;

use super::body::{AbortOnDrop, BackendBody};
use super::config::ClientConfig;
use super::delivery::{Deliveries, Delivery};
use super::error::{ClientError, TimeoutKind};
use super::prepare::Prepared;
use http::{Response, StatusCode, Version};

/// How a call to one backend failed.
pub(crate) enum CallError {
    /// The backend could not be reached; nothing of the request was sent.
    Unreached(ClientError, Prepared),
    /// Anything else.
    Fatal(ClientError),
}

impl CallError {
    pub(crate) fn into_error(self) -> ClientError {
        match self {
            CallError::Unreached(error, _) | CallError::Fatal(error) => error,
        }
    }
}

/// Waits for the head (up to `first_byte`, unless the connection keeps that timeout
/// itself), and makes the response whose body reads the rest. Any other first delivery
/// is handed back.
pub(crate) async fn await_head(
    mut receiver: Deliveries,
    mut guard: AbortOnDrop,
    backend: &Arc<str>,
    config: &ClientConfig,
    first_byte: Option<std::time::Duration>,
    head_request: bool,
) -> Result<Response<BackendBody>, Delivery> {
    let first = match first_byte {
        Some(timeout) => tokio::time::timeout(timeout, receiver.recv()).await,
        None => Ok(receiver.recv().await),
    };
    let head = match first {
        Ok(Some(Delivery::Head(head))) => head,
        Ok(Some(other)) => {
            guard.disarm();
            return Err(other);
        }
        Ok(None) => {
            guard.disarm();
            return Err(match receiver.flow().verdict() {
                Some(error) => Delivery::Failed(error),
                None => Delivery::Unanswered(ClientError::Closed {
                    backend: backend.to_string(),
                }),
            });
        }
        Err(_) => {
            guard.fire(true);
            return Err(Delivery::Failed(ClientError::Timeout {
                backend: backend.to_string(),
                kind: TimeoutKind::FirstByte,
            }));
        }
    };
    let head = *head;
    let no_body = head_request
        || head.status.is_informational()
        || head.status == StatusCode::NO_CONTENT
        || head.status == StatusCode::NOT_MODIFIED;
    let length = if no_body { None } else { head.content_length };
    let body = BackendBody::new(
        receiver,
        backend.clone(),
        config.between_bytes_timeout(),
        guard,
        length,
    );
    let mut response = Response::new(body);
    *response.status_mut() = head.status;
    *response.version_mut() = Version::HTTP_11;
    *response.headers_mut() = head.headers;
    Ok(response)
}
