//! uwsgi: packets, vars, the application-side request decoder, the gateway-side response
//! decoder, and roundtrips between the two sides.

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use cgi_env::{Environ, ResponseHeadLimits};
use http::StatusCode;
use uwsgi_codec::wire::{decode_vars, encode_vars};
use uwsgi_codec::{
    Limits, PacketDecoder, RequestDecoder, RequestEncoder, RequestEvent, ResponseDecoder,
    ResponseEvent, ResponseWriter,
};

use crate::split::{cut_points, pieces};

/// The generic packet decoder never panics, never buffers past its datasize limit, and
/// gives the same packets for any split.
pub fn uwsgi_packet(data: &[u8]) {
    let run = |pieces: &[&[u8]]| {
        let mut decoder = PacketDecoder::new(4096);
        let mut buf = BytesMut::new();
        let mut packets = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(packet)) => {
                        assert!(packet.payload().len() <= 4096);
                        packets.push((packet.header(), packet.payload().clone()));
                    }
                    Ok(None) => break,
                    Err(error) => return (packets, Some(error.to_string())),
                }
            }
            assert!(
                buf.len() < 4 + 4096 + piece.len(),
                "the decoder let {} bytes pile up",
                buf.len()
            );
        }
        (packets, None)
    };
    assert_eq!(
        run(&[data]),
        run(&pieces(data, &cut_points(data))),
        "packets depend on the split"
    );
}

/// A vars block either fails or decodes to an environ that encodes back to the very same
/// bytes (the encoding is canonical), within the var-count limit.
pub fn uwsgi_vars(data: &[u8]) {
    let Ok(env) = decode_vars(Bytes::copy_from_slice(data), 128) else {
        return;
    };
    assert!(env.len() <= 128);
    assert_eq!(env.uwsgi_encoded_len(), data.len());
    let mut out = BytesMut::new();
    let len = encode_vars(&env, &mut out).expect("a decoded block re-encodes");
    assert_eq!(usize::from(len), data.len());
    assert_eq!(&out[..], data, "vars do not re-encode to the same bytes");
}

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Head(Environ, u64),
    Body(Vec<u8>),
    End,
    Other(String),
    Error(String),
}

fn decode_request(pieces: &[&[u8]], limits: Limits) -> Vec<Seen> {
    let mut decoder = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut seen = Vec::new();
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.iter().enumerate() {
        buf.extend_from_slice(piece);
        loop {
            let event = if i == last {
                decoder.decode_eof(&mut buf)
            } else {
                decoder.decode(&mut buf)
            };
            match event {
                Ok(Some(RequestEvent::Head(head))) => {
                    seen.push(Seen::Head(head.environ, head.content_length));
                }
                Ok(Some(RequestEvent::Body(chunk))) => match seen.last_mut() {
                    Some(Seen::Body(body)) => body.extend_from_slice(&chunk),
                    _ => seen.push(Seen::Body(chunk.to_vec())),
                },
                Ok(Some(RequestEvent::End)) => {
                    seen.push(Seen::End);
                    return seen;
                }
                Ok(Some(other)) => {
                    seen.push(Seen::Other(format!("{other:?}")));
                    return seen;
                }
                Ok(None) => break,
                Err(error) => {
                    seen.push(Seen::Error(error.to_string()));
                    return seen;
                }
            }
        }
    }
    seen
}

/// The application-side request decoder never panics, gives the same events for any
/// split (body chunks joined), and never delivers more body than CONTENT_LENGTH.
pub fn uwsgi_request(data: &[u8]) {
    let limits = Limits::default();
    let whole = decode_request(&[data], limits);
    let split = decode_request(&pieces(data, &cut_points(data)), limits);
    assert_eq!(whole, split, "request events depend on the split");
    if let Some(Seen::Head(_, content_length)) = whole.first() {
        let body: usize = whole
            .iter()
            .map(|s| if let Seen::Body(b) = s { b.len() } else { 0 })
            .sum();
        assert!(
            body as u64 <= *content_length,
            "more body than CONTENT_LENGTH"
        );
    }
}

/// A decoded response: status and headers, body, the error that stopped it, whether it ended.
type DecodedResponse = (
    Option<(u16, Vec<(Vec<u8>, Vec<u8>)>)>,
    Vec<u8>,
    Option<String>,
    bool,
);

fn decode_response(pieces: &[&[u8]]) -> DecodedResponse {
    let mut decoder = ResponseDecoder::new(
        Limits::default().with_response_head(
            ResponseHeadLimits::default()
                .with_max_bytes(2048)
                .with_max_headers(16),
        ),
    );
    let mut buf = BytesMut::new();
    let (mut head, mut body) = (None, Vec::new());
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.iter().enumerate() {
        buf.extend_from_slice(piece);
        loop {
            let event = if i == last {
                decoder.decode_eof(&mut buf)
            } else {
                decoder.decode(&mut buf)
            };
            match event {
                Ok(Some(ResponseEvent::Head(h))) => {
                    assert!(h.headers.len() <= 16 && h.body_offset <= 2048);
                    let headers = h
                        .headers
                        .iter()
                        .map(|(name, value)| {
                            (name.as_str().as_bytes().to_vec(), value.as_bytes().to_vec())
                        })
                        .collect();
                    head = Some((h.status.as_u16(), headers));
                }
                Ok(Some(ResponseEvent::Body(chunk))) => body.extend_from_slice(&chunk),
                Ok(Some(ResponseEvent::End)) => return (head, body, None, true),
                Ok(Some(other)) => panic!("an event this check does not know: {other:?}"),
                Ok(None) => break,
                Err(error) => return (head, body, Some(error.to_string()), false),
            }
        }
    }
    (head, body, None, false)
}

/// The gateway-side response decoder never panics, keeps to its head limits, and gives
/// the same head, body and outcome for any split.
pub fn uwsgi_response(data: &[u8]) {
    assert_eq!(
        decode_response(&[data]),
        decode_response(&pieces(data, &cut_points(data))),
        "response depends on the split"
    );
}

#[derive(Debug, Arbitrary)]
struct Exchange {
    vars: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    status: u16,
    headers: Vec<(u8, Vec<u8>)>,
    response_body: Vec<u8>,
}

/// Both sides agree: what the gateway encodes, the application decodes to the same vars
/// and body; what the application writes, the gateway decodes to the same status, headers
/// and body.
pub fn uwsgi_roundtrip(data: &[u8]) {
    let Ok(input) = Exchange::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut env: Environ = input
        .vars
        .iter()
        .filter(|(k, _)| !k.is_empty() && k.as_slice() != b"CONTENT_LENGTH")
        .map(|(k, v)| (k, v))
        .collect();
    env.insert("CONTENT_LENGTH", input.body.len().to_string());
    let mut encoder = RequestEncoder::new();
    let mut wire = BytesMut::new();
    if encoder.encode_head(&env, &mut wire).is_err() {
        assert!(
            env.uwsgi_encoded_len() > 65535
                || env.iter().any(|(k, v)| k.len() > 65535 || v.len() > 65535)
        );
        return;
    }
    let body = encoder
        .body_chunk(Bytes::from(input.body.clone()))
        .expect("body of CONTENT_LENGTH");
    encoder.finish().expect("complete body");
    wire.extend_from_slice(&body);
    let seen = decode_request(
        &[&wire],
        Limits::default()
            .with_max_vars_block(65535)
            .with_max_vars(usize::MAX),
    );
    let mut expected = vec![Seen::Head(env.clone(), input.body.len() as u64)];
    if !input.body.is_empty() {
        expected.push(Seen::Body(input.body.clone()));
    }
    expected.push(Seen::End);
    assert_eq!(seen, expected, "request roundtrip");

    response_roundtrip(&env, input.status, &input.headers, &input.response_body);
}

/// What the application writes, the gateway decodes to the same status, headers and body.
fn response_roundtrip(env: &Environ, status: u16, headers: &[(u8, Vec<u8>)], response_body: &[u8]) {
    // 204 and 304 carry no body by definition; the other codes do.
    let code = match status.clamp(200, 599) {
        204 | 304 => 200,
        code => code,
    };
    let Ok(status) = StatusCode::from_u16(code) else {
        return;
    };
    let headers: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| {
            (
                format!("x-h{n}"),
                v.iter().copied().filter(u8::is_ascii_graphic).collect(),
            )
        })
        .collect();
    let mut writer = ResponseWriter::new(env);
    let mut out = BytesMut::new();
    writer
        .write_head(
            status,
            headers.iter().map(|(n, v)| (n.as_bytes(), v.as_slice())),
            &mut out,
        )
        .expect("valid head");
    let body = writer
        .body_chunk(Bytes::copy_from_slice(response_body))
        .expect("body");
    writer.finish().expect("finish");
    out.extend_from_slice(&body);
    let mut decoder = ResponseDecoder::new(
        Limits::default().with_response_head(
            ResponseHeadLimits::default()
                .with_max_bytes(1 << 20)
                .with_max_headers(headers.len() + 1),
        ),
    );
    let (mut got_status, mut got_body, mut ended) = (None, Vec::new(), false);
    while let Some(event) = decoder
        .decode_eof(&mut out)
        .expect("our own response decodes")
    {
        match event {
            ResponseEvent::Head(head) => {
                // A HeaderMap keeps the values of one name in order: compare per name.
                let mut got: Vec<(String, Vec<u8>)> = head
                    .headers
                    .iter()
                    .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                    .collect();
                got.sort_by(|a, b| a.0.cmp(&b.0));
                let mut want = headers.clone();
                want.sort_by(|a, b| a.0.cmp(&b.0));
                assert_eq!(got, want, "response headers");
                got_status = Some(head.status);
            }
            ResponseEvent::Body(chunk) => got_body.extend_from_slice(&chunk),
            ResponseEvent::End => {
                ended = true;
                break;
            }
            other => panic!("an event this check does not know: {other:?}"),
        }
    }
    assert!(ended);
    assert_eq!(got_status, Some(status));
    assert_eq!(got_body, response_body, "response body");
}
