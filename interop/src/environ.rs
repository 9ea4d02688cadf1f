//! Environs for test requests, built with `cgi-env` as a gateway would.

use cgi_env::{Connection, Environ, Gateway};

/// The environ `gateway` builds for `method target` with `headers` (and `Host: localhost`),
/// from 127.0.0.1:40000 to 127.0.0.1:8080.
///
/// # Panics
/// When the request cannot be built or the gateway refuses it.
pub fn build(gateway: &Gateway, method: &str, target: &str, headers: &[(&str, &str)]) -> Environ {
    let mut request = http::Request::builder()
        .method(method)
        .uri(target)
        .header("host", "localhost");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (parts, ()) = request
        .body(())
        .unwrap_or_else(|e| panic!("bad test request: {e}"))
        .into_parts();
    let conn = Connection::new(
        "127.0.0.1:40000".parse().unwrap_or_else(|e| panic!("{e}")),
        "127.0.0.1:8080".parse().unwrap_or_else(|e| panic!("{e}")),
        "localhost",
    );
    gateway
        .build(&parts, &conn)
        .unwrap_or_else(|e| panic!("gateway refused {method} {target}: {e}"))
}
