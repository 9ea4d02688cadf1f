//! A PHP application and a WSGI application mounted under prefixes in an axum app, with
//! `PhpService` and `UwsgiService`, against real php-fpm and uWSGI.
#![cfg_attr(skip_interop, allow(unused))]

use std::net::SocketAddr;

use fastcgi_uwsgi::client::{PhpService, UwsgiService};
use interop::http_client;
use interop::php::{PhpFpm, decode_server_dump};
use interop::scratch::ScratchDir;
use interop::uwsgi::Uwsgi;

/// A WSGI application that answers with what it was mounted as.
const WHERE_AM_I: &str = r#"
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    names = ["SCRIPT_NAME", "PATH_INFO", "REQUEST_URI", "QUERY_STRING", "REMOTE_ADDR"]
    return ["{}={}\n".format(n, environ.get(n, "")).encode() for n in names]
"#;

/// The app a user writes: both applications under their prefixes.
async fn serve(php: (String, std::path::PathBuf), uwsgi: String) -> std::io::Result<u16> {
    let app = axum::Router::new()
        .nest_service("/blog", PhpService::new(php.0, php.1).mounted_at("/blog"))
        .nest_service("/api", UwsgiService::new(uwsgi).mounted_at("/api"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(port)
}

fn text(port: u16, target: &str, log: &dyn Fn() -> String) -> (u16, String) {
    let response = http_client::request(port, "GET", target, &[], &[])
        .unwrap_or_else(|e| panic!("{target}: {e}\n{}", log()));
    (
        response.status,
        String::from_utf8_lossy(&response.body).into_owned(),
    )
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn php_and_wsgi_applications_mounted_under_prefixes() {
    let dir = ScratchDir::new("axum-mount");
    let fpm = PhpFpm::start(&dir, 2);
    // A front controller that says how it was reached.
    fpm.script(
        "index.php",
        "<?php echo 'front ', $_SERVER['SCRIPT_NAME'], ' ', $_SERVER['REQUEST_URI'];",
    );
    let uwsgi = Uwsgi::start_app(&dir, WHERE_AM_I);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let port = runtime
        .block_on(serve(
            (fpm.addr().to_string(), fpm.docroot.clone()),
            uwsgi.uwsgi_addr().to_string(),
        ))
        .expect("serve");
    let log = || format!("{}\n{}", fpm.log(), uwsgi.log());

    // A script under the prefix: run from the document root, the prefix kept where the
    // application builds its links from.
    let response = http_client::request(port, "GET", "/blog/server.php/extra?q=1", &[], &[])
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert_eq!(response.status, 200, "{}", log());
    let server = decode_server_dump(&response.body);
    let var = |name: &str| match server.get(name) {
        Some(value) => String::from_utf8_lossy(value).into_owned(),
        None => panic!("no {name} in {:?}", server.keys().collect::<Vec<_>>()),
    };
    assert_eq!(var("SCRIPT_NAME"), "/blog/server.php");
    assert_eq!(var("PATH_INFO"), "/extra");
    assert_eq!(var("REQUEST_URI"), "/blog/server.php/extra?q=1");
    assert_eq!(var("QUERY_STRING"), "q=1");
    assert_eq!(
        var("SCRIPT_FILENAME"),
        fpm.docroot.join("server.php").to_string_lossy()
    );
    assert_eq!(var("REMOTE_ADDR"), "127.0.0.1", "from axum's ConnectInfo");
    // Anything else: the front controller, REQUEST_URI as the client sent it.
    assert_eq!(
        text(port, "/blog/2024/hello-world", &log),
        (
            200,
            "front /blog/index.php /blog/2024/hello-world".to_owned()
        )
    );

    // The WSGI application: SCRIPT_NAME the mount point, PATH_INFO the rest.
    let (status, answer) = text(port, "/api/users/7?full=1", &log);
    assert_eq!(status, 200, "{answer}\n{}", log());
    assert_eq!(
        answer,
        "SCRIPT_NAME=/api\nPATH_INFO=/users/7\nREQUEST_URI=/api/users/7?full=1\n\
         QUERY_STRING=full=1\nREMOTE_ADDR=127.0.0.1\n"
    );

    // A backend that is gone is a 502 page, not a hung or reset connection.
    uwsgi.stop();
    let (status, answer) = text(port, "/api/users/7", &|| fpm.log());
    assert_eq!((status, answer.as_str()), (502, "502 Bad Gateway\n"));
}
