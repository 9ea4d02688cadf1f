//! Drives `uwsgi-codec`'s gateway side over a blocking TCP socket.

use std::io::{IoSlice, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cgi_env::{Environ, ResponseHead};
use uwsgi_codec::{RequestEncoder, ResponseDecoder, ResponseEvent};

/// A response read off a uwsgi connection.
#[derive(Debug)]
pub struct UwsgiResponse {
    /// The status line and headers.
    pub head: ResponseHead,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends one request (vars from `env`, then `body` without copying it) to
/// `127.0.0.1:port` and reads the response until the peer closes.
///
/// # Errors
/// An I/O or protocol failure, as text.
pub fn request(port: u16, env: &Environ, body: Bytes) -> Result<UwsgiResponse, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let mut encoder = RequestEncoder::new();
    let mut head = BytesMut::new();
    encoder
        .encode_head(env, &mut head)
        .map_err(|e| format!("encode: {e}"))?;
    let body = encoder.body_chunk(body).map_err(|e| format!("body: {e}"))?;
    encoder.finish().map_err(|e| format!("body: {e}"))?;
    write_all_vectored(&mut stream, &[head.freeze(), body]).map_err(|e| format!("write: {e}"))?;

    let mut decoder = ResponseDecoder::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut response_head = None;
    let mut response_body = Vec::new();
    let mut eof = false;
    loop {
        let event = if eof {
            decoder.decode_eof(&mut buf)
        } else {
            decoder.decode(&mut buf)
        }
        .map_err(|e| format!("protocol error: {e}"))?;
        match event {
            Some(ResponseEvent::Head(head)) => response_head = Some(head),
            Some(ResponseEvent::Body(chunk)) => response_body.extend_from_slice(&chunk),
            Some(ResponseEvent::End) => break,
            Some(other) => return Err(format!("unexpected {other:?}")),
            None if eof => return Err("closed without a complete response".into()),
            None => {
                let mut chunk = [0u8; 16 * 1024];
                let n = crate::socket_read::read_retrying(&mut stream, &mut chunk)
                    .map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    eof = true;
                } else {
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }
    let head = response_head.ok_or("response ended without a head")?;
    Ok(UwsgiResponse {
        head,
        body: response_body,
    })
}

/// Writes `chunks` with vectored writes until all are out.
///
/// # Errors
/// When a write fails.
pub fn write_all_vectored(stream: &mut TcpStream, chunks: &[Bytes]) -> std::io::Result<()> {
    let mut parts: Vec<&[u8]> = chunks
        .iter()
        .map(|c| &c[..])
        .filter(|c| !c.is_empty())
        .collect();
    while !parts.is_empty() {
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut written = stream.write_vectored(&slices)?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let first = parts[0];
            if written >= first.len() {
                written -= first.len();
                parts.remove(0);
            } else {
                parts[0] = &first[written..];
                written = 0;
            }
        }
    }
    Ok(())
}
