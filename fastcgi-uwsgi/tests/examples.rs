//! The example servers run as a user runs them: from an inherited listening socket, and
//! under a file-descriptor limit lower than the connections offered.

mod support;

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use support::example::{Running, example};
use support::{BodyMode, FcgiGateway, environ};

/// A GET through our gateway side, retried while the server is not answering yet.
async fn get(addr: std::net::SocketAddr, uri: &str) -> Vec<u8> {
    for _ in 0..100 {
        if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            let answer = tokio::time::timeout(
                Duration::from_secs(5),
                FcgiGateway::new(stream).request(
                    &environ("GET", uri, None),
                    Bytes::new(),
                    false,
                    BodyMode::Concurrent,
                ),
            )
            .await;
            if let Ok(answer) = answer {
                return answer.head_and_body().1;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no answer from {addr}");
}

#[tokio::test]
async fn fcgi_server_serves_the_listener_inherited_as_fd_0() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let child = Command::new(example("fcgi_server"))
        .arg("--fd0")
        .stdin(Stdio::from(OwnedFd::from(listener)))
        .stdout(Stdio::null())
        .spawn()
        .expect("start fcgi_server");
    let _running = Running(child);
    let body = get(addr, "/inherited").await;
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("\"REQUEST_URI\": \"/inherited\""), "{text}");
}

/// A uwsgi GET, retried while the server is not answering yet.
async fn uwsgi_get(addr: std::net::SocketAddr, uri: &str) -> Vec<u8> {
    for _ in 0..100 {
        if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            let answer = tokio::time::timeout(
                Duration::from_secs(5),
                support::uwsgi_request(stream, &environ("GET", uri, None), Bytes::new(), false),
            )
            .await;
            if let Ok(Ok(answer)) = answer {
                return answer.body;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no answer from {addr}");
}

#[tokio::test]
async fn with_no_argument_the_servers_serve_a_listening_stdin() {
    for name in ["fcgi_server", "uwsgi_server"] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let child = Command::new(example(name))
            .stdin(Stdio::from(OwnedFd::from(listener)))
            .stdout(Stdio::null())
            .spawn()
            .expect("start the server");
        let _running = Running(child);
        let body = if name == "fcgi_server" {
            get(addr, "/from-stdin").await
        } else {
            uwsgi_get(addr, "/from-stdin").await
        };
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains("\"REQUEST_URI\": \"/from-stdin\""),
            "{name}: {text}"
        );
    }
}

#[tokio::test]
async fn with_no_argument_and_no_listening_stdin_the_servers_print_usage() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    for name in ["fcgi_server", "uwsgi_server"] {
        // A connected socket as standard input (the other end accepted), then /dev/null.
        let connected = std::net::TcpStream::connect(addr).unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        for (what, stdin) in [
            ("a connected socket", Stdio::from(OwnedFd::from(connected))),
            ("/dev/null", Stdio::null()),
        ] {
            let mut child = Command::new(example(name))
                .stdin(stdin)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start the server");
            let mut status = None;
            for _ in 0..300 {
                status = child.try_wait().expect("wait");
                if status.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let Some(status) = status else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} with {what} as stdin kept running");
            };
            let output = child.wait_with_output().expect("stderr");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(status.code(), Some(2), "{name} with {what}: {stderr}");
            assert!(stderr.contains("usage:"), "{name} with {what}: {stderr}");
        }
    }
}

#[tokio::test]
async fn three_hundred_connections_under_ulimit_256_do_not_stop_the_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let script = format!(
        "ulimit -n 256 && exec '{}' 127.0.0.1:{port}",
        example("fcgi_server").display()
    );
    let child = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .expect("start fcgi_server");
    let mut running = Running(child);
    assert!(!get(addr, "/before").await.is_empty());
    // More connections than the server has descriptors: it runs out while accepting.
    let mut held = Vec::new();
    for _ in 0..300 {
        held.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        running.0.try_wait().expect("wait").is_none(),
        "the server exited while out of descriptors"
    );
    drop(held);
    // Once they close, it serves again.
    let body = get(addr, "/after").await;
    assert!(String::from_utf8_lossy(&body).contains("/after"));
    assert!(running.0.try_wait().expect("wait").is_none());
}
