//! One call to a uwsgi backend: one connection per request (the protocol has no
//! keep-alive), the body written while the response is read.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::Response;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use uwsgi_codec::{Limits, RequestEncoder, ResponseDecoder, ResponseEvent};

use super::backend::Backend;
use super::body::{AbortOnDrop, BackendBody, Delivery, Flow, WINDOW};
use super::call::{CallError, await_head};
use super::config::ClientConfig;
use super::error::{ClientError, TimeoutKind};
use super::prepare::{Outgoing, Prepared};
use crate::BoxError;
use crate::deadline::Deadline;
use crate::listener::Stream;
use crate::output::Output;

/// Queued request body past which no more is read from the caller's body.
const HIGH_WATER: u64 = 256 * 1024;

/// A uwsgi backend.
#[derive(Debug)]
pub(crate) struct UwsgiTarget {
    pub(crate) backend: Backend,
    pub(crate) name: Arc<str>,
    pub(crate) config: Arc<ClientConfig>,
}

/// Sends `prepared` to `target` on a new connection.
pub(crate) async fn call(
    target: &Arc<UwsgiTarget>,
    prepared: Prepared,
) -> Result<Response<BackendBody>, CallError> {
    let config = &target.config;
    let stream = match target.backend.connect(config.connect_timeout()).await {
        Ok(stream) => stream,
        Err(error) if error.is_connect() => return Err(CallError::Unreached(error, prepared)),
        Err(error) => return Err(CallError::Fatal(error)),
    };
    let mut encoder = RequestEncoder::new();
    let mut head = BytesMut::new();
    encoder
        .encode_head(&prepared.env, &mut head)
        .map_err(|error| CallError::Fatal(invalid_input(&target.name, error)))?;
    let (deliveries, mut receiver) = mpsc::channel(WINDOW);
    let (cancel, cancelled) = oneshot::channel::<()>();
    let flow = Arc::new(Flow::default());
    let exchange = Exchange {
        flow: flow.clone(),
        stream,
        encoder,
        head: head.freeze(),
        body: prepared.body,
        deliveries,
        cancelled,
        name: target.name.clone(),
        config: config.clone(),
        head_request: prepared.head_request,
    };
    tokio::spawn(exchange.run());
    let guard = AbortOnDrop::new(move |_| {
        let _ = cancel.send(());
    });
    await_head(
        &mut receiver,
        flow,
        guard,
        &target.name,
        config,
        prepared.head_request,
    )
    .await
    .map_err(|delivery| match delivery {
        Delivery::Failed(error) | Delivery::Unanswered(error) => CallError::Fatal(error),
        _ => CallError::Fatal(ClientError::Closed {
            backend: target.name.to_string(),
        }),
    })
}

fn invalid_input(backend: &str, error: impl std::fmt::Display) -> ClientError {
    ClientError::Io {
        backend: backend.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, error.to_string()),
    }
}

/// The task that owns one uwsgi connection.
struct Exchange {
    stream: Stream,
    encoder: RequestEncoder,
    head: Bytes,
    body: Outgoing,
    deliveries: mpsc::Sender<Delivery>,
    /// Where a delivery timeout is told to the body.
    flow: Arc<Flow>,
    cancelled: oneshot::Receiver<()>,
    name: Arc<str>,
    config: Arc<ClientConfig>,
    head_request: bool,
}

impl Exchange {
    async fn run(mut self) {
        let deliveries = self.deliveries.clone();
        if let Err(error) = self.exchange().await {
            let _ = deliveries.try_send(error);
        }
    }

    /// The head, and the body when it is whole; else the body to stream.
    fn first_output(
        &mut self,
    ) -> Result<(Output, Option<UnsyncBoxBody<Bytes, BoxError>>), Delivery> {
        let mut output = Output::default();
        output.push(std::mem::take(&mut self.head));
        match std::mem::replace(&mut self.body, Outgoing::Whole(Bytes::new())) {
            Outgoing::Whole(bytes) => {
                let chunk = self
                    .encoder
                    .body_chunk(bytes)
                    .map_err(|e| Delivery::Failed(invalid_input(&self.name, e)))?;
                output.push(chunk);
                Ok((output, None))
            }
            Outgoing::Stream { body, .. } => Ok((output, Some(body))),
        }
    }

    async fn exchange(&mut self) -> Result<(), Delivery> {
        let (mut output, mut body) = self.first_output()?;
        let (mut reader, mut writer) = tokio::io::split(&mut self.stream);
        let limits = Limits::default().with_response_head(self.config.response_head());
        let mut decoder = ResponseDecoder::new(limits);
        if self.head_request {
            decoder = decoder.for_head_request();
        }
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let mut pending: Option<Delivery> = None;
        let mut answered = false;
        let mut eof = false;
        let mut write_deadline = Instant::now() + self.config.write_timeout();
        // Set when a delivery starts to wait for room: a caller that takes nothing for the
        // delivery timeout gives the connection up.
        let mut delivery_deadline = None;
        let backend = || self.name.to_string();
        // One timer for both waits, set to the earlier.
        let mut timer = std::pin::pin!(Deadline::timer());
        let mut deadline = Deadline::default();
        loop {
            let writing = !output.is_empty();
            let reading_body = body.is_some() && output.queued_len() < HIGH_WATER;
            let delivering = if pending.is_some() {
                delivery_deadline
            } else {
                None
            };
            deadline.set(
                writing
                    .then_some(write_deadline)
                    .into_iter()
                    .chain(delivering)
                    .min(),
            );
            tokio::select! {
                _ = &mut self.cancelled => return Ok(()),
                () = deadline.expired(timer.as_mut()) => {
                    if writing && write_deadline <= Instant::now() {
                        return Err(Delivery::Failed(ClientError::Timeout { backend: backend(), kind: TimeoutKind::Write }));
                    }
                    self.flow.end(ClientError::Timeout { backend: backend(), kind: TimeoutKind::Delivery });
                    return Ok(());
                }
                permit = self.deliveries.reserve(), if pending.is_some() => {
                    let Ok(permit) = permit else { return Ok(()) };
                    if let Some(delivery) = pending.take() {
                        let end = matches!(delivery, Delivery::End);
                        permit.send(delivery);
                        if end {
                            return Ok(());
                        }
                    }
                }
                written = output.write_some(&mut writer), if writing => {
                    // A backend that answered without reading the whole body may close
                    // its side: what it answered still counts.
                    if let Err(source) = written {
                        if !answered {
                            return Err(Delivery::Failed(ClientError::Io { backend: backend(), source }));
                        }
                        body = None;
                        output = Output::default();
                    }
                    write_deadline = Instant::now() + self.config.write_timeout();
                }
                frame = async { body.as_mut()?.frame().await }, if reading_body => {
                    match frame {
                        None => body = None,
                        Some(Ok(frame)) => {
                            if let Ok(chunk) = frame.into_data() {
                                let chunk = self
                                    .encoder
                                    .body_chunk(chunk)
                                    .map_err(|e| Delivery::Failed(invalid_input(&self.name, e)))?;
                                if !writing {
                                    write_deadline = Instant::now() + self.config.write_timeout();
                                }
                                output.push(chunk);
                            }
                        }
                        Some(Err(error)) => return Err(Delivery::Failed(ClientError::RequestBody(error))),
                    }
                }
                read = reader.read_buf(&mut buf), if pending.is_none() && !eof => {
                    match read {
                        Ok(0) => eof = true,
                        Ok(_) => {}
                        Err(source) => return Err(Delivery::Failed(ClientError::Io { backend: backend(), source })),
                    }
                    if buf.capacity() - buf.len() < 1024 {
                        buf.reserve(64 * 1024);
                    }
                }
            }
            // Events wait in the buffer until their caller has room for them.
            if pending.is_none() {
                pending = next_delivery(&mut decoder, &mut buf, eof, &self.name, &mut answered)?;
                if pending.is_some() {
                    delivery_deadline = Instant::now().checked_add(self.config.delivery_timeout());
                }
            }
        }
    }
}

/// The next delivery decoded from `buf`, if one is whole; a backend that closed before
/// the end fails the call.
fn next_delivery(
    decoder: &mut ResponseDecoder,
    buf: &mut BytesMut,
    eof: bool,
    backend: &str,
    answered: &mut bool,
) -> Result<Option<Delivery>, Delivery> {
    loop {
        let event = if eof {
            decoder.decode_eof(buf)
        } else {
            decoder.decode(buf)
        };
        // A 1xx head gives nothing: decode on.
        let informational =
            matches!(&event, Ok(Some(ResponseEvent::Head(head))) if head.status.is_informational());
        match decoded(event, backend, answered)? {
            Some(delivery) => return Ok(Some(delivery)),
            None if informational => {}
            None if eof => {
                let error = ClientError::Closed {
                    backend: backend.to_owned(),
                };
                return Err(if *answered {
                    Delivery::Failed(error)
                } else {
                    Delivery::Unanswered(error)
                });
            }
            None => return Ok(None),
        }
    }
}

/// What a decoded event gives the caller: the final head (a 1xx head gives nothing), body
/// bytes, the end; a protocol error fails the call.
fn decoded(
    event: Result<Option<ResponseEvent>, uwsgi_codec::ProtocolError>,
    backend: &str,
    answered: &mut bool,
) -> Result<Option<Delivery>, Delivery> {
    match event {
        Ok(Some(ResponseEvent::Head(head))) => {
            *answered = true;
            Ok((!head.status.is_informational()).then(|| Delivery::Head(Box::new(head))))
        }
        Ok(Some(ResponseEvent::Body(chunk))) => Ok(Some(Delivery::Data(chunk))),
        Ok(Some(ResponseEvent::End)) => Ok(Some(Delivery::End)),
        Ok(_) => Ok(None),
        Err(source) => Err(Delivery::Failed(ClientError::Uwsgi {
            backend: backend.to_owned(),
            source,
        })),
    }
}
