//! Gateway side: `fastcgi-codec`'s client state machine against a real php-fpm.
#![cfg_attr(skip_interop, allow(unused))]

use bytes::Bytes;
use cgi_env::{Environ, Gateway, Preset};
use fastcgi_codec::{GatewayEvent, GetValuesAnswer, ProtocolStatus, Role};
use interop::checksum::{crc32, pattern};
use interop::environ::{assert_holds, build, split_cgi_output};
use interop::fcgi::{Exchange, FcgiConn};
use interop::php::{PhpFpm, decode_server_dump};
use interop::scratch::ScratchDir;

fn gateway(fpm: &PhpFpm) -> Gateway {
    Gateway::new(Preset::nginx_fastcgi_conf())
        .with_document_root(fpm.docroot.to_str().expect("utf-8 path"))
}

/// Splits STDOUT into the parsed CGI head and the body.
fn split(exchange: &Exchange) -> (cgi_env::ResponseHead, Vec<u8>) {
    split_cgi_output(&exchange.stdout)
}

fn once(fpm: &PhpFpm, env: &Environ, body: Bytes) -> Exchange {
    let mut conn = FcgiConn::connect(fpm.port).expect("connect");
    let exchange = conn
        .request(env, body, false)
        .unwrap_or_else(|e| panic!("{e}; php-fpm log:\n{}", fpm.log()));
    assert_eq!(
        exchange.protocol_status,
        Some(ProtocolStatus::RequestComplete)
    );
    // Without keep-conn php-fpm closes after END_REQUEST, which the client accepts.
    assert!(conn.next_event().expect("clean close").is_none());
    exchange
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn get_with_query_and_headers_reaches_server_vars() {
    let dir = ScratchDir::new("fpm-get");
    let fpm = PhpFpm::start(&dir, 2);
    let env = build(
        &gateway(&fpm),
        "GET",
        "/server.php?a=1&b=%C3%A9&c",
        &[
            ("x-test", "yes"),
            ("user-agent", "interop/1"),
            ("cookie", "a=b"),
            ("cookie", "c=d"),
            ("accept", "text/plain"),
            ("accept", "text/html"),
        ],
    );
    assert_eq!(env.get_str("HTTP_COOKIE"), Some("a=b; c=d"));
    let exchange = once(&fpm, &env, Bytes::new());
    let (head, body) = split(&exchange);
    assert_eq!(head.status, http::StatusCode::OK);
    let seen = decode_server_dump(&body);
    assert_holds(&seen, &env, "php-fpm $_SERVER");
    assert_eq!(
        seen.get("HTTP_ACCEPT").map(Vec::as_slice),
        Some(&b"text/plain, text/html"[..])
    );
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn post_of_one_mebibyte_streamed_from_bytes() {
    let dir = ScratchDir::new("fpm-post");
    let fpm = PhpFpm::start(&dir, 2);
    let body = Bytes::from(pattern(1 << 20));
    let len = body.len().to_string();
    let env = build(
        &gateway(&fpm),
        "POST",
        "/echo.php",
        &[
            ("content-type", "application/octet-stream"),
            ("content-length", &len),
        ],
    );
    let exchange = once(&fpm, &env, body.clone());
    let (_, answer) = split(&exchange);
    assert_eq!(
        String::from_utf8_lossy(&answer),
        format!("{} {}", body.len(), crc32(&body))
    );
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn five_mebibyte_response_and_stderr() {
    let dir = ScratchDir::new("fpm-big");
    let fpm = PhpFpm::start(&dir, 2);
    let n = 5 << 20;
    let env = build(&gateway(&fpm), "GET", &format!("/bytes.php?n={n}"), &[]);
    let exchange = once(&fpm, &env, Bytes::new());
    let (head, body) = split(&exchange);
    assert_eq!(head.status, http::StatusCode::OK);
    assert_eq!(body.len(), n);
    assert!(body == pattern(n), "response bytes differ");
    assert!(
        exchange.stdout_events > 80,
        "5 MiB should arrive as many STDOUT records, got {}",
        exchange.stdout_events
    );
    let stderr = String::from_utf8_lossy(&exchange.stderr);
    assert!(
        stderr.contains(&format!("sending {n} bytes")),
        "stderr was {stderr:?}"
    );
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn fastcgi_finish_request_ends_the_response_early() {
    let dir = ScratchDir::new("fpm-finish");
    let fpm = PhpFpm::start(&dir, 2);
    let marker = dir.path().join("script-finished");
    let env = build(
        &gateway(&fpm),
        "GET",
        &format!("/finish.php?marker={}", marker.display()),
        &[],
    );
    let exchange = once(&fpm, &env, Bytes::new());
    // END_REQUEST came while the script was still running: it writes the marker only
    // after a sleep that follows fastcgi_finish_request().
    assert!(
        !marker.exists(),
        "the response ended only after the script did"
    );
    let (_, body) = split(&exchange);
    assert_eq!(body, b"finished early");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !marker.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the script never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn keep_conn_serves_one_hundred_requests_on_one_connection() {
    let dir = ScratchDir::new("fpm-keep");
    let fpm = PhpFpm::start(&dir, 2);
    let gateway = gateway(&fpm);
    let mut conn = FcgiConn::connect(fpm.port).expect("connect");
    for i in 0..100usize {
        let body = Bytes::from(pattern(i * 97));
        let len = body.len().to_string();
        let env = build(&gateway, "POST", "/echo.php", &[("content-length", &len)]);
        let exchange = conn
            .request(&env, body.clone(), true)
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        let (_, answer) = split(&exchange);
        assert_eq!(
            String::from_utf8_lossy(&answer),
            format!("{} {}", body.len(), crc32(&body)),
            "request {i}"
        );
        assert!(
            conn.state().is_reusable(),
            "connection not reusable after request {i}"
        );
    }
}

fn management(fpm: &PhpFpm, script: &str, query: &str) -> Vec<u8> {
    let mut env = Environ::new();
    env.insert("SCRIPT_NAME", script);
    env.insert("SCRIPT_FILENAME", script);
    env.insert("REQUEST_METHOD", "GET");
    env.insert("QUERY_STRING", query);
    let exchange = once(fpm, &env, Bytes::new());
    split(&exchange).1
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn ping_status_and_get_values() {
    let dir = ScratchDir::new("fpm-mgmt");
    let fpm = PhpFpm::start(&dir, 2);
    assert_eq!(management(&fpm, "/ping", ""), b"pong");
    let status = String::from_utf8(management(&fpm, "/status", "")).expect("text");
    assert!(
        status.contains("pool:") && status.contains("process manager:"),
        "{status}"
    );
    let json = String::from_utf8(management(&fpm, "/status", "json")).expect("text");
    assert!(
        json.starts_with('{') && json.contains("\"pool\":\"pool\""),
        "{json}"
    );

    let mut conn = FcgiConn::connect(fpm.port).expect("connect");
    conn.state().get_values().expect("queue GET_VALUES");
    conn.flush().expect("write");
    match conn.next_event().expect("answer") {
        Some(GatewayEvent::GetValuesAnswer(values)) => assert_eq!(
            values,
            GetValuesAnswer {
                max_conns: None,
                max_reqs: None,
                mpxs_conns: Some(false)
            }
        ),
        other => panic!("expected GET_VALUES_RESULT, got {other:?}"),
    }
    // php-fpm keeps the connection after answering: a request on it is served.
    let env = build(&gateway(&fpm), "GET", "/server.php", &[]);
    let exchange = conn
        .request(&env, Bytes::new(), false)
        .unwrap_or_else(|e| panic!("{e}; php-fpm log:\n{}", fpm.log()));
    assert_eq!(
        exchange.protocol_status,
        Some(ProtocolStatus::RequestComplete)
    );
    assert!(!split(&exchange).1.is_empty());
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn abort_mid_body_ends_without_hanging() {
    let dir = ScratchDir::new("fpm-abort");
    let fpm = PhpFpm::start(&dir, 2);
    let total = 1 << 20;
    let env = build(
        &gateway(&fpm),
        "POST",
        "/echo.php",
        &[("content-length", &total.to_string())],
    );
    let mut conn = FcgiConn::connect(fpm.port).expect("connect");
    let id = conn
        .state()
        .begin_request(Role::Responder, false)
        .expect("begin");
    conn.state().send_params(id, &env).expect("params");
    conn.state()
        .send_stdin(id, Bytes::from(pattern(total / 2)))
        .expect("stdin");
    conn.state().abort(id).expect("abort");
    conn.flush().expect("write");
    // php-fpm stops reading the body at the abort and answers, or closes: either way the
    // client reports it, typed, within the read timeout.
    match conn.read_exchange(id) {
        Ok(exchange) => {
            let (_, body) = split(&exchange);
            let text = String::from_utf8_lossy(&body);
            assert!(
                text.starts_with(&format!("{} ", total / 2)) || text.starts_with("0 "),
                "{text}"
            );
        }
        Err(error) => assert!(error.contains("protocol error"), "{error}"),
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn peer_closing_mid_response_is_a_typed_error() {
    let dir = ScratchDir::new("fpm-killed");
    let fpm = PhpFpm::start(&dir, 2);
    let env = build(&gateway(&fpm), "GET", "/slow.php", &[]);
    let mut conn = FcgiConn::connect(fpm.port).expect("connect");
    let error = conn
        .request(&env, Bytes::new(), false)
        .expect_err("the worker is killed before END_REQUEST");
    assert!(
        error.contains("closed") || error.contains("in flight"),
        "{error}"
    );
}
