//! Known-answer tests on the traffic nginx and uWSGI exchanged (testdata/captures/nginx-uwsgi):
//! every request decodes to the vars and body `decoded.txt` lists, every response decodes
//! to its head and body, whatever the split of the input.

mod common;

use common::{Run, Seen, byte_by_byte, run_request, run_response, violation_at};
use uwsgi_codec::{Header, Limits, Modifier1, ResponseDecoder, VarsError, Violation};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/captures/nginx-uwsgi/"
);

fn capture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What decoded.txt says about one request capture.
struct Expected {
    modifier1: u8,
    datasize: u16,
    modifier2: u8,
    body: usize,
    vars: Vec<(Vec<u8>, Vec<u8>)>,
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

/// Reads the `#### <conn> c2s` section of decoded.txt.
fn expected(conn: &str) -> Expected {
    let text = std::fs::read_to_string(format!("{DIR}decoded.txt")).unwrap();
    let marker = format!("#### {conn} c2s\n");
    let section = &text[text.find(&marker).unwrap_or_else(|| panic!("{marker}")) + marker.len()..];
    let mut lines = section.lines();
    let summary = lines.next().unwrap();
    let vars = lines
        .take_while(|line| line.starts_with("   "))
        .map(|line| {
            let (name, value) = line.trim_start().split_once(" = ").unwrap();
            let value = value
                .strip_prefix('\'')
                .unwrap()
                .strip_suffix('\'')
                .unwrap();
            (name.as_bytes().to_vec(), value.as_bytes().to_vec())
        })
        .collect::<Vec<_>>();
    assert_eq!(
        vars.len(),
        field(summary, "vars").parse::<usize>().unwrap(),
        "decoded.txt lists every var"
    );
    Expected {
        modifier1: field(summary, "modifier1").parse().unwrap(),
        datasize: field(summary, "datasize").parse().unwrap(),
        modifier2: field(summary, "modifier2").parse().unwrap(),
        body: field(summary, "body").parse().unwrap(),
        vars,
    }
}

fn check_request(conn: &str) -> Vec<u8> {
    let wire = capture(&format!("{conn}-c2s.bin"));
    let want = expected(conn);
    let header = Header::parse(&wire).unwrap();
    assert_eq!(header.modifier1, Modifier1(want.modifier1));
    assert_eq!(header.datasize, want.datasize);
    assert_eq!(header.modifier2, want.modifier2);
    assert_eq!(wire.len(), 4 + usize::from(want.datasize) + want.body);

    let whole = run_request(&wire, &[], Limits::default());
    assert_eq!(whole.error, None, "{conn}");
    let [head, rest @ ..] = &whole.events[..] else {
        panic!("{conn}: no events")
    };
    let Seen::RequestHead {
        modifier1,
        modifier2,
        vars,
        content_length,
    } = head
    else {
        panic!("{conn}: {head:?}")
    };
    assert_eq!((*modifier1, *modifier2), (want.modifier1, want.modifier2));
    assert_eq!(vars, &want.vars, "{conn}: vars in order");
    assert_eq!(*content_length, want.body as u64);
    let body = whole.body();
    assert_eq!(body, &wire[wire.len() - want.body..]);
    assert_eq!(rest.last(), Some(&Seen::End));

    assert_eq!(
        run_request(&wire, &byte_by_byte(wire.len()), Limits::default()),
        whole
    );
    for step in [7, 64, 1000, 32768] {
        let cuts: Vec<usize> = (step..wire.len()).step_by(step).collect();
        assert_eq!(
            run_request(&wire, &cuts, Limits::default()),
            whole,
            "step {step}"
        );
    }
    body
}

fn check_response(conn: &str) -> Run {
    let wire = capture(&format!("{conn}-s2c.bin"));
    let whole = run_response(&wire, &[], ResponseDecoder::default());
    assert_eq!(whole.error, None, "{conn}");
    assert_eq!(
        run_response(&wire, &byte_by_byte(wire.len()), ResponseDecoder::default()),
        whole
    );
    let Some(Seen::ResponseHead {
        status,
        version,
        reason,
        headers,
        body_offset,
    }) = whole.events.first()
    else {
        panic!("{conn}: {:?}", whole.events)
    };
    assert_eq!(*status, 200);
    assert_eq!(
        (*version, reason.as_slice()),
        (Some(http::Version::HTTP_11), &b"OK"[..])
    );
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))
        .map(|(_, v)| {
            String::from_utf8(v.clone())
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .unwrap();
    assert_eq!(whole.body().len(), length);
    assert_eq!(body_offset + length, wire.len());
    assert_eq!(whole.events.last(), Some(&Seen::End));
    whole
}

/// CRC-32 (IEEE), as the capture's WSGI app reports for the body it received.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & 0u32.wrapping_sub(crc & 1));
        }
    }
    !crc
}

#[test]
fn conn1_get_request() {
    let body = check_request("nginx-uwsgi-conn1");
    assert!(body.is_empty());
}

#[test]
fn conn2_post_request_of_100000_bytes() {
    let body = check_request("nginx-uwsgi-conn2");
    assert_eq!(body.len(), 100_000);
}

#[test]
fn conn1_response() {
    let run = check_response("nginx-uwsgi-conn1");
    let body = String::from_utf8(run.body()).unwrap();
    assert!(body.contains("\"body_len\": 0,"), "{body}");
    assert!(body.contains("\"body_crc32\": 0,"), "{body}");
}

#[test]
fn conn2_response_reports_the_body_uwsgi_received() {
    let request_body = check_request("nginx-uwsgi-conn2");
    let run = check_response("nginx-uwsgi-conn2");
    let body = String::from_utf8(run.body()).unwrap();
    assert!(body.contains("\"body_len\": 100000,"), "{body}");
    let crc = format!("\"body_crc32\": {},", crc32(&request_body));
    assert!(body.contains(&crc), "{crc} in {body}");
}

#[test]
fn a_buffer_smaller_than_the_vars_block_refuses_it() {
    let wire = capture("nginx-uwsgi-conn1-c2s.bin");
    let run = run_request(&wire[..4], &[], Limits::default().with_max_vars_block(405));
    assert_eq!(
        violation_at(&run, 0),
        &Violation::DatasizeTooLarge {
            modifier1: Modifier1::WSGI,
            datasize: 406,
            limit: 405
        }
    );
}

#[test]
fn too_few_vars_allowed() {
    let wire = capture("nginx-uwsgi-conn1-c2s.bin");
    let run = run_request(&wire, &[], Limits::default().with_max_vars(16));
    let error = run.error.clone().unwrap();
    assert!(
        matches!(
            error.violation,
            Violation::Vars(VarsError::TooManyVars { limit: 16, offset })
                if error.offset == 4 + offset as u64
        ),
        "{error:?}"
    );
}
