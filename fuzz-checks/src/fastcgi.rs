//! FastCGI: record decoder, name-value pairs, the application-side connection.

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use fastcgi_codec::wire::encode_params;
use fastcgi_codec::{
    ApplicationConfig, ApplicationConnection, ApplicationEvent, ErrorScope, GatewayConfig,
    GatewayConnection, GatewayEvent, Limits, OutputQueue, Padding, ParamsDecoder, ProtocolStatus,
    Record, RecordDecoder, RecordEncoder, RecordType, RequestId, Role,
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
    let mut out = OutputQueue::new();
    encode_params(env, RequestId::new(1), &mut encoder, &mut out).ok()?;
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
    Event(ApplicationEvent),
    RequestError(String),
}

/// Joins consecutive body chunks of one request: how bytes are grouped into chunks may
/// follow the input's split, their sequence may not.
fn push_joined(out: &mut Vec<Reported>, item: Reported) {
    use Reported::Event;
    match (out.last_mut(), item) {
        (
            Some(Event(ApplicationEvent::Stdin {
                request_id: a,
                chunk: prev,
            })),
            Event(ApplicationEvent::Stdin {
                request_id: b,
                chunk,
            }),
        )
        | (
            Some(Event(ApplicationEvent::Data {
                request_id: a,
                chunk: prev,
            })),
            Event(ApplicationEvent::Data {
                request_id: b,
                chunk,
            }),
        ) if *a == b => *prev = [&prev[..], &chunk[..]].concat().into(),
        (_, item) => out.push(item),
    }
}

fn run_server(
    pieces: &[&[u8]],
    config: ApplicationConfig,
) -> (Vec<Reported>, Option<String>, BytesMut) {
    let mut conn = ApplicationConnection::new(config);
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
            assert!(conn.in_flight() <= config.limits().max_requests_in_flight());
        }
        conn.write_output_into(&mut output);
    }
    (reported, None, output)
}

/// The application-side connection never panics, gives the same events, errors and
/// answers for any split of its input, and never tracks more requests than its limit.
pub fn fastcgi_server(data: &[u8]) {
    let multiplex = data.first().is_some_and(|b| b & 1 == 1);
    let config = ApplicationConfig::default()
        .with_multiplex(multiplex)
        .with_limits(Limits::default().with_max_requests_in_flight(4));
    let body = data.get(1..).unwrap_or_default();
    let whole = run_server(&[body], config);
    let split = run_server(&pieces(body, &cut_points(body)), config);
    assert_eq!(
        whole, split,
        "server events depend on how the input was split"
    );
}

/// What a client connection reported: events (stream chunks joined) and errors.
#[derive(Debug, PartialEq, Eq)]
enum ClientSeen {
    Stdout(RequestId, Vec<u8>),
    Stderr(RequestId, Vec<u8>),
    Other(String),
    Error(String),
}

fn run_client(pieces: &[&[u8]]) -> Vec<ClientSeen> {
    let mut conn = GatewayConnection::new(GatewayConfig::default());
    let id = conn
        .begin_request(Role::Responder, true)
        .expect("first request");
    conn.send_params(id, &Environ::new()).expect("params");
    conn.end_stdin(id).expect("stdin");
    let _ = conn.take_output();
    let mut buf = BytesMut::new();
    let mut seen: Vec<ClientSeen> = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match conn.receive(&mut buf) {
                Ok(Some(GatewayEvent::Stdout { request_id, chunk })) => match seen.last_mut() {
                    Some(ClientSeen::Stdout(id, prev)) if *id == request_id => {
                        prev.extend_from_slice(&chunk);
                    }
                    _ => seen.push(ClientSeen::Stdout(request_id, chunk.to_vec())),
                },
                Ok(Some(GatewayEvent::Stderr { request_id, chunk })) => match seen.last_mut() {
                    Some(ClientSeen::Stderr(id, prev)) if *id == request_id => {
                        prev.extend_from_slice(&chunk);
                    }
                    _ => seen.push(ClientSeen::Stderr(request_id, chunk.to_vec())),
                },
                Ok(Some(other)) => seen.push(ClientSeen::Other(format!("{other:?}"))),
                Ok(None) => break,
                Err(error) if error.scope() == ErrorScope::Request => {
                    seen.push(ClientSeen::Error(error.to_string()));
                }
                Err(error) => {
                    seen.push(ClientSeen::Error(error.to_string()));
                    return seen;
                }
            }
        }
    }
    if let Err(error) = conn.receive_eof() {
        seen.push(ClientSeen::Error(error.to_string()));
    }
    seen
}

/// The gateway-side connection never panics on any answer and reports the same for any
/// split of it.
pub fn fastcgi_client(data: &[u8]) {
    assert_eq!(
        run_client(&[data]),
        run_client(&pieces(data, &cut_points(data))),
        "client events depend on the split"
    );
}

#[derive(Debug, Arbitrary)]
struct Conversation {
    vars: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    app_status: u32,
    keep_conn: bool,
    pad: bool,
}

/// Both sides agree: the application decodes what the gateway encodes (params and body),
/// and the gateway decodes what the application answers (stdout, stderr, end).
pub fn fastcgi_exchange(data: &[u8]) {
    let Ok(input) = Conversation::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let env: Environ = input.vars.iter().map(|(n, v)| (n, v)).collect();
    let padding = if input.pad {
        Padding::Align8
    } else {
        Padding::None
    };
    let mut client = GatewayConnection::new(GatewayConfig::default().with_padding(padding));
    let id = client
        .begin_request(Role::Responder, input.keep_conn)
        .expect("begin");
    if client.send_params(id, &env).is_err() {
        // Only a pair too large for one record is refused.
        assert!(
            env.iter()
                .any(|(n, v)| cgi_env::fastcgi_pair_len(n.len(), v.len())
                    > usize::from(padding.max_content()))
        );
        return;
    }
    client
        .send_stdin(id, Bytes::from(input.body.clone()))
        .expect("stdin");
    client.end_stdin(id).expect("end stdin");
    let mut wire = client.take_output().to_bytes_mut();

    let mut server = ApplicationConnection::new(ApplicationConfig::default());
    let mut reported = Vec::new();
    loop {
        match server.receive(&mut wire) {
            Ok(Some(event)) => push_joined(&mut reported, Reported::Event(event)),
            Ok(None) => break,
            Err(error) => panic!("the server refused our client's request: {error}"),
        }
    }
    let mut expected = vec![
        Reported::Event(ApplicationEvent::RequestBegun {
            request_id: id,
            role: Role::Responder,
            keep_conn: input.keep_conn,
        }),
        Reported::Event(ApplicationEvent::Params {
            request_id: id,
            params: env,
        }),
    ];
    if !input.body.is_empty() {
        expected.push(Reported::Event(ApplicationEvent::Stdin {
            request_id: id,
            chunk: Bytes::from(input.body),
        }));
    }
    expected.push(Reported::Event(ApplicationEvent::StdinEnd {
        request_id: id,
    }));
    assert_eq!(reported, expected, "server side of the exchange");

    server
        .send_stderr(id, Bytes::from(input.stderr.clone()))
        .expect("stderr");
    server
        .send_stdout(id, Bytes::from(input.stdout.clone()))
        .expect("stdout");
    server.end_request(id, input.app_status).expect("end");
    assert_eq!(server.should_close(), !input.keep_conn);
    let mut answer = server.take_output().to_bytes_mut();
    let (mut stdout, mut stderr, mut end) = (Vec::new(), Vec::new(), None);
    while let Some(event) = client
        .receive(&mut answer)
        .expect("our server's answer decodes")
    {
        match event {
            GatewayEvent::Stdout { chunk, .. } => stdout.extend_from_slice(&chunk),
            GatewayEvent::Stderr { chunk, .. } => stderr.extend_from_slice(&chunk),
            GatewayEvent::End {
                app_status,
                protocol_status,
                ..
            } => end = Some((app_status, protocol_status)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        (stdout, stderr),
        (input.stdout, input.stderr),
        "client side of the exchange"
    );
    assert_eq!(
        end,
        Some((input.app_status, ProtocolStatus::RequestComplete))
    );
}
