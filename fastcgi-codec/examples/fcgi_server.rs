//! A FastCGI application server: answers every request with its environ as JSON and an
//! echo of the body, streamed as it arrives (nothing buffers a whole body). Supports
//! keep-conn and several requests in flight on one connection.
//!
//! ```sh
//! fcgi_server 127.0.0.1:PORT
//! ```

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use fastcgi_codec::{
    ApplicationConfig, ApplicationConnection, ApplicationEvent, ErrorScope, Limits, RequestId,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Appends `bytes` as the inside of a JSON string. Bytes that are not printable ASCII are
/// written as `\u00XX` (their Latin-1 reading), so any byte sequence gives valid JSON and
/// chunks can be escaped one by one.
fn json_escape(bytes: &[u8], out: &mut Vec<u8>) {
    for &byte in bytes {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x20..=0x7E => out.push(byte),
            _ => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
        }
    }
}

/// The start of the response: CGI headers, then JSON up to the opening quote of the body.
fn response_head(request_id: RequestId, params: &Environ) -> Bytes {
    let mut out = b"Content-Type: application/json\r\n\r\n{\"request_id\": ".to_vec();
    out.extend_from_slice(request_id.to_string().as_bytes());
    out.extend_from_slice(b", \"environ\": {");
    for (index, (name, value)) in params.iter().enumerate() {
        if index > 0 {
            out.extend_from_slice(b", ");
        }
        out.push(b'"');
        json_escape(name, &mut out);
        out.extend_from_slice(b"\": \"");
        json_escape(value, &mut out);
        out.push(b'"');
    }
    out.extend_from_slice(b"}, \"body\": \"");
    Bytes::from(out)
}

async fn serve(stream: TcpStream) -> std::io::Result<()> {
    let (mut reader, mut writer) = stream.into_split();
    let mut conn = ApplicationConnection::new(
        ApplicationConfig::default()
            .with_multiplex(true)
            .with_max_conns(Some(1024))
            .with_limits(Limits::default().with_max_requests_in_flight(16)),
    );
    // Body bytes seen per request in flight.
    let mut body_len: HashMap<RequestId, usize> = HashMap::new();
    let mut input = BytesMut::with_capacity(64 * 1024);
    loop {
        if reader.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
        loop {
            match conn.receive(&mut input) {
                Ok(None) => break,
                Ok(Some(event)) => handle(&mut conn, &mut body_len, event),
                Err(error) if error.scope() == ErrorScope::Request => {
                    eprintln!("fcgi_server: request failed: {error}");
                    if let Some(request_id) = error.request_id {
                        body_len.remove(&request_id);
                    }
                }
                Err(error) => {
                    eprintln!("fcgi_server: closing: {error}");
                    break;
                }
            }
        }
        // Record headers and response payloads go out in one vectored write.
        writer.write_all_buf(&mut conn.take_output()).await?;
        if conn.should_close() {
            writer.shutdown().await?;
            return Ok(());
        }
    }
}

fn handle(
    conn: &mut ApplicationConnection,
    body_len: &mut HashMap<RequestId, usize>,
    event: ApplicationEvent,
) {
    let result = match event {
        ApplicationEvent::RequestBegun { request_id, .. } => {
            body_len.insert(request_id, 0);
            Ok(())
        }
        ApplicationEvent::Params { request_id, params } => {
            conn.send_stdout(request_id, response_head(request_id, &params))
        }
        ApplicationEvent::Stdin { request_id, chunk }
        | ApplicationEvent::Data { request_id, chunk } => {
            *body_len.entry(request_id).or_default() += chunk.len();
            let mut escaped = Vec::with_capacity(chunk.len());
            json_escape(&chunk, &mut escaped);
            conn.send_stdout(request_id, Bytes::from(escaped))
        }
        ApplicationEvent::StdinEnd { request_id } => {
            let len = body_len.remove(&request_id).unwrap_or_default();
            let tail = format!("\", \"body_length\": {len}}}\n");
            conn.send_stdout(request_id, Bytes::from(tail))
                .and_then(|()| conn.end_request(request_id, 0))
        }
        ApplicationEvent::Abort { request_id } => {
            body_len.remove(&request_id);
            conn.end_request(request_id, 1)
        }
        // DataEnd, and events of later versions.
        _ => Ok(()),
    };
    if let Err(error) = result {
        eprintln!("fcgi_server: {error}");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".to_string());
    let listener = TcpListener::bind(&address).await?;
    eprintln!("fcgi_server: listening on {}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(error) = serve(stream).await {
                eprintln!("fcgi_server: {peer}: {error}");
            }
        });
    }
}
