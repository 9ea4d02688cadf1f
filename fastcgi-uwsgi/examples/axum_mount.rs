//! An axum app that mounts a PHP application (php-fpm) under `/blog` and a WSGI
//! application (uWSGI) under `/api`, as Caddy's `php_fastcgi` and nginx's `uwsgi_pass`
//! would serve them.
//!
//! ```sh
//! php-fpm8.2 -R -F -y pool.conf          # listen = 127.0.0.1:9000
//! uwsgi --plugin python3 --socket 127.0.0.1:3031 --wsgi-file app.py --master
//! cargo run -p fastcgi-uwsgi --features axum --example axum_mount -- \
//!     127.0.0.1:8080 127.0.0.1:9000 /srv/blog 127.0.0.1:3031
//! curl http://127.0.0.1:8080/blog/  http://127.0.0.1:8080/api/users/7
//! ```

mod log;

use std::net::SocketAddr;

use fastcgi_uwsgi::client::{PhpService, UwsgiService};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    log::init("axum_mount");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, php_fpm, document_root, uwsgi] = args.as_slice() else {
        eprintln!("usage: axum_mount LISTEN PHP_FPM DOCUMENT_ROOT UWSGI");
        std::process::exit(2);
    };
    let app = axum::Router::new()
        .nest_service(
            "/blog",
            PhpService::new(php_fpm.as_str(), document_root).mounted_at("/blog"),
        )
        .nest_service("/api", UwsgiService::new(uwsgi.as_str()).mounted_at("/api"));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
