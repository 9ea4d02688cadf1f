//! The same heads through the FastCGI and the uwsgi gateway sides give the same answer.

use proptest::prelude::*;

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Status: 404 Not Found".to_owned()),
        Just("Status: 000".to_owned()),
        Just("Status: 200".to_owned()),
        Just("Content-Type: text/html; charset=UTF-8".to_owned()),
        Just("Location: /elsewhere".to_owned()),
        Just("Location: https://example.org/".to_owned()),
        Just("Content-Length: 5".to_owned()),
        Just("Content-Length: x".to_owned()),
        Just("Transfer-Encoding: chunked".to_owned()),
        Just("Connection: close, X-Private".to_owned()),
        Just("X-Private: 1".to_owned()),
        Just("Set-Cookie: a=1".to_owned()),
        Just(" folded".to_owned()),
        Just("no colon".to_owned()),
        "[A-Za-z-]{1,12}: [ -~]{0,24}",
    ]
}

fn head() -> impl Strategy<Value = Vec<u8>> {
    let first = prop_oneof![
        Just(String::new()),
        Just("HTTP/1.1 200 OK\r\n".to_owned()),
        Just("HTTP/1.0 302 Found\n".to_owned()),
        Just("HTTP/1.1 000 Zero\r\n".to_owned()),
    ];
    (
        first,
        prop::collection::vec((line(), any::<bool>()), 0..10),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(first, lines, crlf, body)| {
            let mut text = first.into_bytes();
            for (line, crlf) in lines {
                text.extend_from_slice(line.as_bytes());
                text.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
            text.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            text.extend_from_slice(&body);
            text
        })
}

proptest! {
    #[test]
    fn same_answer_on_both_sides(input in head()) {
        fuzz_checks::same_head_on_both_gateway_sides(&input);
    }

    #[test]
    fn same_answer_on_any_bytes(input in prop::collection::vec(any::<u8>(), 0..400)) {
        fuzz_checks::same_head_on_both_gateway_sides(&input);
    }
}

#[test]
fn php_fpm_and_uwsgi_heads_from_the_captures() {
    for head in [
        &b"Content-type: text/html; charset=UTF-8\r\n\r\nHello from php-fpm\n"[..],
        b"Status: 404 Not Found\r\nX-Custom-One: alpha\r\nX-Multi: a\r\nX-Multi: b\r\nSet-Cookie: c1=v1\r\nContent-Type: text/plain\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    ] {
        fuzz_checks::same_head_on_both_gateway_sides(head);
    }
}
