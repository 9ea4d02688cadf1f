//! Property tests: roundtrips of records, bodies and name-value pairs; whole exchanges
//! between the gateway and application state machines; split invariance; no panics on
//! arbitrary input.

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use fastcgi_codec::wire::encode_params;
use fastcgi_codec::{
    ApplicationConfig, ApplicationConnection, ApplicationEvent, BeginRequestBody, EndRequestBody,
    ErrorScope, GatewayConfig, GatewayConnection, GatewayEvent, Limits, OutputQueue, Padding,
    ParamsDecoder, ProtocolStatus, RecordDecoder, RecordEncoder, RecordType, RequestId, Role,
    UnknownTypeBody,
};
use proptest::prelude::*;

fn padding() -> impl Strategy<Value = Padding> {
    prop_oneof![Just(Padding::None), Just(Padding::Align8)]
}

/// Byte strings whose lengths cluster around the 127/128 length-field boundary.
fn field() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..8),
        prop::collection::vec(any::<u8>(), 120..136),
        prop::collection::vec(any::<u8>(), 250..300),
    ]
}

fn environ() -> impl Strategy<Value = Environ> {
    prop::collection::vec((field(), field()), 0..12).prop_map(|pairs| pairs.into_iter().collect())
}

/// Cuts `bytes` at the given fractions.
fn split_points(len: usize, cuts: &[prop::sample::Index]) -> Vec<usize> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(len + 1)).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    points
}

fn decode_all(bytes: &[u8]) -> Vec<fastcgi_codec::Record> {
    let mut buf = BytesMut::from(bytes);
    let mut decoder = RecordDecoder::new();
    let mut records = Vec::new();
    while let Some(record) = decoder.decode(&mut buf).unwrap() {
        records.push(record);
    }
    assert!(buf.is_empty());
    records
}

proptest! {
    #[test]
    fn every_record_type_roundtrips(
        type_byte in any::<u8>(),
        id in any::<u16>(),
        content in prop::collection::vec(any::<u8>(), 0..2000),
        padding in padding(),
    ) {
        let record_type = RecordType::from_u8(type_byte);
        let id = RequestId::new(id);
        let mut encoder = RecordEncoder::new(padding);
        let mut out = OutputQueue::new();
        encoder.record(record_type, id, Bytes::from(content.clone()), &mut out).unwrap();
        let records = decode_all(&out.to_bytes_mut());
        prop_assert_eq!(records.len(), 1);
        prop_assert_eq!(records[0].record_type(), record_type);
        prop_assert_eq!(records[0].request_id(), id);
        prop_assert_eq!(&records[0].content[..], &content[..]);
        if padding == Padding::Align8 {
            prop_assert_eq!(records[0].header.record_len() % 8, 0);
        }
    }

    #[test]
    fn fixed_bodies_roundtrip(role in any::<u16>(), flags in any::<u8>(), app_status in any::<u32>(),
                              status in any::<u8>(), id in 1..=u16::MAX) {
        let id = RequestId::new(id);
        let begin = BeginRequestBody { role: Role::from_u16(role), flags };
        let end = EndRequestBody { app_status, protocol_status: ProtocolStatus::from_u8(status) };
        let unknown = UnknownTypeBody { record_type: status };
        let mut encoder = RecordEncoder::new(Padding::Align8);
        let mut out = OutputQueue::new();
        encoder.begin_request(id, begin, &mut out);
        encoder.end_request(id, end, &mut out);
        encoder.unknown_type(unknown, &mut out);
        encoder.abort_request(id, &mut out);
        let records = decode_all(&out.to_bytes_mut());
        prop_assert_eq!(records[0].begin_request_body().unwrap(), begin);
        prop_assert_eq!(records[1].end_request_body().unwrap(), end);
        prop_assert_eq!(records[2].unknown_type_body().unwrap(), unknown);
        prop_assert_eq!(records[2].request_id(), RequestId::MANAGEMENT);
        prop_assert_eq!(records[3].record_type(), RecordType::AbortRequest);
        prop_assert!(records[3].content.is_empty());
    }

    #[test]
    fn streams_of_any_length_roundtrip(len in prop_oneof![0usize..100, 65520usize..65545, 130_000usize..140_000],
                                       padding in padding()) {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut encoder = RecordEncoder::new(padding);
        let mut out = OutputQueue::new();
        let id = RequestId::new(1);
        encoder.stream(RecordType::Stdout, id, Bytes::from(payload.clone()), &mut out);
        encoder.stream_end(RecordType::Stdout, id, &mut out);
        let records = decode_all(&out.to_bytes_mut());
        let joined: Vec<u8> = records.iter().flat_map(|r| r.content.to_vec()).collect();
        prop_assert_eq!(joined, payload);
        prop_assert!(records.last().unwrap().content.is_empty());
        for record in &records {
            let total = usize::from(record.header.content_length) + usize::from(record.header.padding_length);
            prop_assert!(total <= 65535);
        }
    }

    #[test]
    fn pairs_roundtrip_across_any_record_split(env in environ(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4)) {
        let mut out = OutputQueue::new();
        encode_params(&env, RequestId::new(1), &mut RecordEncoder::new(Padding::Align8), &mut out).unwrap();
        let stream: Vec<u8> = decode_all(&out.to_bytes_mut()).iter().flat_map(|r| r.content.to_vec()).collect();
        prop_assert_eq!(stream.len(), env.fastcgi_encoded_len());
        // Re-cut the stream anywhere, as a peer that splits pairs across records would.
        let points = split_points(stream.len(), &cuts);
        let mut decoder = ParamsDecoder::new(1 << 20);
        for window in points.windows(2) {
            decoder.feed(Bytes::copy_from_slice(&stream[window[0]..window[1]])).unwrap();
        }
        prop_assert_eq!(decoder.finish().unwrap(), env);
    }

    #[test]
    fn four_byte_lengths_of_small_values_decode(name in field(), value in field()) {
        let mut wire = Vec::new();
        for len in [name.len(), value.len()] {
            wire.extend_from_slice(&(u32::try_from(len).unwrap() | 0x8000_0000).to_be_bytes());
        }
        wire.extend_from_slice(&name);
        wire.extend_from_slice(&value);
        let mut decoder = ParamsDecoder::new(1 << 20);
        decoder.feed(Bytes::from(wire)).unwrap();
        let env = decoder.finish().unwrap();
        prop_assert_eq!(env.get_index(0), Some((&name[..], &value[..])));
    }
}

/// One request as the gateway sends it and the application answers it.
#[derive(Debug, Clone)]
struct Exchange {
    params: Environ,
    body: Vec<Vec<u8>>,
    stdout: Vec<Vec<u8>>,
    stderr: Vec<u8>,
    app_status: u32,
}

fn exchange() -> impl Strategy<Value = Exchange> {
    (
        environ(),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 0..4),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 0..4),
        prop::collection::vec(any::<u8>(), 0..50),
        any::<u32>(),
    )
        .prop_map(|(params, body, stdout, stderr, app_status)| Exchange {
            params,
            body,
            stdout,
            stderr,
            app_status,
        })
}

/// Runs exchanges through both state machines, all requests in flight at once, the bytes
/// in each direction cut at `cuts`. Returns what the application and the gateway saw.
fn run(
    exchanges: &[Exchange],
    cuts: &[prop::sample::Index],
    padding: Padding,
) -> (Vec<ApplicationEvent>, Vec<GatewayEvent>) {
    run_cut(exchanges, padding, |len| split_points(len, cuts))
}

/// As [`run`], each direction cut where `points` says for its length (from 0 to the length).
fn run_cut(
    exchanges: &[Exchange],
    padding: Padding,
    points: impl Fn(usize) -> Vec<usize>,
) -> (Vec<ApplicationEvent>, Vec<GatewayEvent>) {
    let multiplex = exchanges.len() > 1;
    let mut client = GatewayConnection::new(
        GatewayConfig::default()
            .with_padding(padding)
            .with_assume_multiplexing(multiplex),
    );
    let mut server = ApplicationConnection::new(
        ApplicationConfig::default()
            .with_multiplex(multiplex)
            .with_padding(padding),
    );
    let ids: Vec<RequestId> = exchanges
        .iter()
        .map(|_| client.begin_request(Role::Responder, true).unwrap())
        .collect();
    for (id, exchange) in ids.iter().zip(exchanges) {
        client.send_params(*id, &exchange.params).unwrap();
    }
    // Interleave the bodies of all requests chunk by chunk.
    let rounds = exchanges.iter().map(|e| e.body.len()).max().unwrap_or(0);
    for round in 0..rounds {
        for (id, exchange) in ids.iter().zip(exchanges) {
            if let Some(chunk) = exchange.body.get(round) {
                client.send_stdin(*id, Bytes::from(chunk.clone())).unwrap();
            }
        }
    }
    for id in &ids {
        client.end_stdin(*id).unwrap();
    }
    let request = client.take_output().to_bytes_mut();
    let mut server_events = Vec::new();
    let mut buf = BytesMut::new();
    for window in points(request.len()).windows(2) {
        buf.extend_from_slice(&request[window[0]..window[1]]);
        while let Some(event) = server.receive(&mut buf).unwrap() {
            server_events.push(event);
        }
    }
    for (id, exchange) in ids.iter().zip(exchanges) {
        server
            .send_stderr(*id, Bytes::from(exchange.stderr.clone()))
            .unwrap();
        for chunk in &exchange.stdout {
            server.send_stdout(*id, Bytes::from(chunk.clone())).unwrap();
        }
        server.end_request(*id, exchange.app_status).unwrap();
    }
    let response = server.take_output().to_bytes_mut();
    let mut client_events = Vec::new();
    let mut buf = BytesMut::new();
    for window in points(response.len()).windows(2) {
        buf.extend_from_slice(&response[window[0]..window[1]]);
        while let Some(event) = client.receive(&mut buf).unwrap() {
            client_events.push(event);
        }
    }
    assert_eq!(client.in_flight(), 0);
    assert!(!server.should_close());
    (server_events, client_events)
}

fn check_exchange(
    exchanges: &[Exchange],
    server_events: &[ApplicationEvent],
    client_events: &[GatewayEvent],
) {
    for (index, exchange) in exchanges.iter().enumerate() {
        let id = RequestId::new(u16::try_from(index + 1).unwrap());
        let params: Vec<&Environ> = server_events
            .iter()
            .filter_map(|e| match e {
                ApplicationEvent::Params { request_id, params } if *request_id == id => {
                    Some(params)
                }
                _ => None,
            })
            .collect();
        assert_eq!(params, vec![&exchange.params]);
        let body: Vec<u8> = server_events
            .iter()
            .filter_map(|e| match e {
                ApplicationEvent::Stdin { request_id, chunk } if *request_id == id => {
                    Some(chunk.to_vec())
                }
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(body, exchange.body.concat());
        assert!(server_events.contains(&ApplicationEvent::StdinEnd { request_id: id }));
        let stdout: Vec<u8> = client_events
            .iter()
            .filter_map(|e| match e {
                GatewayEvent::Stdout { request_id, chunk } if *request_id == id => {
                    Some(chunk.to_vec())
                }
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(stdout, exchange.stdout.concat());
        let stderr: Vec<u8> = client_events
            .iter()
            .filter_map(|e| match e {
                GatewayEvent::Stderr { request_id, chunk } if *request_id == id => {
                    Some(chunk.to_vec())
                }
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(stderr, exchange.stderr);
        assert!(client_events.contains(&GatewayEvent::End {
            request_id: id,
            app_status: exchange.app_status,
            protocol_status: ProtocolStatus::RequestComplete,
        }));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn whole_exchanges_roundtrip(exchange in exchange(), padding in padding(),
                                 cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let exchanges = [exchange];
        let (server_events, client_events) = run(&exchanges, &cuts, padding);
        check_exchange(&exchanges, &server_events, &client_events);
    }

    #[test]
    fn multiplexed_exchanges_roundtrip(exchanges in prop::collection::vec(exchange(), 2..4), padding in padding(),
                                       cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let (server_events, client_events) = run(&exchanges, &cuts, padding);
        check_exchange(&exchanges, &server_events, &client_events);
    }

    #[test]
    fn any_split_gives_the_same_events(exchanges in prop::collection::vec(exchange(), 1..3),
                                       cuts in prop::collection::vec(any::<prop::sample::Index>(), 1..40)) {
        let whole = run(&exchanges, &[], Padding::Align8);
        let split = run(&exchanges, &cuts, Padding::Align8);
        prop_assert_eq!(&whole, &split);
    }
}

#[test]
fn byte_by_byte_gives_the_same_events() {
    let mut params = Environ::new();
    params.append("REQUEST_METHOD", "POST");
    params.append(vec![b'N'; 128], vec![b'v'; 300]);
    let exchanges = [
        Exchange {
            params: params.clone(),
            body: vec![vec![1; 70_000], vec![2; 5]],
            stdout: vec![b"Status: 200 OK\r\n\r\n".to_vec(), vec![3; 66_000]],
            stderr: b"warning".to_vec(),
            app_status: 0,
        },
        Exchange {
            params,
            body: vec![],
            stdout: vec![b"x".to_vec()],
            stderr: vec![],
            app_status: 3,
        },
    ];
    let whole = run(&exchanges, &[], Padding::Align8);
    check_exchange(&exchanges, &whole.0, &whole.1);
    // Every byte its own piece.
    let split = run_byte_by_byte(&exchanges);
    assert_eq!(whole, split);
}

/// As [`run`], each direction fed one byte at a time.
fn run_byte_by_byte(exchanges: &[Exchange]) -> (Vec<ApplicationEvent>, Vec<GatewayEvent>) {
    run_cut(exchanges, Padding::Align8, |len| (0..=len).collect())
}

/// Feeds arbitrary bytes; returns how many events came out. Per-request errors are
/// skipped over, a connection error stops.
fn feed_server(bytes: &[u8], limits: Limits) -> usize {
    let mut server = ApplicationConnection::new(
        ApplicationConfig::default()
            .with_multiplex(true)
            .with_limits(limits),
    );
    let mut buf = BytesMut::from(bytes);
    let mut events = 0;
    loop {
        match server.receive(&mut buf) {
            Ok(Some(_)) => events += 1,
            Ok(None) => return events,
            Err(error) if error.scope() == ErrorScope::Request => {}
            Err(_) => {
                assert!(server.should_close());
                return events;
            }
        }
    }
}

fn record_soup() -> impl Strategy<Value = Vec<u8>> {
    // Mostly well-framed records of random types and ids, so that the state machines get
    // past the framing checks, with raw garbage mixed in.
    prop::collection::vec(
        prop_oneof![
            (
                1u8..=12,
                0u16..4,
                prop::collection::vec(any::<u8>(), 0..40),
                0u8..10
            )
                .prop_map(|(kind, id, content, padding)| {
                    let mut record = vec![1, kind];
                    record.extend_from_slice(&id.to_be_bytes());
                    record.extend_from_slice(&u16::try_from(content.len()).unwrap().to_be_bytes());
                    record.push(padding);
                    record.push(0);
                    record.extend_from_slice(&content);
                    record.extend(std::iter::repeat_n(0, usize::from(padding)));
                    record
                }),
            Just(vec![1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]),
            prop::collection::vec(any::<u8>(), 0..16),
        ],
        0..30,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn the_application_side_never_panics(bytes in record_soup()) {
        feed_server(
            &bytes,
            Limits::default()
                .with_max_params_bytes(64)
                .with_max_records_before_params_end(4)
                .with_max_requests_in_flight(2),
        );
    }

    #[test]
    fn the_gateway_side_never_panics(bytes in record_soup()) {
        let mut client =
            GatewayConnection::new(GatewayConfig::default().with_assume_multiplexing(true));
        for _ in 0..3 {
            client.begin_request(Role::Responder, true).unwrap();
        }
        let mut buf = BytesMut::from(&bytes[..]);
        loop {
            match client.receive(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(error) if error.scope() == ErrorScope::Request => {}
                Err(_) => {
                    prop_assert!(client.failure().is_some());
                    break;
                }
            }
        }
    }

    #[test]
    fn the_record_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = RecordDecoder::new();
        while let Ok(Some(record)) = decoder.decode(&mut buf) {
            prop_assert!(record.content.len() <= 65535);
        }
    }
}
