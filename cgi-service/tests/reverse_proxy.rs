//! The `reverse_proxy` example run as a user runs it, in front of our own FastCGI and uwsgi
//! servers: a GET and a POST with a body go through, with the connection's facts in the
//! environ, and a dead backend is answered 502.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use cgi_service::{Body, CgiFacts, Listener};
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
        tokio::spawn(cgi_service::serve_fastcgi(listener, service));
    } else {
        tokio::spawn(cgi_service::serve_uwsgi(listener, service));
    }
    address
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the proxy with `args` on a free port and waits until it accepts.
fn proxy(args: &[&str]) -> (Running, SocketAddr) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let child = Command::new(example("reverse_proxy"))
        .arg("--listen")
        .arg(addr.to_string())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start reverse_proxy");
    let running = Running(child);
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
    let dead = format!("127.0.0.1:{}", free_port());
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
