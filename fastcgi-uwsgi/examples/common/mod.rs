//! What the example servers share: the command line, and an application that answers
//! with the request's environ and body length as JSON.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::process::ExitCode;

use bytes::Bytes;
use fastcgi_uwsgi::{CgiFacts, Listener, RoutePath, ServeConfig};
use http_body_util::{BodyExt, Full};

/// Parses `[--route-path WHICH] [ADDRESS | --fd0]` (`--help` prints the usage and exits
/// 0), opens the listener and makes the configuration: one serving thread per CPU. With no
/// address the listening socket inherited as standard input is served, as lighttpd's
/// `bin-path` and spawn-fcgi start an application; when standard input is not a listening
/// socket, the usage goes to standard error and the exit code is 2.
pub async fn command_line(name: &str, example: &str) -> Result<(Listener, ServeConfig), ExitCode> {
    let usage = format!(
        "usage: {name} [--route-path request-uri|script-name|path-info] [ADDRESS | --fd0]\n\n\
         ADDRESS is host:port or a Unix socket path (unix:PATH, /PATH or ./PATH), e.g.\n\
         {example}. With no ADDRESS (or with --fd0), the listening socket inherited as\n\
         standard input is served (spawn-fcgi, lighttpd's bin-path, Apache mod_fcgid).\n\
         --route-path: the path the application routes on and answers as \"path\":\n\
         REQUEST_URI (the default), SCRIPT_NAME and PATH_INFO, or PATH_INFO alone.\n"
    );
    let mut address = None;
    let mut inherited = false;
    let mut config = ServeConfig::default().with_thread_per_core();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--route-path" => {
                let route = match args.next().as_deref() {
                    Some("request-uri") => RoutePath::RequestUri,
                    Some("script-name") => RoutePath::ScriptNameAndPathInfo,
                    Some("path-info") => RoutePath::PathInfo,
                    other => {
                        eprint!(
                            "{name}: --route-path takes request-uri, script-name or path-info, not {}\n\n{usage}",
                            other.unwrap_or("nothing")
                        );
                        return Err(ExitCode::from(2));
                    }
                };
                config = config.with_route_path(route);
            }
            "-h" | "--help" => {
                print!("{usage}");
                return Err(ExitCode::SUCCESS);
            }
            "--fd0" => inherited = true,
            flag if flag.starts_with('-') => {
                eprint!("{name}: unknown flag {flag}\n\n{usage}");
                return Err(ExitCode::from(2));
            }
            _ if address.is_some() => {
                eprint!("{name}: one address only, got {arg} too\n\n{usage}");
                return Err(ExitCode::from(2));
            }
            _ => address = Some(arg),
        }
    }
    let listener = match address {
        Some(_) if inherited => {
            eprint!("{name}: an address or --fd0, not both\n\n{usage}");
            return Err(ExitCode::from(2));
        }
        Some(address) => Listener::bind(&address).await,
        None if inherited => Listener::inherited(),
        None => match Listener::inherited() {
            Ok(listener) => Ok(listener),
            Err(error) => {
                eprint!("{name}: no address given, and {error}\n\n{usage}");
                return Err(ExitCode::from(2));
            }
        },
    };
    match listener {
        Ok(listener) => Ok((listener, config)),
        Err(error) => {
            eprintln!("{name}: {error}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Answers with `{"path": P, "environ": {...}, "body_length": N, "connection": C}`: the
/// path and query the application routes on, every variable the front server sent, how many body bytes arrived (read as they stream in, never
/// buffered whole), and which connection from the front server carried the request. A
/// path ending in `/echo` gets its body back instead; one ending in `/early` a 413 before
/// its body is read; one ending in `/sleep` is answered after a second.
pub async fn environ_json<B>(
    request: http::Request<B>,
) -> Result<http::Response<Full<Bytes>>, Infallible>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let facts = request.extensions().get::<CgiFacts>().cloned();
    let routed = request
        .uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str)
        .to_owned();
    match request.uri().path().rsplit('/').next() {
        Some("echo") => return Ok(echo(request).await),
        Some("early") => {
            // An early 413: answered before a byte of the body is read.
            let mut response = http::Response::new(Full::new(Bytes::from_static(b"too large\n")));
            *response.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
            return Ok(response);
        }
        Some("sleep") => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        _ => {}
    }
    let mut body = request.into_body();
    let mut body_length = 0u64;
    let mut failed = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => body_length += frame.data_ref().map_or(0, |d| d.len() as u64),
            Err(error) => {
                failed = Some(error.to_string());
                break;
            }
        }
    }
    let mut out = String::from("{\"path\": \"");
    json_escape(routed.as_bytes(), &mut out);
    out.push_str("\", \"environ\": {");
    if let Some(facts) = &facts {
        for (i, (name, value)) in facts.environ.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push('"');
            json_escape(name, &mut out);
            out.push_str("\": \"");
            json_escape(value, &mut out);
            out.push('"');
        }
    }
    let connection = facts.as_ref().map_or(0, |facts| facts.connection);
    let _ = write!(
        out,
        "}}, \"body_length\": {body_length}, \"connection\": {connection}"
    );
    if let Some(error) = failed {
        out.push_str(", \"body_error\": \"");
        json_escape(error.as_bytes(), &mut out);
        out.push('"');
    }
    out.push_str("}\n");
    let mut response = http::Response::new(Full::new(Bytes::from(out)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// `.../echo`: the request body back, read in full first.
async fn echo<B>(request: http::Request<B>) -> http::Response<Full<Bytes>>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    match request.into_body().collect().await {
        Ok(body) => http::Response::new(Full::new(body.to_bytes())),
        Err(error) => {
            let mut response =
                http::Response::new(Full::new(Bytes::from(format!("body failed: {error}\n"))));
            *response.status_mut() = http::StatusCode::BAD_REQUEST;
            response
        }
    }
}

/// Appends `bytes` as the inside of a JSON string; bytes that are not printable ASCII
/// are written as `\u00XX` (their Latin-1 reading), so any bytes give valid JSON.
fn json_escape(bytes: &[u8], out: &mut String) {
    for &byte in bytes {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7E => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\u{byte:04x}");
            }
        }
    }
}

/// Completes on ctrl-c or SIGTERM, for a graceful shutdown.
pub async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
