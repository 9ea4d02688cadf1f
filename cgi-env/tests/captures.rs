//! Known-answer tests: for each request nginx sent in the captures, rebuild the HTTP request
//! nginx received from the captured variables, build the environ with the matching preset,
//! and compare it with what nginx sent: the same names, in the same order, with the same
//! values, and the same encoded size as the captured PARAMS record or uwsgi vars block.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use cgi_env::{ConnectionInfo, Environ, Gateway, Param, Preset, ScriptMapping, Var};

const FPM: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/captures/nginx-fpm/decoded.txt"
));
const KEEPCONN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/captures/nginx-fpm-keepconn/decoded.txt"
));
const UWSGI: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/captures/nginx-uwsgi/decoded.txt"
));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    FastCgi,
    Uwsgi,
}

struct Captured {
    wire: Wire,
    encoded_len: usize,
    vars: Vec<(String, String)>,
}

/// The variable blocks of a `decoded.txt`: non-empty PARAMS records and uwsgi vars blocks.
fn captured_environs(text: &str) -> Vec<Captured> {
    let mut blocks = Vec::new();
    let mut current: Option<Captured> = None;
    for line in text.lines() {
        if let Some((name, value)) = parse_var_line(line) {
            if let Some(block) = current.as_mut() {
                block.vars.push((name, value));
            }
            continue;
        }
        if let Some(block) = current.take() {
            blocks.push(block);
        }
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(key))
                .and_then(|n| n.parse::<usize>().ok())
        };
        if line.contains(" PARAMS ") && field("clen=").is_some_and(|n| n > 0) {
            current = Some(Captured {
                wire: Wire::FastCgi,
                encoded_len: field("clen=").unwrap(),
                vars: Vec::new(),
            });
        } else if line.starts_with("modifier1=") {
            current = Some(Captured {
                wire: Wire::Uwsgi,
                encoded_len: field("datasize=").unwrap(),
                vars: Vec::new(),
            });
        }
    }
    blocks.extend(current);
    blocks
}

/// `            NAME = 'value'`, with the value as a Python string literal.
fn parse_var_line(line: &str) -> Option<(String, String)> {
    let (name, value) = line.trim_start().split_once(" = ")?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let value = value.strip_prefix('\'')?.strip_suffix('\'')?;
    assert!(
        !value.contains('\\'),
        "escaped capture values are not expected here: {value}"
    );
    Some((name.to_owned(), value.to_owned()))
}

fn var<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The request nginx received, rebuilt from the variables it sent.
fn rebuild_request(vars: &[(String, String)]) -> (http::request::Parts, ConnectionInfo) {
    let required = |name: &str| var(vars, name).unwrap_or_else(|| panic!("capture lacks {name}"));
    let mut request = http::Request::builder()
        .method(required("REQUEST_METHOD"))
        .uri(required("REQUEST_URI"))
        .version(match required("SERVER_PROTOCOL") {
            "HTTP/1.0" => http::Version::HTTP_10,
            _ => http::Version::HTTP_11,
        });
    let server_port: u16 = required("SERVER_PORT").parse().unwrap();
    for (name, value) in vars {
        if let Some(header) = name.strip_prefix("HTTP_") {
            let header = header.to_ascii_lowercase().replace('_', "-");
            // These captures' nginx set HTTP_HOST to `$host`, the Host header without its
            // port; curl sent the port.
            let value = if header == "host" && !value.contains(':') {
                format!("{value}:{server_port}")
            } else {
                value.clone()
            };
            request = request.header(header, value);
        }
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    let ip = |name: &str| {
        var(vars, name).map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |v| v.parse().unwrap())
    };
    let remote = SocketAddr::new(ip("REMOTE_ADDR"), required("REMOTE_PORT").parse().unwrap());
    let local = SocketAddr::new(ip("SERVER_ADDR"), server_port);
    (
        parts,
        ConnectionInfo::new(remote, local, required("SERVER_NAME")),
    )
}

fn as_strings(env: &Environ) -> Vec<(String, String)> {
    env.iter()
        .map(|(n, v)| {
            (
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

fn check(captured: &Captured, gateway: &Gateway) {
    let (parts, conn) = rebuild_request(&captured.vars);
    // The nginx the captures were made with names itself (uwsgi_params sends no
    // SERVER_SOFTWARE).
    let software = var(&captured.vars, "SERVER_SOFTWARE").unwrap_or_default();
    let gateway = gateway.clone().with_server_software(software);
    let env = gateway.build(&parts, &conn).unwrap();
    assert_eq!(as_strings(&env), captured.vars, "request {}", parts.uri);
    let size = match captured.wire {
        Wire::FastCgi => env.fastcgi_encoded_len(),
        Wire::Uwsgi => env.uwsgi_encoded_len(),
    };
    assert_eq!(size, captured.encoded_len, "encoded size for {}", parts.uri);
}

/// Debian's `snippets/fastcgi-php.conf`, which the PHP captures were made with:
/// `fastcgi_split_path_info ^(.+?\.php)(/.*)$; try_files $fastcgi_script_name =404;
/// fastcgi_param PATH_INFO $path_info; include fastcgi.conf;`. `try_files` sets `$uri`,
/// hence DOCUMENT_URI, to the script's path.
fn php_gateway(document_root: &str) -> Gateway {
    let preset = Preset::nginx_fastcgi_conf()
        .with_first(Param::new("PATH_INFO", Var::PathInfo))
        .with(Param::new("DOCUMENT_URI", Var::ScriptName));
    Gateway::new(preset)
        .with_mapping(ScriptMapping::SplitAtExtension(".php".into()))
        .with_document_root(document_root)
}

#[test]
fn nginx_fpm_fastcgi_conf() {
    let blocks = captured_environs(FPM);
    assert_eq!(blocks.len(), 6);
    for block in &blocks {
        assert_eq!(block.wire, Wire::FastCgi);
        check(
            block,
            &php_gateway(var(&block.vars, "DOCUMENT_ROOT").unwrap()),
        );
    }
}

#[test]
fn nginx_fpm_keep_conn() {
    let blocks = captured_environs(KEEPCONN);
    assert!(blocks.len() >= 3, "{} blocks", blocks.len());
    for block in &blocks {
        check(
            block,
            &php_gateway(var(&block.vars, "DOCUMENT_ROOT").unwrap()),
        );
    }
}

#[test]
fn nginx_uwsgi_params_and_fastcgi_params() {
    let blocks = captured_environs(UWSGI);
    assert_eq!(blocks.iter().filter(|b| b.wire == Wire::Uwsgi).count(), 2);
    assert_eq!(blocks.iter().filter(|b| b.wire == Wire::FastCgi).count(), 2);
    for block in &blocks {
        let root = var(&block.vars, "DOCUMENT_ROOT").unwrap();
        // Both locations add `HTTP_HOST $host`; the FastCGI one also PATH_INFO as
        // `$document_uri`, the way uwsgi_params has it.
        let preset = match block.wire {
            Wire::Uwsgi => Preset::nginx_uwsgi_params().with(Param::new("HTTP_HOST", Var::Host)),
            Wire::FastCgi => Preset::nginx_fastcgi_params()
                .with(Param::new("HTTP_HOST", Var::Host))
                .with(Param::new("PATH_INFO", Var::DocumentUri)),
        };
        check(block, &Gateway::new(preset).with_document_root(root));
    }
}

#[test]
fn a_changed_request_no_longer_matches() {
    // The comparison above must be able to fail: one changed header changes the environ.
    let block = &captured_environs(FPM)[0];
    let (mut parts, conn) = rebuild_request(&block.vars);
    parts
        .headers
        .insert("x-test", http::HeaderValue::from_static("no"));
    let env = php_gateway("/srv/www/a/docroot")
        .build(&parts, &conn)
        .unwrap();
    assert_ne!(as_strings(&env), block.vars);
}

/// The STDOUT bytes of the first response in a FastCGI server-to-client capture.
fn first_stdout(wire: &[u8]) -> Vec<u8> {
    let mut stdout = Vec::new();
    let mut at = 0;
    while let Some(header) = wire.get(at..at + 8) {
        let record_type = header[1];
        let content_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let padding_len = usize::from(header[6]);
        let content = &wire[at + 8..at + 8 + content_len];
        at += 8 + content_len + padding_len;
        match record_type {
            6 => stdout.extend_from_slice(content),
            3 => break,
            _ => {}
        }
    }
    stdout
}

fn capture_file(path: &str) -> Vec<u8> {
    let full = format!("{}/../testdata/captures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn parse_head(stdout: &[u8]) -> cgi_env::ResponseHead {
    let stdout = bytes::Bytes::copy_from_slice(stdout);
    cgi_env::parse_response_head(&stdout, cgi_env::ResponseHeadLimits::default())
        .unwrap()
        .expect("complete head")
}

#[test]
fn response_heads_from_php_fpm_and_uwsgi_fastcgi() {
    // (file, status, content type, body length) as decoded.txt lists them.
    let cases: [(&str, u16, &str, usize); 6] = [
        (
            "nginx-fpm/nginx-fpm-conn1-s2c.bin",
            200,
            "text/html; charset=UTF-8",
            19,
        ),
        (
            "nginx-fpm/nginx-fpm-conn3-s2c.bin",
            200,
            "application/octet-stream",
            200_000,
        ),
        (
            "nginx-fpm/nginx-fpm-conn4-s2c.bin",
            200,
            "text/html; charset=UTF-8",
            32,
        ),
        (
            "nginx-fpm/nginx-fpm-conn6-s2c.bin",
            404,
            "text/plain; charset=utf-8",
            19,
        ),
        (
            "nginx-uwsgi/nginx-uwsgifcgi-conn1-s2c.bin",
            200,
            "application/json",
            1038,
        ),
        (
            "nginx-uwsgi/nginx-uwsgifcgi-conn2-s2c.bin",
            200,
            "application/octet-stream",
            200_000,
        ),
    ];
    for (file, status, content_type, body_len) in cases {
        let stdout = first_stdout(&capture_file(file));
        let head = parse_head(&stdout);
        assert_eq!(head.status.as_u16(), status, "{file}");
        assert_eq!(head.kind, cgi_env::ResponseKind::Document, "{file}");
        assert_eq!(head.headers["content-type"], content_type, "{file}");
        assert_eq!(stdout.len() - head.body_offset, body_len, "{file}");
        head.check_body_len(body_len as u64).unwrap();
        assert_eq!(head.transfer_coding, None, "{file}");
    }
}

#[test]
fn php_fpm_404_with_custom_headers() {
    let head = parse_head(&first_stdout(&capture_file(
        "nginx-fpm/nginx-fpm-conn6-s2c.bin",
    )));
    assert_eq!(head.reason.as_deref(), Some(&b"Not Found"[..]));
    let multi: Vec<_> = head.headers.get_all("x-multi").iter().collect();
    assert_eq!(multi, ["a", "b"]);
    assert_eq!(head.headers["x-custom-one"], "alpha");
    assert_eq!(head.headers["x-custom-two"], "beta");
    assert_eq!(head.headers["set-cookie"], "c1=v1");
    assert!(!head.headers.contains_key("status"));
}

#[test]
fn application_side_reads_the_captured_environs() {
    for text in [FPM, KEEPCONN, UWSGI] {
        for block in captured_environs(text) {
            let env: Environ = block
                .vars
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let request = cgi_env::CgiRequest::from_environ(&env).unwrap();
            let uri = var(&block.vars, "REQUEST_URI").unwrap();
            let host = var(&block.vars, "HTTP_HOST").unwrap();
            assert_eq!(request.parts.uri, format!("http://{host}{uri}").as_str());
            assert_eq!(
                request.parts.method,
                var(&block.vars, "REQUEST_METHOD").unwrap()
            );
            assert_eq!(request.parts.version, http::Version::HTTP_11);
            assert_eq!(request.remote_addr, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            let body = var(&block.vars, "CONTENT_LENGTH").filter(|v| !v.is_empty());
            assert_eq!(request.content_length, body.map(|v| v.parse().unwrap()));
            assert_eq!(cgi_env::check_pep3333(&env), Ok(()), "{uri}");
            assert_eq!(
                cgi_env::wsgi_url_scheme(&env, cgi_env::ProxyTrust::Trusted),
                "http"
            );
        }
    }
}
