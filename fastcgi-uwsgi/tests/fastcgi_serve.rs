//! `serve` over FastCGI, driven by our own gateway-side codecs over in-process streams
//! and real sockets.

mod support;

use std::time::Duration;

use bytes::Bytes;
use fastcgi_uwsgi::{Listener, ServeConfig, Server};
use support::{BodyMode, FcgiGateway, echo, environ, hello, pattern};
use tower::service_fn;

/// A server on one end of an in-process stream, our gateway on the other.
fn duplex<S, B>(server: Server, service: S) -> FcgiGateway<tokio::io::DuplexStream>
where
    S: fastcgi_uwsgi::CgiService<B>,
    B: fastcgi_uwsgi::ResponseBody,
{
    let (near, far) = tokio::io::duplex(256 << 10);
    tokio::spawn(async move { server.serve_connection(far, None, service).await });
    FcgiGateway::new(near)
}

#[tokio::test]
async fn get() {
    let mut gateway = duplex(Server::fastcgi(), service_fn(hello));
    let answer = gateway
        .request(
            &environ("GET", "/a/b?x=1", None),
            Bytes::new(),
            false,
            BodyMode::Concurrent,
        )
        .await;
    assert_eq!(answer.app_status, Some(0));
    let (head, body) = answer.head_and_body();
    assert_eq!(head.status, 200);
    assert_eq!(body, b"hello /a/b");
    // Without keep-conn the server closes.
    assert!(!gateway.read_once().await);
}

#[tokio::test]
async fn ten_megabyte_post_echo() {
    let mut gateway = duplex(Server::fastcgi(), service_fn(echo));
    let body = pattern(10 << 20);
    let env = environ("POST", "/echo", Some(body.len()));
    let answer = gateway
        .request(&env, body.clone(), true, BodyMode::Concurrent)
        .await;
    let (head, echoed) = answer.head_and_body();
    assert_eq!(head.status, 200);
    assert_eq!(echoed.len(), body.len());
    assert!(echoed == body[..], "echo differs");
}

#[tokio::test]
async fn gateway_that_writes_the_whole_body_before_reading() {
    let mut gateway = duplex(Server::fastcgi(), service_fn(echo));
    let body = pattern(10 << 20);
    let env = environ("POST", "/echo", Some(body.len()));
    let answer = tokio::time::timeout(
        Duration::from_secs(60),
        gateway.request(&env, body.clone(), true, BodyMode::WriteAllFirst),
    )
    .await
    .expect("no deadlock");
    let (_, echoed) = answer.head_and_body();
    assert!(echoed == body[..], "echo differs");
}

#[tokio::test]
async fn gateway_that_stops_the_body_after_the_head_keeps_the_connection() {
    let mut gateway = duplex(Server::fastcgi(), service_fn(hello));
    let body = pattern(4 << 20);
    let env = environ("POST", "/early", Some(body.len()));
    let first = tokio::time::timeout(
        Duration::from_secs(30),
        gateway.request(&env, body, true, BodyMode::StopAfterHead),
    )
    .await
    .expect("no hang");
    assert_eq!(first.head_and_body().1, b"hello /early");
    let second = gateway
        .request(
            &environ("GET", "/second", None),
            Bytes::new(),
            true,
            BodyMode::Concurrent,
        )
        .await;
    assert_eq!(second.head_and_body().1, b"hello /second");
}

#[tokio::test]
async fn a_service_that_never_reads_the_body_leaves_the_connection_usable() {
    let mut gateway = duplex(Server::fastcgi(), service_fn(hello));
    let body = pattern(1 << 20);
    let first = gateway
        .request(
            &environ("POST", "/one", Some(body.len())),
            body,
            true,
            BodyMode::Concurrent,
        )
        .await;
    assert_eq!(first.head_and_body().1, b"hello /one");
    let second = gateway
        .request(
            &environ("GET", "/two", None),
            Bytes::new(),
            true,
            BodyMode::Concurrent,
        )
        .await;
    assert_eq!(second.head_and_body().1, b"hello /two");
}

#[tokio::test]
async fn five_megabyte_response() {
    let big = pattern(5 << 20);
    let service = service_fn(move |_request: http::Request<fastcgi_uwsgi::Body>| {
        let big = big.clone();
        async move {
            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(big)))
        }
    });
    let mut gateway = duplex(Server::fastcgi(), service);
    let answer = gateway
        .request(
            &environ("GET", "/big", None),
            Bytes::new(),
            false,
            BodyMode::Concurrent,
        )
        .await;
    let (_, body) = answer.head_and_body();
    assert!(body == pattern(5 << 20)[..]);
}

#[tokio::test]
async fn a_hundred_keep_conn_requests() {
    let mut gateway = duplex(Server::fastcgi(), service_fn(hello));
    for i in 0..100 {
        let uri = format!("/r{i}");
        let answer = gateway
            .request(
                &environ("GET", &uri, None),
                Bytes::new(),
                true,
                BodyMode::Concurrent,
            )
            .await;
        assert_eq!(answer.head_and_body().1, format!("hello {uri}").as_bytes());
    }
}

#[tokio::test]
async fn sixty_four_multiplexed_requests_run_at_once() {
    // Every request waits until all 64 have started: they must run concurrently.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(64));
    let service = service_fn(move |request: http::Request<fastcgi_uwsgi::Body>| {
        let barrier = barrier.clone();
        async move {
            barrier.wait().await;
            Ok::<_, std::convert::Infallible>(http::Response::new(request.uri().path().to_owned()))
        }
    });
    let mut gateway = duplex(Server::fastcgi(), service);
    gateway.get_values().await;
    let mut ids = Vec::new();
    for i in 0..64 {
        let id = gateway.begin(&environ("GET", &format!("/m{i}"), None), true);
        gateway.body(id, &Bytes::new(), true);
        ids.push((id, i));
    }
    tokio::time::timeout(Duration::from_secs(20), gateway.run(BodyMode::Concurrent))
        .await
        .expect("all 64 answered");
    for (id, i) in ids {
        let (_, body) = gateway.answers[&id].head_and_body();
        assert_eq!(body, format!("/m{i}").as_bytes());
    }
}

/// Sends on its channel when dropped.
struct OnDrop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test]
async fn abort_mid_body_drops_the_service_and_ends_the_request() {
    let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel::<()>();
    let dropped_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(dropped_tx)));
    let (called_tx, called_rx) = tokio::sync::oneshot::channel::<()>();
    let called_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(called_tx)));
    let service = service_fn(move |request: http::Request<fastcgi_uwsgi::Body>| {
        if let Some(called) = called_tx.lock().unwrap().take() {
            let _ = called.send(());
        }
        let guard = OnDrop(dropped_tx.lock().unwrap().take());
        async move {
            let _guard = guard;
            let body = support::collect(request.into_body()).await;
            Ok::<_, std::convert::Infallible>(http::Response::new(format!("{}", body.len())))
        }
    });
    let mut gateway = duplex(Server::fastcgi(), service);
    let id = gateway.begin(&environ("POST", "/upload", Some(1 << 20)), true);
    gateway.body(id, &pattern(100_000), false);
    gateway.flush().await;
    called_rx.await.expect("service called");
    gateway.conn.abort(id).expect("abort");
    tokio::time::timeout(Duration::from_secs(10), gateway.run(BodyMode::Concurrent))
        .await
        .expect("the aborted request ends");
    assert!(gateway.answers[&id].app_status.is_some());
    tokio::time::timeout(Duration::from_secs(10), dropped_rx)
        .await
        .expect("service future dropped")
        .unwrap();
    // The connection still serves.
    gateway.answers.clear();
    let next = gateway
        .request(
            &environ("GET", "/after", None),
            Bytes::new(),
            true,
            BodyMode::Concurrent,
        )
        .await;
    assert_eq!(next.app_status, Some(0));
}

#[tokio::test]
async fn a_panicking_service_answers_500_for_that_request_only() {
    let service = service_fn(|request: http::Request<fastcgi_uwsgi::Body>| async move {
        assert!(request.uri().path() != "/panic", "boom");
        Ok::<_, std::convert::Infallible>(http::Response::new(String::from("fine")))
    });
    let mut gateway = duplex(Server::fastcgi(), service);
    let answer = gateway
        .request(
            &environ("GET", "/panic", None),
            Bytes::new(),
            true,
            BodyMode::Concurrent,
        )
        .await;
    assert_eq!(answer.head_and_body().0.status, 500);
    let answer = gateway
        .request(
            &environ("GET", "/ok", None),
            Bytes::new(),
            true,
            BodyMode::Concurrent,
        )
        .await;
    assert_eq!(answer.head_and_body().1, b"fine");
}

#[tokio::test]
async fn a_chunked_upload_with_odd_content_length_is_read_to_the_end_of_stdin() {
    let mut gateway = duplex(Server::fastcgi(), service_fn(echo));
    for odd in ["", "-1"] {
        let mut env = environ("POST", "/chunked", None);
        env.insert("CONTENT_LENGTH", odd);
        let body = pattern(300_000);
        let answer = gateway
            .request(&env, body.clone(), true, BodyMode::Concurrent)
            .await;
        assert!(answer.head_and_body().1 == body[..], "{odd:?}");
    }
}

#[tokio::test]
async fn over_tcp_and_unix_sockets() {
    let server = Server::fastcgi();
    let tcp = Listener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn({
        let server = server.clone();
        async move { server.serve(tcp, service_fn(hello)).await }
    });
    let dir = std::env::temp_dir().join(format!("fastcgi-uwsgi-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fcgi.sock");
    let _ = std::fs::remove_file(&path);
    let unix = Listener::bind(path.to_str().unwrap()).await.unwrap();
    tokio::spawn(async move { server.serve(unix, service_fn(hello)).await });

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut gateway = FcgiGateway::new(stream);
    let answer = gateway
        .request(
            &environ("GET", "/tcp", None),
            Bytes::new(),
            false,
            BodyMode::Concurrent,
        )
        .await;
    assert_eq!(answer.head_and_body().1, b"hello /tcp");

    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut gateway = FcgiGateway::new(stream);
    let answer = gateway
        .request(
            &environ("GET", "/unix", None),
            Bytes::new(),
            false,
            BodyMode::Concurrent,
        )
        .await;
    assert_eq!(answer.head_and_body().1, b"hello /unix");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed_by_the_idle_timeout() {
    let server = Server::fastcgi()
        .with_config(ServeConfig::default().with_idle_timeout(Duration::from_secs(5)));
    let mut gateway = duplex(server, service_fn(hello));
    let answer = gateway
        .request(
            &environ("GET", "/x", None),
            Bytes::new(),
            true,
            BodyMode::Concurrent,
        )
        .await;
    assert_eq!(answer.app_status, Some(0));
    let started = tokio::time::Instant::now();
    assert!(!gateway.read_once().await, "closed");
    assert!(started.elapsed() >= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_stalled_head_is_closed_by_the_params_timeout() {
    let server = Server::fastcgi()
        .with_config(ServeConfig::default().with_params_timeout(Duration::from_secs(3)));
    let mut gateway = duplex(server, service_fn(hello));
    // BEGIN_REQUEST, then nothing.
    let id = gateway
        .conn
        .begin_request(fastcgi_codec::Role::Responder, true)
        .unwrap();
    gateway.answers.insert(id, support::Answer::default());
    gateway.flush().await;
    let started = tokio::time::Instant::now();
    assert!(!gateway.read_once().await, "closed");
    assert!(started.elapsed() >= Duration::from_secs(3));
}

/// One raw record, as a peer may send it whatever our gateway side would refuse.
fn raw_record(record_type: u8, id: u16, content: &[u8]) -> Vec<u8> {
    let len = u16::try_from(content.len()).unwrap();
    let [id_hi, id_lo] = id.to_be_bytes();
    let [len_hi, len_lo] = len.to_be_bytes();
    let mut record = vec![1, record_type, id_hi, id_lo, len_hi, len_lo, 0, 0];
    record.extend_from_slice(content);
    record
}

/// Writes `wire`, reads to the close, and returns request 1's STDOUT and app status.
async fn raw_exchange(server: Server, wire: &[u8]) -> (Vec<u8>, Option<u32>) {
    use tokio::io::AsyncWriteExt;
    let (mut near, far) = tokio::io::duplex(256 << 10);
    tokio::spawn(async move { server.serve_connection(far, None, service_fn(hello)).await });
    near.write_all(wire).await.unwrap();
    read_to_close(&mut near).await
}

/// Reads the server's records to the close: the STDOUT and the app status.
async fn read_to_close(near: &mut tokio::io::DuplexStream) -> (Vec<u8>, Option<u32>) {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), near.read_to_end(&mut answer))
        .await
        .expect("the connection closes")
        .unwrap();
    let mut input = bytes::BytesMut::from(&answer[..]);
    let mut decoder = fastcgi_codec::RecordDecoder::new();
    let (mut stdout, mut status) = (Vec::new(), None);
    while let Some(record) = decoder.decode(&mut input).unwrap() {
        match record.record_type() {
            fastcgi_codec::RecordType::Stdout => stdout.extend_from_slice(&record.content),
            fastcgi_codec::RecordType::EndRequest => {
                status = Some(record.end_request_body().unwrap().app_status);
            }
            _ => {}
        }
    }
    (stdout, status)
}

#[tokio::test]
async fn refused_params_are_answered_with_a_status_head() {
    // BEGIN_REQUEST for id 1, responder, no keep-conn: the server closes after it.
    let begin = raw_record(1, 1, &[0, 1, 0, 0, 0, 0, 0, 0]);
    // Params over the configured limit: 431.
    let limits = fastcgi_codec::Limits::default().with_max_params_bytes(512);
    let server = Server::fastcgi().with_config(ServeConfig::default().with_fastcgi_limits(limits));
    let mut env = environ("GET", "/large", None);
    env.insert("HTTP_COOKIE", "c".repeat(2000));
    let mut params = fastcgi_codec::OutputQueue::new();
    fastcgi_codec::wire::encode_params(
        &env,
        fastcgi_codec::RequestId::new(1),
        &mut fastcgi_codec::RecordEncoder::default(),
        &mut params,
    )
    .unwrap();
    let mut wire = begin.clone();
    wire.extend_from_slice(&params.to_bytes_mut());
    let (stdout, status) = raw_exchange(server, &wire).await;
    let text = String::from_utf8_lossy(&stdout);
    assert!(
        text.starts_with("Status: 431 Request Header Fields Too Large\r\n"),
        "{text:?}"
    );
    assert!(status.is_some(), "the request is ended");
    // A pair cut short by the end of the params: 400.
    let mut wire = begin;
    wire.extend(raw_record(4, 1, b"\x05\x10abc"));
    wire.extend(raw_record(4, 1, b""));
    let (stdout, status) = raw_exchange(Server::fastcgi(), &wire).await;
    let text = String::from_utf8_lossy(&stdout);
    assert!(text.starts_with("Status: 400 Bad Request\r\n"), "{text:?}");
    assert!(status.is_some(), "the request is ended");
}

/// BEGIN_REQUEST (responder, no keep-conn) and complete params for request 1.
fn begin_and_params(method: &str) -> Vec<u8> {
    let mut wire = raw_record(1, 1, &[0, 1, 0, 0, 0, 0, 0, 0]);
    let mut params = fastcgi_codec::OutputQueue::new();
    fastcgi_codec::wire::encode_params(
        &environ(method, "/body", None),
        fastcgi_codec::RequestId::new(1),
        &mut fastcgi_codec::RecordEncoder::default(),
        &mut params,
    )
    .unwrap();
    wire.extend_from_slice(&params.to_bytes_mut());
    wire
}

/// A service that tells, once it is called, whether its body was known to be empty, and
/// then what the body held.
async fn describe_body(
    request: http::Request<fastcgi_uwsgi::Body>,
    called: std::sync::Arc<tokio::sync::Notify>,
) -> Result<http::Response<String>, std::convert::Infallible> {
    use http_body::Body as _;
    use http_body_util::BodyExt;
    called.notify_one();
    let body = request.into_body();
    let known_empty = body.is_end_stream() && body.size_hint().exact() == Some(0);
    let bytes = body.collect().await.unwrap().to_bytes();
    let text = format!(
        "known empty {known_empty}, {:?}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(http::Response::new(text))
}

/// Writes each part of `wire` in turn (the service called in between, with `wait`) and
/// returns request 1's response body.
async fn body_exchange(parts: &[&[u8]], wait: bool) -> String {
    use tokio::io::AsyncWriteExt;
    let called = std::sync::Arc::new(tokio::sync::Notify::new());
    let (mut near, far) = tokio::io::duplex(256 << 10);
    let service_called = called.clone();
    tokio::spawn(async move {
        let service = service_fn(move |request| describe_body(request, service_called.clone()));
        Server::fastcgi().serve_connection(far, None, service).await;
    });
    for (index, part) in parts.iter().enumerate() {
        if index > 0 && wait {
            tokio::time::timeout(Duration::from_secs(10), called.notified())
                .await
                .expect("the service is called before its body arrives");
        }
        near.write_all(part).await.unwrap();
    }
    let (stdout, _) = read_to_close(&mut near).await;
    let text = String::from_utf8(stdout).unwrap();
    text.split_once("\r\n\r\n").unwrap().1.to_owned()
}

#[tokio::test]
async fn a_body_that_ends_in_the_read_of_its_params_is_known_empty() {
    let mut wire = begin_and_params("GET");
    wire.extend(raw_record(5, 1, b""));
    assert_eq!(
        body_exchange(&[&wire], false).await,
        "known empty true, \"\""
    );
}

#[tokio::test]
async fn a_body_that_comes_with_its_params_reaches_the_service() {
    let mut wire = begin_and_params("POST");
    wire.extend(raw_record(5, 1, b"abc"));
    wire.extend(raw_record(5, 1, b"de"));
    wire.extend(raw_record(5, 1, b""));
    assert_eq!(
        body_exchange(&[&wire], false).await,
        "known empty false, \"abcde\""
    );
}

#[tokio::test]
async fn a_service_is_called_before_its_body_arrives() {
    let head = begin_and_params("POST");
    let mut body = raw_record(5, 1, b"later");
    body.extend(raw_record(5, 1, b""));
    assert_eq!(
        body_exchange(&[&head, &body], true).await,
        "known empty false, \"later\""
    );
    // An empty body sent later is not known empty when the service is called.
    assert_eq!(
        body_exchange(&[&head, &raw_record(5, 1, b"")], true).await,
        "known empty false, \"\""
    );
}
