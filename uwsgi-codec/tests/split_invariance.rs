//! Split invariance: every decoder gives the same events (body chunks merged) and the same
//! error for any split of its input, down to byte by byte, on valid and arbitrary input.
//! Also: no input makes a decoder panic.

mod common;

use common::{byte_by_byte, cuts, run_request, run_response};
use proptest::prelude::*;
use uwsgi_codec::{Limits, ResponseDecoder};

/// Requests that are mostly well formed, with room for every kind of damage.
fn request_like() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(0u8),
            Just(5),
            Just(100),
            Just(110),
            Just(101),
            any::<u8>()
        ],
        any::<u8>(),
        prop::collection::vec(
            (
                prop::collection::vec(any::<u8>(), 0..12),
                prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..12),
                    Just(b"3".to_vec()),
                    Just(b"-1".to_vec()),
                ],
                any::<bool>(),
            ),
            0..6,
        ),
        prop::collection::vec(any::<u8>(), 0..8),
        any::<i8>(),
    )
        .prop_map(|(modifier1, modifier2, vars, tail, size_skew)| {
            let mut block = Vec::new();
            for (key, value, content_length) in vars {
                let key = if content_length {
                    b"CONTENT_LENGTH".to_vec()
                } else {
                    key
                };
                block.extend_from_slice(&u16::try_from(key.len()).unwrap().to_le_bytes());
                block.extend_from_slice(&key);
                block.extend_from_slice(&u16::try_from(value.len()).unwrap().to_le_bytes());
                block.extend_from_slice(&value);
            }
            // A datasize that sometimes disagrees with the block.
            let datasize = u16::try_from(block.len())
                .unwrap()
                .wrapping_add_signed(i16::from(size_skew) / 32);
            let mut wire = vec![modifier1];
            wire.extend_from_slice(&datasize.to_le_bytes());
            wire.push(modifier2);
            wire.extend_from_slice(&block);
            wire.extend_from_slice(&tail);
            wire
        })
}

/// Responses that are mostly well formed: status line or CGI head, length, chunked or
/// close-delimited bodies, with random damage.
fn response_like() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(b"HTTP/1.1 200 OK\r\n".to_vec()),
            Just(b"HTTP/1.0 404 Not Found\r\n".to_vec()),
            Just(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n".to_vec()),
            Just(b"Status: 201 Created\r\n".to_vec()),
            Just(b"HTTP/1.1 204 No Content\r\n".to_vec()),
            Just(Vec::new()),
        ],
        prop::collection::vec(
            prop_oneof![
                Just(b"Content-Length: 5\r\n".to_vec()),
                Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
                Just(b"Content-Type: text/plain\r\n".to_vec()),
                Just(b"X-Bad Name: 1\r\n".to_vec()),
                Just(b" folded\r\n".to_vec()),
                "[ -~]{0,20}\r\n".prop_map(String::into_bytes),
            ],
            0..5,
        ),
        prop::collection::vec(
            prop_oneof![
                Just(b"5\r\nhello\r\n".to_vec()),
                Just(b"0\r\n\r\n".to_vec()),
                Just(b"1;x=y\r\nA\r\n".to_vec()),
                prop::collection::vec(any::<u8>(), 0..10),
            ],
            0..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(start, fields, body, blank)| {
            let mut wire = start;
            for field in fields {
                wire.extend_from_slice(&field);
            }
            if blank {
                wire.extend_from_slice(b"\r\n");
            }
            for piece in body {
                wire.extend_from_slice(&piece);
            }
            wire
        })
}

fn small_limits() -> Limits {
    Limits::default()
        .with_max_vars_block(64)
        .with_max_vars(4)
        .with_response_head(
            cgi_env::ResponseHeadLimits::default()
                .with_max_bytes(90)
                .with_max_headers(4),
        )
        .with_max_chunk_line(16)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn request_decoder_structured(input in request_like(), raw_cuts in prop::collection::vec(any::<usize>(), 0..10)) {
        for limits in [Limits::default(), small_limits()] {
            let whole = run_request(&input, &[], limits);
            prop_assert_eq!(&run_request(&input, &cuts(input.len(), &raw_cuts), limits), &whole);
            prop_assert_eq!(&run_request(&input, &byte_by_byte(input.len()), limits), &whole);
        }
    }

    #[test]
    fn request_decoder_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..200), raw_cuts in prop::collection::vec(any::<usize>(), 0..10)) {
        let whole = run_request(&input, &[], Limits::default());
        prop_assert_eq!(&run_request(&input, &cuts(input.len(), &raw_cuts), Limits::default()), &whole);
        prop_assert_eq!(&run_request(&input, &byte_by_byte(input.len()), Limits::default()), &whole);
    }

    #[test]
    fn response_decoder_structured(input in response_like(), raw_cuts in prop::collection::vec(any::<usize>(), 0..10), head_request in any::<bool>()) {
        for limits in [Limits::default(), small_limits()] {
            let decoder = || {
                let decoder = ResponseDecoder::new(limits);
                if head_request { decoder.for_head_request() } else { decoder }
            };
            let whole = run_response(&input, &[], decoder());
            prop_assert_eq!(&run_response(&input, &cuts(input.len(), &raw_cuts), decoder()), &whole);
            prop_assert_eq!(&run_response(&input, &byte_by_byte(input.len()), decoder()), &whole);
        }
    }

    #[test]
    fn response_decoder_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..200), raw_cuts in prop::collection::vec(any::<usize>(), 0..10)) {
        let whole = run_response(&input, &[], ResponseDecoder::default());
        prop_assert_eq!(&run_response(&input, &cuts(input.len(), &raw_cuts), ResponseDecoder::default()), &whole);
        prop_assert_eq!(&run_response(&input, &byte_by_byte(input.len()), ResponseDecoder::default()), &whole);
    }
}

#[test]
fn structured_generators_reach_both_outcomes() {
    // Guards against generators that only ever produce errors (or never do).
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..300 {
        let input = response_like().new_tree(&mut runner).unwrap().current();
        if run_response(&input, &[], ResponseDecoder::default())
            .error
            .is_none()
        {
            ok += 1;
        } else {
            failed += 1;
        }
        let input = request_like().new_tree(&mut runner).unwrap().current();
        if run_request(&input, &[], Limits::default()).error.is_none() {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    assert!(ok > 30 && failed > 30, "ok {ok}, failed {failed}");
}
