//! Real front servers in front of the crates' example servers (`fcgi_server`,
//! `uwsgi_server`, run as the binaries a user runs), driven by an HTTP client: nginx
//! (`fastcgi_pass` with and without `fastcgi_keep_conn`, `uwsgi_pass`), HAProxy (`fcgi-app`
//! multiplexing requests on one FastCGI connection) and Apache (`mod_proxy_fcgi`,
//! `mod_proxy_uwsgi`). The examples answer with JSON holding the environ, the body length
//! and a number unique per connection from the front server; a path ending in `/echo` gets
//! its body back, one ending in `/sleep` is answered after a second.
#![cfg_attr(skip_interop, allow(unused))]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use interop::apache::Apache;
use interop::examples::{start_fcgi_server, start_uwsgi_server};
use interop::haproxy::Haproxy;
use interop::http_client::{self, Response};
use interop::nginx::Nginx;
use interop::peer::Peer;
use interop::scratch::ScratchDir;

/// `n` bytes without a period (xorshift), so that a lost, repeated or shifted block shows.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Whether the JSON text holds `"name": "value"`.
fn has(body: &[u8], name: &str, value: &str) -> bool {
    String::from_utf8_lossy(body).contains(&format!("\"{name}\": \"{value}\""))
}

/// The `connection` number an example answered with.
fn connection_of(response: &Response) -> u64 {
    let text = String::from_utf8_lossy(&response.body);
    text.split("\"connection\": ")
        .nth(1)
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|digits| digits.parse().ok())
        })
        .unwrap_or_else(|| panic!("no connection number in {text}"))
}

/// Asserts that `response` is a 200 whose body is `sent`, byte for byte.
fn assert_echo(what: &str, response: &Response, sent: &[u8], log: &dyn Fn() -> String) {
    assert_eq!(
        response.status,
        200,
        "{what}: {}\n{}",
        String::from_utf8_lossy(&response.body[..response.body.len().min(500)]),
        log()
    );
    if response.body != sent {
        let first_difference = response
            .body
            .iter()
            .zip(sent)
            .position(|(a, b)| a != b)
            .unwrap_or(response.body.len().min(sent.len()));
        panic!(
            "{what}: echo differs from what was sent: {} bytes back for {} sent, first \
             difference at byte {first_difference}\n{}",
            response.body.len(),
            sent.len(),
            log()
        );
    }
}

// nginx

struct NginxSetup {
    nginx: Nginx,
    _servers: Vec<Peer>,
    _dir: ScratchDir,
}

/// Without keep-conn, with keep-conn (an upstream with a keepalive cache), and uwsgi.
const NGINX_PREFIXES: [&str; 3] = ["/fcgi/", "/fcgi-keep/", "/uwsgi/"];

fn nginx_setup() -> NginxSetup {
    let dir = ScratchDir::new("front-nginx");
    let (fcgi, fcgi_port) = start_fcgi_server(&dir);
    let (uwsgi, uwsgi_port) = start_uwsgi_server(&dir);
    let http = format!("upstream kept {{ server 127.0.0.1:{fcgi_port}; keepalive 4; }}");
    let locations = format!(
        "location /fcgi/ {{ include fastcgi_params; fastcgi_pass 127.0.0.1:{fcgi_port}; }}\n\
         location /fcgi-keep/ {{ include fastcgi_params; fastcgi_keep_conn on; \
         fastcgi_pass kept; }}\n\
         location /uwsgi/ {{ include uwsgi_params; uwsgi_pass 127.0.0.1:{uwsgi_port}; }}\n"
    );
    // Nginx::start sets `client_max_body_size 64m` in the http block.
    let nginx = Nginx::start(&dir, &http, &locations);
    NginxSetup {
        nginx,
        _servers: vec![fcgi, uwsgi],
        _dir: dir,
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn nginx_ten_mebibyte_echo() {
    let setup = nginx_setup();
    let body = noise(10 << 20, 10);
    for prefix in NGINX_PREFIXES {
        let target = format!("{prefix}big/echo");
        let response = http_client::request(setup.nginx.port, "POST", &target, &[], &body)
            .unwrap_or_else(|e| panic!("{target}: {e}\n{}", setup.nginx.log()));
        assert_echo(&target, &response, &body, &|| setup.nginx.log());
    }
}

/// 100 requests on one client connection, GETs alternating with POSTs echoed back; with
/// keep-conn all of them share one FastCGI connection, without it each has its own, and
/// uwsgi has one connection per request.
#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn nginx_one_hundred_keep_alive_requests_with_bodies() {
    let setup = nginx_setup();
    for prefix in NGINX_PREFIXES {
        let mut conn = http_client::Connection::open(setup.nginx.port).expect("connect");
        let mut connections = BTreeSet::new();
        for i in 0..100u64 {
            if i % 2 == 0 {
                let target = format!("{prefix}n{i}?i={i}");
                let response = conn
                    .request("GET", &target, &[], b"")
                    .unwrap_or_else(|e| panic!("{target}: {e}\n{}", setup.nginx.log()));
                assert_eq!(response.status, 200, "{target}");
                assert!(has(&response.body, "REQUEST_URI", &target), "{target}");
                connections.insert(connection_of(&response));
            } else {
                let target = format!("{prefix}n{i}/echo");
                let body = noise(4096 + usize::try_from(i).expect("small") * 97, i);
                let response = conn
                    .request("POST", &target, &[], &body)
                    .unwrap_or_else(|e| panic!("{target}: {e}\n{}", setup.nginx.log()));
                assert_echo(&target, &response, &body, &|| setup.nginx.log());
            }
        }
        if prefix == "/fcgi-keep/" {
            assert_eq!(
                connections.len(),
                1,
                "{prefix}: with fastcgi_keep_conn the sequential requests should share one \
                 FastCGI connection: {connections:?}"
            );
        } else {
            assert_eq!(
                connections.len(),
                50,
                "{prefix}: without keep-conn each request has its own connection: \
                 {connections:?}"
            );
        }
    }
}

// HAProxy

struct HaproxySetup {
    haproxy: Haproxy,
    _server: Peer,
    _dir: ScratchDir,
}

fn haproxy_setup() -> HaproxySetup {
    let dir = ScratchDir::new("front-haproxy");
    let (fcgi, fcgi_port) = start_fcgi_server(&dir);
    // HAProxy asks GET_VALUES when it connects; the example answers FCGI_MPXS_CONNS=1 and
    // its FCGI_MAX_REQS. With the default `http-reuse safe` a connection busy with a stream
    // stays reserved to that stream's client connection; `always` lets requests of other
    // client connections share it.
    let sections = format!(
        "fcgi-app app\n  docroot /srv\n  option keep-conn\n  option get-values\n  \
         option mpxs-conns\n  option max-reqs 64\n\n\
         backend app\n  use-fcgi-app app\n  http-reuse always\n  \
         server example 127.0.0.1:{fcgi_port} proto fcgi\n"
    );
    let haproxy = Haproxy::start(&dir, "  default_backend app", &sections);
    HaproxySetup {
        haproxy,
        _server: fcgi,
        _dir: dir,
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn haproxy_get_and_one_mebibyte_echo() {
    let setup = haproxy_setup();
    let log = || setup.haproxy.log();
    let response = http_client::request(
        setup.haproxy.port,
        "GET",
        "/x/page?a=1",
        &[("x-test", "yes")],
        b"",
    )
    .unwrap_or_else(|e| panic!("GET: {e}\n{}", log()));
    assert_eq!(
        response.status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&response.body),
        log()
    );
    for (name, value) in [
        ("REQUEST_METHOD", "GET"),
        ("REQUEST_URI", "/x/page?a=1"),
        ("QUERY_STRING", "a=1"),
        ("HTTP_X_TEST", "yes"),
    ] {
        assert!(
            has(&response.body, name, value),
            "{name}={value}: {}",
            String::from_utf8_lossy(&response.body)
        );
    }

    let body = noise(1 << 20, 1);
    let response = http_client::request(setup.haproxy.port, "POST", "/x/echo", &[], &body)
        .unwrap_or_else(|e| panic!("POST: {e}\n{}", log()));
    assert_echo("/x/echo", &response, &body, &log);
}

/// Eight one-second requests over eight client connections finish together, and at least
/// two of them were carried by the same FastCGI connection at the same time.
#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn haproxy_multiplexes_requests_on_one_fastcgi_connection() {
    let setup = haproxy_setup();
    let port = setup.haproxy.port;
    // One request first, so that a FastCGI connection (GET_VALUES asked and answered) is
    // there for the others to share.
    let warm = http_client::request(port, "GET", "/x/warm", &[], b"")
        .unwrap_or_else(|e| panic!("warm-up: {e}\n{}", setup.haproxy.log()));
    assert_eq!(warm.status, 200, "{}", setup.haproxy.log());

    let started = Instant::now();
    let results: Vec<Result<Response, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                scope.spawn(move || {
                    http_client::request(port, "GET", &format!("/x/{i}/sleep"), &[], b"")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    let elapsed = started.elapsed();

    let mut connections = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        let response =
            result.unwrap_or_else(|e| panic!("request {i}: {e}\n{}", setup.haproxy.log()));
        assert_eq!(
            response.status,
            200,
            "request {i}: {}\n{}",
            String::from_utf8_lossy(&response.body),
            setup.haproxy.log()
        );
        connections.push(connection_of(&response));
    }
    assert!(
        elapsed < Duration::from_secs(5),
        "eight one-second requests took {elapsed:?}: they did not run at once \
         (connections {connections:?})\n{}",
        setup.haproxy.log()
    );
    let distinct: BTreeSet<u64> = connections.iter().copied().collect();
    assert!(
        distinct.len() < connections.len(),
        "each request had a FastCGI connection of its own ({connections:?}): HAProxy did \
         not multiplex\n{}",
        setup.haproxy.log()
    );
}

// Apache

struct ApacheSetup {
    apache: Apache,
    _servers: Vec<Peer>,
    _dir: ScratchDir,
}

const APACHE_PREFIXES: [&str; 2] = ["/fcgi/", "/uwsgi/"];

fn apache_setup() -> ApacheSetup {
    let dir = ScratchDir::new("front-apache");
    let (fcgi, fcgi_port) = start_fcgi_server(&dir);
    let (uwsgi, uwsgi_port) = start_uwsgi_server(&dir);
    let directives = format!(
        "ProxyPass /fcgi-reuse/ fcgi://127.0.0.1:{fcgi_port}/reuse/ enablereuse=on\n\
         ProxyPass /fcgi/ fcgi://127.0.0.1:{fcgi_port}/\n\
         ProxyPass /uwsgi/ uwsgi://127.0.0.1:{uwsgi_port}/\n"
    );
    let apache = Apache::start(&dir, &["proxy", "proxy_fcgi", "proxy_uwsgi"], &directives);
    ApacheSetup {
        apache,
        _servers: vec![fcgi, uwsgi],
        _dir: dir,
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn apache_get_through_fcgi_and_uwsgi() {
    let setup = apache_setup();
    for prefix in APACHE_PREFIXES {
        let target = format!("{prefix}page?a=1");
        let response =
            http_client::request(setup.apache.port, "GET", &target, &[("x-test", "yes")], b"")
                .unwrap_or_else(|e| panic!("{target}: {e}\n{}", setup.apache.log()));
        assert_eq!(
            response.status,
            200,
            "{target}: {}\n{}",
            String::from_utf8_lossy(&response.body),
            setup.apache.log()
        );
        for (name, value) in [
            ("REQUEST_METHOD", "GET"),
            ("QUERY_STRING", "a=1"),
            ("HTTP_X_TEST", "yes"),
        ] {
            assert!(
                has(&response.body, name, value),
                "{target}: {name}={value}: {}",
                String::from_utf8_lossy(&response.body)
            );
        }
    }
}

/// mod_proxy_fcgi and mod_proxy_uwsgi write the whole request body before they read any of
/// the answer; the answer is as large as the body.
#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn apache_eight_mebibyte_echo_through_fcgi_and_uwsgi() {
    let setup = apache_setup();
    let body = noise(8 << 20, 8);
    for prefix in APACHE_PREFIXES {
        let target = format!("{prefix}big/echo");
        let response = http_client::request(setup.apache.port, "POST", &target, &[], &body)
            .unwrap_or_else(|e| panic!("{target}: {e}\n{}", setup.apache.log()));
        assert_echo(&target, &response, &body, &|| setup.apache.log());
    }
}

/// Four 2 MB echoes at once over four client connections, with HAProxy free to multiplex
/// them: each comes back whole and unmixed.
#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn haproxy_concurrent_echoes_on_shared_connections() {
    let setup = haproxy_setup();
    let port = setup.haproxy.port;
    let warm = http_client::request(port, "GET", "/x/warm", &[], b"")
        .unwrap_or_else(|e| panic!("warm-up: {e}\n{}", setup.haproxy.log()));
    assert_eq!(warm.status, 200, "{}", setup.haproxy.log());
    let bodies: Vec<Vec<u8>> = (0..4).map(|i| noise(2 << 20, 100 + i)).collect();
    let results: Vec<Result<Response, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                scope.spawn(move || {
                    http_client::request(port, "POST", &format!("/x/{i}/echo"), &[], body)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    for (i, (result, body)) in results.into_iter().zip(&bodies).enumerate() {
        let what = format!("echo {i}");
        let response = result.unwrap_or_else(|e| panic!("{what}: {e}\n{}", setup.haproxy.log()));
        assert_echo(&what, &response, body, &|| setup.haproxy.log());
    }
}

/// Twenty requests on one client connection through `enablereuse=on`, GETs alternating with
/// POST echoes: mod_proxy_fcgi keeps its FastCGI connection and every GET arrives on the
/// same one.
#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn apache_fcgi_connection_reuse() {
    let setup = apache_setup();
    let mut conn = http_client::Connection::open(setup.apache.port).expect("connect");
    let mut connections = BTreeSet::new();
    for i in 0..20u64 {
        if i % 2 == 0 {
            let target = format!("/fcgi-reuse/n{i}");
            let response = conn
                .request("GET", &target, &[], b"")
                .unwrap_or_else(|e| panic!("{target}: {e}\n{}", setup.apache.log()));
            assert_eq!(response.status, 200, "{target}\n{}", setup.apache.log());
            connections.insert(connection_of(&response));
        } else {
            let target = format!("/fcgi-reuse/n{i}/echo");
            let body = noise(100_000, i);
            let response = conn
                .request("POST", &target, &[], &body)
                .unwrap_or_else(|e| panic!("{target}: {e}\n{}", setup.apache.log()));
            assert_echo(&target, &response, &body, &|| setup.apache.log());
        }
    }
    assert_eq!(
        connections.len(),
        1,
        "with enablereuse=on the sequential requests should share one FastCGI connection: \
         {connections:?}\n{}",
        setup.apache.log()
    );
}

/// A front server: its port, the locations to try, and its log.
type Front<'a> = (u16, &'a [&'a str], &'a dyn Fn() -> String);

/// A service that answers before it reads the body (an early 413) does not hang behind
/// nginx, which stops sending the body once it has the answer, nor behind Apache, which
/// writes the whole body before it reads; the server goes on serving after it.
#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn an_early_answer_to_a_large_body_hangs_behind_no_front_server() {
    let body = noise(10 << 20, 13);
    let nginx = nginx_setup();
    let apache = apache_setup();
    let fronts: [Front<'_>; 2] = [
        (nginx.nginx.port, &NGINX_PREFIXES, &|| nginx.nginx.log()),
        (apache.apache.port, &APACHE_PREFIXES, &|| {
            apache.apache.log()
        }),
    ];
    for (port, prefixes, log) in fronts {
        for prefix in prefixes {
            let target = format!("{prefix}upload/early");
            let response = http_client::request(port, "POST", &target, &[], &body)
                .unwrap_or_else(|e| panic!("{target}: {e}\n{}", log()));
            assert_eq!(response.status, 413, "{target}\n{}", log());
            let target = format!("{prefix}after");
            let response = http_client::request(port, "GET", &target, &[], b"")
                .unwrap_or_else(|e| panic!("{target}: {e}\n{}", log()));
            assert_eq!(response.status, 200, "{target}\n{}", log());
            assert!(has(&response.body, "REQUEST_URI", &target), "{target}");
        }
    }
}
