//! The inputs every measurement shares, built once per run.
//!
//! The typical request is the environ nginx sent to php-fpm in the capture
//! `testdata/captures/nginx-fpm` (connection 1, a GET), with curl's headers replaced by
//! twelve headers a browser sends. The same environ goes through both protocols.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use fastcgi_codec::{
    EndRequestBody, GatewayConfig, GatewayConnection, Padding, ProtocolStatus, RecordEncoder,
    RecordType, RequestId, Role,
};
use uwsgi_codec::RequestEncoder;

/// The decoded nginx → php-fpm capture.
const NGINX_FPM_DECODED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/captures/nginx-fpm/decoded.txt"
));

/// What php-fpm answered on connection 1 of the capture: one STDOUT record with a CGI
/// head and a short body, then END_REQUEST.
pub const PHP_FPM_CONN1_RESPONSE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/captures/nginx-fpm/nginx-fpm-conn1-s2c.bin"
));

/// Content bytes per STDOUT record as php-fpm writes them (its 8 KiB buffer less the
/// record header).
pub const PHP_FPM_RECORD_CONTENT: usize = 8184;

/// The CGI head php-fpm sends for a plain PHP page (as in the capture).
pub const PHP_CGI_HEAD: &[u8] = b"Content-type: text/html; charset=UTF-8\r\n\r\n";

/// The HTTP head a uwsgi application sends for the same page (close-delimited body).
pub const UWSGI_HTTP_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-type: text/html; charset=UTF-8\r\n\r\n";

/// Twelve headers a desktop browser sends for a page load, as nginx passes them (in
/// order, as `HTTP_*` variables).
pub const BROWSER_HEADERS: [(&str, &str); 12] = [
    ("HTTP_HOST", "www.example.org"),
    ("HTTP_CONNECTION", "keep-alive"),
    ("HTTP_UPGRADE_INSECURE_REQUESTS", "1"),
    (
        "HTTP_USER_AGENT",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ),
    (
        "HTTP_ACCEPT",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
    ),
    ("HTTP_SEC_FETCH_SITE", "same-origin"),
    ("HTTP_SEC_FETCH_MODE", "navigate"),
    ("HTTP_SEC_FETCH_DEST", "document"),
    ("HTTP_REFERER", "https://www.example.org/php-cap/"),
    ("HTTP_ACCEPT_ENCODING", "gzip, deflate, br, zstd"),
    ("HTTP_ACCEPT_LANGUAGE", "en-US,en;q=0.9,de;q=0.8"),
    (
        "HTTP_COOKIE",
        "session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; _ga=GA1.1.1234567890.1700000000",
    ),
];

/// The variables nginx sent in the first PARAMS stream of connection 1 of the capture, in
/// order.
///
/// ```
/// let vars = benches::inputs::captured_conn1_vars();
/// assert_eq!(vars.first(), Some(&("PATH_INFO", "")));
/// assert!(vars.contains(&("REQUEST_METHOD", "GET")));
/// ```
pub fn captured_conn1_vars() -> Vec<(&'static str, &'static str)> {
    let mut lines = NGINX_FPM_DECODED
        .lines()
        .skip_while(|line| !line.starts_with("######## conn1 "))
        .skip_while(|line| !line.contains(" PARAMS "))
        .skip(1);
    let mut vars = Vec::new();
    for line in lines.by_ref() {
        // Variable lines are indented; the next record starts with '@'.
        let Some((name, quoted)) = line.trim().split_once(" = ") else {
            break;
        };
        let value = quoted
            .strip_prefix('\'')
            .and_then(|value| value.strip_suffix('\''))
            .unwrap_or(quoted);
        vars.push((name, value));
    }
    vars
}

/// The typical request: the captured GET's variables without curl's headers, then
/// [`BROWSER_HEADERS`].
pub fn typical_environ() -> Environ {
    let mut env = Environ::with_capacity(40);
    for (name, value) in captured_conn1_vars() {
        if !name.starts_with("HTTP_") {
            env.append(name, value);
        }
    }
    for (name, value) in BROWSER_HEADERS {
        env.append(name, value);
    }
    env
}

/// The typical request turned into a POST of `body_len` bytes.
pub fn post_environ(body_len: usize) -> Environ {
    let mut env = typical_environ();
    env.insert("REQUEST_METHOD", "POST");
    env.insert("CONTENT_TYPE", "application/octet-stream");
    env.insert("CONTENT_LENGTH", body_len.to_string());
    env
}

/// `len` bytes of deterministic noise (xorshift), so that nothing compresses or shortcuts.
pub fn body(len: usize) -> Bytes {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

/// A gateway-side connection that has begun request 1 (without keep-conn, as nginx by
/// default) and queued nothing else; its BEGIN_REQUEST is still in the output.
///
/// # Panics
/// Never for a fresh connection (one request may always begin).
pub fn fresh_fastcgi_client() -> (GatewayConnection, RequestId) {
    let mut conn = GatewayConnection::new(GatewayConfig::default());
    let id = conn
        .begin_request(Role::Responder, false)
        .expect("a fresh connection accepts a request");
    (conn, id)
}

/// The FastCGI request as nginx writes it, cut in two: BEGIN_REQUEST and the PARAMS
/// stream, then the STDIN stream (`body` in records, then the empty STDIN record).
///
/// # Panics
/// When the environ does not fit in PARAMS records (never for the bench inputs).
pub fn fastcgi_request(env: &Environ, body: &Bytes) -> (Bytes, Bytes) {
    let (mut conn, id) = fresh_fastcgi_client();
    conn.send_params(id, env).expect("params fit");
    let head = conn.take_output().to_bytes_mut().freeze();
    conn.send_stdin(id, body.clone()).expect("stdin open");
    conn.end_stdin(id).expect("stdin open");
    let stdin = conn.take_output().to_bytes_mut().freeze();
    (head, stdin)
}

/// The uwsgi request as nginx writes it, cut in two: the header and vars, then the body.
///
/// # Panics
/// When the environ does not fit in a vars block (never for the bench inputs).
pub fn uwsgi_request(env: &Environ, body: &Bytes) -> (Bytes, Bytes) {
    let mut head = BytesMut::new();
    RequestEncoder::new()
        .encode_head(env, &mut head)
        .expect("vars fit");
    (head.freeze(), body.clone())
}

/// A php-fpm-shaped response: [`PHP_CGI_HEAD`] and `body_len` bytes of body in STDOUT
/// records of [`PHP_FPM_RECORD_CONTENT`] bytes, padded to 8, then END_REQUEST (php-fpm
/// sends no empty STDOUT record).
///
/// # Panics
/// Never: every record is within the content limit.
pub fn php_fpm_response(body_len: usize) -> Bytes {
    let mut stdout = Vec::with_capacity(PHP_CGI_HEAD.len() + body_len);
    stdout.extend_from_slice(PHP_CGI_HEAD);
    stdout.extend_from_slice(&body(body_len));
    let mut encoder = RecordEncoder::new(Padding::Align8);
    let mut out = BytesMut::with_capacity(stdout.len() + stdout.len() / 1000 + 64);
    for piece in stdout.chunks(PHP_FPM_RECORD_CONTENT) {
        encoder
            .record_into(RecordType::Stdout, RequestId::new(1), piece, &mut out)
            .expect("8184 bytes fit a record");
    }
    let mut end = fastcgi_codec::OutputQueue::new();
    encoder.end_request(
        RequestId::new(1),
        EndRequestBody {
            app_status: 0,
            protocol_status: ProtocolStatus::RequestComplete,
        },
        &mut end,
    );
    end.copy_into(&mut out);
    out.freeze()
}

/// The same page as a uwsgi application answers it: [`UWSGI_HTTP_HEAD`] and the body,
/// delimited by the connection's close.
pub fn uwsgi_response(body_len: usize) -> Bytes {
    let mut out = BytesMut::with_capacity(UWSGI_HTTP_HEAD.len() + body_len);
    out.extend_from_slice(UWSGI_HTTP_HEAD);
    out.extend_from_slice(&body(body_len));
    out.freeze()
}

/// The environ as `fastcgi-client`'s parameter map, borrowing its strings.
///
/// # Panics
/// When a name or value is not UTF-8 (never for the bench inputs).
pub fn fastcgi_client_params(env: &Environ) -> fastcgi_client::Params<'_> {
    let mut params = fastcgi_client::Params::default();
    // Its defaults (GATEWAY_INTERFACE and others) are replaced by the environ's own.
    params.clear();
    for (name, value) in env {
        let name = std::str::from_utf8(name).expect("UTF-8 name");
        let value = std::str::from_utf8(value).expect("UTF-8 value");
        params.insert(Cow::Borrowed(name), Cow::Borrowed(value));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastcgi_codec::{ApplicationConfig, ApplicationConnection, ApplicationEvent, GatewayEvent};
    use uwsgi_codec::{RequestDecoder, RequestEvent, ResponseDecoder, ResponseEvent};

    #[test]
    fn capture_parse_gives_conn1_vars() {
        let vars = captured_conn1_vars();
        assert_eq!(vars.len(), 26);
        assert_eq!(vars.last(), Some(&("HTTP_COOKIE", "a=b")));
        assert!(vars.contains(&("SCRIPT_FILENAME", "/srv/www/a/docroot/php-cap/hello.php")));
    }

    #[test]
    fn typical_environ_has_browser_headers_and_no_curl() {
        let env = typical_environ();
        assert_eq!(env.len(), 21 + 12);
        assert_eq!(env.get_str("HTTP_HOST"), Some("www.example.org"));
        assert!(!env.contains("HTTP_X_TEST"));
        assert_eq!(env.get_str("REQUEST_URI"), Some("/php-cap/hello.php?x=1"));
    }

    #[test]
    fn fastcgi_request_decodes_back() {
        let env = post_environ(5000);
        let payload = body(5000);
        let (head, stdin) = fastcgi_request(&env, &payload);
        let mut input = BytesMut::from(&head[..]);
        input.extend_from_slice(&stdin);
        let mut conn = ApplicationConnection::new(ApplicationConfig::default());
        let mut received = Vec::new();
        let mut environ_seen = None;
        while let Some(event) = conn.receive(&mut input).unwrap() {
            match event {
                ApplicationEvent::Params { params, .. } => environ_seen = Some(params),
                ApplicationEvent::Stdin { chunk, .. } => received.extend_from_slice(&chunk),
                _ => {}
            }
        }
        assert_eq!(environ_seen, Some(env));
        assert_eq!(received, payload);
    }

    #[test]
    fn uwsgi_request_decodes_back() {
        let env = post_environ(3000);
        let payload = body(3000);
        let (head, rest) = uwsgi_request(&env, &payload);
        let mut input = BytesMut::from(&head[..]);
        input.extend_from_slice(&rest);
        let mut decoder = RequestDecoder::default();
        let mut received = Vec::new();
        let mut environ_seen = None;
        while let Some(event) = decoder.decode(&mut input).unwrap() {
            match event {
                RequestEvent::Head(head) => environ_seen = Some(head.environ),
                RequestEvent::Body(chunk) => received.extend_from_slice(&chunk),
                RequestEvent::End => break,
                _ => {}
            }
        }
        assert_eq!(environ_seen, Some(env));
        assert_eq!(received, payload);
    }

    #[test]
    fn php_fpm_response_has_8184_byte_records_and_decodes() {
        let body_len = 20_000;
        let wire = php_fpm_response(body_len);
        // First record header: version 1, STDOUT, id 1, content 8184, padding 0.
        assert_eq!(&wire[..8], &[1, 6, 0, 1, 0x1f, 0xf8, 0, 0]);
        let (mut conn, _) = fresh_fastcgi_client();
        let mut input = BytesMut::from(&wire[..]);
        let mut stdout = Vec::new();
        let mut records = 0;
        let mut ended = false;
        while let Some(event) = conn.receive(&mut input).unwrap() {
            match event {
                GatewayEvent::Stdout { chunk, .. } => {
                    records += 1;
                    stdout.extend_from_slice(&chunk);
                }
                GatewayEvent::End { .. } => ended = true,
                _ => {}
            }
        }
        assert!(ended);
        assert_eq!(records, (PHP_CGI_HEAD.len() + body_len).div_ceil(8184));
        assert_eq!(stdout.get(..PHP_CGI_HEAD.len()), Some(PHP_CGI_HEAD));
        assert_eq!(stdout.get(PHP_CGI_HEAD.len()..), Some(&body(body_len)[..]));
    }

    #[test]
    fn uwsgi_response_decodes() {
        let mut input = BytesMut::from(&uwsgi_response(1024)[..]);
        let mut decoder = ResponseDecoder::default();
        let mut body_bytes = Vec::new();
        let mut status = 0;
        while let Some(event) = decoder.decode_eof(&mut input).unwrap() {
            match event {
                ResponseEvent::Head(head) => status = head.status.as_u16(),
                ResponseEvent::Body(chunk) => body_bytes.extend_from_slice(&chunk),
                ResponseEvent::End => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(status, 200);
        assert_eq!(body_bytes, body(1024));
    }

    #[test]
    fn captured_response_is_one_stdout_and_end() {
        let (mut conn, _) = fresh_fastcgi_client();
        let mut input = BytesMut::from(PHP_FPM_CONN1_RESPONSE);
        let first = conn.receive(&mut input).unwrap();
        assert!(
            matches!(first, Some(GatewayEvent::Stdout { ref chunk, .. }) if chunk.ends_with(b"Hello from php-fpm\n"))
        );
        assert!(matches!(
            conn.receive(&mut input).unwrap(),
            Some(GatewayEvent::End { .. })
        ));
    }

    #[test]
    fn client_params_mirror_the_environ() {
        let env = typical_environ();
        let params = fastcgi_client_params(&env);
        assert_eq!(params.len(), env.len());
        assert_eq!(
            params.get("HTTP_HOST").map(|value| &**value),
            Some("www.example.org")
        );
    }

    #[test]
    fn body_is_deterministic_and_sized() {
        assert_eq!(body(13).len(), 13);
        assert_eq!(body(4096), body(4096));
        assert_ne!(body(16)[..8], body(16)[8..]);
    }
}
