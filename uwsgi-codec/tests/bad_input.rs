//! Every kind of bad input the protocol can carry gets its own typed error, through the
//! public API, from the wire bytes a peer would send.

mod common;

use bytes::BytesMut;
use cgi_env::{ResponseHeadError, ResponseHeadLimits};
use common::{Run, Seen, run_request, run_response, violation_at};
use uwsgi_codec::{
    Limits, Modifier1, RequestDecoder, ResponseDecoder, VarPart, VarsError, Violation,
};

/// A whole request, then the end of the stream.
fn request(bytes: &[u8]) -> Run {
    run_request(bytes, &[], Limits::default())
}

/// A whole response, then the end of the stream.
fn response(bytes: &[u8], limits: Limits) -> Run {
    run_response(bytes, &[], ResponseDecoder::new(limits))
}

/// A request packet around a raw vars block.
fn packet(block: &[u8]) -> Vec<u8> {
    let mut wire = vec![0];
    wire.extend_from_slice(&u16::try_from(block.len()).unwrap().to_le_bytes());
    wire.push(0);
    wire.extend_from_slice(block);
    wire
}

#[test]
fn datasize_over_the_limit_is_refused_before_buffering() {
    let mut src = BytesMut::from(&[0u8, 0xff, 0xff, 0][..]);
    let capacity = src.capacity();
    let error = RequestDecoder::default().decode(&mut src).unwrap_err();
    assert_eq!(error.offset, 0);
    assert!(matches!(
        error.violation,
        Violation::DatasizeTooLarge {
            datasize: 65535,
            limit: 4096,
            ..
        }
    ));
    assert_eq!(src.capacity(), capacity, "no room reserved for the payload");
}

#[test]
fn key_length_past_the_block() {
    assert_eq!(
        violation_at(&request(&packet(b"\x09\0KEY")), 4),
        &Violation::Vars(VarsError::PastEnd {
            part: VarPart::Key,
            offset: 0,
            len: 9,
            remaining: 3
        })
    );
}

#[test]
fn value_length_past_the_block() {
    assert_eq!(
        violation_at(&request(&packet(b"\x01\0K\x20\0abc")), 4 + 3),
        &Violation::Vars(VarsError::PastEnd {
            part: VarPart::Value,
            offset: 3,
            len: 32,
            remaining: 3
        })
    );
}

#[test]
fn vars_block_with_trailing_bytes() {
    assert_eq!(
        violation_at(&request(&packet(b"\x01\0K\x01\0vX")), 4 + 6),
        &Violation::Vars(VarsError::TrailingBytes {
            offset: 6,
            count: 1
        })
    );
}

#[test]
fn empty_key() {
    assert_eq!(
        violation_at(&request(&packet(b"\0\0\x01\0v")), 4),
        &Violation::Vars(VarsError::EmptyKey { offset: 0 })
    );
}

#[test]
fn empty_vars_block_on_a_request_modifier() {
    for modifier1 in [Modifier1::WSGI, Modifier1::PSGI, Modifier1::RACK] {
        assert_eq!(
            violation_at(&request(&[modifier1.0, 0, 0, 0]), 0),
            &Violation::EmptyVarsBlock { modifier1 }
        );
    }
    // A ping has no vars by definition.
    let ping = request(&[100, 0, 0, 0]);
    assert_eq!(ping.error, None);
    assert_eq!(ping.events, vec![Seen::Ping]);
}

#[test]
fn non_numeric_and_negative_content_length() {
    for value in [&b"ten"[..], b"-5", b"5 ", b"0x10", b"1.0"] {
        let mut block = b"\x0e\0CONTENT_LENGTH".to_vec();
        block.extend_from_slice(&u16::try_from(value.len()).unwrap().to_le_bytes());
        block.extend_from_slice(value);
        assert!(
            matches!(
                violation_at(&request(&packet(&block)), 0),
                Violation::InvalidContentLength { .. }
            ),
            "{value:?}"
        );
    }
}

#[test]
fn more_body_than_content_length() {
    let mut wire = packet(b"\x0e\0CONTENT_LENGTH\x01\x002");
    wire.extend_from_slice(b"abc");
    // The packet is 23 bytes, the body 2: the third body byte is one too many.
    assert!(matches!(
        violation_at(&request(&wire), 25),
        Violation::TrailingBytes { .. }
    ));
}

#[test]
fn less_body_than_content_length() {
    let mut wire = packet(b"\x0e\0CONTENT_LENGTH\x01\x005");
    wire.extend_from_slice(b"abc");
    assert_eq!(
        violation_at(&request(&wire), 26),
        &Violation::TruncatedBody {
            expected: 5,
            received: 3,
        }
    );
}

#[test]
fn malformed_response_heads() {
    for head in [
        &b"HTTP/1.1 OK\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nX-Split\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: 1\r\n\tfolded\r\n\r\n",
    ] {
        assert!(
            matches!(
                violation_at(&response(head, Limits::default()), 0),
                Violation::Head(
                    ResponseHeadError::InvalidStatus { .. }
                        | ResponseHeadError::MissingColon { .. }
                        | ResponseHeadError::InvalidValue { byte: b'\r', .. }
                        | ResponseHeadError::ObsFold { .. }
                )
            ),
            "{head:?}"
        );
    }
}

#[test]
fn oversized_response_heads() {
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..20 {
        head.extend_from_slice(format!("X-{i}: {}\r\n", "v".repeat(50)).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    assert_eq!(response(&head, Limits::default()).error, None);
    let limits = |head_limits| Limits::default().with_response_head(head_limits);
    assert_eq!(
        violation_at(
            &response(
                &head,
                limits(ResponseHeadLimits::default().with_max_bytes(1000))
            ),
            0
        ),
        &Violation::Head(ResponseHeadError::TooLarge { limit: 1000 })
    );
    assert_eq!(
        violation_at(
            &response(
                &head,
                limits(ResponseHeadLimits::default().with_max_headers(19))
            ),
            0
        ),
        &Violation::Head(ResponseHeadError::TooManyHeaders { limit: 19 })
    );
    // A head that never ends is refused once it passes the limit, not buffered further.
    let endless = vec![b'a'; 20_000];
    let mut src = BytesMut::from(&b"HTTP/1.1 200 OK\r\nX: "[..]);
    src.extend_from_slice(&endless);
    let error = ResponseDecoder::default().decode(&mut src).unwrap_err();
    assert_eq!(error.offset, 0);
    assert_eq!(
        error.violation,
        Violation::Head(ResponseHeadError::TooLarge { limit: 8192 })
    );
}

#[test]
fn response_cut_short() {
    assert_eq!(
        violation_at(
            &response(b"HTTP/1.1 200 OK\r\nContent-", Limits::default()),
            0
        ),
        &Violation::TruncatedHead { received: 25 }
    );
    assert_eq!(
        violation_at(
            &response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab",
                Limits::default()
            ),
            40
        ),
        &Violation::TruncatedBody {
            expected: 4,
            received: 2,
        }
    );
}
