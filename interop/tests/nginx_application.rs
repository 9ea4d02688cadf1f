//! Application side: nginx in front of our FastCGI server (with and without
//! `fastcgi_keep_conn`) and our uwsgi server, driven by an HTTP client through nginx. The
//! environ our servers decode must equal, name for name, what `cgi-env`'s presets build for
//! the same HTTP request: a differential test of both codecs' decoders and of the presets.
#![cfg_attr(skip_interop, allow(unused))]

use std::collections::BTreeMap;

use cgi_env::{ConnectionInfo, Gateway, Preset};
use interop::app_answer::AppAnswer;
use interop::checksum::{crc32, pattern};
use interop::http_client;
use interop::nginx::Nginx;
use interop::scratch::ScratchDir;
use interop::servers::Server;

const ROOT: &str = "/srv/www";

struct Setup {
    _dir: ScratchDir,
    nginx: Nginx,
    fastcgi: Server,
    fastcgi_keep: Server,
    uwsgi: Server,
}

fn setup() -> Setup {
    let dir = ScratchDir::new("nginx-app");
    let fastcgi = Server::fastcgi();
    let fastcgi_keep = Server::fastcgi();
    let uwsgi = Server::uwsgi();
    let http = format!(
        "upstream kept {{ server 127.0.0.1:{}; keepalive 4; }}",
        fastcgi_keep.port
    );
    let locations = format!(
        "root {ROOT};\n\
         location /fcgi/ {{ include fastcgi_params; fastcgi_pass 127.0.0.1:{}; }}\n\
         location /fcgi-keep/ {{ include fastcgi_params; fastcgi_keep_conn on; fastcgi_pass kept; }}\n\
         location /uwsgi/ {{ include uwsgi_params; uwsgi_pass 127.0.0.1:{}; }}\n",
        fastcgi.port, uwsgi.port
    );
    let nginx = Nginx::start(&dir, &http, &locations);
    Setup {
        _dir: dir,
        nginx,
        fastcgi,
        fastcgi_keep,
        uwsgi,
    }
}

/// What `preset` builds for the request the HTTP client sent.
fn expected(
    preset: Preset,
    setup: &Setup,
    client_port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body_len: Option<usize>,
) -> BTreeMap<String, Vec<u8>> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(target)
        .header("host", "localhost");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(len) = body_len {
        request = request.header("content-length", len);
    }
    let (parts, ()) = request.body(()).expect("request").into_parts();
    let conn = ConnectionInfo::new(
        format!("127.0.0.1:{client_port}").parse().expect("addr"),
        format!("127.0.0.1:{}", setup.nginx.port)
            .parse()
            .expect("addr"),
        "localhost",
    );
    let gateway = Gateway::new(preset)
        .with_document_root(ROOT)
        .with_server_software(format!("nginx/{}", Nginx::version()));
    let env = gateway.build(&parts, &conn).expect("environ");
    env.iter()
        .map(|(n, v)| (String::from_utf8(n.to_vec()).expect("ascii"), v.to_vec()))
        .collect()
}

/// The names whose values differ (nginx's, ours), values shortened.
fn differences(
    sent: &BTreeMap<String, Vec<u8>>,
    built: &BTreeMap<String, Vec<u8>>,
) -> Vec<(String, Option<String>, Option<String>)> {
    let show = |v: Option<&Vec<u8>>| {
        v.map(|v| String::from_utf8_lossy(&v[..v.len().min(60)]).into_owned())
    };
    sent.keys()
        .chain(built.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|name| sent.get(*name) != built.get(*name))
        .map(|name| (name.clone(), show(sent.get(name)), show(built.get(name))))
        .collect()
}

fn preset_for(prefix: &str) -> Preset {
    if prefix == "/uwsgi/" {
        Preset::nginx_uwsgi_params()
    } else {
        Preset::nginx_fastcgi_params()
    }
}

fn exchange(
    setup: &Setup,
    prefix: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    let target = format!("{prefix}{path}");
    let mut conn = http_client::Connection::open(setup.nginx.port).expect("connect to nginx");
    let client_port = conn.local_port().expect("local port");
    let response = conn
        .request(method, &target, headers, body)
        .unwrap_or_else(|e| panic!("{e}; nginx log:\n{}", setup.nginx.log()));
    assert_eq!(
        response.status,
        200,
        "{target}: {}\n{}",
        String::from_utf8_lossy(&response.body),
        setup.nginx.log()
    );
    let answer = AppAnswer::parse(&response.body);
    assert_eq!(
        (answer.body_len, answer.body_crc32),
        (body.len() as u64, crc32(body)),
        "{target}: body"
    );
    let body_len = (method == "POST").then_some(body.len());
    let expected = expected(
        preset_for(prefix),
        setup,
        client_port,
        method,
        &target,
        headers,
        body_len,
    );
    let differences = differences(&answer.environ, &expected);
    assert!(
        differences.is_empty(),
        "{target}: the environ nginx sent differs from what our preset builds: {differences:#?}"
    );
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn get_environ_matches_the_presets() {
    let setup = setup();
    let headers = [
        ("x-test", "yes"),
        ("user-agent", "interop/1"),
        ("cookie", "a=b; c=d"),
        ("accept", "*/*"),
    ];
    for prefix in ["/fcgi/", "/fcgi-keep/", "/uwsgi/"] {
        exchange(&setup, prefix, "GET", "echo?x=1&y=%C3%A9", &headers, b"");
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn one_mebibyte_post() {
    let setup = setup();
    let body = pattern(1 << 20);
    for prefix in ["/fcgi/", "/fcgi-keep/", "/uwsgi/"] {
        exchange(
            &setup,
            prefix,
            "POST",
            "upload",
            &[("content-type", "application/octet-stream")],
            &body,
        );
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn many_headers() {
    let setup = setup();
    let names: Vec<String> = (0..60).map(|i| format!("x-header-{i:02}")).collect();
    let values: Vec<String> = (0..60)
        .map(|i| format!("value {i}:{}", "v".repeat(i * 7)))
        .collect();
    let headers: Vec<(&str, &str)> = names
        .iter()
        .zip(&values)
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    for prefix in ["/fcgi/", "/fcgi-keep/", "/uwsgi/"] {
        exchange(&setup, prefix, "GET", "headers", &headers, b"");
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn one_hundred_keep_alive_requests() {
    let setup = setup();
    for prefix in ["/fcgi/", "/fcgi-keep/", "/uwsgi/"] {
        let mut conn = http_client::Connection::open(setup.nginx.port).expect("connect to nginx");
        for i in 0..100usize {
            let body = pattern(i * 31);
            let response = conn
                .request("POST", &format!("{prefix}n{i}"), &[], &body)
                .unwrap_or_else(|e| panic!("{prefix} request {i}: {e}"));
            assert_eq!(response.status, 200, "{prefix} request {i}");
            let answer = AppAnswer::parse(&response.body);
            assert_eq!(
                (answer.body_len, answer.body_crc32),
                (body.len() as u64, crc32(&body)),
                "{prefix} request {i}"
            );
            assert_eq!(
                answer.environ.get("REQUEST_URI").map(Vec::as_slice),
                Some(format!("{prefix}n{i}").as_bytes())
            );
        }
    }
    // Without keep-conn every request is a new upstream connection; with it nginx reuses
    // the connection our server kept open.
    assert!(
        setup.fastcgi.connections() >= 100,
        "{}",
        setup.fastcgi.connections()
    );
    assert!(
        setup.fastcgi_keep.connections() <= 4,
        "keep-conn used {} connections",
        setup.fastcgi_keep.connections()
    );
    assert!(
        setup.uwsgi.connections() >= 100,
        "{}",
        setup.uwsgi.connections()
    );
}
