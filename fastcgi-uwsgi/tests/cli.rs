//! The command-line clients (`examples/fcgi_client.rs`, `examples/uwsgi_client.rs`) run as
//! an operator runs them, against our own servers on loopback: what they print, and their
//! exit codes.

mod support;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::process::{Output, Stdio};
use std::time::Duration;

use bytes::Bytes;
use fastcgi_uwsgi::{Body, CgiFacts, Listener, Server};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use support::example::example;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// The size of `/big`'s body: far more than a pipe holds.
const BIG: usize = 8 << 20;

/// What the test application answers: `/ping` answers pong when SCRIPT_NAME and
/// SCRIPT_FILENAME are both `/ping` (as php-fpm wants), `/status` a line, `/big` [`BIG`]
/// bytes, `/slow` after 10 s, `/env/...` what it was sent; anything else 404.
async fn app(request: Request<Body>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let facts = parts
        .extensions
        .get::<CgiFacts>()
        .expect("set by the server");
    let var = |name: &str| facts.environ.get_str(name).unwrap_or("-").to_owned();
    let answer = |status: u16, body: Bytes| {
        Ok(Response::builder()
            .status(status)
            .header("x-app", "cli-test")
            .body(Full::new(body))
            .unwrap())
    };
    let path = parts.uri.path();
    match path {
        "/ping" if var("SCRIPT_NAME") == "/ping" && var("SCRIPT_FILENAME") == "/ping" => {
            answer(200, Bytes::from_static(b"pong"))
        }
        "/status" => answer(200, Bytes::from_static(b"pool: cli\n")),
        "/big" => answer(200, Bytes::from(vec![b'x'; BIG])),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            answer(200, Bytes::new())
        }
        _ if path.starts_with("/env") => {
            let mut text = format!("{} body={}", parts.method, String::from_utf8_lossy(&body));
            for name in [
                "SCRIPT_NAME",
                "SCRIPT_FILENAME",
                "PATH_INFO",
                "QUERY_STRING",
                "DOCUMENT_ROOT",
                "CONTENT_TYPE",
                "HTTP_X_TEST",
                "EXTRA",
            ] {
                let _ = write!(text, "\n{name}={}", var(name));
            }
            answer(201, Bytes::from(text))
        }
        _ => answer(404, Bytes::from_static(b"not found\n")),
    }
}

/// Serves [`app`] with `server` on a loopback port; returns the address.
async fn start(server: Server) -> String {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let Listener::Tcp(tcp) = &listener else {
        unreachable!()
    };
    let address = tcp.local_addr().unwrap().to_string();
    tokio::spawn(async move { server.serve(listener, tower::service_fn(app)).await });
    address
}

/// Runs `name` with `args` (and `stdin`), for at most 15 s.
async fn run(name: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(example(name))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{name} {args:?} did not end"))
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts the exit code and returns stdout and stderr.
#[track_caller]
fn expect(output: &Output, code: i32) -> (String, String) {
    let (out, err) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {out}\nstderr: {err}"
    );
    (out, err)
}

#[tokio::test]
async fn a_get_prints_the_body_and_include_the_head() {
    let address = start(Server::fastcgi()).await;
    let args = [
        &address,
        "/env/x?a=1",
        "--document-root",
        "/srv/www/",
        "-H",
        "X-Test: t1",
    ];
    let (out, err) = expect(&run("fcgi_client", &args, b"").await, 0);
    assert!(out.starts_with("GET body=\n"), "{out}");
    assert!(out.contains("\nSCRIPT_NAME=/env/x\n"), "{out}");
    assert!(out.contains("\nSCRIPT_FILENAME=/srv/www/env/x\n"), "{out}");
    assert!(out.contains("\nQUERY_STRING=a=1\n"), "{out}");
    assert!(out.contains("\nDOCUMENT_ROOT=/srv/www\n"), "{out}");
    assert!(out.contains("\nHTTP_X_TEST=t1\n"), "{out}");
    assert!(err.is_empty(), "{err}");

    let output = run("fcgi_client", &["-i", &address, "/nothing"], b"").await;
    let (out, _) = expect(&output, 0);
    assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"), "{out}");
    assert!(out.contains("\r\nx-app: cli-test\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nnot found\n"), "{out}");

    let output = run("fcgi_client", &["--fail", &address, "/nothing"], b"").await;
    let (out, err) = expect(&output, 22);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("404"), "{err}");
}

#[tokio::test]
async fn a_post_with_params_split_and_a_body_from_stdin() {
    let address = start(Server::fastcgi()).await;
    let args = [
        "-XPUT",
        "--split",
        ".php",
        "--param",
        "SCRIPT_FILENAME=/elsewhere.php",
        "--param=EXTRA=yes",
        "-d",
        "@-",
        "-H",
        "content-type: text/plain",
        &address,
        "/env/a.php/b/c",
    ];
    let (out, _) = expect(&run("fcgi_client", &args, b"from stdin").await, 0);
    assert!(out.starts_with("PUT body=from stdin\n"), "{out}");
    assert!(out.contains("\nSCRIPT_NAME=/env/a.php\n"), "{out}");
    assert!(out.contains("\nPATH_INFO=/b/c\n"), "{out}");
    assert!(out.contains("\nSCRIPT_FILENAME=/elsewhere.php\n"), "{out}");
    assert!(out.contains("\nCONTENT_TYPE=text/plain\n"), "{out}");
    assert!(out.ends_with("\nEXTRA=yes"), "{out}");

    // -d alone: POST, form-encoded as curl does.
    let (out, _) = expect(
        &run("fcgi_client", &[&address, "/env", "-d", "a=b"], b"").await,
        0,
    );
    assert!(out.starts_with("POST body=a=b\n"), "{out}");
    assert!(
        out.contains("\nCONTENT_TYPE=application/x-www-form-urlencoded\n"),
        "{out}"
    );
}

#[tokio::test]
async fn help_and_usage_errors() {
    for name in ["fcgi_client", "uwsgi_client"] {
        let (out, _) = expect(&run(name, &["--help"], b"").await, 0);
        assert!(out.starts_with(&format!("usage: {name} ")), "{out}");
        assert!(out.contains("Exit status:"), "{out}");
        let (out, err) = expect(&run(name, &["-h"], b"").await, 0);
        assert!(out.contains("usage:") && err.is_empty());

        let (out, err) = expect(&run(name, &["--bogus", "127.0.0.1:9"], b"").await, 2);
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--bogus"), "{err}");
        let (_, err) = expect(&run(name, &[], b"").await, 2);
        assert!(err.contains("ADDRESS"), "{err}");
        let (_, err) = expect(&run(name, &["127.0.0.1:9", "/a", "/b"], b"").await, 2);
        assert!(err.contains("/b"), "{err}");
        let (_, err) = expect(
            &run(name, &["--timeout", "soon", "127.0.0.1:9"], b"").await,
            2,
        );
        assert!(err.contains("soon"), "{err}");
    }
    let (_, err) = expect(
        &run("uwsgi_client", &["--split", ".php", "x:1"], b"").await,
        2,
    );
    assert!(err.contains("--split"), "{err}");
}

#[tokio::test]
async fn failures_name_what_failed_and_have_their_exit_codes() {
    // Bound and never listening: refused for the whole test, and no other test's server
    // can take the port meanwhile.
    let refusing = tokio::net::TcpSocket::new_v4().unwrap();
    refusing.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let refused = refusing.local_addr().unwrap().to_string();
    for name in ["fcgi_client", "uwsgi_client"] {
        let (out, err) = expect(&run(name, &[&refused], b"").await, 3);
        assert!(out.is_empty(), "{out}");
        assert!(
            err.contains(&format!("cannot connect to {refused}")),
            "{err}"
        );
        let output = run(name, &[&refused, "-d", "@/nonexistent/body"], b"").await;
        let (_, err) = expect(&output, 2);
        assert!(
            err.contains("cannot read body file /nonexistent/body"),
            "{err}"
        );
    }
    let missing_socket = "unix:/nonexistent-dir/php.sock";
    let (_, err) = expect(&run("fcgi_client", &[missing_socket], b"").await, 3);
    assert!(err.contains("/nonexistent-dir/php.sock"), "{err}");

    let address = start(Server::fastcgi()).await;
    let output = run("fcgi_client", &["--timeout", "0.3", &address, "/slow"], b"").await;
    let (_, err) = expect(&output, 4);
    assert!(err.contains(&address), "{err}");
}

#[tokio::test]
async fn ping_and_status() {
    let address = start(Server::fastcgi()).await;
    let (out, _) = expect(&run("fcgi_client", &["ping", &address], b"").await, 0);
    assert_eq!(out, "pong\n");
    let output = run(
        "fcgi_client",
        &["ping", &address, "--path", "/nothing"],
        b"",
    )
    .await;
    let (out, err) = expect(&output, 1);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("404"), "{err}");
    // A document root makes SCRIPT_FILENAME another path: not php-fpm's ping.
    let output = run(
        "fcgi_client",
        &["ping", "--document-root", "/srv", &address],
        b"",
    )
    .await;
    expect(&output, 1);

    let (out, _) = expect(&run("fcgi_client", &["status", &address], b"").await, 0);
    assert_eq!(out, "pool: cli\n");
    let output = run(
        "fcgi_client",
        &["status", &address, "--path", "/nothing"],
        b"",
    )
    .await;
    let (out, err) = expect(&output, 1);
    assert_eq!(out, "not found\n");
    assert!(err.contains("404"), "{err}");

    // Bound and never listening: refused for the whole test, and no other test's server
    // can take the port meanwhile.
    let refusing = tokio::net::TcpSocket::new_v4().unwrap();
    refusing.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let refused = refusing.local_addr().unwrap().to_string();
    expect(&run("fcgi_client", &["ping", &refused], b"").await, 3);
}

#[tokio::test]
async fn a_closed_stdout_ends_quietly_with_zero() {
    let fastcgi = start(Server::fastcgi()).await;
    let uwsgi = start(Server::uwsgi()).await;
    for (name, address) in [("fcgi_client", &fastcgi), ("uwsgi_client", &uwsgi)] {
        let mut child = Command::new(example(name))
            .args([address.as_str(), "/big"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0; 10];
        stdout.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"xxxxxxxxxx");
        drop(stdout);
        let output = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
            .await
            .expect("the client ends")
            .unwrap();
        let (_, err) = expect(&output, 0);
        assert!(err.is_empty(), "{name}: {err}");
    }
}

#[tokio::test]
async fn uwsgi_client_gets_and_posts() {
    let address = start(Server::uwsgi()).await;
    let (out, _) = expect(
        &run("uwsgi_client", &[&address, "/env/u?q=2"], b"").await,
        0,
    );
    assert!(out.starts_with("GET body=\n"), "{out}");
    assert!(out.contains("\nPATH_INFO=/env/u\n"), "{out}");
    assert!(out.contains("\nQUERY_STRING=q=2\n"), "{out}");

    let dir = std::env::temp_dir().join(format!("fastcgi-uwsgi-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("body.txt");
    std::fs::write(&file, "from a file").unwrap();
    let data = format!("@{}", file.display());
    let output = run("uwsgi_client", &["-i", &address, "/env", "-d", &data], b"").await;
    let _ = std::fs::remove_dir_all(&dir);
    let (out, _) = expect(&output, 0);
    assert!(out.starts_with("HTTP/1.1 201 Created\r\n"), "{out}");
    assert!(out.contains("\r\n\r\nPOST body=from a file\n"), "{out}");
}

/// Reads `stdout` until it has given `expected` (at most 5 s); what it gave.
async fn read_until(stdout: &mut tokio::process::ChildStdout, expected: &[u8]) -> Vec<u8> {
    let mut seen = Vec::new();
    let reading = async {
        let mut buf = [0; 256];
        while !seen.ends_with(expected) {
            let n = stdout.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), reading).await;
    seen
}

/// A uwsgi backend that answers one request with `first`, waits for `go`, then sends
/// `second` and closes.
async fn streaming_uwsgi(
    listener: tokio::net::TcpListener,
    go: tokio::sync::oneshot::Receiver<()>,
) {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut header = [0; 4];
    stream.read_exact(&mut header).await.unwrap();
    let mut vars = vec![0; usize::from(u16::from_le_bytes([header[1], header[2]]))];
    stream.read_exact(&mut vars).await.unwrap();
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst chunk")
        .await
        .unwrap();
    let _ = go.await;
    stream.write_all(b", second chunk").await.unwrap();
}

/// A FastCGI backend that answers one request with `first`, waits for `go`, then sends
/// `second`, a STDERR line without its newline, and ends the request.
async fn streaming_fastcgi(
    listener: tokio::net::TcpListener,
    go: tokio::sync::oneshot::Receiver<()>,
) {
    use support::fake_fcgi::{self, STDERR, STDOUT, record};
    let (mut stream, _) = listener.accept().await.unwrap();
    let id = fake_fcgi::read_request(&mut stream).await;
    let head = b"Content-Type: text/plain\r\n\r\nfirst chunk";
    fake_fcgi::send(&mut stream, &record(STDOUT, id, head)).await;
    let _ = go.await;
    let mut rest = record(STDOUT, id, b", second chunk");
    rest.extend_from_slice(&record(STDERR, id, b"PHP Warning: no newline"));
    rest.extend_from_slice(&record(STDOUT, id, b""));
    rest.extend_from_slice(&fake_fcgi::end_request(id));
    fake_fcgi::send(&mut stream, &rest).await;
    let _ = stream.read(&mut [0; 64]).await;
}

#[tokio::test]
async fn a_streamed_body_is_printed_as_it_arrives() {
    for name in ["fcgi_client", "uwsgi_client"] {
        let (listener, address) = support::fake_fcgi::listen().await;
        let (go, wait) = tokio::sync::oneshot::channel();
        let backend = if name == "fcgi_client" {
            tokio::spawn(streaming_fastcgi(listener, wait))
        } else {
            tokio::spawn(streaming_uwsgi(listener, wait))
        };
        let mut child = Command::new(example(name))
            .args([address.as_str(), "/stream"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let mut stdout = child.stdout.take().unwrap();
        // The backend sends the rest only once the first chunk was seen.
        let first = read_until(&mut stdout, b"first chunk").await;
        assert_eq!(
            text(&first),
            "first chunk",
            "{name}: the first chunk is on stdout before the second is sent"
        );
        go.send(()).unwrap();
        let rest = read_until(&mut stdout, b", second chunk").await;
        assert_eq!(text(&rest), ", second chunk", "{name}");
        let output = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
            .await
            .expect("the client ends")
            .unwrap();
        let (_, err) = expect(&output, 0);
        if name == "fcgi_client" {
            assert_eq!(
                err, "PHP Warning: no newline\n",
                "the backend's STDERR ends with a newline"
            );
        } else {
            assert!(err.is_empty(), "{err}");
        }
        backend.abort();
    }
}
