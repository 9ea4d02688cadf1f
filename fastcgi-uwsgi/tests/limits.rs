//! Budgets and limits under load: bounded loops, no timing claims beyond "it ended".

mod support;

use std::time::Duration;

use bytes::Bytes;
use fastcgi_uwsgi::{Listener, ServeConfig, Server};
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
        service_fn(move |_request: http::Request<fastcgi_uwsgi::Body>| {
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
    let service = service_fn(move |request: http::Request<fastcgi_uwsgi::Body>| {
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

/// Waits (on paused time) until `measure` has not changed for a while: the server has
/// taken in all it will. Fails the test if it never settles.
async fn settled(mut measure: impl FnMut() -> usize) -> usize {
    let (mut last, mut still) = (usize::MAX, 0);
    for _ in 0..100_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = measure();
        still = if now == last { still + 1 } else { 0 };
        last = now;
        if still == 50 {
            return now;
        }
    }
    panic!("never settled");
}

/// Connections whose services hold their request bodies unread, each pushing `body`.
fn holders(
    server: &Server,
    count: usize,
    body: &Bytes,
) -> Vec<tokio::task::JoinHandle<FcgiGateway<tokio::io::DuplexStream>>> {
    let service = service_fn(|request: http::Request<fastcgi_uwsgi::Body>| async move {
        std::future::pending::<()>().await;
        drop(request);
        Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    });
    (0..count)
        .map(|_| {
            let (near, far) = tokio::io::duplex(64 << 10);
            let server = server.clone();
            tokio::spawn(async move { server.serve_connection(far, None, service).await });
            let mut gateway = FcgiGateway::new(near);
            let id = gateway.begin(&environ("POST", "/hold", Some(body.len())), true);
            gateway.body(id, body, false);
            tokio::spawn(async move {
                gateway.flush().await;
                gateway
            })
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_new_request_is_read_and_answered_while_bodies_hold_the_process_budget() {
    const BUDGET: usize = 8 << 20;
    // Bodies that stall for an hour are not timed out before the hang guard below.
    let config = ServeConfig::default()
        .with_process_buffer(BUDGET)
        .with_connection_buffer(1 << 20)
        .with_body_timeout(Duration::from_secs(3600));
    let server = Server::fastcgi().with_config(config);
    // Twelve connections want 1 MiB each read ahead of services that never read; then
    // sixteen more with the first bytes of a body each, so that what is left of the
    // budget is less than any new connection's first read would take from it.
    let mut pushes = holders(&server, 12, &pattern(2 << 20));
    settled(|| server.buffered_bytes()).await;
    pushes.extend(holders(&server, 16, &pattern(200_000)));
    let held = settled(|| server.buffered_bytes()).await;
    assert!(
        held > BUDGET * 3 / 4,
        "the bodies did not fill the budget ({held})"
    );
    // A new connection's request is read, its service called, and its answer written.
    let (near, far) = tokio::io::duplex(64 << 10);
    tokio::spawn({
        let server = server.clone();
        async move { server.serve_connection(far, None, service_fn(hello)).await }
    });
    let answer = tokio::time::timeout(
        Duration::from_secs(60),
        FcgiGateway::new(near).request(
            &environ("GET", "/new", None),
            Bytes::new(),
            false,
            support::BodyMode::Concurrent,
        ),
    )
    .await
    .expect("the new request was served while bodies held the budget");
    assert_eq!(answer.head_and_body().1, b"hello /new");
    for push in pushes {
        push.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn params_a_connection_holds_count_and_stop_its_reading() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncWriteExt;
    const CONNECTION: usize = 256 << 10;
    let config = ServeConfig::default().with_connection_buffer(CONNECTION);
    let server = Server::fastcgi().with_config(config);
    let (mut near, far) = tokio::io::duplex(16 << 10);
    tokio::spawn({
        let server = server.clone();
        async move { server.serve_connection(far, None, service_fn(hello)).await }
    });
    // Sixty requests multiplexed on one connection, each with 250 000 bytes of params that
    // never end (one pair split across records, as a peer may send it): 15 MB offered.
    let mut wire = Vec::new();
    let record = |wire: &mut Vec<u8>, kind: u8, id: u16, content: &[u8]| {
        let [id_hi, id_lo] = id.to_be_bytes();
        let [len_hi, len_lo] = u16::try_from(content.len()).unwrap().to_be_bytes();
        wire.extend_from_slice(&[1, kind, id_hi, id_lo, len_hi, len_lo, 0, 0]);
        wire.extend_from_slice(content);
    };
    for id in 1..=60u16 {
        record(&mut wire, 1, id, &[0, 1, 1, 0, 0, 0, 0, 0]);
    }
    let value = vec![b'v'; 62_500];
    for piece in 0..4 {
        for id in 1..=60u16 {
            let mut content = Vec::new();
            if piece == 0 {
                // The pair's head: a 1-byte name, a value one byte longer than sent.
                content.extend_from_slice(&[1, 0x80, 0x03, 0xd0, 0x8b, b'X']);
            }
            content.extend_from_slice(&value[..62_500 - content.len()]);
            record(&mut wire, 4, id, &content);
        }
    }
    let written = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn({
        let written = written.clone();
        async move {
            for piece in wire.chunks(4096) {
                if near.write_all(piece).await.is_err() {
                    break;
                }
                written.fetch_add(piece.len(), Ordering::Relaxed);
            }
            near
        }
    });
    let taken = settled(|| written.load(Ordering::Relaxed)).await;
    let counted = server.buffered_bytes();
    // What the server took in (less what waits in the pipe) is counted, and it stopped
    // reading near its budget instead of taking all 15 MB.
    assert!(
        taken <= (16 << 10) + counted + (64 << 10),
        "took {taken} bytes in, counted {counted}"
    );
    assert!(counted <= 2 * CONNECTION, "counted {counted}");
    writer.abort();
}
