//! FastCGI: record decoder, name-value pairs, the application-side connection.

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use fastcgi_codec::{
    Chunks, ErrorScope, Limits, Padding, ParamsDecoder, Record, RecordDecoder, RecordEncoder,
    RecordType, ServerConfig, ServerConnection, ServerEvent, encode_params,
};

use crate::split::{cut_points, pieces};

/// Records decoded from `pieces` fed one after another, and the error that stopped them.
fn decode_records(pieces: &[&[u8]]) -> (Vec<Record>, Option<String>) {
    let mut decoder = RecordDecoder::new();
    let mut buf = BytesMut::new();
    let mut records = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(record)) => {
                    assert!(record.content.len() == usize::from(record.header.content_length));
                    records.push(record);
                }
                Ok(None) => break,
                Err(error) => return (records, Some(error.to_string())),
            }
        }
        // The decoder holds at most one record in the buffer: 8 + 65535 + 255 bytes.
        assert!(buf.len() <= piece.len().max(8 + 65535 + 255) + 8 + 65535 + 255);
    }
    (records, None)
}

/// The record decoder never panics and gives the same records and the same error for any
/// split of its input.
pub fn fastcgi_records(data: &[u8]) {
    let whole = decode_records(&[data]);
    let split = decode_records(&pieces(data, &cut_points(data)));
    assert_eq!(
        whole, split,
        "record decoding depends on how the input was split"
    );
}

fn decode_params(pieces: &[&[u8]], limit: usize) -> Option<Environ> {
    let mut decoder = ParamsDecoder::new(limit);
    for piece in pieces {
        decoder.feed(Bytes::copy_from_slice(piece)).ok()?;
    }
    decoder.finish().ok()
}

/// Name-value pairs: any bytes decode or fail the same way however the PARAMS stream is
/// cut into records (a pair may span records), stay under the limit, and what decodes
/// re-encodes to records that decode to the same environ.
pub fn fastcgi_params(data: &[u8]) {
    let limit = 16 * 1024;
    let whole = decode_params(&[data], limit);
    let split = decode_params(&pieces(data, &cut_points(data)), limit);
    assert_eq!(
        whole.is_some(),
        split.is_some(),
        "params accepted for one split only"
    );
    assert_eq!(whole, split, "params differ between splits");
    if let Some(env) = whole {
        assert!(env.content_len() <= limit);
        // A peer may use 4-byte lengths for short names and values; ours are the shortest.
        assert!(
            env.fastcgi_encoded_len() <= data.len(),
            "encoded size exceeds the input"
        );
        assert_eq!(reencode(&env, Padding::Align8).as_ref(), Some(&env));
    }
}

/// Encodes `env` as PARAMS records and decodes them back.
fn reencode(env: &Environ, padding: Padding) -> Option<Environ> {
    let mut encoder = RecordEncoder::new(padding);
    let mut out = Chunks::new();
    encode_params(env, 1, &mut encoder, &mut out).ok()?;
    let wire = out.to_bytes_mut();
    let (records, error) = decode_records(&[&wire]);
    assert_eq!(error, None, "our own PARAMS records do not decode");
    let mut decoder = ParamsDecoder::new(usize::MAX);
    let mut ended = false;
    for record in records {
        assert_eq!(record.record_type(), RecordType::Params);
        assert!(!ended, "a record after the empty PARAMS record");
        assert!(
            record.header.content_length as usize + record.header.padding_length as usize <= 65535
        );
        if record.content.is_empty() {
            ended = true;
        } else {
            decoder.feed(record.content).ok()?;
        }
    }
    assert!(ended, "no empty PARAMS record");
    decoder.finish().ok()
}

#[derive(Debug, Arbitrary)]
struct Pairs {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    pad: bool,
}

/// Any environ (arbitrary bytes, lengths across the 127/128 boundary) survives encoding
/// as PARAMS records and decoding, with and without padding.
pub fn fastcgi_params_roundtrip(data: &[u8]) {
    let Ok(input) = Pairs::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let env: Environ = input.pairs.iter().map(|(n, v)| (n, v)).collect();
    let padding = if input.pad {
        Padding::Align8
    } else {
        Padding::None
    };
    assert_eq!(
        reencode(&env, padding),
        Some(env),
        "PARAMS roundtrip lost data"
    );
}

/// What the connection reported, in order: events and the per-request errors between them.
#[derive(Debug, PartialEq, Eq)]
enum Reported {
    Event(ServerEvent),
    RequestError(String),
}

/// Joins consecutive body chunks of one request: how bytes are grouped into chunks may
/// follow the input's split, their sequence may not.
fn push_joined(out: &mut Vec<Reported>, item: Reported) {
    use Reported::Event;
    match (out.last_mut(), item) {
        (
            Some(Event(ServerEvent::Stdin {
                request_id: a,
                chunk: prev,
            })),
            Event(ServerEvent::Stdin {
                request_id: b,
                chunk,
            }),
        )
        | (
            Some(Event(ServerEvent::Data {
                request_id: a,
                chunk: prev,
            })),
            Event(ServerEvent::Data {
                request_id: b,
                chunk,
            }),
        ) if *a == b => *prev = [&prev[..], &chunk[..]].concat().into(),
        (_, item) => out.push(item),
    }
}

fn run_server(pieces: &[&[u8]], config: ServerConfig) -> (Vec<Reported>, Option<String>, BytesMut) {
    let mut conn = ServerConnection::new(config);
    let mut buf = BytesMut::new();
    let mut reported = Vec::new();
    let mut output = BytesMut::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match conn.receive(&mut buf) {
                Ok(Some(event)) => push_joined(&mut reported, Reported::Event(event)),
                Ok(None) => break,
                Err(error) if error.scope() == ErrorScope::Request => {
                    reported.push(Reported::RequestError(error.to_string()));
                }
                Err(error) => {
                    conn.write_output_into(&mut output);
                    return (reported, Some(error.to_string()), output);
                }
            }
            assert!(conn.in_flight() <= config.limits.max_requests_in_flight);
        }
        conn.write_output_into(&mut output);
    }
    (reported, None, output)
}

/// The application-side connection never panics, gives the same events, errors and
/// answers for any split of its input, and never tracks more requests than its limit.
pub fn fastcgi_server(data: &[u8]) {
    let multiplex = data.first().is_some_and(|b| b & 1 == 1);
    let config = ServerConfig {
        multiplex,
        limits: Limits {
            max_requests_in_flight: 4,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let body = data.get(1..).unwrap_or_default();
    let whole = run_server(&[body], config);
    let split = run_server(&pieces(body, &cut_points(body)), config);
    assert_eq!(
        whole, split,
        "server events depend on how the input was split"
    );
}
