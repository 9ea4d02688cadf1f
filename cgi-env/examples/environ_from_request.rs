//! Builds the environ nginx would send for one request, with its stock `fastcgi.conf` and
//! `uwsgi_params`, prints it with its FastCGI and uwsgi encoded sizes, and parses a CGI
//! response head as php-fpm sends it.
//!
//! Run with `cargo run -p cgi-env --example environ_from_request`.

use bytes::BytesMut;
use std::error::Error;

use cgi_env::{
    CgiRequest, ConnectionInfo, Environ, Gateway, Param, Preset, ResponseHeadParser, ScriptMapping,
    Var,
};

fn main() -> Result<(), Box<dyn Error>> {
    // The request of the nginx-fpm capture (testdata/captures/nginx-fpm, conn1).
    let (request, ()) = http::Request::get("/php-cap/hello.php?x=1")
        .header("host", "127.0.0.1:19080")
        .header("user-agent", "curl/7.88.1")
        .header("accept", "*/*")
        .header("x-test", "yes")
        .header("cookie", "a=b")
        .header("x_test", "underscore names are dropped")
        .header("proxy", "never becomes HTTP_PROXY")
        .body(())?
        .into_parts();
    let conn = ConnectionInfo::new(
        "127.0.0.1:49138".parse()?,
        "127.0.0.1:19080".parse()?,
        "localhost",
    );

    // Debian's snippets/fastcgi-php.conf: split at ".php", PATH_INFO first, then fastcgi.conf.
    let php = Gateway::new(
        Preset::nginx_fastcgi_conf().with_first(Param::new("PATH_INFO", Var::PathInfo)),
    )
    .with_mapping(ScriptMapping::SplitAtExtension(".php".into()))
    .with_document_root("/srv/www/a/docroot");
    print_environ(
        "nginx fastcgi.conf -> php-fpm",
        &php.build(&request, &conn)?,
    );

    let wsgi = Gateway::new(Preset::nginx_uwsgi_params()).with_document_root("/srv/www/a/docroot");
    let env = wsgi.build(&request, &conn)?;
    print_environ("nginx uwsgi_params -> uWSGI", &env);

    // The application side gets the HTTP request back.
    let back = CgiRequest::from_environ(&env)?;
    println!(
        "application sees: {} {} {:?}\n",
        back.parts.method, back.parts.uri, back.parts.version
    );

    // A path that decodes to a line feed is refused, never split wrongly (CVE-2019-11043).
    let (hostile, ()) = http::Request::get("/x.php%0a/y.php").body(())?.into_parts();
    println!(
        "GET /x.php%0a/y.php -> {}\n",
        php.build(&hostile, &conn).unwrap_err()
    );

    // The start of php-fpm's STDOUT for a 404 (nginx-fpm capture, conn6), fed in two reads.
    let stdout = b"Status: 404 Not Found\r\nX-Multi: a\r\nX-Multi: b\r\nContent-Type: text/html; charset=UTF-8\r\n\r\nnot here";
    let mut parser = ResponseHeadParser::default();
    let mut received = BytesMut::from(&stdout[..30]);
    assert_eq!(parser.decode(&mut received)?, None);
    received.extend_from_slice(&stdout[30..]);
    if let Some(head) = parser.decode(&mut received)? {
        println!(
            "CGI response head: {} ({:?}), body at byte {}",
            head.status, head.kind, head.body_offset
        );
        for (name, value) in &head.headers {
            println!("  {name}: {}", value.to_str().unwrap_or("<non-ASCII>"));
        }
    }
    Ok(())
}

fn print_environ(title: &str, env: &Environ) {
    println!(
        "{title}: {} variables, FastCGI {} bytes, uwsgi {} bytes",
        env.len(),
        env.fastcgi_encoded_len(),
        env.uwsgi_encoded_len()
    );
    for (name, value) in env {
        println!("  {} = {}", name.escape_ascii(), value.escape_ascii());
    }
    println!();
}
