//! Hello-world on `cegla-fcgi` for the end-to-end benchmark (`benches/e2e/run.sh`).
//!
//! Usage: `e2e_cegla_fcgi ADDRESS`

use std::future::Future;

use bytes::Bytes;
use cegla_fcgi::server::{Runtime, server_handle_fcgi};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;

struct Tokio;

impl Runtime for Tokio {
    fn spawn(&self, future: impl Future + Send + 'static) {
        tokio::spawn(async move {
            future.await;
        });
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let Some(address) = std::env::args().nth(1) else {
        eprintln!("usage: e2e_cegla_fcgi ADDRESS");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(address).await?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // As fastcgi-uwsgi and Go do: without it, a response written in several records
        // waits for the delayed ACK (40 ms) on a kept connection.
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = server_handle_fcgi(stream, Tokio, |_request, _stderr| async {
                let body = Full::new(Bytes::from_static(b"hello\n"))
                    .map_err(|never| -> std::io::Error { match never {} });
                let mut response = http::Response::new(body);
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain"),
                );
                Ok::<_, std::io::Error>(response)
            })
            .await;
        });
    }
}
