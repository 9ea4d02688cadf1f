//! One call over a FastCGI pool: lease a connection, start the request, stream its body,
//! wait for the head; send it again when the connection closed before it was sent.

use std::sync::Arc;

use fastcgi_codec::RequestId;
use http::Response;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::sync::{mpsc, oneshot};

use super::body::{AbortOnDrop, AppStatus, BackendBody};
use super::call::{CallError, await_head};
use super::delivery::{self, Delivery, DeliverySender};
use super::error::ClientError;
use super::fastcgi_conn::{Begin, Command, channel_capacity};
use super::pool::Pool;
use super::prepare::{Outgoing, Prepared};

/// Connections tried for one request before giving up: a pooled connection can close
/// under a request that was never sent (php-fpm recycling a worker), and a stopping
/// php-fpm closes the connections still waiting in its listen queue.
const ATTEMPTS: usize = 4;

/// Sends `prepared` over `pool`.
pub(crate) async fn call(
    pool: &Arc<Pool>,
    mut prepared: Prepared,
) -> Result<Response<BackendBody>, CallError> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let (deliveries, receiver) =
            delivery::channel(channel_capacity(pool.config.response_window()));
        let (started, started_receiver) = oneshot::channel();
        let app_status = AppStatus::default();
        let (whole, stream) =
            match std::mem::replace(&mut prepared.body, Outgoing::Whole(bytes::Bytes::new())) {
                Outgoing::Whole(bytes) => {
                    prepared.body = Outgoing::Whole(bytes.clone());
                    (Some(bytes), None)
                }
                Outgoing::Stream { body, length } => (None, Some((body, length))),
            };
        // A streamed body has a pump, which stops when the request ends.
        let (ended, pump) = if stream.is_some() {
            let (ended, ended_receiver) = oneshot::channel();
            (Some(ended), Some((ended_receiver, deliveries.clone())))
        } else {
            (None, None)
        };
        let begin = Begin {
            env: prepared.env.clone(),
            body: whole,
            deliveries,
            started,
            ended,
            app_status: app_status.clone(),
        };
        let acquired = match pool.acquire(Box::new(begin)).await {
            Ok(acquired) => acquired,
            Err(error) => {
                give_back(&mut prepared, stream);
                return Err(if error.is_connect() {
                    CallError::Unreached(error, prepared)
                } else {
                    CallError::Fatal(error)
                });
            }
        };
        let lease = acquired.lease;
        // Sent here unless the connection that freed its slot began it.
        if let Some(begin) = acquired.begin
            && lease.commands.send(Command::Begin(begin)).await.is_err()
        {
            // Dropping the lease gives its slot back.
            give_back(&mut prepared, stream);
            continue;
        }
        let commands = lease.commands.clone();
        lease.handed_over();
        let Ok(request_id) = started_receiver.await else {
            // The connection closed before it took the request: nothing was sent.
            give_back(&mut prepared, stream);
            continue;
        };
        let guard = abort_guard(commands.clone(), request_id);
        if let (Some((body, _)), Some((ended, deliveries))) = (stream, pump) {
            tokio::spawn(self::pump(
                body,
                commands.clone(),
                request_id,
                ended,
                deliveries,
            ));
        }
        match await_head(
            receiver,
            guard,
            &pool.name,
            &pool.config,
            Some(pool.config.first_byte_timeout()),
            prepared.head_request,
        )
        .await
        {
            Ok(mut response) => {
                response.extensions_mut().insert(app_status);
                return Ok(response);
            }
            Err(Delivery::Unanswered(error)) if prepared.replayable => {
                last = Some(error);
            }
            Err(Delivery::Unanswered(error) | Delivery::Failed(error)) => {
                return Err(CallError::Fatal(error));
            }
            Err(_) => {
                return Err(CallError::Fatal(ClientError::Closed {
                    backend: pool.name.to_string(),
                }));
            }
        }
    }
    Err(CallError::Fatal(last.unwrap_or_else(|| {
        ClientError::Closed {
            backend: pool.name.to_string(),
        }
    })))
}

/// Puts a streamed body not sent back into `prepared`, for another attempt.
fn give_back(
    prepared: &mut Prepared,
    stream: Option<(UnsyncBoxBody<bytes::Bytes, crate::BoxError>, u64)>,
) {
    if let Some((body, length)) = stream {
        prepared.body = Outgoing::Stream { body, length };
    }
}

/// On drop: ABORT_REQUEST for `request_id`, and with `close`, no more requests on the
/// connection.
fn abort_guard(commands: mpsc::Sender<Command>, request_id: RequestId) -> AbortOnDrop {
    AbortOnDrop::new(move |close| {
        let abort = Command::Abort { request_id, close };
        if let Err(mpsc::error::TrySendError::Full(abort)) = commands.try_send(abort)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move { commands.send(abort).await });
        }
    })
}

/// Streams a request body to its connection as STDIN, as fast as the connection takes
/// it, until the body or the request ends.
async fn pump(
    body: http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, crate::BoxError>,
    commands: mpsc::Sender<Command>,
    request_id: RequestId,
    mut ended: oneshot::Receiver<()>,
    deliveries: DeliverySender,
) {
    let mut body = std::pin::pin!(body);
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = &mut ended => return,
        };
        let (chunk, end) = match frame {
            None => (bytes::Bytes::new(), true),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(chunk) => (chunk, false),
                Err(_) => continue,
            },
            Some(Err(error)) => {
                let _ = deliveries.try_send(Delivery::Failed(ClientError::RequestBody(error)));
                let _ = commands
                    .send(Command::Abort {
                        request_id,
                        close: false,
                    })
                    .await;
                return;
            }
        };
        if commands
            .send(Command::Stdin {
                request_id,
                chunk,
                end,
            })
            .await
            .is_err()
            || end
        {
            return;
        }
    }
}
