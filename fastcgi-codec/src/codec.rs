//! tokio-util adapters: a record-level [`RecordCodec`] and connection-level
//! [`ServerCodec`] and [`ClientCodec`], usable with `tokio_util::codec::Framed`.
//!
//! They only move bytes between a `BytesMut` and the sans-IO types of this crate. Note
//! that a tokio-util `Encoder` writes into one `BytesMut`, so these take the copying path;
//! for large bodies without copies, drive [`ServerConnection`] or [`ClientConnection`]
//! directly and write their [`crate::Chunks`] with vectored writes
//! (`AsyncWriteExt::write_all_buf`).

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use tokio_util::codec::{Decoder, Encoder};

use crate::client::{ClientConfig, ClientConnection, ClientEvent};
use crate::decoder::RecordDecoder;
use crate::encoder::{Padding, RecordEncoder};
use crate::error::{EncodeError, ErrorScope, ProtocolError, SendError};
use crate::record::{Record, Role};
use crate::server::{ServerConfig, ServerConnection, ServerEvent};

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

/// Records in and out. Decoding splits each record's content off the read buffer; encoding
/// writes the record's type, request id and content with this codec's padding (the
/// header's own length fields are recomputed, never trusted).
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use fastcgi_codec::{Padding, Record, RecordCodec, RecordHeader, RecordType};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = RecordCodec::new(Padding::Align8);
/// let record = Record {
///     header: RecordHeader::new(RecordType::Stdout, 1, 0, 0),
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

/// What the application sends through a [`ServerCodec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerCommand {
    /// Response bytes on STDOUT.
    Stdout {
        /// The request id.
        request_id: u16,
        /// The bytes.
        chunk: Bytes,
    },
    /// Bytes on STDERR.
    Stderr {
        /// The request id.
        request_id: u16,
        /// The bytes.
        chunk: Bytes,
    },
    /// End the request with this app status.
    End {
        /// The request id.
        request_id: u16,
        /// The application status.
        app_status: u32,
    },
    /// Write only what the connection answered by itself (GET_VALUES_RESULT,
    /// UNKNOWN_TYPE, refusals); see [`ServerCodec::has_output`].
    Flush,
}

/// The application side of a connection as a tokio-util codec.
///
/// Decoded items are `Ok(event)`, or `Err(error)` for a request-scoped
/// [`ProtocolError`] (that request was dropped and answered; the connection goes on).
/// A connection-scoped error ends the stream with [`CodecError::Protocol`].
#[derive(Debug)]
pub struct ServerCodec {
    conn: ServerConnection,
}

impl ServerCodec {
    /// A codec around a new [`ServerConnection`].
    pub fn new(config: ServerConfig) -> Self {
        ServerCodec {
            conn: ServerConnection::new(config),
        }
    }

    /// The connection state.
    pub fn connection(&self) -> &ServerConnection {
        &self.conn
    }

    /// The connection state, to call it directly.
    pub fn connection_mut(&mut self) -> &mut ServerConnection {
        &mut self.conn
    }

    /// Whether the connection answered something by itself that waits for a
    /// [`ServerCommand::Flush`].
    pub fn has_output(&self) -> bool {
        self.conn.has_output()
    }
}

impl Decoder for ServerCodec {
    type Item = Result<ServerEvent, ProtocolError>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        match self.conn.receive(src) {
            Ok(event) => Ok(event.map(Ok)),
            Err(error) if error.scope() == ErrorScope::Request => Ok(Some(Err(error))),
            Err(error) => Err(error.into()),
        }
    }
}

impl Encoder<ServerCommand> for ServerCodec {
    type Error = CodecError;

    fn encode(&mut self, command: ServerCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
        match command {
            ServerCommand::Stdout { request_id, chunk } => {
                self.conn.send_stdout(request_id, chunk)?;
            }
            ServerCommand::Stderr { request_id, chunk } => {
                self.conn.send_stderr(request_id, chunk)?;
            }
            ServerCommand::End {
                request_id,
                app_status,
            } => self.conn.end_request(request_id, app_status)?,
            ServerCommand::Flush => {}
        }
        self.conn.write_output_into(dst);
        Ok(())
    }
}

/// What the gateway sends through a [`ClientCodec`]. Requests are begun with
/// [`ClientCodec::begin_request`], which hands out the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    /// The PARAMS stream of a request, end record included.
    Params {
        /// The request id.
        request_id: u16,
        /// The variables.
        params: Environ,
    },
    /// Request body bytes on STDIN.
    Stdin {
        /// The request id.
        request_id: u16,
        /// The bytes.
        chunk: Bytes,
    },
    /// The end of the request body.
    EndStdin {
        /// The request id.
        request_id: u16,
    },
    /// Ask the application to abort the request.
    Abort {
        /// The request id.
        request_id: u16,
    },
    /// Ask for FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS.
    GetValues,
    /// Write what is pending (e.g. a BEGIN_REQUEST queued by [`ClientCodec::begin_request`]).
    Flush,
}

/// The gateway side of a connection as a tokio-util codec.
///
/// Decoded items are `Ok(event)`, or `Err(error)` for a request-scoped
/// [`ProtocolError`] (that request failed; the connection goes on). A connection-scoped
/// error, or the peer closing with requests in flight, ends the stream with
/// [`CodecError::Protocol`].
#[derive(Debug)]
pub struct ClientCodec {
    conn: ClientConnection,
}

impl ClientCodec {
    /// A codec around a new [`ClientConnection`].
    pub fn new(config: ClientConfig) -> Self {
        ClientCodec {
            conn: ClientConnection::new(config),
        }
    }

    /// The connection state.
    pub fn connection(&self) -> &ClientConnection {
        &self.conn
    }

    /// The connection state, to call it directly.
    pub fn connection_mut(&mut self) -> &mut ClientConnection {
        &mut self.conn
    }

    /// Begins a request (its BEGIN_REQUEST goes out with the next command) and returns
    /// its id.
    ///
    /// # Errors
    /// As [`ClientConnection::begin_request`].
    pub fn begin_request(&mut self, role: Role, keep_conn: bool) -> Result<u16, SendError> {
        self.conn.begin_request(role, keep_conn)
    }
}

impl Decoder for ClientCodec {
    type Item = Result<ClientEvent, ProtocolError>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        match self.conn.receive(src) {
            Ok(event) => Ok(event.map(Ok)),
            Err(error) if error.scope() == ErrorScope::Request => Ok(Some(Err(error))),
            Err(error) => Err(error.into()),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        self.conn.receive_eof()?;
        Ok(None)
    }
}

impl Encoder<ClientCommand> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, command: ClientCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
        match command {
            ClientCommand::Params { request_id, params } => {
                self.conn.send_params(request_id, &params)?;
            }
            ClientCommand::Stdin { request_id, chunk } => {
                self.conn.send_stdin(request_id, chunk)?;
            }
            ClientCommand::EndStdin { request_id } => self.conn.end_stdin(request_id)?,
            ClientCommand::Abort { request_id } => self.conn.abort(request_id)?,
            ClientCommand::GetValues => self.conn.get_values()?,
            ClientCommand::Flush => {}
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
        let mut client = Framed::new(a, ClientCodec::new(ClientConfig::default()));
        let mut server = Framed::new(
            b,
            ServerCodec::new(ServerConfig {
                multiplex: true,
                ..ServerConfig::default()
            }),
        );
        let id = client
            .codec_mut()
            .begin_request(Role::Responder, true)
            .unwrap();
        client.send(ClientCommand::GetValues).await.unwrap();
        let mut params = Environ::new();
        params.insert("REQUEST_METHOD", "POST");
        client
            .send(ClientCommand::Params {
                request_id: id,
                params,
            })
            .await
            .unwrap();
        client
            .send(ClientCommand::Stdin {
                request_id: id,
                chunk: Bytes::from(vec![b'b'; 5000]),
            })
            .await
            .unwrap();
        client
            .send(ClientCommand::EndStdin { request_id: id })
            .await
            .unwrap();

        let mut body = 0;
        loop {
            let event = server.next().await.unwrap().unwrap().unwrap();
            if server.codec().has_output() {
                // The GET_VALUES answer, read before the request began.
                server.send(ServerCommand::Flush).await.unwrap();
            }
            match event {
                ServerEvent::Params { params, .. } => {
                    assert_eq!(params.get("REQUEST_METHOD"), Some(&b"POST"[..]));
                }
                ServerEvent::Stdin { chunk, .. } => body += chunk.len(),
                ServerEvent::StdinEnd { .. } => break,
                _ => {}
            }
        }
        assert_eq!(body, 5000);
        server
            .send(ServerCommand::Stdout {
                request_id: id,
                chunk: Bytes::from_static(b"Status: 200 OK\r\n\r\nok"),
            })
            .await
            .unwrap();
        server
            .send(ServerCommand::End {
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
            ClientEvent::Values(crate::Values {
                mpxs_conns: Some(true),
                ..
            })
        ));
        assert_eq!(
            events[1],
            ClientEvent::Stdout {
                request_id: id,
                chunk: Bytes::from_static(b"Status: 200 OK\r\n\r\nok")
            }
        );
        assert!(matches!(
            events[2],
            ClientEvent::End {
                request_id: 1,
                app_status: 0,
                ..
            }
        ));
        assert!(client.codec().connection().peer_multiplexes());
    }

    #[tokio::test]
    async fn client_codec_reports_a_peer_that_closes_mid_request() {
        let (a, b) = tokio::io::duplex(64);
        let mut client = Framed::new(a, ClientCodec::new(ClientConfig::default()));
        client
            .codec_mut()
            .begin_request(Role::Responder, false)
            .unwrap();
        client.send(ClientCommand::Flush).await.unwrap();
        drop(b);
        let error = client.next().await.unwrap().unwrap_err();
        assert!(matches!(error, CodecError::Protocol(_)));
    }
}
