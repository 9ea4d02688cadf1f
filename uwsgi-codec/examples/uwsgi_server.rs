//! A uwsgi application server: answers every request with its environ as JSON, with the
//! body's length and bytes echoed back. Serves connections concurrently.
//!
//! ```text
//! uwsgi_server 127.0.0.1:PORT [--buffer-size N]
//! ```
//!
//! Uses [`ApplicationCodec`] with `Framed`: one request per connection, closed after the
//! response. Pings are answered with a pong, signals with a "not delivered" reply.

use std::fmt::Write as _;
use std::process::ExitCode;

use bytes::Bytes;
use cgi_env::Environ;
use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;
use uwsgi_codec::{
    ApplicationCodec, CodecError, Limits, Pong, RequestEvent, RequestHead, ResponsePart,
    SignalReply,
};

/// Body bytes echoed at most; the length is always reported in full.
const MAX_ECHO: usize = 1024 * 1024;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(address) = args.next() else {
        eprintln!("usage: uwsgi_server 127.0.0.1:PORT [--buffer-size N]");
        return ExitCode::from(2);
    };
    let mut limits = Limits::default();
    if let (Some(flag), Some(value)) = (args.next(), args.next()) {
        if let ("--buffer-size", Ok(size)) = (flag.as_str(), value.parse()) {
            limits = limits.with_max_vars_block(size);
        } else {
            eprintln!("uwsgi_server: --buffer-size takes 0-65535");
            return ExitCode::from(2);
        }
    }
    let listener = match TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("uwsgi_server: bind {address}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("uwsgi_server: listening on {address}");
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, limits).await {
                        eprintln!("uwsgi_server: {peer}: {e}");
                    }
                });
            }
            Err(e) => eprintln!("uwsgi_server: accept: {e}"),
        }
    }
}

async fn serve(stream: TcpStream, limits: Limits) -> Result<(), CodecError> {
    let mut framed = Framed::new(stream, ApplicationCodec::new(limits));
    let mut request: Option<RequestHead> = None;
    let mut body = Vec::new();
    let mut body_len: u64 = 0;
    while let Some(event) = framed.next().await {
        match event? {
            RequestEvent::Head(head) => request = Some(head),
            RequestEvent::Body(chunk) => {
                body_len += chunk.len() as u64;
                let room = MAX_ECHO.saturating_sub(body.len());
                body.extend_from_slice(chunk.get(..room).unwrap_or(&chunk));
            }
            RequestEvent::End => break,
            RequestEvent::Ping => {
                let pong = Pong::default().to_packet()?;
                return framed.send(ResponsePart::Packet(pong)).await;
            }
            RequestEvent::Signal(_) => {
                let reply = SignalReply { delivered: false }.to_packet();
                return framed.send(ResponsePart::Packet(reply)).await;
            }
            RequestEvent::Packet(packet) => {
                eprintln!("uwsgi_server: unsupported modifier1 {}", packet.modifier1());
                return Ok(());
            }
            other => {
                eprintln!("uwsgi_server: unsupported {other:?}");
                return Ok(());
            }
        }
    }
    let Some(request) = request else {
        return Ok(()); // closed before sending anything
    };
    let json = Bytes::from(to_json(&request, body_len, &body));
    let headers = vec![
        (
            Bytes::from_static(b"Content-Type"),
            Bytes::from_static(b"application/json"),
        ),
        (
            Bytes::from_static(b"Content-Length"),
            Bytes::from(json.len().to_string()),
        ),
    ];
    framed
        .feed(ResponsePart::Head {
            status: StatusCode::OK,
            headers,
        })
        .await?;
    framed.feed(ResponsePart::Body(json)).await?;
    framed.send(ResponsePart::End).await?;
    // Dropping the Framed closes the connection: the end of a uwsgi response.
    Ok(())
}

fn to_json(request: &RequestHead, body_len: u64, body: &[u8]) -> String {
    let mut out = String::with_capacity(256 + body.len());
    let _ = write!(
        out,
        "{{\"modifier1\":{},\"modifier2\":{},\"environ\":{{",
        request.modifier1.0, request.modifier2
    );
    write_environ(&mut out, &request.environ);
    let _ = write!(out, "}},\"body_len\":{body_len},\"body\":");
    write_json_string(&mut out, body);
    out.push_str("}\n");
    out
}

fn write_environ(out: &mut String, env: &Environ) {
    for (index, (name, value)) in env.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_json_string(out, name);
        out.push(':');
        write_json_string(out, value);
    }
}

/// Bytes as a JSON string, each byte read as Latin-1 (as WSGI does on Python 3).
fn write_json_string(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &byte in bytes {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\u{byte:04x}");
            }
        }
    }
    out.push('"');
}
