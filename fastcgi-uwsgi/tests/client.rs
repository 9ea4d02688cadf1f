//! The clients against our own `serve`, over real loopback sockets: both protocols,
//! multiplexing, large bodies both ways, timeouts, balancing over a dead backend.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fastcgi_uwsgi::client::{ClientConfig, ClientError, FastCgiClient, TimeoutKind, UwsgiClient};
use fastcgi_uwsgi::{Body, Listener, Server};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use support::{echo, pattern};
use tower::service_fn;

async fn start<S, B>(server: Server, service: S) -> String
where
    S: fastcgi_uwsgi::CgiService<B>,
    B: fastcgi_uwsgi::ResponseBody,
{
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let Listener::Tcp(tcp) = &listener else {
        unreachable!()
    };
    let address = tcp.local_addr().unwrap().to_string();
    tokio::spawn(async move { server.serve(listener, service).await });
    address
}

async fn describe(request: Request<Body>) -> Result<Response<String>, std::convert::Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let text = format!(
        "{} {} {} ct={:?} len={}",
        parts.method,
        parts.uri.path_and_query().map_or("", |p| p.as_str()),
        parts
            .headers
            .get("x-test")
            .map_or("-", |v| v.to_str().unwrap_or("?")),
        parts.headers.get("content-type"),
        body.len()
    );
    Ok(Response::builder()
        .status(201)
        .header("x-answer", "yes")
        .body(text)
        .unwrap())
}

fn get(uri: &str) -> Request<Empty<Bytes>> {
    Request::get(uri)
        .header("host", "example.org")
        .header("x-test", "t1")
        .body(Empty::new())
        .unwrap()
}

async fn text(response: Response<fastcgi_uwsgi::client::BackendBody>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn the_same_answer_through_both_clients() {
    let fcgi = start(Server::fastcgi(), service_fn(describe)).await;
    let uwsgi = start(Server::uwsgi(), service_fn(describe)).await;
    let fcgi = FastCgiClient::new(fcgi.as_str(), ClientConfig::fastcgi());
    let uwsgi = UwsgiClient::new(uwsgi.as_str(), ClientConfig::uwsgi());
    for _ in 0..3 {
        let a = fcgi.send(get("/some/path?q=1")).await.unwrap();
        let b = uwsgi.send(get("/some/path?q=1")).await.unwrap();
        assert_eq!(a.status(), 201);
        assert_eq!(b.status(), 201);
        assert_eq!(a.headers()["x-answer"], "yes");
        assert_eq!(b.headers()["x-answer"], "yes");
        let (a, b) = (text(a).await, text(b).await);
        assert_eq!(a, "GET /some/path?q=1 t1 ct=None len=0");
        assert_eq!(a, b);
    }
    let stats = fcgi.stats();
    assert_eq!(
        stats[0].1.opened, 1,
        "keep-conn reuses one connection: {stats:?}"
    );
}

#[tokio::test]
async fn sixty_four_requests_in_flight_on_one_connection() {
    let inside = Arc::new(AtomicUsize::new(0));
    let seen = inside.clone();
    let gate = Arc::new(tokio::sync::Barrier::new(64));
    let service = service_fn(move |_: Request<Body>| {
        let (seen, gate) = (seen.clone(), gate.clone());
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            // Nobody answers until all 64 are inside the service at once.
            gate.wait().await;
            Ok::<_, std::convert::Infallible>(Response::new(String::from("together")))
        }
    });
    let address = start(Server::fastcgi(), service).await;
    let client = FastCgiClient::new(address.as_str(), ClientConfig::fastcgi());
    let calls: Vec<_> = (0..64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.send(get(&format!("/r{i}"))).await })
        })
        .collect();
    for call in calls {
        let response = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("all 64 were in flight together")
            .unwrap()
            .unwrap();
        assert_eq!(text(response).await, "together");
    }
    let stats = client.stats()[0].1;
    assert_eq!(inside.load(Ordering::SeqCst), 64);
    assert!(stats.multiplexed >= 1, "{stats:?}");
    assert_eq!(stats.opened, 1, "all 64 on one connection: {stats:?}");
}

#[tokio::test]
async fn ten_megabyte_echo_through_both_clients() {
    let body = pattern(10 << 20);
    for fastcgi in [true, false] {
        let server = if fastcgi {
            Server::fastcgi()
        } else {
            Server::uwsgi()
        };
        let address = start(server, service_fn(echo)).await;
        let request = Request::post("/echo")
            .body(Full::new(body.clone()))
            .unwrap();
        let response = if fastcgi {
            FastCgiClient::new(address.as_str(), ClientConfig::fastcgi())
                .send(request)
                .await
        } else {
            UwsgiClient::new(address.as_str(), ClientConfig::uwsgi())
                .send(request)
                .await
        }
        .unwrap();
        assert_eq!(response.status(), 200);
        let echoed = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(echoed.len(), body.len());
        assert!(echoed == body, "echo differs (fastcgi: {fastcgi})");
    }
}

#[tokio::test]
async fn a_chunked_upload_is_measured_before_it_is_sent() {
    let address = start(Server::fastcgi(), service_fn(describe)).await;
    let client = FastCgiClient::new(address.as_str(), ClientConfig::fastcgi());
    let frames: Vec<Result<_, std::convert::Infallible>> = ["ab", "cde", "f"]
        .into_iter()
        .map(|s| Ok(http_body::Frame::data(Bytes::from(s))))
        .collect();
    let request = Request::post("/up")
        .header("content-type", "text/plain")
        .body(StreamBody::new(futures_util::stream::iter(frames)))
        .unwrap();
    let response = client.send(request).await.unwrap();
    assert_eq!(
        text(response).await,
        "POST /up - ct=Some(\"text/plain\") len=6"
    );
}

/// Answers "done", after 3 s on /slow.
async fn slow_on_slow(
    request: Request<Body>,
) -> Result<Response<String>, std::convert::Infallible> {
    if request.uri().path() == "/slow" {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    Ok(Response::new(String::from("done")))
}

/// `error` is a first-byte timeout, answered 504.
fn assert_first_byte_timeout(error: &ClientError) {
    assert!(
        matches!(
            error,
            ClientError::Timeout {
                kind: TimeoutKind::FirstByte,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.status_code(), 504);
}

#[tokio::test]
async fn a_slow_answer_times_out_and_its_connection_is_not_reused() {
    let address = start(Server::fastcgi(), service_fn(slow_on_slow)).await;
    let config = ClientConfig::fastcgi()
        .with_first_byte_timeout(Duration::from_millis(300))
        .with_multiplexing(false);
    let client = FastCgiClient::new(address.as_str(), config);
    assert_eq!(text(client.send(get("/fast")).await.unwrap()).await, "done");
    let error = client.send(get("/slow")).await.unwrap_err();
    assert_first_byte_timeout(&error);
    assert_eq!(text(client.send(get("/fast")).await.unwrap()).await, "done");
    assert_eq!(
        client.stats()[0].1.opened,
        2,
        "the timed-out connection was replaced"
    );
}

#[tokio::test]
async fn a_slow_uwsgi_answer_times_out_from_its_connection_on() {
    let address = start(Server::uwsgi(), service_fn(slow_on_slow)).await;
    let config = ClientConfig::uwsgi().with_first_byte_timeout(Duration::from_millis(300));
    let client = UwsgiClient::new(address.as_str(), config);
    assert_eq!(text(client.send(get("/fast")).await.unwrap()).await, "done");
    let started = std::time::Instant::now();
    let error = client.send(get("/slow")).await.unwrap_err();
    assert_first_byte_timeout(&error);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// A dead backend is a typed connect error (502), and a client balanced over it and a
/// live one sends every request to the live one.
macro_rules! a_dead_backend_is_gone_around {
    ($name:ident, $client:ident, $config:expr, $server:expr) => {
        #[tokio::test]
        async fn $name() {
            // Bound and never listening: refused for the whole test, and no other test's
            // server can take the port meanwhile.
            let refusing = tokio::net::TcpSocket::new_v4().unwrap();
            refusing.bind(([127, 0, 0, 1], 0).into()).unwrap();
            let dead = refusing.local_addr().unwrap().to_string();
            let error = $client::new(dead.as_str(), $config)
                .send(get("/"))
                .await
                .unwrap_err();
            assert!(error.is_connect(), "{error}");
            assert!(error.to_string().contains(&dead), "{error}");
            assert_eq!(error.status_code(), 502);

            let live = start($server, service_fn(describe)).await;
            let client = $client::balanced([dead.as_str(), live.as_str()], $config);
            for _ in 0..20 {
                let response = client.send(get("/spread")).await.unwrap();
                assert_eq!(response.status(), 201);
                text(response).await;
            }
        }
    };
}

a_dead_backend_is_gone_around!(
    a_dead_backend_is_typed_and_a_balanced_client_goes_around_it,
    FastCgiClient,
    ClientConfig::fastcgi(),
    Server::fastcgi()
);
// The uwsgi client connects in the call's own task: a refused connect still goes around.
a_dead_backend_is_gone_around!(
    a_dead_uwsgi_backend_is_typed_and_a_balanced_client_goes_around_it,
    UwsgiClient,
    ClientConfig::uwsgi(),
    Server::uwsgi()
);

#[tokio::test]
async fn without_pooling_each_request_has_its_own_connection() {
    let address = start(Server::fastcgi(), service_fn(describe)).await;
    let client = FastCgiClient::new(address.as_str(), ClientConfig::fastcgi().with_max_idle(0));
    for _ in 0..3 {
        let response = client.send(get("/one")).await.unwrap();
        assert_eq!(response.status(), 201);
        text(response).await;
    }
    // The server closes each connection (no FCGI_KEEP_CONN); none is left open.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = client.stats()[0].1;
    assert_eq!((stats.opened, stats.open), (3, 0), "{stats:?}");
}

/// The error that cut a response body short (its length if it was read whole).
async fn read_error(response: Response<fastcgi_uwsgi::client::BackendBody>) -> ClientError {
    match read_all(response).await {
        Ok(bytes) => panic!("the body was read whole: {} bytes", bytes.len()),
        Err(error) => error,
    }
}

/// Bytes of a response body read to its end, or the error that ended it.
async fn read_all(
    response: Response<fastcgi_uwsgi::client::BackendBody>,
) -> Result<Bytes, ClientError> {
    response
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
}

#[tokio::test]
async fn a_caller_that_never_reads_gives_its_connection_back_after_the_delivery_timeout() {
    let address = support::scripted_fastcgi(false, 1).await;
    let config = ClientConfig::fastcgi()
        .with_max_connections(1)
        .with_delivery_timeout(Duration::from_millis(300));
    let client = FastCgiClient::new(address.as_str(), config);
    // Far more than the connection's window and the socket buffers hold.
    let held = client.send(get("/bytes/16777216")).await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(3), client.send(get("/bytes/1000")))
        .await
        .expect("the held call's connection was given back")
        .unwrap();
    assert_eq!(read_all(second).await.unwrap(), pattern(1000));
    let error = read_error(held).await;
    assert!(
        matches!(
            error,
            ClientError::Timeout {
                kind: TimeoutKind::Delivery,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.status_code(), 504);
}

#[tokio::test]
async fn a_caller_that_never_reads_holds_up_no_other_request_on_a_multiplexed_connection() {
    let address = support::scripted_fastcgi(true, 2).await;
    let client = FastCgiClient::new(address.as_str(), ClientConfig::fastcgi());
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.send(get("/bytes/16777216")).await }
    });
    // The slow request goes first: its answer comes first, ahead of the other's.
    while client.stats()[0].1.in_flight == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let other = tokio::spawn({
        let client = client.clone();
        async move { read_all(client.send(get("/bytes/300000")).await?).await }
    });
    let other = tokio::time::timeout(Duration::from_secs(5), other)
        .await
        .expect("the other request was not held up by the slow reader")
        .unwrap()
        .unwrap();
    assert_eq!(other, pattern(300_000));
    let stats = client.stats()[0].1;
    assert_eq!((stats.opened, stats.multiplexed), (1, 1), "{stats:?}");
    // The slow caller's body ends with the reason it was cut short.
    let slow = slow.await.unwrap().unwrap();
    let error = read_error(slow).await;
    assert!(
        matches!(error, ClientError::ResponseWindowFull { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_uwsgi_caller_that_never_reads_is_cut_off_after_the_delivery_timeout() {
    let service = service_fn(|_: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(Response::new("u".repeat(16 << 20)))
    });
    let address = start(Server::uwsgi(), service).await;
    let config = ClientConfig::uwsgi().with_delivery_timeout(Duration::from_millis(300));
    let client = UwsgiClient::new(address.as_str(), config);
    let held = client.send(get("/big")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let error = read_error(held).await;
    assert!(
        matches!(
            error,
            ClientError::Timeout {
                kind: TimeoutKind::Delivery,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_multiplexed_caller_that_never_reads_is_aborted_after_the_delivery_timeout() {
    let address = support::scripted_fastcgi(true, 2).await;
    let config = ClientConfig::fastcgi().with_delivery_timeout(Duration::from_millis(300));
    let client = FastCgiClient::new(address.as_str(), config);
    // Both within the window, and never ended by the backend unless aborted.
    let held = tokio::spawn({
        let client = client.clone();
        async move { client.send(get("/hold/100000")).await }
    });
    while client.stats()[0].1.in_flight == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The other caller reads all it is given, and keeps its request in flight.
    let other = client.send(get("/hold/1000")).await.unwrap();
    let mut other = other.into_body();
    let mut read = 0;
    while read < 1000 {
        let frame = other.frame().await.unwrap().unwrap();
        read += frame.into_data().unwrap().len();
    }
    let held = held.await.unwrap().unwrap();
    // The abort reached the backend, which ended the held request; the other goes on.
    tokio::time::timeout(Duration::from_secs(3), async {
        while client.stats()[0].1.in_flight > 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the held request was aborted and ended");
    let again = client.send(get("/bytes/10")).await.unwrap();
    assert_eq!(read_all(again).await.unwrap(), pattern(10));
    let stats = client.stats()[0].1;
    assert_eq!(
        (stats.opened, stats.in_flight),
        (1, 1),
        "the shared connection stayed, the other request on it: {stats:?}"
    );
    let error = read_error(held).await;
    assert!(
        matches!(
            error,
            ClientError::Timeout {
                kind: TimeoutKind::Delivery,
                ..
            }
        ),
        "{error}"
    );
    drop(other);
}

#[tokio::test]
async fn stderr_is_logged_line_by_line_escaped_and_the_hook_gets_it_raw() {
    use support::fake_fcgi::{self, STDERR, STDOUT, record};
    let capture = support::log::Capture::default();
    let _default = tracing::subscriber::set_default(capture.clone());
    let (listener, address) = fake_fcgi::listen().await;
    let sent: &[&[u8]] = &[b"a\nb\r", b"\nforged: li", b"ne\x1b[31m"];
    let backend = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let id = fake_fcgi::read_request(&mut stream).await;
        let head = b"Content-Type: text/plain\r\n\r\nok";
        fake_fcgi::send(&mut stream, &record(STDOUT, id, head)).await;
        // Each piece in a record (and a write) of its own: lines span records.
        for piece in sent {
            fake_fcgi::send(&mut stream, &record(STDERR, id, piece)).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut end = record(STDOUT, id, b"");
        end.extend_from_slice(&fake_fcgi::end_request(id));
        fake_fcgi::send(&mut stream, &end).await;
        // Held open until the client is done.
        let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut [0; 64]).await;
    });
    let raw = Arc::new(std::sync::Mutex::new(Vec::new()));
    let hooked = raw.clone();
    let config = ClientConfig::fastcgi()
        .with_multiplexing(false)
        .with_stderr_hook(move |_, bytes| hooked.lock().unwrap().extend_from_slice(bytes));
    let client = FastCgiClient::new(address.as_str(), config);
    let response = client.send(get("/script.php?x=1")).await.unwrap();
    assert_eq!(text(response).await, "ok");
    drop(client);

    assert_eq!(raw.lock().unwrap().as_slice(), sent.concat().as_slice());
    let lines: Vec<_> = capture
        .events()
        .into_iter()
        .filter(|event| event.message().starts_with("stderr: "))
        .collect();
    let messages: Vec<_> = lines.iter().map(support::log::Logged::message).collect();
    assert_eq!(
        messages,
        ["stderr: a", "stderr: b", "stderr: forged: line\\u{1b}[31m"],
        "one event per line, a line across records whole, controls escaped"
    );
    for line in &lines {
        assert_eq!(line.level, tracing::Level::WARN);
        assert_eq!(line.field("backend"), Some(address.as_str()));
        assert_eq!(line.field("request_id"), Some("1"));
        assert_eq!(line.field("request"), Some("GET /script.php?x=1"));
    }
    backend.abort();
}

/// php-fpm's children each serve one kept connection until it closes; the connections
/// beyond them wait in its listen queue. A request must wait for the connection a child
/// holds to be free, not sit on a connection no child has taken.
#[tokio::test]
async fn requests_wait_for_a_connection_the_backend_took_not_one_in_its_listen_queue() {
    let address = support::fake_fcgi::workers(1).await;
    let client = FastCgiClient::new(address.as_str(), ClientConfig::fastcgi());
    let first = client.send(get("/")).await.unwrap();
    assert_eq!(text(first).await, "conn=1");
    let started = std::time::Instant::now();
    for round in 0..5 {
        // Two at once: one finds the kept connection busy.
        let (a, b) = tokio::join!(client.send(get("/")), client.send(get("/")));
        let (a, b) = (text(a.unwrap()).await, text(b.unwrap()).await);
        assert_eq!(
            (a.as_str(), b.as_str()),
            ("conn=1", "conn=1"),
            "round {round}: every request is served on the connection the worker took"
        );
    }
    // Each round used to wait 100 ms for the queued connection's rule; together far less.
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "ten requests took {:?}",
        started.elapsed()
    );
}

/// A FastCGI client of at most one connection, not multiplexed: requests beyond the first
/// queue for it.
fn one_connection_client(address: &str) -> FastCgiClient {
    let config = ClientConfig::fastcgi()
        .with_multiplexing(false)
        .with_max_connections(1);
    FastCgiClient::new(address, config)
}

/// The pool's counters once its slots are back, or after a second: a connection gives a
/// request's slot back after handing over the response's end, so a caller that has read
/// the whole body may see its slot still taken for a moment.
async fn settled(client: &FastCgiClient) -> fastcgi_uwsgi::client::PoolStats {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let stats = client.stats()[0].1;
        if stats.in_flight == 0 || tokio::time::Instant::now() >= deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Requests that queue for the one connection are begun by it as each ends: every one is
/// answered, each with its own answer, and the connection is the only one opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_queued_for_one_connection_each_get_their_own_answer() {
    let address = start(Server::fastcgi(), service_fn(describe)).await;
    let client = one_connection_client(&address);
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let response = client.send(get(&format!("/q{i}"))).await.unwrap();
                (i, text(response).await)
            })
        })
        .collect();
    for call in calls {
        let (i, answer) = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("every queued request is begun")
            .unwrap();
        assert_eq!(answer, format!("GET /q{i} t1 ct=None len=0"));
    }
    let stats = settled(&client).await;
    assert_eq!(stats.opened, 1, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "every slot came back: {stats:?}");
}

/// Bodies too large to be sent with the params are streamed after the request begins:
/// also for requests that queued and were begun by the connection that freed its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_bodies_of_queued_requests_each_reach_their_own_request() {
    let address = start(Server::fastcgi(), service_fn(echo)).await;
    let client = one_connection_client(&address);
    let calls: Vec<_> = (0..8u8)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                // Above what is gathered and sent whole (64 KiB).
                let body = Bytes::from(vec![b'a' + i; 100_000]);
                let request = Request::post("/echo")
                    .body(Full::new(body.clone()))
                    .unwrap();
                let response = client.send(request).await.unwrap();
                let echoed = response.into_body().collect().await.unwrap().to_bytes();
                (body, echoed)
            })
        })
        .collect();
    for call in calls {
        let (body, echoed) = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("every queued upload is answered")
            .unwrap();
        assert!(echoed == body, "an upload came back as another's or cut");
    }
    let stats = settled(&client).await;
    assert_eq!(stats.opened, 1, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
}

#[tokio::test]
async fn a_uwsgi_answer_after_an_interim_head_in_the_same_read_is_delivered_at_once() {
    // A backend that writes a 100 head, then the final head and part of the body, and
    // keeps the connection open: the final head is in the buffer already and must not
    // wait for another read.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let backend = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0; 4096];
        let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
        tokio::io::AsyncWriteExt::write_all(
            &mut socket,
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let client = UwsgiClient::new(address.as_str(), ClientConfig::uwsgi());
    let response = tokio::time::timeout(Duration::from_secs(5), client.send(get("/")))
        .await
        .expect("the final head was delivered")
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("the body bytes were delivered")
        .unwrap()
        .unwrap();
    assert_eq!(frame.into_data().unwrap(), "hello");
    backend.abort();
}

/// A uwsgi backend that reads the request, writes `answer`, and then tells how long its
/// connection stayed open (until the client closed it).
async fn uwsgi_backend_holding_open(
    answer: &'static [u8],
) -> (String, tokio::sync::oneshot::Receiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (closed, closed_seen) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0; 4096];
        let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
        tokio::io::AsyncWriteExt::write_all(&mut socket, answer)
            .await
            .unwrap();
        // The client closing its side ends this read (EOF or reset).
        let mut rest = vec![0; 4096];
        while let Ok(n) = tokio::io::AsyncReadExt::read(&mut socket, &mut rest).await {
            if n == 0 {
                break;
            }
        }
        let _ = closed.send(());
    });
    (address, closed_seen)
}

#[tokio::test]
async fn a_uwsgi_caller_that_drops_the_body_closes_the_backend_connection() {
    let (address, closed) =
        uwsgi_backend_holding_open(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello").await;
    let client = UwsgiClient::new(address.as_str(), ClientConfig::uwsgi());
    let response = client.send(get("/")).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("the connection was closed once the caller was gone")
        .unwrap();
}

#[tokio::test]
async fn a_uwsgi_caller_that_gives_up_before_the_head_closes_the_backend_connection() {
    // Nothing but the start of a head: the call waits for the rest.
    let (address, closed) = uwsgi_backend_holding_open(b"HTTP/1.1 200").await;
    let client = UwsgiClient::new(address.as_str(), ClientConfig::uwsgi());
    let call = tokio::time::timeout(Duration::from_millis(300), client.send(get("/"))).await;
    assert!(call.is_err(), "no head came");
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("the connection was closed once the caller was gone")
        .unwrap();
}

/// The head's bytes may be the buffer the caller's server reads the next request into
/// (hyper reads ahead once it has a request's head): `send` lets go of them before the
/// call is first polled, so that buffer is free to be reused.
#[test]
fn send_lets_go_of_the_request_head_before_the_call_is_polled() {
    let head_bytes = Bytes::from(b"example.org".to_vec());
    let request = || {
        let mut request = get("/x");
        request.headers_mut().insert(
            http::header::HOST,
            http::HeaderValue::from_maybe_shared(head_bytes.clone()).unwrap(),
        );
        request
    };
    let backend = "127.0.0.1:1";
    let fastcgi = FastCgiClient::new(backend, ClientConfig::fastcgi());
    let uwsgi = UwsgiClient::new(backend, ClientConfig::uwsgi());
    let calls = [fastcgi.send(request()), uwsgi.send(request())];
    // Nothing but `head_bytes` itself still holds them.
    assert!(head_bytes.is_unique());
    drop(calls);
}
