//! Graceful shutdown: stop accepting, finish what is in flight, close idle connections.

mod support;

use std::time::Duration;

use bytes::Bytes;
use fastcgi_uwsgi::{Listener, Server};
use support::{BodyMode, FcgiGateway, environ};
use tower::service_fn;

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_then_stops_accepting() {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel::<()>();
    let service = service_fn(move |request: http::Request<fastcgi_uwsgi::Body>| {
        let started = started_tx.clone();
        async move {
            let _ = started.send(());
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok::<_, std::convert::Infallible>(http::Response::new(format!(
                "done {}",
                request.uri().path()
            )))
        }
    });
    let server = tokio::spawn(async move {
        Server::fastcgi()
            .serve_with_shutdown(listener, service, async {
                let _ = stopped.await;
            })
            .await;
    });
    // One request in flight, one connection idle between keep-conn requests.
    let slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    let idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut idle = FcgiGateway::new(idle);
    let in_flight = tokio::spawn(async move {
        FcgiGateway::new(slow)
            .request(
                &environ("GET", "/slow", None),
                Bytes::new(),
                false,
                BodyMode::Concurrent,
            )
            .await
    });
    let mut started = started;
    started.recv().await.unwrap();
    stop.send(()).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("the request in flight finished")
        .unwrap();
    assert_eq!(answer.head_and_body().1, b"done /slow");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returned")
        .unwrap();
    assert!(!idle.read_once().await, "the idle connection was closed");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}
