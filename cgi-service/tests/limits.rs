//! Budgets and limits under load: bounded loops, no timing claims beyond "it ended".

mod support;

use std::time::Duration;

use bytes::Bytes;
use cgi_service::{Listener, ServeConfig, Server};
use support::{FcgiGateway, environ, hello, pattern};
use tokio::io::AsyncReadExt;
use tower::service_fn;

#[tokio::test]
async fn buffered_bytes_stay_under_the_process_budget() {
    const BUDGET: usize = 2 << 20;
    let server = Server::fastcgi().with_config(ServeConfig::default().with_process_buffer(BUDGET));
    // Services that never read their bodies: everything read ahead stays buffered.
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let service = {
        let release = release.clone();
        service_fn(move |_request: http::Request<cgi_service::Body>| {
            let release = release.clone();
            async move {
                release.notified().await;
                Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
            }
        })
    };
    let mut gateways = Vec::new();
    for _ in 0..100 {
        let (near, far) = tokio::io::duplex(64 << 10);
        let (server, service) = (server.clone(), service.clone());
        tokio::spawn(async move { server.serve_connection(far, None, service).await });
        let mut gateway = FcgiGateway::new(near);
        let id = gateway.begin(&environ("POST", "/upload", Some(1 << 20)), true);
        gateway.body(id, &pattern(200_000), false);
        gateways.push(gateway);
    }
    // Every gateway pushes its 200 KB at once: 20 MB offered against a 2 MiB budget.
    let pushes = gateways.into_iter().map(|mut gateway| {
        tokio::spawn(async move {
            gateway.flush().await;
            gateway
        })
    });
    let pushes: Vec<_> = pushes.collect();
    let mut most = 0;
    for _ in 0..200 {
        most = most.max(server.buffered_bytes());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(most <= BUDGET, "{most} bytes buffered, budget {BUDGET}");
    assert!(
        most > BUDGET / 2,
        "the test did not fill the budget ({most} bytes)"
    );
    release.notify_waiters();
    for push in pushes {
        push.abort();
    }
}

#[tokio::test]
async fn connections_past_the_limit_wait_and_idle_ones_are_closed() {
    let config = ServeConfig::default()
        .with_max_connections(4)
        .with_idle_timeout(Duration::from_millis(300));
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        Server::fastcgi()
            .with_config(config)
            .serve(listener, service_fn(hello))
            .await;
    });
    let mut idle = Vec::new();
    for _ in 0..6 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // Every idle connection is closed by the server, the two past the limit once they
    // were accepted in their turn.
    for (i, stream) in idle.iter_mut().enumerate() {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .unwrap_or_else(|_| panic!("connection {i} still open"));
        assert_eq!(read.unwrap(), 0, "connection {i}");
    }
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let answer = FcgiGateway::new(stream)
        .request(
            &environ("GET", "/after", None),
            Bytes::new(),
            false,
            support::BodyMode::Concurrent,
        )
        .await;
    assert_eq!(answer.head_and_body().1, b"hello /after");
}

#[tokio::test]
async fn a_response_frame_larger_than_the_budgets_still_goes_out() {
    // One 5 MB frame against 1 MiB budgets, while another connection holds part of the
    // process budget: the frame goes out in pieces as room is made.
    let config = ServeConfig::default()
        .with_process_buffer(1 << 20)
        .with_connection_buffer(1 << 20);
    let server = Server::fastcgi().with_config(config);
    let big = pattern(5 << 20);
    let service = service_fn(move |request: http::Request<cgi_service::Body>| {
        let big = big.clone();
        async move {
            let body = if request.uri().path() == "/big" {
                big
            } else {
                // Holds its request body unread: budget held elsewhere.
                std::future::pending::<()>().await;
                Bytes::new()
            };
            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(body)))
        }
    });
    let (near, far) = tokio::io::duplex(64 << 10);
    tokio::spawn({
        let (server, service) = (server.clone(), service.clone());
        async move { server.serve_connection(far, None, service).await }
    });
    let mut holder = FcgiGateway::new(near);
    let id = holder.begin(&environ("POST", "/hold", Some(1 << 20)), true);
    holder.body(id, &pattern(300_000), false);
    holder.flush().await;
    let (near, far) = tokio::io::duplex(64 << 10);
    tokio::spawn(async move { server.serve_connection(far, None, service).await });
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        FcgiGateway::new(near).request(
            &environ("GET", "/big", None),
            Bytes::new(),
            false,
            support::BodyMode::Concurrent,
        ),
    )
    .await
    .expect("the large frame went out");
    assert!(answer.head_and_body().1 == pattern(5 << 20)[..]);
}
