//! `serve` over uwsgi, driven by our own gateway-side codecs over in-process streams and
//! real sockets.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fastcgi_uwsgi::{Listener, ServeConfig, Server};
use support::{echo, environ, hello, pattern, uwsgi_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::service_fn;

fn duplex<S, B>(server: Server, service: S) -> tokio::io::DuplexStream
where
    S: fastcgi_uwsgi::CgiService<B>,
    B: fastcgi_uwsgi::ResponseBody,
{
    let (near, far) = tokio::io::duplex(256 << 10);
    tokio::spawn(async move { server.serve_connection(far, None, service).await });
    near
}

#[tokio::test]
async fn get() {
    let io = duplex(Server::uwsgi(), service_fn(hello));
    let answer = uwsgi_request(io, &environ("GET", "/a?x=1", None), Bytes::new(), false)
        .await
        .unwrap();
    assert_eq!(answer.head.status, 200);
    assert_eq!(answer.head.version, Some(http::Version::HTTP_11));
    assert_eq!(answer.body, b"hello /a");
}

#[tokio::test]
async fn ten_megabyte_post_echo_both_ways() {
    for write_all_first in [false, true] {
        let io = duplex(Server::uwsgi(), service_fn(echo));
        let body = pattern(10 << 20);
        let env = environ("POST", "/echo", Some(body.len()));
        let answer = tokio::time::timeout(
            Duration::from_secs(60),
            uwsgi_request(io, &env, body.clone(), write_all_first),
        )
        .await
        .expect("no deadlock")
        .unwrap();
        assert!(answer.body == body[..], "echo differs");
    }
}

#[tokio::test]
async fn a_service_that_never_reads_the_body_still_answers() {
    let io = duplex(Server::uwsgi(), service_fn(hello));
    let body = pattern(2 << 20);
    let env = environ("POST", "/early", Some(body.len()));
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        uwsgi_request(io, &env, body, false),
    )
    .await
    .expect("no hang")
    .unwrap();
    assert_eq!(answer.body, b"hello /early");
}

#[tokio::test]
async fn a_panicking_service_answers_500() {
    let service = service_fn(|request: http::Request<fastcgi_uwsgi::Body>| async move {
        assert!(request.uri().path() != "/panic", "boom");
        Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    });
    let io = duplex(Server::uwsgi(), service);
    let answer = uwsgi_request(io, &environ("GET", "/panic", None), Bytes::new(), false)
        .await
        .unwrap();
    assert_eq!(answer.head.status, 500);
}

#[tokio::test]
async fn ping_is_answered_with_a_pong() {
    let mut io = duplex(Server::uwsgi(), service_fn(hello));
    io.write_all(&[100, 0, 0, 0]).await.unwrap();
    let mut answer = Vec::new();
    io.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer, [100, 0, 0, 1]);
}

#[tokio::test]
async fn over_tcp() {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { fastcgi_uwsgi::serve_uwsgi(listener, service_fn(hello)).await });
    for i in 0..3 {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let uri = format!("/tcp{i}");
        let answer = uwsgi_request(stream, &environ("GET", &uri, None), Bytes::new(), false)
            .await
            .unwrap();
        assert_eq!(answer.body, format!("hello {uri}").as_bytes());
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_vars_block_is_closed_by_the_params_timeout() {
    let server = Server::uwsgi()
        .with_config(ServeConfig::default().with_params_timeout(Duration::from_secs(3)));
    let mut io = duplex(server, service_fn(hello));
    let mut head = BytesMut::new();
    uwsgi_codec::RequestEncoder::new()
        .encode_head(&environ("GET", "/", None), &mut head)
        .unwrap();
    io.write_all(&head[..10]).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut rest = Vec::new();
    io.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    assert!(started.elapsed() >= Duration::from_secs(3));
}

/// A raw uwsgi request packet (modifier1 0) with these vars, as a peer may send it
/// whatever the encoder would refuse.
fn raw_packet(vars: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut block = Vec::new();
    for (key, value) in vars {
        block.extend_from_slice(&u16::try_from(key.len()).unwrap().to_le_bytes());
        block.extend_from_slice(key);
        block.extend_from_slice(&u16::try_from(value.len()).unwrap().to_le_bytes());
        block.extend_from_slice(value);
    }
    let mut packet = vec![0];
    packet.extend_from_slice(&u16::try_from(block.len()).unwrap().to_le_bytes());
    packet.push(0);
    packet.extend_from_slice(&block);
    packet
}

const BASE_VARS: [(&[u8], &[u8]); 5] = [
    (b"REQUEST_METHOD", b"GET"),
    (b"REQUEST_URI", b"/refused"),
    (b"SERVER_PROTOCOL", b"HTTP/1.1"),
    (b"HTTP_HOST", b"example.org"),
    (b"SERVER_NAME", b"example.org"),
];

/// Writes `bytes` in one write and reads the answer to the close.
async fn exchange(server: Server, bytes: &[u8]) -> String {
    let mut io = duplex(server, service_fn(hello));
    io.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), io.read_to_end(&mut answer))
        .await
        .expect("the connection closes")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn bytes_after_a_complete_request_do_not_lose_its_answer() {
    let mut head = BytesMut::new();
    uwsgi_codec::RequestEncoder::new()
        .encode_head(&environ("GET", "/first", None), &mut head)
        .unwrap();
    let mut second = BytesMut::new();
    uwsgi_codec::RequestEncoder::new()
        .encode_head(&environ("GET", "/second", None), &mut second)
        .unwrap();
    for trailing in [&b"garbage after the request"[..], &second[..]] {
        let mut wire = head.to_vec();
        wire.extend_from_slice(trailing);
        let answer = exchange(Server::uwsgi(), &wire).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
        assert!(answer.ends_with("\r\n\r\nhello /first"), "{answer:?}");
    }
}

#[tokio::test]
async fn a_refused_vars_block_is_answered_with_an_error_status() {
    let mut bad_length = BASE_VARS.to_vec();
    bad_length.push((b"CONTENT_LENGTH", b"12abc"));
    let mut empty_name = BASE_VARS.to_vec();
    empty_name.push((b"", b"value"));
    let names: Vec<Vec<u8>> = (0..130)
        .map(|i| format!("HTTP_X_{i}").into_bytes())
        .collect();
    let mut too_many = BASE_VARS.to_vec();
    too_many.extend(names.iter().map(|name| (&name[..], &b"1"[..])));
    for (what, vars) in [
        ("a bad CONTENT_LENGTH", bad_length),
        ("an empty var name", empty_name),
        ("more than 128 vars", too_many),
    ] {
        let answer = exchange(Server::uwsgi(), &raw_packet(&vars)).await;
        assert!(
            answer.starts_with("HTTP/1.0 400 Bad Request\r\n"),
            "{what}: {answer:?}"
        );
    }
    // A vars block over the configured limit: 431.
    let server = Server::uwsgi()
        .with_config(ServeConfig::default().with_uwsgi_limits(uwsgi_codec::Limits::default()));
    let mut large = BASE_VARS.to_vec();
    let cookie = vec![b'c'; 5000];
    large.push((b"HTTP_COOKIE", &cookie));
    let answer = exchange(server, &raw_packet(&large)).await;
    assert!(
        answer.starts_with("HTTP/1.0 431 Request Header Fields Too Large\r\n"),
        "{answer:?}"
    );
}
