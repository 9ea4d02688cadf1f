//! nginx in front of the crates' example servers, run as the binaries a user runs:
//! `fcgi_server` (with and without `fastcgi_keep_conn`) and `uwsgi_server`. The binaries
//! are the ones `cargo test --workspace` builds next to this test.
#![cfg_attr(skip_interop, allow(unused))]

use interop::checksum::pattern;
use interop::examples::{start_fcgi_server, start_uwsgi_server};
use interop::http_client;
use interop::nginx::Nginx;
use interop::peer::Peer;
use interop::scratch::ScratchDir;

struct Setup {
    nginx: Nginx,
    _servers: Vec<Peer>,
    _dir: ScratchDir,
}

fn setup() -> Setup {
    let dir = ScratchDir::new("nginx-examples");
    let (fcgi, fcgi_port) = start_fcgi_server(&dir);
    let (uwsgi, uwsgi_port) = start_uwsgi_server(&dir);
    let http = format!("upstream kept {{ server 127.0.0.1:{fcgi_port}; keepalive 4; }}");
    let locations = format!(
        "location /ex-fcgi/ {{ include fastcgi_params; fastcgi_pass 127.0.0.1:{fcgi_port}; }}\n\
         location /ex-fcgi-keep/ {{ include fastcgi_params; fastcgi_keep_conn on; fastcgi_pass kept; }}\n\
         location /ex-uwsgi/ {{ include uwsgi_params; uwsgi_pass 127.0.0.1:{uwsgi_port}; }}\n"
    );
    let nginx = Nginx::start(&dir, &http, &locations);
    Setup {
        nginx,
        _servers: vec![fcgi, uwsgi],
        _dir: dir,
    }
}

/// Whether the JSON text holds `"name": "value"` (either example's spacing).
fn has(body: &[u8], name: &str, value: &str) -> bool {
    let text = String::from_utf8_lossy(body);
    text.contains(&format!("\"{name}\": \"{value}\""))
        || text.contains(&format!("\"{name}\":\"{value}\""))
}

const PREFIXES: [&str; 3] = ["/ex-fcgi/", "/ex-fcgi-keep/", "/ex-uwsgi/"];

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn get_with_query_and_headers() {
    let setup = setup();
    for prefix in PREFIXES {
        let target = format!("{prefix}page?x=1&y=%C3%A9");
        let response = http_client::request(
            setup.nginx.port,
            "GET",
            &target,
            &[("x-test", "yes"), ("cookie", "a=b")],
            b"",
        )
        .unwrap_or_else(|e| panic!("{target}: {e}\n{}", setup.nginx.log()));
        assert_eq!(
            response.status,
            200,
            "{target}: {}",
            String::from_utf8_lossy(&response.body)
        );
        assert!(
            has(&response.body, "REQUEST_URI", &target),
            "{target}: {}",
            String::from_utf8_lossy(&response.body)
        );
        assert!(has(&response.body, "QUERY_STRING", "x=1&y=%C3%A9"));
        assert!(has(&response.body, "HTTP_X_TEST", "yes"));
        assert!(has(&response.body, "HTTP_COOKIE", "a=b"));
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn one_mebibyte_post() {
    let setup = setup();
    let body = pattern(1 << 20);
    for prefix in PREFIXES {
        let response = http_client::request(
            setup.nginx.port,
            "POST",
            &format!("{prefix}upload"),
            &[],
            &body,
        )
        .unwrap_or_else(|e| panic!("{prefix}: {e}\n{}", setup.nginx.log()));
        assert_eq!(response.status, 200, "{prefix}");
        let text = String::from_utf8_lossy(&response.body);
        assert!(
            text.contains("\"body_length\": 1048576") || text.contains("\"body_len\":1048576"),
            "{prefix}: the server saw another body length"
        );
        assert!(has(&response.body, "CONTENT_LENGTH", "1048576"));
    }
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn many_headers_and_one_hundred_keep_alive_requests() {
    let setup = setup();
    let names: Vec<String> = (0..50).map(|i| format!("x-many-{i:02}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    for prefix in PREFIXES {
        let mut conn = http_client::Connection::open(setup.nginx.port).expect("connect");
        for i in 0..100 {
            let target = format!("{prefix}n{i}");
            let response = conn
                .request("GET", &target, &headers, b"")
                .unwrap_or_else(|e| panic!("{target}: {e}"));
            assert_eq!(response.status, 200, "{target}");
            assert!(has(&response.body, "REQUEST_URI", &target), "{target}");
            assert!(has(&response.body, "HTTP_X_MANY_49", "v"), "{target}");
        }
    }
}
