//! CGI: environs built by `cgi-env` run PHP scripts under `php-cgi`, and its output is read
//! back with `cgi-env`'s response-head parser.
#![cfg_attr(skip_interop, allow(unused))]

use cgi_env::{Environ, Gateway, Preset, ResponseKind};
use interop::environ::{assert_holds, build, split_cgi_output};
use interop::php::{decode_server_dump, install_scripts, run_php_cgi};
use interop::scratch::ScratchDir;

fn run(env: &Environ, body: &[u8], dir: &ScratchDir) -> (cgi_env::ResponseHead, Vec<u8>) {
    let out = run_php_cgi(env.iter(), body, dir.path());
    assert!(
        out.status.success(),
        "php-cgi failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    split_cgi_output(&out.stdout)
}

fn setup() -> (ScratchDir, Gateway) {
    let dir = ScratchDir::new("php-cgi");
    let docroot = dir.path().join("docroot");
    install_scripts(&docroot);
    let gateway = Gateway::new(Preset::nginx_fastcgi_conf())
        .with_document_root(docroot.to_str().expect("utf-8 path"));
    (dir, gateway)
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn script_sees_the_environ_we_built() {
    let (dir, gateway) = setup();
    let env = build(
        &gateway,
        "GET",
        "/server.php?a=1&b=%C3%A9",
        &[("x-test", "yes"), ("cookie", "a=b")],
    );
    let (head, body) = run(&env, b"", &dir);
    assert_eq!(head.status, http::StatusCode::OK);
    assert_eq!(head.kind, ResponseKind::Document);
    let seen = decode_server_dump(&body);
    assert_holds(&seen, &env, "php-cgi");
    assert_eq!(
        seen.get("QUERY_STRING").map(Vec::as_slice),
        Some(&b"a=1&b=%C3%A9"[..])
    );
    assert_eq!(
        seen.get("HTTP_X_TEST").map(Vec::as_slice),
        Some(&b"yes"[..])
    );
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn post_body_reaches_the_script() {
    let (dir, gateway) = setup();
    let body: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let len = body.len().to_string();
    let env = build(
        &gateway,
        "POST",
        "/echo.php",
        &[
            ("content-type", "application/octet-stream"),
            ("content-length", &len),
        ],
    );
    let (head, answer) = run(&env, &body, &dir);
    assert_eq!(head.status, http::StatusCode::OK);
    assert_eq!(
        String::from_utf8_lossy(&answer),
        format!("{} {}", body.len(), interop::checksum::crc32(&body))
    );
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn status_404_with_custom_header() {
    let (dir, gateway) = setup();
    let env = build(&gateway, "GET", "/status.php", &[]);
    let (head, body) = run(&env, b"", &dir);
    assert_eq!(head.status, http::StatusCode::NOT_FOUND);
    assert_eq!(
        head.headers
            .get("x-interop")
            .map(http::HeaderValue::as_bytes),
        Some(&b"not-found"[..])
    );
    assert!(
        head.headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"))
    );
    assert_eq!(body, b"no such thing");
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn location_redirect() {
    let (dir, gateway) = setup();
    let env = build(&gateway, "GET", "/status.php?kind=redirect", &[]);
    let (head, _) = run(&env, b"", &dir);
    assert_eq!(head.status, http::StatusCode::FOUND);
    assert_eq!(
        head.headers
            .get("location")
            .map(http::HeaderValue::as_bytes),
        Some(&b"/elsewhere?x=1"[..])
    );
    assert!(matches!(
        head.kind,
        ResponseKind::ClientRedirect
            | ResponseKind::ClientRedirectWithDocument
            | ResponseKind::LocalRedirect
    ));
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn missing_redirect_status_is_refused_by_php_cgi() {
    let (dir, gateway) = setup();
    let preset = gateway.preset().clone().without("REDIRECT_STATUS");
    let gateway = gateway.with_preset(preset);
    let env = build(&gateway, "GET", "/server.php", &[]);
    assert!(!env.contains("REDIRECT_STATUS"));
    let out = run_php_cgi(env.iter(), b"", dir.path());
    assert!(!out.status.success(), "php-cgi ran without REDIRECT_STATUS");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Security Alert"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
