//! An HTTP reverse proxy in front of php-fpm or uWSGI: a hyper HTTP/1.1 server whose
//! service hands each request to a pooled [`FastCgiClient`] or a [`UwsgiClient`], with the
//! connection's facts (REMOTE_ADDR, SERVER_NAME, ...) in the request's extensions. Bodies
//! stream both ways; a failed call is answered with [`ClientError::status_code`] (502,
//! 504, 411, 413, ...), as nginx does. Several backends are balanced. A response whose
//! body the backend cut short (closed, failed) is cut short for the client too: the
//! connection closes before the body's end (no last chunk), so the client cannot take it
//! for a whole one, and the proxy logs "response cut short". Backend STDERR and failures
//! are logged to stderr.
//!
//! ```sh
//! cargo run --release -p fastcgi-uwsgi --example reverse_proxy -- --listen 127.0.0.1:8080 \
//!     --fastcgi 127.0.0.1:9000 --document-root /srv/www --index index.php
//! cargo run --release -p fastcgi-uwsgi --example reverse_proxy -- --listen 127.0.0.1:8080 \
//!     --uwsgi 127.0.0.1:3031 --uwsgi 127.0.0.1:3032
//! ```

mod log;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use cgi_env::{ConnectionInfo, Gateway, Param, Preset, ScriptMapping, Var};
use fastcgi_uwsgi::client::{BackendBody, ClientConfig, ClientError, FastCgiClient, UwsgiClient};
use http::{Request, Response, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const USAGE: &str = "\
usage: reverse_proxy --listen ADDR (--fastcgi ADDR... --document-root DIR [--index FILE]
                                    | --uwsgi ADDR...) [--threads N]
                                   [--delivery-timeout SECS]

Serves HTTP/1.1 on --listen and passes every request to php-fpm (--fastcgi, with nginx's
fastcgi.conf variables, SCRIPT_FILENAME under --document-root, PATH_INFO split after
\".php\", a path ending in / served by --index) or to uWSGI (--uwsgi, with uwsgi_params).
A backend is host:port or a Unix socket (unix:PATH); several are balanced. It runs
--threads threads (default: one per CPU), sharing one pool per backend. A client
that takes none of a response's body for --delivery-timeout seconds (default 60) while
some waits for it is cut off, and its backend connection freed.
";

/// The backends and how to call them; the threads share the one client made of them.
#[derive(Clone)]
struct Backends {
    fastcgi: bool,
    addresses: Vec<String>,
    config: ClientConfig,
}

impl Backends {
    fn client(self) -> Upstream {
        if self.fastcgi {
            Upstream::FastCgi(FastCgiClient::balanced(self.addresses, self.config))
        } else {
            Upstream::Uwsgi(UwsgiClient::balanced(self.addresses, self.config))
        }
    }
}

/// The backends, behind one client.
#[derive(Clone)]
enum Upstream {
    FastCgi(FastCgiClient),
    Uwsgi(UwsgiClient),
}

fn main() -> ExitCode {
    let (listen, backends, index, threads) = match parse(std::env::args().skip(1)) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprint!("reverse_proxy: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    log::init("reverse_proxy");
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(&listen);
    let Some(address) = resolved.ok().and_then(|mut addresses| addresses.next()) else {
        eprintln!("reverse_proxy: cannot listen on {listen}: not an address");
        return ExitCode::FAILURE;
    };
    // As nginx's workers: each thread a single-threaded runtime with its own listening
    // socket (SO_REUSEPORT: the kernel spreads connections over them). Unlike nginx's
    // workers, the threads share one client (so one pool per backend): php-fpm's children
    // each serve one kept connection until it closes, and pools of their own would split
    // the children unevenly among the threads, or leave a thread with none while its
    // connections wait in php-fpm's listen queue.
    let client = backends.client();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (client, index) = (client.clone(), index.clone());
            std::thread::spawn(move || -> io::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let listener = listen_shared(address)?;
                    tokio::spawn(tick());
                    serve(listener, client, index).await
                })
            })
        })
        .collect();
    for worker in workers {
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                eprintln!("reverse_proxy: cannot listen on {listen}: {error}");
                return ExitCode::FAILURE;
            }
            Err(_) => return ExitCode::FAILURE,
        }
    }
    ExitCode::SUCCESS
}

/// A timer that is always the runtime's next, as the server's accept loop keeps: a call's
/// own timer (its connect timeout, seconds away) then never becomes the earliest, which
/// makes a tokio runtime write to its wake-up descriptor to re-arm its sleep, once per call.
async fn tick() {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// A listening socket on `address` that other threads may open too.
fn listen_shared(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(address)?;
    socket.listen(1024)
}

/// Accepts connections and serves HTTP/1.1 on them, each request passed to `upstream`.
async fn serve(listener: TcpListener, upstream: Upstream, index: Option<String>) -> io::Result<()> {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, most likely: wait for some to close.
                eprintln!("reverse_proxy: accept: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        let (upstream, index) = (upstream.clone(), index.clone());
        let service =
            service_fn(move |request| proxy(&upstream, index.as_deref(), remote, local, request));
        tokio::spawn(
            http1::Builder::new()
                .serve_connection(Io(stream, vec![0; 8192].into_boxed_slice()), service),
        );
    }
}

/// One request: its connection facts in, the backend's response (or the error's status)
/// out. The call is made before the future is first polled: the client copies what it
/// needs from the head and drops it, so hyper reads the next request into the same buffer.
fn proxy(
    upstream: &Upstream,
    index: Option<&str>,
    remote: SocketAddr,
    local: SocketAddr,
    mut request: Request<Incoming>,
) -> impl Future<Output = Result<Response<Either<CutShort, Full<Bytes>>>, Infallible>> + use<> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let server_name = host
        .map(|host| host.rsplit_once(':').map_or(host, |(name, _)| name))
        .filter(|name| !name.is_empty())
        .unwrap_or("localhost")
        .to_owned();
    request
        .extensions_mut()
        .insert(ConnectionInfo::new(remote, local, server_name));
    if let Some(index) = index {
        add_index(&mut request, index);
    }
    let sent = match upstream {
        Upstream::FastCgi(client) => client.send(request),
        Upstream::Uwsgi(client) => client.send(request),
    };
    async move {
        Ok(match sent.await {
            Ok(response) => response.map(|body| Either::Left(CutShort(body))),
            Err(error) => failure(&error),
        })
    }
}

/// A short text answer for a failed call, with the status nginx would give.
fn failure(error: &ClientError) -> Response<Either<CutShort, Full<Bytes>>> {
    eprintln!("reverse_proxy: {error}");
    let status = error.status_code();
    let text = format!("{status}\n");
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(text))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
    response
}

/// The backend's response body, passed on as it comes; a failure in the middle of it is
/// logged and handed to hyper as the body's error, on which hyper closes the connection
/// without ending the body (no last chunk, or fewer bytes than the Content-Length said), so
/// the client sees a cut response rather than a short whole one.
struct CutShort(BackendBody);

impl Body for CutShort {
    type Data = Bytes;
    type Error = ClientError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientError>>> {
        let frame = ready!(Pin::new(&mut self.0).poll_frame(cx));
        if let Some(Err(error)) = &frame {
            tracing::warn!(error = %error, "response cut short");
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// `/dir/` becomes `/dir/index.php`, as nginx's `index` directive does.
fn add_index<B>(request: &mut Request<B>, index: &str) {
    let uri = request.uri();
    if uri.path().ends_with('/') {
        let rewritten = match uri.query() {
            Some(query) => format!("{}{index}?{query}", uri.path()),
            None => format!("{}{index}", uri.path()),
        };
        if let Ok(rewritten) = rewritten.parse() {
            *request.uri_mut() = rewritten;
        }
    }
}

type Parsed = (String, Backends, Option<String>, usize);

/// The command line: `Ok(None)` for `--help`.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Parsed>, String> {
    let (mut listen, mut root, mut index) = (None, None, None);
    let mut threads = std::thread::available_parallelism().map_or(1, usize::from);
    let (mut fastcgi, mut uwsgi) = (Vec::new(), Vec::new());
    let mut delivery_timeout = None;
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if !matches!(
            flag.as_str(),
            "--listen"
                | "--fastcgi"
                | "--uwsgi"
                | "--document-root"
                | "--index"
                | "--threads"
                | "--delivery-timeout"
        ) {
            return Err(format!("unknown argument {flag}"));
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--fastcgi" => fastcgi.push(value),
            "--uwsgi" => uwsgi.push(value),
            "--document-root" => root = Some(value),
            "--index" => index = Some(value),
            "--threads" => {
                threads = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(format!("--threads takes a number above 0, not {value}"))?;
            }
            "--delivery-timeout" => {
                let timeout = value
                    .parse::<f64>()
                    .ok()
                    .and_then(|secs| std::time::Duration::try_from_secs_f64(secs).ok())
                    .filter(|timeout| !timeout.is_zero())
                    .ok_or(format!(
                        "--delivery-timeout takes seconds above 0, not {value}"
                    ))?;
                delivery_timeout = Some(timeout);
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    let listen = listen.ok_or("--listen is required")?;
    let mut backends = match (fastcgi.is_empty(), uwsgi.is_empty()) {
        (false, true) => {
            let root = root.ok_or("--fastcgi needs --document-root")?;
            // nginx's fastcgi.conf with `fastcgi_split_path_info ^(.+?\.php)(/.*)$` and
            // `fastcgi_param PATH_INFO $fastcgi_path_info`.
            let preset = Preset::nginx_fastcgi_conf().with(Param::new("PATH_INFO", Var::PathInfo));
            let gateway = Gateway::new(preset)
                .with_document_root(root)
                .with_mapping(ScriptMapping::SplitAtExtension(".php".into()));
            let config = ClientConfig::fastcgi().with_gateway(gateway);
            Backends {
                fastcgi: true,
                addresses: fastcgi,
                config,
            }
        }
        (true, false) if root.is_none() && index.is_none() => Backends {
            fastcgi: false,
            addresses: uwsgi,
            config: ClientConfig::uwsgi(),
        },
        (true, false) => return Err("--document-root and --index are for --fastcgi".into()),
        _ => return Err("give --fastcgi or --uwsgi backends (not both)".into()),
    };
    if let Some(timeout) = delivery_timeout {
        backends.config = backends.config.with_delivery_timeout(timeout);
    }
    Ok(Some((listen, backends, index, threads)))
}

/// A tokio stream as hyper's I/O (what hyper-util's `TokioIo` does, in safe code: reads
/// go through a buffer of the connection's own, zeroed once rather than on every read).
struct Io(TcpStream, Box<[u8]>);

impl hyper::rt::Read for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let Io(stream, scratch) = &mut *self;
        let room = buf.remaining().min(scratch.len());
        let mut read = tokio::io::ReadBuf::new(&mut scratch[..room]);
        ready!(Pin::new(stream).poll_read(cx, &mut read))?;
        buf.put_slice(read.filled());
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
