//! `fastcgi-uwsgi`'s command-line FastCGI client (`examples/fcgi_client.rs`) against a real
//! php-fpm, as an operator runs it instead of `cgi-fcgi`: the ping and status health
//! checks, a script with a body, and the script's STDERR on our stderr. The binary is the
//! one `cargo test --workspace` builds next to this test.
#![cfg_attr(skip_interop, allow(unused))]

use std::process::{Command, Output, Stdio};

use interop::examples::example;
use interop::php::PhpFpm;
use interop::scratch::ScratchDir;

fn fcgi_client(args: &[&str]) -> Output {
    Command::new(example("fcgi_client"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run fcgi_client")
}

/// Asserts the exit code and returns stdout and stderr.
#[track_caller]
fn expect(output: &Output, code: i32) -> (String, String) {
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {out}\nstderr: {err}"
    );
    (out, err)
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn ping_status_and_a_script_against_php_fpm() {
    let dir = ScratchDir::new("cli-fpm");
    let fpm = PhpFpm::start(&dir, 1);
    let address = fpm.addr().to_string();
    let docroot = fpm.docroot.to_str().expect("utf-8 path");

    let (out, _) = expect(&fcgi_client(&["ping", &address]), 0);
    assert_eq!(out, "pong\n");
    // A path php-fpm does not ping at: "File not found.", and php-fpm's STDERR.
    let (_, err) = expect(&fcgi_client(&["ping", &address, "--path", "/nope"]), 1);
    assert!(err.contains("Primary script unknown"), "{err}");
    assert!(err.contains(&format!("{address} answered 404")), "{err}");

    let (out, _) = expect(&fcgi_client(&["status", &address]), 0);
    assert!(out.contains("pool:"), "{out}");
    assert!(out.contains("accepted conn:"), "{out}");
    let (out, _) = expect(
        &fcgi_client(&["status", &address, "--path", "/status?json"]),
        0,
    );
    assert!(out.starts_with("{\"pool\":"), "{out}");

    let args = [
        &address,
        "/echo.php",
        "--document-root",
        docroot,
        "-d",
        "hello",
    ];
    let (out, _) = expect(&fcgi_client(&args), 0);
    assert_eq!(out, format!("5 {}", interop::checksum::crc32(b"hello")));

    // The script's error_log() line is a STDERR record: on our stderr, unless -q.
    let args = ["-i", &address, "/stderr.php", "--document-root", docroot];
    let (out, err) = expect(&fcgi_client(&args), 0);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nstderr done"), "{out}");
    assert!(err.contains("stderr.php: error_log line"), "{err}");
    let (_, err) = expect(&fcgi_client(&["-q", args[1], args[2], args[3], args[4]]), 0);
    assert!(err.is_empty(), "{err}");
}
