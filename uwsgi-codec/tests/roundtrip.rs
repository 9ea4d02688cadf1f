//! Property tests: what one side encodes, the other decodes to the same thing, for packets,
//! vars blocks of any bytes and sizes up to the limits, and whole exchanges.

mod common;

use bytes::{Buf, Bytes, BytesMut};
use common::{Seen, cuts, environ_from_pairs, run_request, run_response};
use http::StatusCode;
use proptest::prelude::*;
use uwsgi_codec::wire::{decode_vars, encode_vars, encoded_vars_len};
use uwsgi_codec::{
    Limits, MisuseError, Modifier1, Packet, PacketDecoder, RequestEncoder, ResponseDecoder,
    ResponseWriter,
};

fn pairs(
    max_vars: usize,
    max_key: usize,
    max_value: usize,
) -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    prop::collection::vec(
        (
            prop::collection::vec(any::<u8>(), 1..=max_key),
            prop::collection::vec(any::<u8>(), 0..=max_value),
        ),
        0..=max_vars,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn packets_roundtrip_under_any_split(
        packets in prop::collection::vec((any::<u8>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..600)), 1..6),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let packets: Vec<Packet> = packets
            .into_iter()
            .map(|(m1, m2, payload)| Packet::new(Modifier1(m1), m2, Bytes::from(payload)).unwrap())
            .collect();
        let mut wire = BytesMut::new();
        for packet in &packets {
            packet.encode(&mut wire);
        }
        let cut_points = cuts(wire.len(), &raw_cuts);
        let mut decoder = PacketDecoder::new(u16::MAX);
        let mut buffer = BytesMut::new();
        let mut decoded = Vec::new();
        let mut start = 0;
        for end in cut_points.into_iter().chain([wire.len()]) {
            buffer.extend_from_slice(&wire[start..end]);
            start = end;
            while let Some(packet) = decoder.decode(&mut buffer).unwrap() {
                decoded.push(packet);
            }
        }
        prop_assert!(buffer.is_empty());
        prop_assert_eq!(decoded, packets);
    }

    #[test]
    fn large_packets_roundtrip(len in 60_000usize..=65_535, m1 in any::<u8>(), fill in any::<u8>()) {
        let packet = Packet::new(Modifier1(m1), 0, Bytes::from(vec![fill; len])).unwrap();
        let (header, payload) = packet.to_parts();
        let mut wire = BytesMut::from(&header[..]);
        wire.extend_from_slice(&payload);
        prop_assert_eq!(PacketDecoder::new(u16::MAX).decode(&mut wire).unwrap(), Some(packet));
        let mut wire = BytesMut::from(&header[..]);
        prop_assert!(PacketDecoder::new(u16::try_from(len - 1).unwrap()).decode(&mut wire).is_err());
    }

    #[test]
    fn vars_of_any_bytes_roundtrip(vars in pairs(40, 80, 600)) {
        let env = environ_from_pairs(&vars);
        let mut block = BytesMut::new();
        let len = encode_vars(&env, &mut block).unwrap();
        prop_assert_eq!(usize::from(len), block.len());
        prop_assert_eq!(block.len(), env.uwsgi_encoded_len());
        let decoded = decode_vars(block.freeze(), 1000).unwrap();
        let back: Vec<(Vec<u8>, Vec<u8>)> = decoded.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        prop_assert_eq!(back, vars);
    }

    #[test]
    fn vars_near_the_size_limit(key_len in 1usize..=300, value_len in 65_000usize..=65_535, extra in 0usize..4) {
        let mut vars = vec![(vec![b'K'; key_len], vec![b'v'; value_len])];
        for i in 0..extra {
            vars.push((vec![b'a' + u8::try_from(i).unwrap()], Vec::new()));
        }
        let env = environ_from_pairs(&vars);
        let total = 4 + key_len + value_len + 5 * extra;
        match encoded_vars_len(&env) {
            Ok(len) => {
                prop_assert!(total <= 65_535);
                prop_assert_eq!(usize::from(len), total);
                let mut block = BytesMut::new();
                encode_vars(&env, &mut block).unwrap();
                prop_assert_eq!(decode_vars(block.freeze(), 128).unwrap(), env);
            }
            Err(MisuseError::VarsBlockTooLarge { len }) => {
                prop_assert!(total > 65_535);
                prop_assert_eq!(len, total);
            }
            Err(other) => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn request_exchange(
        vars in pairs(30, 40, 200),
        body in prop::collection::vec(any::<u8>(), 0..5000),
        modifier1 in any::<u8>().prop_filter("request modifiers", |m| Modifier1(*m).is_request()),
        modifier2 in any::<u8>(),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut vars: Vec<_> = vars.into_iter().filter(|(k, _)| k != b"CONTENT_LENGTH").collect();
        vars.push((b"CONTENT_LENGTH".to_vec(), body.len().to_string().into_bytes()));
        let env = environ_from_pairs(&vars);
        let mut encoder = RequestEncoder::with_modifiers(Modifier1(modifier1), modifier2);
        let mut head = BytesMut::new();
        encoder.encode_head(&env, &mut head).unwrap();
        let body_out = encoder.body_chunk(Bytes::from(body.clone())).unwrap();
        encoder.finish().unwrap();
        let mut chained = head.freeze().chain(body_out);
        let wire = chained.copy_to_bytes(chained.remaining());

        let limits = Limits::default().with_max_vars_block(u16::MAX).with_max_vars(64);
        let run = run_request(&wire, &cuts(wire.len(), &raw_cuts), limits);
        prop_assert_eq!(&run.error, &None);
        let Some(Seen::RequestHead { modifier1: m1, modifier2: m2, vars: got, content_length }) = run.events.first() else {
            return Err(TestCaseError::fail(format!("{:?}", run.events)));
        };
        prop_assert_eq!((*m1, *m2), (modifier1, modifier2));
        prop_assert_eq!(got, &vars);
        prop_assert_eq!(*content_length, body.len() as u64);
        prop_assert_eq!(run.body(), body);
        prop_assert_eq!(run.events.last(), Some(&Seen::End));
    }

    #[test]
    fn response_exchange(
        status in 200u16..=599,
        headers in prop::collection::vec(("[A-Za-z0-9-]{1,20}", "[ -~]{0,60}"), 0..20),
        body in prop::collection::vec(any::<u8>(), 0..5000),
        declare_length in any::<bool>(),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        prop_assume!(status != 204 && status != 304);
        let status = StatusCode::from_u16(status).unwrap();
        let mut fields: Vec<(String, String)> = headers
            .into_iter()
            .map(|(name, value)| (format!("X-{name}"), value.trim().to_owned()))
            .collect();
        if declare_length {
            fields.push(("Content-Length".to_owned(), body.len().to_string()));
        }
        let env = environ_from_pairs(&[(b"SERVER_PROTOCOL".to_vec(), b"HTTP/1.1".to_vec())]);
        let mut writer = ResponseWriter::new(&env);
        let mut wire = BytesMut::new();
        writer.write_head(status, fields.iter().map(|(n, v)| (n.as_str(), v.as_str())), &mut wire).unwrap();
        let chunk = writer.body_chunk(Bytes::from(body.clone())).unwrap();
        writer.finish().unwrap();
        wire.extend_from_slice(&chunk);

        let run = run_response(&wire, &cuts(wire.len(), &raw_cuts), ResponseDecoder::default());
        prop_assert_eq!(&run.error, &None);
        let Some(Seen::ResponseHead { status: got, headers: got_headers, .. }) = run.events.first() else {
            return Err(TestCaseError::fail(format!("{:?}", run.events)));
        };
        prop_assert_eq!(*got, status.as_u16());
        // A HeaderMap keeps the values of one name in order, names lowercased; compare
        // per name.
        let mut want: Vec<(Vec<u8>, Vec<u8>)> = fields
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase().into_bytes(), v.clone().into_bytes()))
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        let mut got_headers = got_headers.clone();
        got_headers.sort_by(|a, b| a.0.cmp(&b.0));
        prop_assert_eq!(got_headers, want);
        prop_assert_eq!(run.body(), body);
        prop_assert_eq!(run.events.last(), Some(&Seen::End));
    }

    #[test]
    fn chunked_response_bodies(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..700), 0..8),
        extension in any::<bool>(),
        trailer in any::<bool>(),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for chunk in &chunks {
            wire.extend_from_slice(format!("{:X}", chunk.len()).as_bytes());
            if extension {
                wire.extend_from_slice(b";ext=\"v\"");
            }
            wire.extend_from_slice(b"\r\n");
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n");
        if trailer {
            wire.extend_from_slice(b"X-Checksum: 1\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        let run = run_response(&wire, &cuts(wire.len(), &raw_cuts), ResponseDecoder::default());
        prop_assert_eq!(&run.error, &None);
        prop_assert_eq!(run.body(), chunks.concat());
        prop_assert_eq!(run.events.last(), Some(&Seen::End));
    }
}
