//! A command-line FastCGI client, like `cgi-fcgi -bind -connect`: sends one request (or
//! several on one kept connection) to an application such as php-fpm and prints the
//! response. STDOUT goes to stdout, STDERR to stderr.
//!
//! ```sh
//! fcgi_client HOST:PORT SCRIPT_FILENAME [--uri /ping] [--post FILE] [--keep-conn] [--repeat N]
//!             [--get-values] [--parallel N]
//! ```
//!
//! `--repeat N` sends N requests one after the other on one kept connection;
//! `--parallel N` asks GET_VALUES and, if the application multiplexes, sends N requests at
//! once on one connection and prints each answer after `== request ID ==` on stderr.
//!
//! The request body is sent as one `Bytes` cut into records without copying, with
//! vectored writes.

use std::io::Write as _;
use std::process::ExitCode;

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use fastcgi_codec::{GatewayConfig, GatewayConnection, GatewayEvent, ProtocolStatus, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Options {
    address: String,
    script_filename: String,
    uri: String,
    post: Option<String>,
    keep_conn: bool,
    repeat: usize,
    get_values: bool,
    parallel: usize,
}

fn usage() -> String {
    "usage: fcgi_client HOST:PORT SCRIPT_FILENAME [--uri /ping] [--post FILE] [--keep-conn] \
     [--repeat N] [--get-values] [--parallel N]"
        .to_string()
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let address = args.next().ok_or_else(usage)?;
    let script_filename = args.next().ok_or_else(usage)?;
    let mut options = Options {
        uri: format!(
            "/{}",
            script_filename.rsplit('/').next().unwrap_or_default()
        ),
        address,
        script_filename,
        post: None,
        keep_conn: false,
        repeat: 1,
        get_values: false,
        parallel: 1,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--uri" => options.uri = args.next().ok_or_else(usage)?,
            "--post" => options.post = Some(args.next().ok_or_else(usage)?),
            "--keep-conn" => options.keep_conn = true,
            "--repeat" => {
                options.repeat = args.next().and_then(|n| n.parse().ok()).ok_or_else(usage)?;
            }
            "--get-values" => options.get_values = true,
            "--parallel" => {
                options.parallel = args.next().and_then(|n| n.parse().ok()).ok_or_else(usage)?;
                options.get_values = true;
                options.keep_conn = true;
            }
            _ => return Err(usage()),
        }
    }
    if options.repeat > 1 && !options.keep_conn {
        return Err("--repeat needs --keep-conn".to_string());
    }
    Ok(options)
}

/// The variables nginx's stock fastcgi_params would send for this request.
fn environ(options: &Options, body_len: Option<usize>, port: u16) -> Environ {
    let (path, query) = options
        .uri
        .split_once('?')
        .unwrap_or((options.uri.as_str(), ""));
    let mut env = Environ::new();
    env.append("SCRIPT_FILENAME", &options.script_filename);
    env.append("QUERY_STRING", query);
    env.append(
        "REQUEST_METHOD",
        if body_len.is_some() { "POST" } else { "GET" },
    );
    env.append(
        "CONTENT_TYPE",
        if body_len.is_some() {
            "application/octet-stream"
        } else {
            ""
        },
    );
    env.append(
        "CONTENT_LENGTH",
        body_len.map(|n| n.to_string()).unwrap_or_default(),
    );
    env.append("SCRIPT_NAME", path);
    env.append("REQUEST_URI", &options.uri);
    env.append("DOCUMENT_URI", path);
    env.append("SERVER_PROTOCOL", "HTTP/1.1");
    env.append("REQUEST_SCHEME", "http");
    env.append("GATEWAY_INTERFACE", "CGI/1.1");
    env.append("SERVER_SOFTWARE", "fastcgi-codec/fcgi_client");
    env.append("REMOTE_ADDR", "127.0.0.1");
    env.append("SERVER_ADDR", "127.0.0.1");
    env.append("SERVER_PORT", port.to_string());
    env.append("SERVER_NAME", "localhost");
    env.append("REDIRECT_STATUS", "200");
    env
}

async fn run(options: Options) -> Result<u8, Box<dyn std::error::Error>> {
    let body = match &options.post {
        Some(file) => Some(Bytes::from(tokio::fs::read(file).await?)),
        None => None,
    };
    let stream = TcpStream::connect(&options.address).await?;
    let port = stream.peer_addr()?.port();
    let (mut reader, mut writer) = stream.into_split();
    let mut conn = GatewayConnection::new(GatewayConfig::default());
    let mut input = BytesMut::with_capacity(64 * 1024);
    // Plain blocking writes to the terminal are fine for a one-shot tool.
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let mut exit = 0;

    if options.get_values {
        conn.get_values()?;
        writer.write_all_buf(&mut conn.take_output()).await?;
        loop {
            if let Some(event) = conn.receive(&mut input)? {
                eprintln!("{event:?}");
                break;
            }
            if reader.read_buf(&mut input).await? == 0 {
                return Err("connection closed before GET_VALUES_RESULT".into());
            }
        }
    }

    if options.parallel > 1 {
        return parallel(&options, body, port, &mut conn, reader, writer, input).await;
    }

    for _ in 0..options.repeat {
        let id = conn.begin_request(Role::Responder, options.keep_conn)?;
        conn.send_params(id, &environ(&options, body.as_ref().map(Bytes::len), port))?;
        if let Some(body) = &body {
            // A clone of `Bytes` shares the file's memory: the body is not copied.
            conn.send_stdin(id, body.clone())?;
        }
        conn.end_stdin(id)?;
        let mut request = conn.take_output();
        // Write while reading, so that a large body and a large answer cannot deadlock.
        let write = tokio::spawn(async move {
            writer.write_all_buf(&mut request).await?;
            Ok::<_, std::io::Error>(writer)
        });
        'response: loop {
            while let Some(event) = conn.receive(&mut input)? {
                match event {
                    GatewayEvent::Stdout { chunk, .. } => stdout.write_all(&chunk)?,
                    GatewayEvent::Stderr { chunk, .. } => stderr.write_all(&chunk)?,
                    GatewayEvent::End {
                        app_status,
                        protocol_status,
                        ..
                    } => {
                        stdout.flush()?;
                        if protocol_status != ProtocolStatus::RequestComplete || app_status != 0 {
                            eprintln!(
                                "END_REQUEST app_status={app_status} protocol_status={protocol_status:?}"
                            );
                            exit = 1;
                        }
                        break 'response;
                    }
                    other => eprintln!("{other:?}"),
                }
            }
            if reader.read_buf(&mut input).await? == 0 {
                conn.receive_eof()?;
                return Err("connection closed".into());
            }
        }
        writer = write.await??;
    }
    if !options.keep_conn {
        // The application closes after END_REQUEST when keep-conn is not set.
        while reader.read_buf(&mut input).await? != 0 {
            while let Some(event) = conn.receive(&mut input)? {
                eprintln!("after END_REQUEST: {event:?}");
            }
        }
        conn.receive_eof()?;
    }
    Ok(exit)
}

/// Sends `options.parallel` requests at once and prints each answer once all ended.
async fn parallel(
    options: &Options,
    body: Option<Bytes>,
    port: u16,
    conn: &mut GatewayConnection,
    mut reader: tokio::net::tcp::OwnedReadHalf,
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    mut input: BytesMut,
) -> Result<u8, Box<dyn std::error::Error>> {
    if !conn.peer_multiplexes() {
        return Err("the application does not multiplex (FCGI_MPXS_CONNS is not 1)".into());
    }
    let mut answers = std::collections::BTreeMap::new();
    for _ in 0..options.parallel {
        let id = conn.begin_request(Role::Responder, true)?;
        conn.send_params(id, &environ(options, body.as_ref().map(Bytes::len), port))?;
        answers.insert(id, (Vec::new(), None));
    }
    // Bodies interleaved on the wire: every request's STDIN after all the PARAMS.
    for &id in answers.keys() {
        if let Some(body) = &body {
            conn.send_stdin(id, body.clone())?;
        }
        conn.end_stdin(id)?;
    }
    let mut request = conn.take_output();
    let write = tokio::spawn(async move {
        writer.write_all_buf(&mut request).await?;
        Ok::<_, std::io::Error>(writer)
    });
    let mut ended = 0;
    while ended < options.parallel {
        while let Some(event) = conn.receive(&mut input)? {
            match event {
                GatewayEvent::Stdout { request_id, chunk }
                | GatewayEvent::Stderr { request_id, chunk } => {
                    if let Some((out, _)) = answers.get_mut(&request_id) {
                        out.extend_from_slice(&chunk);
                    }
                }
                GatewayEvent::End {
                    request_id,
                    app_status,
                    protocol_status,
                } => {
                    if let Some((_, end)) = answers.get_mut(&request_id) {
                        *end = Some((app_status, protocol_status));
                    }
                    ended += 1;
                }
                other => eprintln!("{other:?}"),
            }
        }
        if ended < options.parallel && reader.read_buf(&mut input).await? == 0 {
            conn.receive_eof()?;
        }
    }
    drop(write.await??);
    let mut stdout = std::io::stdout().lock();
    let mut exit = 0;
    for (id, (out, end)) in answers {
        eprintln!("== request {id} == {end:?}");
        stdout.write_all(&out)?;
        stdout.flush()?;
        if end != Some((0, ProtocolStatus::RequestComplete)) {
            exit = 1;
        }
    }
    Ok(exit)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("fcgi_client: {error}");
            ExitCode::from(1)
        }
    }
}
