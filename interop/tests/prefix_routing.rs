//! An application mounted under a prefix behind nginx: the example servers, started with
//! `--route-path`, answer with the path they route on. nginx's configurations are the
//! ones `RoutePath`'s documentation gives.
#![cfg_attr(skip_interop, allow(unused))]

use interop::examples::{start_fcgi_server_with, start_uwsgi_server_with};
use interop::http_client;
use interop::nginx::Nginx;
use interop::scratch::ScratchDir;

/// The `"path"` an example answered with.
fn routed_path(port: u16, target: &str, log: &dyn Fn() -> String) -> String {
    let response = http_client::request(port, "GET", target, &[], &[])
        .unwrap_or_else(|e| panic!("{target}: {e}\n{}", log()));
    let text = String::from_utf8_lossy(&response.body).into_owned();
    assert_eq!(response.status, 200, "{target}: {text}\n{}", log());
    text.split("\"path\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{target}: no path in {text}"))
        .to_owned()
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn an_application_under_a_prefix_routes_on_path_info() {
    let dir = ScratchDir::new("prefix-routing");
    let (_fcgi, fcgi_port) = start_fcgi_server_with(&dir, &["--route-path", "path-info"]);
    let (_uwsgi, uwsgi_port) = start_uwsgi_server_with(&dir, &["--route-path", "path-info"]);
    let (_plain, plain_port) = start_fcgi_server_with(&dir, &[]);
    let (_resolved, resolved_port) = start_fcgi_server_with(&dir, &["--route-path", "script-name"]);
    let locations = format!(
        "location /app/ {{
            include fastcgi_params;
            fastcgi_split_path_info ^(/app)(/.*)$;
            fastcgi_param SCRIPT_NAME $fastcgi_script_name;
            fastcgi_param PATH_INFO $fastcgi_path_info;
            fastcgi_pass 127.0.0.1:{fcgi_port};
        }}
        location ~ ^/wsgi(?<app_path>/.*)$ {{
            include uwsgi_params;
            uwsgi_param SCRIPT_NAME /wsgi;
            uwsgi_param PATH_INFO $app_path;
            uwsgi_pass 127.0.0.1:{uwsgi_port};
        }}
        location /plain/ {{
            include fastcgi_params;
            fastcgi_pass 127.0.0.1:{plain_port};
        }}
        location /old/ {{
            rewrite ^/old/(.*)$ /new/$1 break;
            include fastcgi_params;
            fastcgi_pass 127.0.0.1:{resolved_port};
        }}\n"
    );
    let nginx = Nginx::start(&dir, "", &locations);
    let log = || nginx.log();
    // Mounted: the prefix is SCRIPT_NAME, the application routes on the rest.
    assert_eq!(
        routed_path(nginx.port, "/app/users/7?full=1", &log),
        "/users/7?full=1"
    );
    assert_eq!(routed_path(nginx.port, "/app/", &log), "/");
    assert_eq!(
        routed_path(nginx.port, "/app/a%20b/c%3Fd", &log),
        "/a%20b/c%3Fd",
        "decoded by nginx, encoded again"
    );
    assert_eq!(
        routed_path(nginx.port, "/wsgi/users/7?full=1", &log),
        "/users/7?full=1"
    );
    // The default routes on what the client asked for, prefix included.
    assert_eq!(
        routed_path(nginx.port, "/plain/users/7?x", &log),
        "/plain/users/7?x"
    );
    // After a rewrite, SCRIPT_NAME and PATH_INFO say where nginx resolved the request.
    assert_eq!(
        routed_path(nginx.port, "/old/page?x=1", &log),
        "/new/page?x=1"
    );
}
