//! Every kind of bad input the protocol can carry gets its own typed error, through the
//! public API, from the wire bytes a peer would send.

use bytes::BytesMut;
use uwsgi_codec::{
    Error, Limits, Modifier1, RequestDecoder, RequestEvent, ResponseDecoder, VarPart, VarsError,
};

fn request(bytes: &[u8]) -> Result<Vec<RequestEvent>, Error> {
    let mut decoder = RequestDecoder::new(Limits::default());
    let mut src = BytesMut::from(bytes);
    let mut events = Vec::new();
    while let Some(event) = decoder.decode_eof(&mut src)? {
        events.push(event);
    }
    Ok(events)
}

fn response(bytes: &[u8], limits: Limits) -> Result<usize, Error> {
    let mut decoder = ResponseDecoder::new(limits);
    let mut src = BytesMut::from(bytes);
    let mut count = 0;
    while decoder.decode_eof(&mut src)?.is_some() {
        count += 1;
    }
    Ok(count)
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
    let result = RequestDecoder::default().decode(&mut src);
    assert!(matches!(
        result,
        Err(Error::DatasizeTooLarge {
            datasize: 65535,
            limit: 4096,
            ..
        })
    ));
    assert_eq!(src.capacity(), capacity, "no room reserved for the payload");
}

#[test]
fn key_length_past_the_block() {
    assert!(matches!(
        request(&packet(b"\x09\0KEY")),
        Err(Error::Vars(VarsError::PastEnd {
            part: VarPart::Key,
            offset: 0,
            len: 9,
            remaining: 3
        }))
    ));
}

#[test]
fn value_length_past_the_block() {
    assert!(matches!(
        request(&packet(b"\x01\0K\x20\0abc")),
        Err(Error::Vars(VarsError::PastEnd {
            part: VarPart::Value,
            offset: 3,
            len: 32,
            remaining: 3
        }))
    ));
}

#[test]
fn vars_block_with_trailing_bytes() {
    assert!(matches!(
        request(&packet(b"\x01\0K\x01\0vX")),
        Err(Error::Vars(VarsError::TrailingBytes {
            offset: 6,
            count: 1
        }))
    ));
}

#[test]
fn empty_key() {
    assert!(matches!(
        request(&packet(b"\0\0\x01\0v")),
        Err(Error::Vars(VarsError::EmptyKey { offset: 0 }))
    ));
}

#[test]
fn empty_vars_block_on_a_request_modifier() {
    for modifier1 in [Modifier1::WSGI, Modifier1::PSGI, Modifier1::RACK] {
        assert!(matches!(
            request(&[modifier1.0, 0, 0, 0]),
            Err(Error::EmptyVarsBlock { modifier1: m }) if m == modifier1
        ));
    }
    // A ping has no vars by definition.
    assert_eq!(request(&[100, 0, 0, 0]).unwrap(), vec![RequestEvent::Ping]);
}

#[test]
fn non_numeric_and_negative_content_length() {
    for value in [&b"ten"[..], b"-5", b"5 ", b"0x10", b"1.0"] {
        let mut block = b"\x0e\0CONTENT_LENGTH".to_vec();
        block.extend_from_slice(&u16::try_from(value.len()).unwrap().to_le_bytes());
        block.extend_from_slice(value);
        assert!(
            matches!(
                request(&packet(&block)),
                Err(Error::InvalidContentLength { .. })
            ),
            "{value:?}"
        );
    }
}

#[test]
fn more_body_than_content_length() {
    let mut wire = packet(b"\x0e\0CONTENT_LENGTH\x01\x002");
    wire.extend_from_slice(b"abc");
    assert!(matches!(
        request(&wire),
        Err(Error::TrailingBytes {
            what: "request",
            ..
        })
    ));
}

#[test]
fn less_body_than_content_length() {
    let mut wire = packet(b"\x0e\0CONTENT_LENGTH\x01\x005");
    wire.extend_from_slice(b"abc");
    assert!(matches!(
        request(&wire),
        Err(Error::TruncatedBody {
            expected: 5,
            received: 3,
            ..
        })
    ));
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
                response(head, Limits::default()),
                Err(Error::MalformedHead(_))
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
    assert!(response(&head, Limits::default()).is_ok());
    assert!(matches!(
        response(&head, Limits::default().with_max_head_len(1000)),
        Err(Error::HeadTooLarge { limit: 1000 })
    ));
    assert!(matches!(
        response(&head, Limits::default().with_max_headers(19)),
        Err(Error::TooManyHeaders { limit: 19 })
    ));
    // A head that never ends is refused once it passes the limit, not buffered further.
    let endless = vec![b'a'; 20_000];
    let mut src = BytesMut::from(&b"HTTP/1.1 200 OK\r\nX: "[..]);
    src.extend_from_slice(&endless);
    assert!(matches!(
        ResponseDecoder::default().decode(&mut src),
        Err(Error::HeadTooLarge { limit: 16384 })
    ));
}

#[test]
fn response_cut_short() {
    assert!(matches!(
        response(b"HTTP/1.1 200 OK\r\nContent-", Limits::default()),
        Err(Error::TruncatedHead { received: 25 })
    ));
    assert!(matches!(
        response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab",
            Limits::default()
        ),
        Err(Error::TruncatedBody {
            expected: 4,
            received: 2,
            ..
        })
    ));
}
