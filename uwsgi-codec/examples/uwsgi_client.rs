//! A command-line uwsgi client, like `uwsgi_curl`: sends one request to a uwsgi socket and
//! prints the response (head, then body) on stdout.
//!
//! ```text
//! uwsgi_client HOST:PORT [PATH] [--post FILE] [--modifier1 N] [--ping] [--signal N]
//! ```
//!
//! The request is written with the sans-IO encoder: the vars packet and the body `Bytes` go
//! out in one vectored write, the body uncopied. The response is read with the sans-IO
//! decoder until the server closes the connection.

use std::io::Write as _;
use std::process::ExitCode;

use bytes::{Buf, Bytes, BytesMut};
use cgi_env::Environ;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uwsgi_codec::{
    Limits, Modifier1, Packet, PacketDecoder, Ping, Pong, RequestEncoder, ResponseDecoder,
    ResponseEvent, Signal, SignalReply,
};

struct Args {
    address: String,
    path: String,
    post: Option<String>,
    modifier1: u8,
    ping: bool,
    signal: Option<u8>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut post = None;
    let mut modifier1 = 0;
    let mut ping = false;
    let mut signal = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--post" => post = Some(args.next().ok_or("--post needs a FILE")?),
            "--modifier1" => {
                let value = args.next().ok_or("--modifier1 needs a number")?;
                modifier1 = value.parse().map_err(|_| "--modifier1 takes 0-255")?;
            }
            "--ping" => ping = true,
            "--signal" => {
                let value = args.next().ok_or("--signal needs a number")?;
                signal = Some(value.parse().map_err(|_| "--signal takes 0-255")?);
            }
            "-h" | "--help" => return Err(String::new()),
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let address = positional.next().ok_or("missing HOST:PORT")?;
    let path = positional.next().unwrap_or_else(|| "/".to_owned());
    if positional.next().is_some() {
        return Err("too many arguments".to_owned());
    }
    Ok(Args {
        address,
        path,
        post,
        modifier1,
        ping,
        signal,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("uwsgi_client: {message}");
            }
            eprintln!(
                "usage: uwsgi_client HOST:PORT [PATH] [--post FILE] [--modifier1 N] [--ping] [--signal N]"
            );
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("uwsgi_client: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut stream = TcpStream::connect(&args.address)
        .await
        .map_err(|e| format!("connect {}: {e}", args.address))?;
    if args.ping {
        return exchange_packet(stream, Ping.to_packet()).await;
    }
    if let Some(number) = args.signal {
        return exchange_packet(stream, Signal { number }.to_packet()).await;
    }
    let body = match &args.post {
        Some(file) => Some(Bytes::from(
            std::fs::read(file).map_err(|e| format!("read {file}: {e}"))?,
        )),
        None => None,
    };
    let env = build_environ(&args, &stream, body.as_ref());

    let mut encoder = RequestEncoder::with_modifiers(Modifier1(args.modifier1), 0);
    let mut head = BytesMut::new();
    encoder
        .encode_head(&env, &mut head)
        .map_err(|e| e.to_string())?;
    let body = encoder
        .body_chunk(body.unwrap_or_default())
        .map_err(|e| e.to_string())?;
    encoder.finish().map_err(|e| e.to_string())?;
    let mut request = head.freeze().chain(body);
    stream
        .write_all_buf(&mut request)
        .await
        .map_err(|e| format!("write: {e}"))?;

    let mut decoder = ResponseDecoder::new(Limits::default());
    if env.get("REQUEST_METHOD") == Some(b"HEAD") {
        decoder = decoder.for_head_request();
    }
    read_response(stream, decoder).await
}

fn build_environ(args: &Args, stream: &TcpStream, body: Option<&Bytes>) -> Environ {
    let (path, query) = args.path.split_once('?').unwrap_or((&args.path, ""));
    let (host, port) = args
        .address
        .rsplit_once(':')
        .unwrap_or((&args.address, "80"));
    let mut env = Environ::new();
    env.insert("QUERY_STRING", query);
    env.insert(
        "REQUEST_METHOD",
        if body.is_some() { "POST" } else { "GET" },
    );
    env.insert(
        "CONTENT_TYPE",
        if body.is_some() {
            "application/octet-stream"
        } else {
            ""
        },
    );
    env.insert(
        "CONTENT_LENGTH",
        body.map(|b| b.len().to_string()).unwrap_or_default(),
    );
    env.insert("REQUEST_URI", &args.path);
    env.insert("PATH_INFO", path);
    env.insert("SCRIPT_NAME", "");
    env.insert("SERVER_PROTOCOL", "HTTP/1.1");
    env.insert("REQUEST_SCHEME", "http");
    if let Ok(local) = stream.local_addr() {
        env.insert("REMOTE_ADDR", local.ip().to_string());
        env.insert("REMOTE_PORT", local.port().to_string());
    }
    env.insert("SERVER_NAME", host);
    env.insert("SERVER_PORT", port);
    env.insert("HTTP_HOST", &args.address);
    env.insert("HTTP_USER_AGENT", "uwsgi_client");
    env
}

async fn read_response(mut stream: TcpStream, mut decoder: ResponseDecoder) -> Result<(), String> {
    let mut buffer = BytesMut::with_capacity(16 * 1024);
    // Plain blocking stdout: this client does one thing at a time.
    let mut stdout = std::io::stdout().lock();
    let mut eof = false;
    loop {
        let event = if eof {
            decoder.decode_eof(&mut buffer)
        } else {
            decoder.decode(&mut buffer)
        }
        .map_err(|e| format!("bad response: {e}"))?;
        match event {
            Some(ResponseEvent::Head(head)) => {
                print_head(&mut stdout, &head).map_err(|e| e.to_string())?;
            }
            Some(ResponseEvent::Body(chunk)) => {
                stdout.write_all(&chunk).map_err(|e| e.to_string())?;
            }
            Some(ResponseEvent::End) => break,
            Some(other) => return Err(format!("unexpected {other:?}")),
            None if eof => break,
            None => {
                let read = stream
                    .read_buf(&mut buffer)
                    .await
                    .map_err(|e| format!("read: {e}"))?;
                eof = read == 0;
            }
        }
    }
    stdout.flush().map_err(|e| e.to_string())
}

/// Writes a parsed head back out as an HTTP/1.x head (hop-by-hop fields were dropped by
/// the parser).
fn print_head(out: &mut impl std::io::Write, head: &cgi_env::ResponseHead) -> std::io::Result<()> {
    let version = match head.version {
        Some(http::Version::HTTP_10) => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let reason = head.reason.as_deref().unwrap_or_default();
    write!(out, "{version} {} ", head.status.as_str())?;
    out.write_all(reason)?;
    out.write_all(b"\r\n")?;
    for (name, value) in &head.headers {
        write!(out, "{name}: ")?;
        out.write_all(value.as_bytes())?;
        out.write_all(b"\r\n")?;
    }
    out.write_all(b"\r\n")
}

/// Sends one control packet (ping, signal) and prints the packet that answers it.
async fn exchange_packet(mut stream: TcpStream, packet: Packet) -> Result<(), String> {
    stream
        .write_all(&packet.to_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buffer = BytesMut::new();
    let mut decoder = PacketDecoder::default();
    loop {
        if let Some(answer) = decoder.decode(&mut buffer).map_err(|e| e.to_string())? {
            return report(&answer);
        }
        let read = stream
            .read_buf(&mut buffer)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if read == 0 {
            return Err(format!(
                "connection closed after {} bytes, no answer",
                buffer.len()
            ));
        }
    }
}

fn report(packet: &Packet) -> Result<(), String> {
    if let Ok(pong) = Pong::try_from(packet) {
        if pong.message.is_empty() {
            println!("PONG");
        } else {
            println!("PONG {}", pong.message.escape_ascii());
        }
    } else if let Ok(reply) = SignalReply::try_from(packet) {
        println!("SIGNAL REPLY delivered={}", reply.delivered);
    } else {
        return Err(format!(
            "unexpected answer: modifier1 {} modifier2 {} payload {} bytes",
            packet.modifier1(),
            packet.modifier2(),
            packet.payload().len()
        ));
    }
    Ok(())
}
