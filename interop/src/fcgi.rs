//! Drives `fastcgi-codec`'s gateway-side state machine over a blocking TCP socket.

use std::io::{IoSlice, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use cgi_env::Environ;
use fastcgi_codec::{
    GatewayConfig, GatewayConnection, GatewayEvent, OutputQueue, ProtocolStatus, RequestId, Role,
};

/// One FastCGI connection to an application.
#[derive(Debug)]
pub struct FcgiConn {
    stream: TcpStream,
    conn: GatewayConnection,
    buf: BytesMut,
    eof: bool,
}

/// Everything an application answered for one request.
#[derive(Debug, Default, Clone)]
pub struct Exchange {
    /// STDOUT, joined.
    pub stdout: Vec<u8>,
    /// How many STDOUT events carried it.
    pub stdout_events: usize,
    /// STDERR, joined.
    pub stderr: Vec<u8>,
    /// END_REQUEST's application status.
    pub app_status: u32,
    /// END_REQUEST's protocol status.
    pub protocol_status: Option<ProtocolStatus>,
}

impl FcgiConn {
    /// Connects to `127.0.0.1:port`.
    ///
    /// # Errors
    /// When the connection fails.
    pub fn connect(port: u16) -> std::io::Result<FcgiConn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(FcgiConn {
            stream,
            conn: GatewayConnection::new(GatewayConfig::default()),
            buf: BytesMut::with_capacity(64 * 1024),
            eof: false,
        })
    }

    /// Replaces the socket read timeout (20 s from [`FcgiConn::connect`]); `None` waits
    /// forever.
    ///
    /// # Errors
    /// When the socket refuses it (a zero duration).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// The state machine.
    pub fn state(&mut self) -> &mut GatewayConnection {
        &mut self.conn
    }

    /// Writes what the state machine queued, with vectored writes of its chunks.
    ///
    /// # Errors
    /// When the socket write fails.
    pub fn flush(&mut self) -> std::io::Result<()> {
        write_queue(&mut self.stream, self.conn.take_output())
    }

    /// The next event, reading from the socket as needed; `Ok(None)` once the peer closed
    /// with nothing in flight.
    ///
    /// # Errors
    /// A read failure or a protocol error, as text.
    pub fn next_event(&mut self) -> Result<Option<GatewayEvent>, String> {
        loop {
            if let Some(event) = self
                .conn
                .receive(&mut self.buf)
                .map_err(|e| format!("protocol error: {e}"))?
            {
                return Ok(Some(event));
            }
            if self.eof {
                return Ok(None);
            }
            let mut chunk = [0u8; 16 * 1024];
            // A reset is how a killed peer closes; the state machine judges what it means.
            let n = match crate::socket_read::read_retrying(&mut self.stream, &mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                other => other.map_err(|e| format!("read: {e}"))?,
            };
            if n == 0 {
                self.eof = true;
                self.conn
                    .receive_eof()
                    .map_err(|e| format!("protocol error: {e}"))?;
            } else {
                self.buf.extend_from_slice(&chunk[..n]);
            }
        }
    }

    /// Sends one whole request (params, then `body` on STDIN without copying it) and reads
    /// events until its END_REQUEST.
    ///
    /// # Errors
    /// A send, read or protocol failure, as text.
    pub fn request(
        &mut self,
        env: &Environ,
        body: Bytes,
        keep_conn: bool,
    ) -> Result<Exchange, String> {
        let id = self
            .conn
            .begin_request(Role::Responder, keep_conn)
            .map_err(|e| e.to_string())?;
        self.conn.send_params(id, env).map_err(|e| e.to_string())?;
        self.conn.send_stdin(id, body).map_err(|e| e.to_string())?;
        self.conn.end_stdin(id).map_err(|e| e.to_string())?;
        self.flush().map_err(|e| format!("write: {e}"))?;
        self.read_exchange(id)
    }

    /// Reads events for request `id` until its END_REQUEST.
    ///
    /// # Errors
    /// A read or protocol failure, or a close before END_REQUEST, as text.
    pub fn read_exchange(&mut self, id: RequestId) -> Result<Exchange, String> {
        let mut exchange = Exchange::default();
        loop {
            match self.next_event()? {
                Some(GatewayEvent::Stdout { request_id, chunk }) if request_id == id => {
                    exchange.stdout.extend_from_slice(&chunk);
                    exchange.stdout_events += 1;
                }
                Some(GatewayEvent::Stderr { request_id, chunk }) if request_id == id => {
                    exchange.stderr.extend_from_slice(&chunk);
                }
                Some(GatewayEvent::End {
                    request_id,
                    app_status,
                    protocol_status,
                }) if request_id == id => {
                    exchange.app_status = app_status;
                    exchange.protocol_status = Some(protocol_status);
                    return Ok(exchange);
                }
                Some(other) => return Err(format!("unexpected event {other:?}")),
                None => return Err("closed before END_REQUEST".into()),
            }
        }
    }
}

/// Writes an output queue with vectored writes of its slices, as they are (large payloads
/// are never copied).
///
/// # Errors
/// When the socket write fails.
pub fn write_queue(stream: &mut TcpStream, mut queue: OutputQueue) -> std::io::Result<()> {
    while queue.has_remaining() {
        let mut slices = [IoSlice::new(&[]); 64];
        let count = queue.chunks_vectored(&mut slices);
        let written = stream.write_vectored(slices.get(..count).unwrap_or_default())?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        queue.advance(written);
    }
    Ok(())
}
