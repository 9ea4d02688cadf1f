//! Gateway side against uWSGI: one WSGI application reached through its uwsgi socket (with
//! `uwsgi-codec`) and its FastCGI socket (with `fastcgi-codec`) must give the same answers,
//! and the application's WSGI environ must hold what we sent.
#![cfg_attr(skip_interop, allow(unused))]

use bytes::Bytes;
use cgi_env::{Environ, Gateway, Param, Preset, Var};
use interop::app_answer::AppAnswer;
use interop::checksum::{crc32, pattern};
use interop::environ::{assert_holds, build, split_cgi_output};
use interop::fcgi::FcgiConn;
use interop::scratch::ScratchDir;
use interop::uwsgi::Uwsgi;
use interop::uwsgi_client;

fn uwsgi_gateway() -> Gateway {
    Gateway::new(Preset::nginx_uwsgi_params())
}

fn fastcgi_gateway() -> Gateway {
    // uWSGI routes on PATH_INFO, which stock fastcgi_params leave out.
    Gateway::new(Preset::nginx_fastcgi_params().with(Param::new("PATH_INFO", Var::DocumentUri)))
}

/// Status and body through the uwsgi socket.
fn via_uwsgi(server: &Uwsgi, env: &Environ, body: Bytes) -> (u16, Vec<u8>) {
    let response = uwsgi_client::request(server.uwsgi_port, env, body)
        .unwrap_or_else(|e| panic!("uwsgi request: {e}; uWSGI log:\n{}", server.log()));
    (response.head.status.as_u16(), response.body)
}

/// Status and body through the FastCGI socket.
fn via_fastcgi(server: &Uwsgi, env: &Environ, body: Bytes) -> (u16, Vec<u8>) {
    let mut conn = FcgiConn::connect(server.fastcgi_port).expect("connect");
    let exchange = conn
        .request(env, body, false)
        .unwrap_or_else(|e| panic!("FastCGI request: {e}; uWSGI log:\n{}", server.log()));
    let (head, body) = split_cgi_output(&exchange.stdout);
    (head.status.as_u16(), body)
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn get_gives_the_same_answer_through_both_protocols() {
    let dir = ScratchDir::new("uwsgi-get");
    let server = Uwsgi::start(&dir);
    let headers = [
        ("x-test", "yes"),
        ("user-agent", "interop/1"),
        ("cookie", "a=b"),
        ("accept-language", "fr, en;q=0.5"),
    ];
    let uwsgi_env = build(&uwsgi_gateway(), "GET", "/echo?x=1&y=%C3%A9", &headers);
    let fastcgi_env = build(&fastcgi_gateway(), "GET", "/echo?x=1&y=%C3%A9", &headers);

    let (status, body) = via_uwsgi(&server, &uwsgi_env, Bytes::new());
    assert_eq!(status, 200);
    let over_uwsgi = AppAnswer::parse(&body);
    assert_holds(&over_uwsgi.environ, &uwsgi_env, "uwsgi");

    let (status, body) = via_fastcgi(&server, &fastcgi_env, Bytes::new());
    assert_eq!(status, 200);
    let over_fastcgi = AppAnswer::parse(&body);
    assert_holds(&over_fastcgi.environ, &fastcgi_env, "FastCGI");

    assert_eq!((over_uwsgi.body_len, over_uwsgi.body_crc32), (0, 0));
    assert_eq!((over_fastcgi.body_len, over_fastcgi.body_crc32), (0, 0));
    assert_eq!(over_uwsgi.url_scheme, "http");
    assert_eq!(over_fastcgi.url_scheme, "http");
    for name in [
        "QUERY_STRING",
        "REQUEST_METHOD",
        "REQUEST_URI",
        "PATH_INFO",
        "HTTP_X_TEST",
        "HTTP_COOKIE",
        "HTTP_ACCEPT_LANGUAGE",
        "SERVER_NAME",
        "SERVER_PORT",
        "REMOTE_ADDR",
    ] {
        assert_eq!(
            over_uwsgi.environ.get(name),
            over_fastcgi.environ.get(name),
            "{name} differs between protocols"
        );
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn one_mebibyte_post_through_both_protocols() {
    let dir = ScratchDir::new("uwsgi-post");
    let server = Uwsgi::start(&dir);
    let body = Bytes::from(pattern(1 << 20));
    let len = body.len().to_string();
    let headers = [
        ("content-type", "application/octet-stream"),
        ("content-length", len.as_str()),
    ];
    let uwsgi_env = build(&uwsgi_gateway(), "POST", "/echo", &headers);
    let fastcgi_env = build(&fastcgi_gateway(), "POST", "/echo", &headers);
    let expected = (body.len() as u64, crc32(&body));
    for (protocol, (status, answer)) in [
        ("uwsgi", via_uwsgi(&server, &uwsgi_env, body.clone())),
        ("FastCGI", via_fastcgi(&server, &fastcgi_env, body.clone())),
    ] {
        assert_eq!(status, 200, "{protocol}");
        let answer = AppAnswer::parse(&answer);
        assert_eq!(
            (answer.body_len, answer.body_crc32),
            expected,
            "{protocol}: the application got another body"
        );
        assert_eq!(
            answer.environ.get("CONTENT_LENGTH").map(Vec::as_slice),
            Some(len.as_bytes()),
            "{protocol}"
        );
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn five_mebibyte_response_through_both_protocols() {
    let dir = ScratchDir::new("uwsgi-big");
    let server = Uwsgi::start(&dir);
    let n = 5 << 20;
    let target = format!("/bytes?n={n}");
    let expected = pattern(n);
    let (status, body) = via_uwsgi(
        &server,
        &build(&uwsgi_gateway(), "GET", &target, &[]),
        Bytes::new(),
    );
    assert_eq!(status, 200);
    assert!(
        body == expected,
        "uwsgi: {} bytes, not the expected {n}",
        body.len()
    );
    let (status, body) = via_fastcgi(
        &server,
        &build(&fastcgi_gateway(), "GET", &target, &[]),
        Bytes::new(),
    );
    assert_eq!(status, 200);
    assert!(
        body == expected,
        "FastCGI: {} bytes, not the expected {n}",
        body.len()
    );
}
