//! The fixtures the `fastcgi_uwsgi::client` tests use answer as documented: php-fpm started
//! with options (two pools side by side, stop and kill, recycling, terminate timeout), the
//! scripts of `interop/assets/` it serves, and the uWSGI application reached through its
//! uwsgi and FastCGI sockets. Checked with the harness's own blocking clients.
#![cfg_attr(skip_interop, allow(unused))]

use std::time::{Duration, Instant};

use bytes::Bytes;
use cgi_env::{Environ, Gateway, Param, Preset, Var};
use fastcgi_codec::{GatewayEvent, ProtocolStatus, Role};
use interop::app_answer::AppAnswer;
use interop::checksum::{crc32, pattern};
use interop::environ::{build, split_cgi_output};
use interop::fcgi::{Exchange, FcgiConn};
use interop::php::{PhpFpm, PhpFpmOptions, decode_server_dump};
use interop::scratch::ScratchDir;
use interop::uwsgi::Uwsgi;
use interop::uwsgi_client;

fn gateway(fpm: &PhpFpm) -> Gateway {
    Gateway::new(Preset::nginx_fastcgi_conf())
        .with_document_root(fpm.docroot.to_str().expect("utf-8 path"))
}

fn php_env(fpm: &PhpFpm, method: &str, target: &str, headers: &[(&str, &str)]) -> Environ {
    build(&gateway(fpm), method, target, headers)
}

/// One request on a fresh connection, ended by END_REQUEST with REQUEST_COMPLETE.
fn fcgi_once(port: u16, env: &Environ, body: Bytes, log: impl Fn() -> String) -> Exchange {
    let mut conn = FcgiConn::connect(port).expect("connect");
    let exchange = conn
        .request(env, body, false)
        .unwrap_or_else(|e| panic!("{e}; peer log:\n{}", log()));
    assert_eq!(
        exchange.protocol_status,
        Some(ProtocolStatus::RequestComplete)
    );
    exchange
}

fn php_get(fpm: &PhpFpm, target: &str) -> (cgi_env::ResponseHead, Vec<u8>, Exchange) {
    let env = php_env(fpm, "GET", target, &[]);
    let exchange = fcgi_once(fpm.port, &env, Bytes::new(), || fpm.log());
    let (head, body) = split_cgi_output(&exchange.stdout);
    (head, body, exchange)
}

fn header<'a>(head: &'a cgi_env::ResponseHead, name: &str) -> Option<&'a [u8]> {
    head.headers.get(name).map(http::HeaderValue::as_bytes)
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn php_scripts_answer_as_documented() {
    let dir = ScratchDir::new("fixtures-php");
    let fpm = PhpFpm::start_with(&dir, PhpFpmOptions::default());

    // query.php: the request's variables, hex-encoded, and only those.
    let mut env = php_env(
        &fpm,
        "POST",
        "/query.php?a=1&b=%20",
        &[
            ("content-type", "application/x-test"),
            ("content-length", "5"),
            ("x-one", "1"),
            ("user-agent", "fixtures/1"),
        ],
    );
    env.insert("PATH_INFO", "/extra/info");
    let exchange = fcgi_once(fpm.port, &env, Bytes::from_static(b"hello"), || fpm.log());
    let (head, body) = split_cgi_output(&exchange.stdout);
    assert_eq!(head.status, http::StatusCode::OK);
    let seen = decode_server_dump(&body);
    let get = |name: &str| {
        seen.get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(get("REQUEST_METHOD").as_deref(), Some("POST"));
    assert_eq!(get("QUERY_STRING").as_deref(), Some("a=1&b=%20"));
    assert_eq!(get("PATH_INFO").as_deref(), Some("/extra/info"));
    assert_eq!(get("CONTENT_LENGTH").as_deref(), Some("5"));
    assert_eq!(get("CONTENT_TYPE").as_deref(), Some("application/x-test"));
    assert_eq!(get("HTTP_X_ONE").as_deref(), Some("1"));
    assert_eq!(get("HTTP_USER_AGENT").as_deref(), Some("fixtures/1"));
    assert_eq!(get("HTTP_HOST").as_deref(), Some("localhost"));
    assert!(
        seen.keys().all(|name| name.starts_with("HTTP_")
            || ["REQUEST_METHOD", "QUERY_STRING", "PATH_INFO"]
                .into_iter()
                .chain(["CONTENT_LENGTH", "CONTENT_TYPE"])
                .any(|n| n == name)),
        "{seen:?}"
    );

    // big.php: exactly the pattern, nothing on stderr.
    let n = 1_000_003;
    let (head, body, exchange) = php_get(&fpm, &format!("/big.php?bytes={n}"));
    assert_eq!(head.status, http::StatusCode::OK);
    assert_eq!(body.len(), n);
    assert!(body == pattern(n), "big.php bytes differ from the pattern");
    assert!(exchange.stderr.is_empty(), "{:?}", exchange.stderr);
    let (_, body, _) = php_get(&fpm, "/big.php?bytes=0");
    assert!(body.is_empty());

    // status404.php and redirect.php.
    let (head, body, _) = php_get(&fpm, "/status404.php");
    assert_eq!(head.status, http::StatusCode::NOT_FOUND);
    assert_eq!(body, b"not found\n");
    let (head, body, exchange) = php_get(&fpm, "/redirect.php");
    assert_eq!(head.status, http::StatusCode::FOUND);
    // PHP itself says 302 (the head parser would also infer it from Location alone).
    assert!(
        exchange.stdout.starts_with(b"Status: 302 Found\r\n"),
        "{:?}",
        String::from_utf8_lossy(&exchange.stdout)
    );
    assert_eq!(header(&head, "location"), Some(&b"/elsewhere"[..]));
    assert_eq!(body, b"redirecting\n");

    // sleep.php.
    let started = Instant::now();
    let (_, body, _) = php_get(&fpm, "/sleep.php?s=0.3");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(body, b"slept 0.3\n");

    // pid.php: the worker's pid; two workers in the pool.
    let (_, body, _) = php_get(&fpm, "/pid.php");
    let pid: u32 = String::from_utf8_lossy(&body).parse().expect("a pid");
    assert_ne!(pid, fpm.pid(), "answered by a worker, not the master");
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn stderr_php_error_log_is_a_fastcgi_stderr_record_and_php_stderr_is_not() {
    let dir = ScratchDir::new("fixtures-stderr");
    let fpm = PhpFpm::start_with(&dir, PhpFpmOptions::default());
    let (head, body, exchange) = php_get(&fpm, "/stderr.php");
    assert_eq!(head.status, http::StatusCode::OK);
    assert_eq!(body, b"stderr done");
    assert_eq!(
        String::from_utf8_lossy(&exchange.stderr),
        "PHP message: stderr.php: error_log line"
    );
    // php://stderr is the worker's fd 2, caught into php-fpm's own log, where php-fpm
    // also copies the error_log() line.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !(fpm
        .error_log()
        .contains("said into stderr: \"stderr.php: php://stderr line\"")
        && fpm
            .error_log()
            .contains("said into stderr: \"NOTICE: PHP message: stderr.php: error_log line\""))
    {
        assert!(
            Instant::now() < deadline,
            "stderr.php lines not in fpm-error.log:\n{}",
            fpm.error_log()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn checksum_php_answers_before_it_reads_the_body() {
    let dir = ScratchDir::new("fixtures-checksum");
    let fpm = PhpFpm::start_with(&dir, PhpFpmOptions::default());

    // Streamed body larger than post_max_size (8 MB), no echo.
    let body = Bytes::from(pattern(9 << 20));
    let len = body.len().to_string();
    let headers = [
        ("content-type", "application/octet-stream"),
        ("content-length", len.as_str()),
    ];
    let env = php_env(&fpm, "POST", "/checksum.php", &headers);
    let exchange = fcgi_once(fpm.port, &env, body.clone(), || fpm.log());
    let (head, answer) = split_cgi_output(&exchange.stdout);
    assert_eq!(head.status, http::StatusCode::OK);
    assert_eq!(
        String::from_utf8_lossy(&answer),
        format!("bytes={}\ncrc32={:08x}\n", body.len(), crc32(&body))
    );

    // With echo_bytes the pattern arrives while no byte of the body has been sent.
    let echo = 300_000;
    let body = Bytes::from(pattern(1 << 20));
    let len = body.len().to_string();
    let headers = [
        ("content-type", "application/octet-stream"),
        ("content-length", len.as_str()),
    ];
    let env = php_env(
        &fpm,
        "POST",
        &format!("/checksum.php?echo_bytes={echo}"),
        &headers,
    );
    let mut conn = FcgiConn::connect(fpm.port).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let id = conn
        .state()
        .begin_request(Role::Responder, false)
        .expect("begin");
    conn.state().send_params(id, &env).expect("params");
    conn.flush().expect("write params");
    let mut early = Vec::new();
    // The head plus the echoed bytes, before any STDIN.
    while early.len() < echo {
        match conn.next_event() {
            Ok(Some(GatewayEvent::Stdout { chunk, .. })) => early.extend_from_slice(&chunk),
            other => panic!(
                "expected STDOUT before the body, got {other:?} after {} bytes; log:\n{}",
                early.len(),
                fpm.log()
            ),
        }
    }
    conn.state().send_stdin(id, body.clone()).expect("stdin");
    conn.state().end_stdin(id).expect("end stdin");
    conn.flush().expect("write body");
    let rest = conn.read_exchange(id).expect("rest of the response");
    early.extend_from_slice(&rest.stdout);
    let (head, answer) = split_cgi_output(&early);
    assert_eq!(
        header(&head, "content-type"),
        Some(&b"application/octet-stream"[..])
    );
    assert!(answer[..echo] == pattern(echo), "echoed bytes differ");
    assert_eq!(
        String::from_utf8_lossy(&answer[echo..]),
        format!("bytes={}\ncrc32={:08x}\n", body.len(), crc32(&body))
    );
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn finish_php_ends_the_response_before_the_script() {
    let dir = ScratchDir::new("fixtures-finish");
    let fpm = PhpFpm::start_with(&dir, PhpFpmOptions::default());
    let started = Instant::now();
    let (_, body, _) = php_get(&fpm, "/finish.php");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(body, b"finished early");
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn terminate_timeout_is_configurable() {
    let short_dir = ScratchDir::new("fixtures-terminate-short");
    let short = PhpFpm::start_with(
        &short_dir,
        PhpFpmOptions {
            request_terminate_timeout: Some(Duration::from_secs(1)),
            ..PhpFpmOptions::default()
        },
    );
    let long_dir = ScratchDir::new("fixtures-terminate-long");
    let long = PhpFpm::start_with(&long_dir, PhpFpmOptions::default());

    let killed = std::thread::spawn(move || {
        let env = php_env(&short, "GET", "/sleep.php?s=3", &[]);
        let mut conn = FcgiConn::connect(short.port).expect("connect");
        let started = Instant::now();
        let result = conn.request(&env, Bytes::new(), false);
        (result, started.elapsed())
    });
    // The default (10 s) lets a 3 s request finish.
    let (_, body, _) = php_get(&long, "/sleep.php?s=3");
    assert_eq!(body, b"slept 3\n");
    let (result, elapsed) = killed.join().expect("thread");
    assert!(
        result.is_err(),
        "a 1 s terminate timeout let sleep.php?s=3 finish: {result:?}"
    );
    assert!(elapsed < Duration::from_millis(2900), "took {elapsed:?}");
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn max_requests_recycles_workers() {
    let dir = ScratchDir::new("fixtures-recycle");
    let fpm = PhpFpm::start_with(
        &dir,
        PhpFpmOptions {
            children: 1,
            max_requests: Some(3),
            ..PhpFpmOptions::default()
        },
    );
    let pids: Vec<String> = (0..7)
        .map(|_| String::from_utf8(php_get(&fpm, "/pid.php").1).expect("text"))
        .collect();
    // One worker serves at most three requests (the readiness /ping counted), then a new
    // one takes over.
    let mut runs: Vec<(String, usize)> = Vec::new();
    for pid in &pids {
        match runs.last_mut() {
            Some((last, count)) if last == pid => *count += 1,
            _ => runs.push((pid.clone(), 1)),
        }
    }
    assert!(runs.len() >= 3, "{pids:?}");
    assert!(runs.iter().all(|(_, count)| *count <= 3), "{pids:?}");
    assert!(
        runs[1..runs.len() - 1].iter().all(|(_, count)| *count == 3),
        "{pids:?}"
    );
    let distinct: std::collections::BTreeSet<_> = pids.iter().collect();
    assert_eq!(distinct.len(), runs.len(), "a pid came back: {pids:?}");
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn two_pools_side_by_side_one_stopped_one_killed() {
    let (dir_a, dir_b) = (
        ScratchDir::new("fixtures-pool-a"),
        ScratchDir::new("fixtures-pool-b"),
    );
    let a = PhpFpm::start_with(&dir_a, PhpFpmOptions::default());
    let b = PhpFpm::start_with(&dir_b, PhpFpmOptions::default());
    assert_ne!(a.port, b.port);
    assert_eq!(a.addr().port(), a.port);
    let (_, pid_a, _) = php_get(&a, "/pid.php");
    let (_, pid_b, _) = php_get(&b, "/pid.php");
    assert_ne!(pid_a, pid_b);

    let port_a = a.port;
    a.stop();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port_a)).is_err(),
        "a stopped pool still accepts"
    );
    let (_, body, _) = php_get(&b, "/sleep.php?s=0");
    assert_eq!(body, b"slept 0\n");

    // Killing a pool resets a request in flight at once.
    let env = php_env(&b, "GET", "/sleep.php?s=5", &[]);
    let mut conn = FcgiConn::connect(b.port).expect("connect");
    let id = conn
        .state()
        .begin_request(Role::Responder, false)
        .expect("begin");
    conn.state().send_params(id, &env).expect("params");
    conn.state().end_stdin(id).expect("end stdin");
    conn.flush().expect("write");
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    b.kill();
    let result = conn.read_exchange(id);
    assert!(result.is_err(), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn uwsgi_app_answers_through_both_sockets() {
    let dir = ScratchDir::new("fixtures-uwsgi");
    let server = Uwsgi::start(&dir);
    assert_ne!(server.uwsgi_port, server.fastcgi_port);
    assert_eq!(server.uwsgi_addr().port(), server.uwsgi_port);
    assert_eq!(server.fastcgi_addr().port(), server.fastcgi_port);
    let uwsgi_gateway = Gateway::new(Preset::nginx_uwsgi_params());
    // uWSGI routes on PATH_INFO, which stock fastcgi_params leave out.
    let fastcgi_gateway = Gateway::new(
        Preset::nginx_fastcgi_params().with(Param::new("PATH_INFO", Var::DocumentUri)),
    );
    let both = |method: &str, target: &str, headers: &[(&str, &str)], body: Bytes| {
        let env = build(&uwsgi_gateway, method, target, headers);
        let response = uwsgi_client::request(server.uwsgi_port, &env, body.clone())
            .unwrap_or_else(|e| panic!("uwsgi: {e}; log:\n{}", server.log()));
        let via_uwsgi = (response.head.status.as_u16(), response.body);
        let env = build(&fastcgi_gateway, method, target, headers);
        let exchange = fcgi_once(server.fastcgi_port, &env, body, || server.log());
        let (head, body) = split_cgi_output(&exchange.stdout);
        [via_uwsgi, (head.status.as_u16(), body)]
    };

    let body = Bytes::from(pattern(300_000));
    let len = body.len().to_string();
    let headers = [
        ("content-type", "application/octet-stream"),
        ("content-length", len.as_str()),
        ("x-one", "1"),
    ];
    for (status, answer) in both("POST", "/any/path?q=1", &headers, body.clone()) {
        assert_eq!(status, 200);
        let answer = AppAnswer::parse(&answer);
        assert_eq!(answer.body_len, body.len() as u64);
        assert_eq!(answer.body_crc32, crc32(&body));
        let env = |name: &str| answer.environ.get(name).map(Vec::as_slice);
        assert_eq!(env("REQUEST_METHOD"), Some(&b"POST"[..]));
        assert_eq!(env("PATH_INFO"), Some(&b"/any/path"[..]));
        assert_eq!(env("QUERY_STRING"), Some(&b"q=1"[..]));
        assert_eq!(env("CONTENT_LENGTH"), Some(len.as_bytes()));
        assert_eq!(env("HTTP_X_ONE"), Some(&b"1"[..]));
    }

    let n = 700_001;
    for (status, answer) in both("GET", &format!("/big?bytes={n}"), &[], Bytes::new()) {
        assert_eq!(status, 200);
        assert!(
            answer == pattern(n),
            "/big bytes differ ({} bytes)",
            answer.len()
        );
    }
    for (status, answer) in both("GET", "/status/404", &[], Bytes::new()) {
        assert_eq!(status, 404);
        assert_eq!(answer, b"not found\n");
    }
}
