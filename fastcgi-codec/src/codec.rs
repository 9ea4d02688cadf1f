//! tokio-util adapters: a record-level [`RecordCodec`] and connection-level
//! [`ApplicationCodec`] and [`GatewayCodec`], usable with `tokio_util::codec::Framed`.
//!
//! They only move bytes between a `BytesMut` and the sans-IO types of this crate. Note
//! that a tokio-util `Encoder` writes into one `BytesMut`, so these take the copying path;
//! for large bodies without copies, drive [`ApplicationConnection`] or
//! [`GatewayConnection`] directly and write their [`crate::OutputQueue`] with vectored writes
//! (`AsyncWriteExt::write_all_buf`).

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use tokio_util::codec::{Decoder, Encoder};

use crate::application::{ApplicationConfig, ApplicationConnection, ApplicationEvent};
use crate::decoder::RecordDecoder;
use crate::encoder::{Padding, RecordEncoder};
use crate::error::{EncodeError, ErrorScope, ProtocolError, SendError};
use crate::gateway::{GatewayConfig, GatewayConnection, GatewayEvent};
use crate::ids::RequestId;
use crate::record::{Record, Role};

/// Errors of the tokio adapters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Reading or writing the transport failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The peer broke the protocol at the connection level; close the connection.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A record could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A command the connection cannot carry out.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// What a connection's `receive` gave, as a decoded item: an event, a request-scoped
/// error as an item of its own (the connection goes on), or the end of the stream with a
/// connection-scoped error.
fn item<E>(
    received: Result<Option<E>, ProtocolError>,
) -> Result<Option<Result<E, ProtocolError>>, CodecError> {
    match received {
        Ok(event) => Ok(event.map(Ok)),
        Err(error) if error.scope() == ErrorScope::Request => Ok(Some(Err(error))),
        Err(error) => Err(error.into()),
    }
}

/// Records in and out. Decoding splits each record's content off the read buffer; encoding
/// writes the record's type, request id and content with this codec's padding (the
/// header's own length fields are recomputed, never trusted).
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use fastcgi_codec::{Padding, Record, RecordCodec, RecordHeader, RecordType, RequestId};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = RecordCodec::new(Padding::Align8);
/// let record = Record {
///     header: RecordHeader::new(RecordType::Stdout, RequestId::new(1), 0, 0),
///     content: Bytes::from_static(b"hello"),
/// };
/// let mut buf = BytesMut::new();
/// codec.encode(record, &mut buf).unwrap();
/// assert_eq!(buf.len(), 16);
/// let decoded = codec.decode(&mut buf).unwrap().unwrap();
/// assert_eq!(&decoded.content[..], b"hello");
/// assert_eq!(decoded.header.padding_length, 3);
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordCodec {
    decoder: RecordDecoder,
    encoder: RecordEncoder,
}

impl RecordCodec {
    /// A codec that pads the records it writes as `padding` says.
    pub fn new(padding: Padding) -> Self {
        RecordCodec {
            decoder: RecordDecoder::new(),
            encoder: RecordEncoder::new(padding),
        }
    }
}

impl Decoder for RecordCodec {
    type Item = Record;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Record>, CodecError> {
        Ok(self.decoder.decode(src)?)
    }
}

impl Encoder<Record> for RecordCodec {
    type Error = CodecError;

    fn encode(&mut self, record: Record, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encoder.record_into(
            record.header.record_type,
            record.header.request_id,
            &record.content,
            dst,
        )?;
        Ok(())
    }
}

/// What the application sends through a [`ApplicationCodec`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplicationCommand {
    /// Response bytes on STDOUT.
    Stdout {
        /// The request id.
        request_id: RequestId,
        /// The bytes.
        chunk: Bytes,
    },
    /// Bytes on STDERR.
    Stderr {
        /// The request id.
        request_id: RequestId,
        /// The bytes.
        chunk: Bytes,
    },
    /// End the request with this app status.
    End {
        /// The request id.
        request_id: RequestId,
        /// The application status.
        app_status: u32,
    },
    /// Write only what the connection answered by itself (GET_VALUES_RESULT,
    /// UNKNOWN_TYPE, refusals); see [`ApplicationCodec::has_output`].
    Flush,
}

/// The application side of a connection as a tokio-util codec.
///
/// Decoded items are `Ok(event)`, or `Err(error)` for a request-scoped
/// [`ProtocolError`] (that request was dropped and answered; the connection goes on).
/// A connection-scoped error ends the stream with [`CodecError::Protocol`].
#[derive(Debug)]
pub struct ApplicationCodec {
    conn: ApplicationConnection,
}

impl ApplicationCodec {
    /// A codec around a new [`ApplicationConnection`].
    pub fn new(config: ApplicationConfig) -> Self {
        ApplicationCodec {
            conn: ApplicationConnection::new(config),
        }
    }

    /// The connection state.
    pub fn connection(&self) -> &ApplicationConnection {
        &self.conn
    }

    /// The connection state, to call it directly.
    pub fn connection_mut(&mut self) -> &mut ApplicationConnection {
        &mut self.conn
    }

    /// Whether the connection answered something by itself that waits for a
    /// [`ApplicationCommand::Flush`].
    pub fn has_output(&self) -> bool {
        self.conn.has_output()
    }
}

impl Decoder for ApplicationCodec {
    type Item = Result<ApplicationEvent, ProtocolError>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        item(self.conn.receive(src))
    }
}

impl Encoder<ApplicationCommand> for ApplicationCodec {
    type Error = CodecError;

    fn encode(
        &mut self,
        command: ApplicationCommand,
        dst: &mut BytesMut,
    ) -> Result<(), CodecError> {
        match command {
            ApplicationCommand::Stdout { request_id, chunk } => {
                self.conn.send_stdout(request_id, chunk)?;
            }
            ApplicationCommand::Stderr { request_id, chunk } => {
                self.conn.send_stderr(request_id, chunk)?;
            }
            ApplicationCommand::End {
                request_id,
                app_status,
            } => self.conn.end_request(request_id, app_status)?,
            ApplicationCommand::Flush => {}
        }
        self.conn.write_output_into(dst);
        Ok(())
    }
}

/// What the gateway sends through a [`GatewayCodec`]. Requests are begun with
/// [`GatewayCodec::begin_request`], which hands out the id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatewayCommand {
    /// The PARAMS stream of a request, end record included.
    Params {
        /// The request id.
        request_id: RequestId,
        /// The variables.
        params: Environ,
    },
    /// Request body bytes on STDIN.
    Stdin {
        /// The request id.
        request_id: RequestId,
        /// The bytes.
        chunk: Bytes,
    },
    /// The end of the request body.
    EndStdin {
        /// The request id.
        request_id: RequestId,
    },
    /// Ask the application to abort the request.
    Abort {
        /// The request id.
        request_id: RequestId,
    },
    /// Ask for FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS.
    GetValues,
    /// Write what is pending (e.g. a BEGIN_REQUEST queued by [`GatewayCodec::begin_request`]).
    Flush,
}

/// The gateway side of a connection as a tokio-util codec.
///
/// Decoded items are `Ok(event)`, or `Err(error)` for a request-scoped
/// [`ProtocolError`] (that request failed; the connection goes on). A connection-scoped
/// error, or the peer closing with requests in flight, ends the stream with
/// [`CodecError::Protocol`].
#[derive(Debug)]
pub struct GatewayCodec {
    conn: GatewayConnection,
}

impl GatewayCodec {
    /// A codec around a new [`GatewayConnection`].
    pub fn new(config: GatewayConfig) -> Self {
        GatewayCodec {
            conn: GatewayConnection::new(config),
        }
    }

    /// The connection state.
    pub fn connection(&self) -> &GatewayConnection {
        &self.conn
    }

    /// The connection state, to call it directly.
    pub fn connection_mut(&mut self) -> &mut GatewayConnection {
        &mut self.conn
    }

    /// Begins a request (its BEGIN_REQUEST goes out with the next command) and returns
    /// its id.
    ///
    /// # Errors
    /// As [`GatewayConnection::begin_request`].
    pub fn begin_request(&mut self, role: Role, keep_conn: bool) -> Result<RequestId, SendError> {
        self.conn.begin_request(role, keep_conn)
    }
}

impl Decoder for GatewayCodec {
    type Item = Result<GatewayEvent, ProtocolError>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        item(self.conn.receive(src))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        self.conn.receive_eof()?;
        Ok(None)
    }
}

impl Encoder<GatewayCommand> for GatewayCodec {
    type Error = CodecError;

    fn encode(&mut self, command: GatewayCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
        match command {
            GatewayCommand::Params { request_id, params } => {
                self.conn.send_params(request_id, &params)?;
            }
            GatewayCommand::Stdin { request_id, chunk } => {
                self.conn.send_stdin(request_id, chunk)?;
            }
            GatewayCommand::EndStdin { request_id } => self.conn.end_stdin(request_id)?,
            GatewayCommand::Abort { request_id } => self.conn.abort(request_id)?,
            GatewayCommand::GetValues => self.conn.get_values()?,
            GatewayCommand::Flush => {}
        }
        self.conn.write_output_into(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_util::codec::Framed;

    #[tokio::test]
    async fn framed_client_and_server_talk() {
        // Large enough for everything one side writes before the other reads.
        let (a, b) = tokio::io::duplex(1 << 16);
        let mut client = Framed::new(a, GatewayCodec::new(GatewayConfig::default()));
        let mut server = Framed::new(
            b,
            ApplicationCodec::new(ApplicationConfig::default().with_multiplex(true)),
        );
        let id = client
            .codec_mut()
            .begin_request(Role::Responder, true)
            .unwrap();
        client.send(GatewayCommand::GetValues).await.unwrap();
        let mut params = Environ::new();
        params.insert("REQUEST_METHOD", "POST");
        client
            .send(GatewayCommand::Params {
                request_id: id,
                params,
            })
            .await
            .unwrap();
        client
            .send(GatewayCommand::Stdin {
                request_id: id,
                chunk: Bytes::from(vec![b'b'; 5000]),
            })
            .await
            .unwrap();
        client
            .send(GatewayCommand::EndStdin { request_id: id })
            .await
            .unwrap();

        let mut body = 0;
        loop {
            let event = server.next().await.unwrap().unwrap().unwrap();
            if server.codec().has_output() {
                // The GET_VALUES answer, read before the request began.
                server.send(ApplicationCommand::Flush).await.unwrap();
            }
            match event {
                ApplicationEvent::Params { params, .. } => {
                    assert_eq!(params.get("REQUEST_METHOD"), Some(&b"POST"[..]));
                }
                ApplicationEvent::Stdin { chunk, .. } => body += chunk.len(),
                ApplicationEvent::StdinEnd { .. } => break,
                _ => {}
            }
        }
        assert_eq!(body, 5000);
        server
            .send(ApplicationCommand::Stdout {
                request_id: id,
                chunk: Bytes::from_static(b"Status: 200 OK\r\n\r\nok"),
            })
            .await
            .unwrap();
        server
            .send(ApplicationCommand::End {
                request_id: id,
                app_status: 0,
            })
            .await
            .unwrap();

        let mut events = Vec::new();
        while events.len() < 3 {
            events.push(client.next().await.unwrap().unwrap().unwrap());
        }
        assert!(matches!(
            events[0],
            GatewayEvent::GetValuesAnswer(crate::GetValuesAnswer {
                mpxs_conns: Some(true),
                ..
            })
        ));
        assert_eq!(
            events[1],
            GatewayEvent::Stdout {
                request_id: id,
                chunk: Bytes::from_static(b"Status: 200 OK\r\n\r\nok")
            }
        );
        assert!(matches!(
            events[2],
            GatewayEvent::End {
                request_id,
                app_status: 0,
                ..
            } if request_id == RequestId::new(1)
        ));
        assert!(client.codec().connection().peer_multiplexes());
    }

    #[tokio::test]
    async fn client_codec_reports_a_peer_that_closes_mid_request() {
        let (a, b) = tokio::io::duplex(64);
        let mut client = Framed::new(a, GatewayCodec::new(GatewayConfig::default()));
        client
            .codec_mut()
            .begin_request(Role::Responder, false)
            .unwrap();
        client.send(GatewayCommand::Flush).await.unwrap();
        drop(b);
        let error = client.next().await.unwrap().unwrap_err();
        assert!(matches!(error, CodecError::Protocol(_)));
    }
}
