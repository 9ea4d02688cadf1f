//! `serve` over uwsgi, driven by our own gateway-side codecs over in-process streams and
//! real sockets.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cgi_service::{Listener, ServeConfig, Server};
use support::{echo, environ, hello, pattern, uwsgi_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::service_fn;

fn duplex<S, B>(server: Server, service: S) -> tokio::io::DuplexStream
where
    S: cgi_service::CgiService<B>,
    B: cgi_service::ResponseBody,
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
    let service = service_fn(|request: http::Request<cgi_service::Body>| async move {
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
    tokio::spawn(async move { cgi_service::serve_uwsgi(listener, service_fn(hello)).await });
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
