//! The `reverse_proxy` example run as a user runs it, in front of our own FastCGI and uwsgi
//! servers: a GET and a POST with a body go through, with the connection's facts in the
//! environ, and a dead backend is answered 502.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use fastcgi_uwsgi::{Body, CgiFacts, Listener};
use http::{Request, Response};
use http_body_util::BodyExt;
use support::example::{Running, example};

/// Answers with the variables the tests look at and the request body.
async fn describe(request: Request<Body>) -> Result<Response<String>, std::convert::Infallible> {
    let (parts, body) = request.into_parts();
    let facts = parts.extensions.get::<CgiFacts>().expect("facts");
    let var = |name: &str| facts.environ.get_str(name).unwrap_or("-").to_owned();
    let body = body.collect().await.expect("body").to_bytes();
    let text = format!(
        "{} {} script={} path_info={} remote={} server={} len={} body={}",
        parts.method,
        var("REQUEST_URI"),
        var("SCRIPT_FILENAME"),
        var("PATH_INFO"),
        var("REMOTE_ADDR"),
        var("SERVER_NAME"),
        var("CONTENT_LENGTH"),
        String::from_utf8_lossy(&body),
    );
    Ok(Response::builder()
        .header("x-backend", "yes")
        .body(text)
        .unwrap())
}

/// Binds 127.0.0.1:0 and serves `describe` over FastCGI or uwsgi.
async fn backend(fastcgi: bool) -> String {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let Listener::Tcp(tcp) = &listener else {
        unreachable!()
    };
    let address = tcp.local_addr().unwrap().to_string();
    let service = tower::service_fn(describe);
    if fastcgi {
        tokio::spawn(fastcgi_uwsgi::serve_fastcgi(listener, service));
    } else {
        tokio::spawn(fastcgi_uwsgi::serve_uwsgi(listener, service));
    }
    address
}

/// A port of 127.0.0.1 held for the test: bound with SO_REUSEPORT and never listening, so
/// that the proxy, which binds its address with SO_REUSEPORT, can take it and no other
/// test's server can (a port found free and let go could be taken before the proxy binds
/// it).
fn reserved_port() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseport(true).unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// An address that refuses connections for as long as the socket returned is held: bound,
/// never listening.
fn refusing_address() -> (tokio::net::TcpSocket, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    (socket, addr)
}

/// A running proxy and the port it listens on, held until it is dropped.
struct Proxy {
    _running: Running,
    _port: tokio::net::TcpSocket,
}

/// Starts the proxy with `args` on a port of its own and waits until it accepts.
fn proxy(args: &[&str]) -> (Proxy, SocketAddr) {
    let (port, addr) = reserved_port();
    let child = Command::new(example("reverse_proxy"))
        .arg("--listen")
        .arg(addr.to_string())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start reverse_proxy");
    let running = Proxy {
        _running: Running(child),
        _port: port,
    };
    for _ in 0..100 {
        if TcpStream::connect(addr).is_ok() {
            return (running, addr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("reverse_proxy does not listen on {addr}");
}

/// One HTTP/1.1 exchange on a new connection: (status, head, body). The body is read to
/// the connection's end, and de-chunked when it is chunked.
fn http(addr: SocketAddr, method: &str, target: &str, body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let length = if method == "GET" {
        String::new()
    } else {
        format!("content-length: {}\r\n", body.len())
    };
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nhost: example.org:8080\r\n{length}connection: close\r\n\r\n{body}"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let status = head[9..12].parse().unwrap();
    let mut body = Vec::new();
    reader.read_to_end(&mut body).unwrap();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, head, String::from_utf8(body).unwrap())
}

fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = chunked
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("size line");
        let size = std::str::from_utf8(&chunked[..line_end]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap(), 16).unwrap();
        chunked = &chunked[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunked[..size]);
        assert_eq!(&chunked[size..size + 2], b"\r\n");
        chunked = &chunked[size + 2..];
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn get_and_post_go_through_to_fastcgi() {
    let backend = backend(true).await;
    let (_running, addr) = proxy(&[
        "--fastcgi",
        &backend,
        "--document-root",
        "/srv/www/",
        "--index",
        "index.php",
    ]);
    let (status, head, body) =
        tokio::task::spawn_blocking(move || http(addr, "GET", "/app/x.php/extra?q=1", ""))
            .await
            .unwrap();
    assert_eq!(status, 200, "{head}{body}");
    assert!(
        head.to_ascii_lowercase().contains("x-backend: yes"),
        "{head}"
    );
    assert_eq!(
        body,
        "GET /app/x.php/extra?q=1 script=/srv/www/app/x.php path_info=/extra \
         remote=127.0.0.1 server=example.org len=- body="
    );
    let (status, _, body) =
        tokio::task::spawn_blocking(move || http(addr, "POST", "/dir/", "name=value&x=1"))
            .await
            .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        "POST /dir/index.php script=/srv/www/dir/index.php path_info= \
         remote=127.0.0.1 server=example.org len=14 body=name=value&x=1"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn get_and_post_go_through_to_uwsgi_balanced() {
    let (first, second) = (backend(false).await, backend(false).await);
    let (_running, addr) = proxy(&[
        "--uwsgi",
        &first,
        "--uwsgi",
        &second,
        "--delivery-timeout",
        "2.5",
    ]);
    for _ in 0..4 {
        let (status, _, body) =
            tokio::task::spawn_blocking(move || http(addr, "GET", "/hello?x=1", ""))
                .await
                .unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.starts_with("GET /hello?x=1 "), "{body}");
        assert!(
            body.contains("remote=127.0.0.1 server=example.org"),
            "{body}"
        );
    }
    let big = "b".repeat(100_000);
    let (status, _, body) = tokio::task::spawn_blocking(move || http(addr, "PUT", "/up", &big))
        .await
        .unwrap();
    assert_eq!(status, 200, "{}", &body[..body.len().min(200)]);
    assert!(body.contains(" len=100000 body=bbbb"), "{}", &body[..200]);
    assert_eq!(body.len() - body.find("body=").unwrap() - 5, 100_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_backend_is_answered_502() {
    let (_refusing, dead) = refusing_address();
    let (_running, addr) = proxy(&["--fastcgi", &dead, "--document-root", "/srv"]);
    let (status, _, body) = tokio::task::spawn_blocking(move || http(addr, "GET", "/", ""))
        .await
        .unwrap();
    assert_eq!(status, 502, "{body}");
    assert_eq!(body, "502 Bad Gateway\n");
}

#[test]
fn help_exits_0_and_a_bad_command_line_2() {
    let help = Command::new(example("reverse_proxy"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: reverse_proxy"));
    let bad = Command::new(example("reverse_proxy"))
        .args(["--listen", "127.0.0.1:0", "--uwsgi"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--delivery-timeout SECS"));
    for secs in ["soon", "0", "-1"] {
        let bad = Command::new(example("reverse_proxy"))
            .args(["--listen", "127.0.0.1:0", "--uwsgi", "127.0.0.1:1"])
            .args(["--delivery-timeout", secs])
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(2), "--delivery-timeout {secs}");
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains("--delivery-timeout takes seconds"),
            "{}",
            String::from_utf8_lossy(&bad.stderr)
        );
    }
}

/// Starts the proxy in front of `backend` (FastCGI) with its stderr in a file; returns
/// the file's path too.
fn proxy_logging(backend: &str) -> (Proxy, SocketAddr, std::path::PathBuf) {
    let (port, addr) = reserved_port();
    let log = std::env::temp_dir().join(format!(
        "fastcgi-uwsgi-proxy-{}-{}.log",
        std::process::id(),
        addr.port()
    ));
    let child = Command::new(example("reverse_proxy"))
        .args(["--listen", &addr.to_string(), "--fastcgi", backend])
        .args(["--document-root", "/srv", "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start reverse_proxy");
    let running = Proxy {
        _running: Running(child),
        _port: port,
    };
    for _ in 0..100 {
        if TcpStream::connect(addr).is_ok() {
            return (running, addr, log);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("reverse_proxy does not listen on {addr}");
}

/// A GET on a new connection; everything the proxy sent until it closed (a reset counts
/// as a close).
fn raw_get(addr: SocketAddr) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /x.php HTTP/1.1\r\nhost: example.org\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return received,
            Err(error) => panic!("reading the answer: {error} after {received:?}"),
        }
    }
}

/// A FastCGI backend that answers `head` and `body` to one request, then closes without
/// ending it.
async fn closing_backend(head: &'static str, body: &'static str) -> String {
    use support::fake_fcgi::{self, STDOUT, record};
    let (listener, address) = fake_fcgi::listen().await;
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let id = fake_fcgi::read_request(&mut stream).await;
        fake_fcgi::send(&mut stream, &record(STDOUT, id, head.as_bytes())).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        fake_fcgi::send(&mut stream, &record(STDOUT, id, body.as_bytes())).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    });
    address
}

/// Waits until the proxy's log at `path` says `what`.
fn wait_for_log(path: &std::path::Path, what: &str) -> String {
    let mut log = String::new();
    for _ in 0..100 {
        log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(what) {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the proxy did not log {what:?}: {log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_cut_short_by_the_backend_is_cut_short_for_the_client() {
    // Unknown length: chunked to the client, which must not get the last chunk.
    let backend = closing_backend("Content-Type: text/plain\r\n\r\n", "partial body").await;
    let (_running, addr, log) = proxy_logging(&backend);
    let received = tokio::task::spawn_blocking(move || raw_get(addr))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&received).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{text}"
    );
    assert!(text.contains("partial body"), "{text}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "a cut body must not look complete: {text:?}"
    );
    let logged = tokio::task::spawn_blocking({
        let log = log.clone();
        move || wait_for_log(&log, "response cut short")
    })
    .await
    .unwrap();
    assert!(
        logged.contains(&backend),
        "the error names the backend: {logged}"
    );
    let _ = std::fs::remove_file(&log);

    // A Content-Length: the connection closes before the length is reached.
    let backend = closing_backend(
        "Content-Type: text/plain\r\nContent-Length: 100\r\n\r\n",
        "only twenty bytes...",
    )
    .await;
    let (_running, addr, log) = proxy_logging(&backend);
    let received = tokio::task::spawn_blocking(move || raw_get(addr))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 100"),
        "{head}"
    );
    assert_eq!(body, "only twenty bytes...", "{text}");
    tokio::task::spawn_blocking({
        let log = log.clone();
        move || wait_for_log(&log, "response cut short")
    })
    .await
    .unwrap();
    let _ = std::fs::remove_file(&log);
}
