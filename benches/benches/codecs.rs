//! FastCGI vs uwsgi, ours vs memcpy and vs other crates, on the same inputs in one run.
//!
//! `cargo bench -p benches --bench codecs` runs every measurement, then prints a Markdown
//! summary (medians, throughput, ratios, allocations per request). `-- --quick` or
//! `BENCH_QUICK=1` gives a fast smoke run. Criterion's HTML report stays under
//! `target/criterion` (or `$CARGO_TARGET_DIR/criterion`).
#![deny(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use benches::estimates::{criterion_dir, read_median};
use benches::floor::{fastcgi_pairs, pair_bytes, uwsgi_vars};
use benches::inputs::{
    PHP_FPM_CONN1_RESPONSE, PHP_FPM_RECORD_CONTENT, body, fastcgi_client_params, fastcgi_request,
    fresh_fastcgi_client, php_fpm_response, post_environ, typical_environ, uwsgi_request,
    uwsgi_response,
};
use benches::memory_stream::{MemoryDuplex, block_on};
use benches::summary::{Allocations, Row, format_ratio, ratio, render_allocations, render_timings};
use bytes::{Bytes, BytesMut};
use cgi_env::{Environ, ResponseHeadParser};
use criterion::{Bencher, BenchmarkId, Criterion, Throughput};
use fastcgi_codec::{
    ApplicationConfig, ApplicationConnection, ApplicationEvent, GatewayConnection, GatewayEvent,
};
use uwsgi_codec::{
    Limits, RequestDecoder, RequestEncoder, RequestEvent, ResponseDecoder, ResponseEvent,
};

// ---------------------------------------------------------------------------------------
// Counting allocator

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
/// Set only while [`count_allocations`] runs, so that the timed benches pay a load and a
/// branch per allocation rather than two atomic additions.
static COUNTING: AtomicBool = AtomicBool::new(false);

/// The system allocator, counting allocation calls (alloc, alloc_zeroed, realloc).
struct CountingAllocator;

fn record_allocation(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// Sound: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract, and returns `System`'s result unchanged; the only other work is
// relaxed atomic counter updates, which neither allocate nor touch the memory. The caller's
// obligations (valid layout, pointer from this allocator) are passed on as they are.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record_allocation(layout.size());
        // SAFETY: the caller's contract for `alloc` is the same as `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (every allocation here does) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record_allocation(layout.size());
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record_allocation(new_size);
        // SAFETY: `ptr` came from `System` with `layout`; the caller guarantees `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Runs `f` once and counts the allocations it makes (its result is dropped afterwards,
/// outside the count).
fn count_allocations<R>(f: impl FnOnce() -> R) -> Allocations {
    let count = ALLOCATIONS.load(Ordering::Relaxed);
    let bytes = ALLOCATED_BYTES.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let result = f();
    COUNTING.store(false, Ordering::Relaxed);
    let allocations = Allocations {
        count: ALLOCATIONS.load(Ordering::Relaxed) - count,
        bytes: ALLOCATED_BYTES.load(Ordering::Relaxed) - bytes,
    };
    drop(result);
    allocations
}

// ---------------------------------------------------------------------------------------
// Inputs

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const BODY_SIZES: [(usize, &str); 4] = [
    (4 * KIB, "4KiB"),
    (64 * KIB, "64KiB"),
    (MIB, "1MiB"),
    (16 * MIB, "16MiB"),
];
const RESPONSE_SIZES: [(usize, &str); 2] = [(KIB, "1KiB"), (MIB, "1MiB")];

/// Names of the other crates, as resolved in Cargo.lock.
const FASTCGI_CLIENT: &str = "fastcgi-client-0.12.0";
const TOKIO_FASTCGI: &str = "tokio-fastcgi-1.3.0";
const CEGLA_FCGI: &str = "cegla-fcgi-0.2.3";

struct Typical {
    env: Environ,
    /// BEGIN_REQUEST, PARAMS, empty PARAMS, empty STDIN: what nginx writes for a GET.
    fastcgi: Bytes,
    /// Header and vars.
    uwsgi: Bytes,
    /// Where the content of the (one, non-empty) PARAMS record is in `fastcgi`.
    fastcgi_params: Range<usize>,
    /// Where the vars block is in `uwsgi` (after the 4-byte header).
    uwsgi_vars: Range<usize>,
}

impl Typical {
    fn new() -> Self {
        let env = typical_environ();
        let (head, stdin) = fastcgi_request(&env, &Bytes::new());
        let mut fastcgi = BytesMut::from(&head[..]);
        fastcgi.extend_from_slice(&stdin);
        let (uwsgi, _) = uwsgi_request(&env, &Bytes::new());
        let fastcgi = fastcgi.freeze();
        let fastcgi_params = params_content(&fastcgi);
        let datasize = usize::from(u16::from_le_bytes([uwsgi[1], uwsgi[2]]));
        assert_eq!(datasize, uwsgi.len() - 4, "one uwsgi header, then the vars");
        Typical {
            env,
            fastcgi,
            uwsgi_vars: 4..uwsgi.len(),
            uwsgi,
            fastcgi_params,
        }
    }
}

/// The content of the one non-empty PARAMS record of a FastCGI request (walking the
/// record headers); panics when the params take more records.
fn params_content(wire: &[u8]) -> Range<usize> {
    let mut found = None;
    let mut at = 0;
    while at + 8 <= wire.len() {
        let content_len = usize::from(u16::from_be_bytes([wire[at + 4], wire[at + 5]]));
        let content = at + 8..at + 8 + content_len;
        if wire[at + 1] == 4 && content_len > 0 {
            assert!(found.is_none(), "the params fit in one record");
            found = Some(content.clone());
        }
        at = content.end + usize::from(wire[at + 6]);
    }
    assert_eq!(at, wire.len(), "whole records");
    found.expect("a PARAMS record")
}

/// Most input bytes set up ahead of one timed batch, so that a batch's inputs stay in
/// cache as a socket's freshly read buffer would (256 KiB), and most inputs per batch.
const BATCH_INPUT_BUDGET: usize = 256 * KIB;
const MAX_BATCH: u64 = 1_000;

/// Like criterion's `iter_batched`: each iteration consumes a fresh input made by `setup`
/// outside the timed region. Inputs are made in batches of at most
/// [`BATCH_INPUT_BUDGET`] bytes (one at a time for large bodies), each batch timed as a
/// whole, and outputs are dropped untimed. Criterion sizes the run by wall time, setup
/// included, so copying large inputs lengthens no run past its measurement time.
fn iter_fresh<I, O>(
    b: &mut Bencher<'_>,
    input_len: usize,
    mut setup: impl FnMut() -> I,
    mut routine: impl FnMut(I) -> O,
) {
    let cap = (BATCH_INPUT_BUDGET / input_len.max(1)).clamp(1, MAX_BATCH as usize) as u64;
    b.iter_custom(|iters| {
        let mut timed = Duration::ZERO;
        let mut remaining = iters;
        while remaining > 0 {
            let batch = remaining.min(cap);
            remaining -= batch;
            let inputs: Vec<I> = (0..batch).map(|_| setup()).collect();
            let mut outputs = Vec::with_capacity(inputs.len());
            let start = Instant::now();
            for input in inputs {
                outputs.push(routine(input));
            }
            timed += start.elapsed();
            drop(black_box(outputs));
        }
        timed
    });
}

// ---------------------------------------------------------------------------------------
// The operations, shared by the timed benches and the allocation counts

/// Gateway side: BEGIN_REQUEST, PARAMS and the empty STDIN into `dst` (copying path).
fn fastcgi_encode(env: &Environ, dst: &mut BytesMut) {
    let (mut conn, id) = fresh_fastcgi_client();
    conn.send_params(id, env).expect("params fit");
    conn.end_stdin(id).expect("stdin open");
    dst.clear();
    conn.write_output_into(dst);
}

/// Gateway side, vectored: the same records as a list of `Bytes` for one `writev`.
fn fastcgi_encode_vectored(env: &Environ) -> fastcgi_codec::OutputQueue {
    let (mut conn, id) = fresh_fastcgi_client();
    conn.send_params(id, env).expect("params fit");
    conn.end_stdin(id).expect("stdin open");
    conn.take_output()
}

/// Application side: a fresh connection reads the request up to its params.
fn fastcgi_decode(mut input: BytesMut) -> (ApplicationConnection, Environ) {
    let mut conn = ApplicationConnection::new(ApplicationConfig::default());
    loop {
        match conn.receive(&mut input).expect("valid request") {
            Some(ApplicationEvent::Params { params, .. }) => return (conn, params),
            Some(_) => {}
            None => panic!("request ended before its params"),
        }
    }
}

/// A small answer: CGI head and a short body, as an API endpoint sends.
const SMALL_RESPONSE: &[u8] =
    b"Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\":true}";

/// Application side: answer a request in flight with [`SMALL_RESPONSE`] and end it, then
/// take the output as the slices one vectored write sends (returned with their count).
fn fastcgi_small_response(
    (mut conn, _): (ApplicationConnection, Environ),
) -> (ApplicationConnection, fastcgi_codec::OutputQueue, usize) {
    let id = fastcgi_codec::RequestId::new(1);
    conn.send_stdout(id, Bytes::from_static(SMALL_RESPONSE))
        .expect("in flight");
    conn.end_request(id, 0).expect("in flight");
    let out = conn.take_output();
    let mut slices = [std::io::IoSlice::new(&[]); 16];
    let count = bytes::Buf::chunks_vectored(&out, &mut slices);
    (conn, out, count)
}

/// Application side, what tokio-fastcgi does: copy the bytes into a receive buffer (what
/// a socket read does), then read the request to the end of its body, keeping the params
/// and the body chunks (slices of the receive buffer).
fn fastcgi_decode_whole(wire: &[u8]) -> (ApplicationConnection, Environ, Vec<Bytes>) {
    let mut input = BytesMut::from(wire);
    let mut conn = ApplicationConnection::new(ApplicationConfig::default());
    let mut env = None;
    let mut body = Vec::new();
    loop {
        match conn.receive(&mut input).expect("valid request") {
            Some(ApplicationEvent::Params { params, .. }) => env = Some(params),
            Some(ApplicationEvent::Stdin { chunk, .. }) => body.push(chunk),
            Some(ApplicationEvent::StdinEnd { .. }) => {
                return (conn, env.expect("params came"), body);
            }
            Some(_) => {}
            None => panic!("request ended before its body"),
        }
    }
}

fn uwsgi_encode(env: &Environ, dst: &mut BytesMut) {
    dst.clear();
    RequestEncoder::new()
        .encode_head(env, dst)
        .expect("vars fit");
}

fn uwsgi_limits() -> Limits {
    Limits::default().with_max_vars_block(u16::MAX)
}

fn uwsgi_decode(mut input: BytesMut) -> (RequestDecoder, uwsgi_codec::RequestHead) {
    let mut decoder = RequestDecoder::new(uwsgi_limits());
    loop {
        match decoder.decode(&mut input).expect("valid request") {
            Some(RequestEvent::Head(head)) => return (decoder, head),
            Some(_) => {}
            None => panic!("request ended before its vars"),
        }
    }
}

/// A gateway connection that sent the typical request and waits for the answer.
fn fastcgi_client_waiting(env: &Environ) -> GatewayConnection {
    let (mut conn, id) = fresh_fastcgi_client();
    conn.send_params(id, env).expect("params fit");
    conn.end_stdin(id).expect("stdin open");
    drop(conn.take_output());
    conn
}

/// Gateway side: a php-fpm response read to END_REQUEST, its CGI head parsed.
fn fastcgi_response(
    mut conn: GatewayConnection,
    mut input: BytesMut,
) -> (GatewayConnection, cgi_env::ResponseHead, usize) {
    let mut parser = ResponseHeadParser::default();
    let mut head = None;
    let mut body_len = 0;
    loop {
        match conn.receive(&mut input).expect("valid response") {
            Some(GatewayEvent::Stdout { chunk, .. }) => match head {
                Some(_) => body_len += chunk.len(),
                // The bench's head fits in the first record, as php-fpm's does.
                None => match parser.parse(&chunk).expect("valid head") {
                    Some(parsed) => {
                        body_len += chunk.len() - parsed.body_offset;
                        head = Some(parsed);
                    }
                    None => panic!("head split over records"),
                },
            },
            Some(GatewayEvent::End { .. }) => return (conn, head.expect("a head"), body_len),
            Some(_) => {}
            None => panic!("response ended early"),
        }
    }
}

/// Gateway side: a uwsgi application's raw HTTP response read to the connection's close.
fn uwsgi_response_decode(mut input: BytesMut) -> (cgi_env::ResponseHead, usize) {
    let mut decoder = ResponseDecoder::default();
    let mut head = None;
    let mut body_len = 0;
    loop {
        match decoder.decode_eof(&mut input).expect("valid response") {
            Some(ResponseEvent::Head(parsed)) => head = Some(parsed),
            Some(ResponseEvent::Body(chunk)) => body_len += chunk.len(),
            Some(ResponseEvent::End) => return (head.expect("a head"), body_len),
            Some(_) => {}
            None => panic!("response ended early"),
        }
    }
}

/// Our whole gateway exchange: encode the request into a send buffer, copy `reply` into a
/// receive buffer (what a socket read does) and read it to END_REQUEST, keeping the STDOUT
/// chunks (slices of the receive buffer).
fn fastcgi_codec_exchange(env: &Environ, reply: &[u8], send: &mut BytesMut) -> Vec<Bytes> {
    let (mut conn, id) = fresh_fastcgi_client();
    conn.send_params(id, env).expect("params fit");
    conn.end_stdin(id).expect("stdin open");
    send.clear();
    conn.write_output_into(send);
    let mut received = BytesMut::from(reply);
    let mut stdout = Vec::with_capacity(reply.len() / PHP_FPM_RECORD_CONTENT + 1);
    loop {
        match conn.receive(&mut received).expect("valid response") {
            Some(GatewayEvent::Stdout { chunk, .. }) => stdout.push(chunk),
            Some(GatewayEvent::End { .. }) => return stdout,
            Some(_) => {}
            None => panic!("response ended early"),
        }
    }
}

/// fastcgi-client's whole exchange of the same request over an in-memory stream that
/// answers `reply`.
fn fastcgi_client_exchange(
    params: fastcgi_client::Params<'_>,
    reply: &[u8],
    written: &mut Vec<u8>,
) -> fastcgi_client::Response {
    written.clear();
    let stream = MemoryDuplex::new(reply, written);
    let request = fastcgi_client::Request::new(params, fastcgi_client::io::empty());
    block_on(fastcgi_client::Client::new(stream).execute_once(request)).expect("valid exchange")
}

/// tokio-fastcgi reading the typical request (to the end of its empty body).
fn tokio_fastcgi_decode(input: &[u8]) -> tokio_fastcgi::Request<tokio::io::Sink> {
    let mut requests = tokio_fastcgi::Requests::new(input, tokio::io::sink(), 1, 1);
    block_on(requests.next())
        .expect("valid request")
        .expect("one request")
}

/// Our gateway side writing a whole request, params and body, into a send buffer.
fn fastcgi_encode_whole(env: &Environ, body: &Bytes, dst: &mut BytesMut) {
    let (mut conn, id) = fresh_fastcgi_client();
    conn.send_params(id, env).expect("params fit");
    if !body.is_empty() {
        conn.send_stdin(id, body.clone()).expect("stdin open");
    }
    conn.end_stdin(id).expect("stdin open");
    dst.clear();
    conn.write_output_into(dst);
}

/// cegla-fcgi's client writing the same request, step by step as its `Connection::poll`
/// does (client.rs of 0.2.3), with its public protocol types: BEGIN_REQUEST; one
/// `NameValuePair::from_slices(..).encode()` per variable appended to a `Vec`, cut into
/// PARAMS records of at most 65535 bytes (each chunk copied into its `Record`), the empty
/// PARAMS; the body likewise in STDIN records, the empty STDIN; each queued record cloned
/// (its write loop peeks, clones, then sends) and given to its `Encoder`, which builds the
/// record in a `Vec` and copies it into the send buffer (what `FramedWrite` does).
/// Not included: the client's `CgiBuilder` making the variables out of an
/// `http::Request` (the variables are given, as ours get an `Environ`), its channels and
/// response futures. Records are padded to 8 bytes as its `Record::new` does.
fn cegla_fcgi_encode_whole(env: &Environ, body: &[u8], dst: &mut BytesMut) {
    use cegla_fcgi::protocol::codec::Encoder;
    use cegla_fcgi::protocol::constants::{RecordType, Role};
    use cegla_fcgi::protocol::name_value_pair::NameValuePair;
    use cegla_fcgi::protocol::record::Record;
    use tokio_util::codec::Encoder as _;

    let request_id = 1;
    let mut queue = std::collections::VecDeque::new();
    let role = Role::Responder.as_u16();
    let begin = vec![(role >> 8) as u8, (role & 0xff) as u8, 0, 0, 0, 0, 0, 0];
    queue.push_back(Record::new(
        RecordType::BeginRequest.as_u8(),
        request_id,
        begin,
    ));
    let mut params = Vec::new();
    for (name, value) in env {
        params.extend_from_slice(&NameValuePair::from_slices(name, value).encode());
    }
    for chunk in params.chunks(65535) {
        queue.push_back(Record::new(
            RecordType::Params.as_u8(),
            request_id,
            chunk.to_vec(),
        ));
    }
    queue.push_back(Record::new(RecordType::Params.as_u8(), request_id, vec![]));
    for chunk in body.chunks(65535) {
        queue.push_back(Record::new(
            RecordType::Stdin.as_u8(),
            request_id,
            chunk.to_vec(),
        ));
    }
    queue.push_back(Record::new(RecordType::Stdin.as_u8(), request_id, vec![]));
    dst.clear();
    let mut encoder = Encoder;
    while let Some(record) = queue.front() {
        let record = Record {
            content: record.content.clone(),
            ..*record
        };
        queue.pop_front();
        encoder.encode(record, dst).expect("records fit");
    }
}

/// cegla-fcgi's application side reading a request to the end of its body, as its
/// `server_handle_fcgi` and `handle_fcgi_request` do (server.rs of 0.2.3), with its public
/// protocol types: the bytes copied into a receive buffer (what its `FramedRead` does),
/// records cut by its `Decoder` (each content copied into a `Vec`), the PARAMS contents
/// appended to one `Vec`, then decoded pair by pair with `NameValuePair::decode` into
/// `String`s (`from_utf8_lossy(..).to_string()`) collected into its `CgiEnvironment`
/// (a linked hash map); each non-empty STDIN content kept as `Bytes`.
/// Not included: the per-request channel, map entry and spawned task, and the channel
/// hop of every record, which need a runtime (so this is a lower bound of its server's
/// work); nor its conversion to an `http::Request` (ours gives an `Environ`).
fn cegla_fcgi_decode_whole(wire: &[u8]) -> (cegla_fcgi::CgiEnvironment, Vec<Bytes>) {
    use cegla_fcgi::protocol::codec::Decoder;
    use cegla_fcgi::protocol::constants::{RecordType, Role};
    use cegla_fcgi::protocol::name_value_pair::NameValuePair;
    use tokio_util::codec::Decoder as _;

    let mut input = BytesMut::from(wire);
    let mut decoder = Decoder::default();
    let mut params = Vec::new();
    let mut env = None;
    let mut body = Vec::new();
    loop {
        let record = decoder
            .decode(&mut input)
            .expect("valid record")
            .expect("request ended early");
        match RecordType::from_u8(record.record_type) {
            Some(RecordType::BeginRequest) => {
                let role = u16::from_be_bytes([record.content[0], record.content[1]]);
                assert_eq!(role, Role::Responder as u16);
            }
            Some(RecordType::Params) if record.content.is_empty() => {
                // Pair by pair into the map, as its loop of `insert`s does.
                let mut cursor = std::io::Cursor::new(std::mem::take(&mut params));
                let pairs = std::iter::from_fn(|| {
                    let pair = NameValuePair::decode(&mut cursor).expect("valid pair")?;
                    let name = String::from_utf8_lossy(&pair.name).to_string();
                    let value = String::from_utf8_lossy(&pair.value).to_string();
                    Some((name, value))
                });
                env = Some(pairs.collect());
            }
            Some(RecordType::Params) => params.extend_from_slice(&record.content),
            Some(RecordType::Stdin) if record.content.is_empty() => {
                return (env.expect("params came"), body);
            }
            Some(RecordType::Stdin) => body.push(Bytes::from(record.content)),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// The benches

fn bench_typical(c: &mut Criterion, typical: &Typical) {
    let mut group = c.benchmark_group("typical_request");
    let env = &typical.env;
    let mut dst = BytesMut::with_capacity(4 * KIB);
    group.bench_function("fastcgi_encode", |b| {
        b.iter(|| fastcgi_encode(black_box(env), &mut dst));
    });
    group.bench_function("fastcgi_encode_vectored", |b| {
        b.iter(|| fastcgi_encode_vectored(black_box(env)));
    });
    group.bench_function("fastcgi_decode", |b| {
        iter_fresh(
            b,
            typical.fastcgi.len(),
            || BytesMut::from(&typical.fastcgi[..]),
            fastcgi_decode,
        );
    });
    group.bench_function("fastcgi_small_response_vectored", |b| {
        iter_fresh(
            b,
            typical.fastcgi.len(),
            || fastcgi_decode(BytesMut::from(&typical.fastcgi[..])),
            fastcgi_small_response,
        );
    });
    group.bench_function("uwsgi_encode", |b| {
        b.iter(|| uwsgi_encode(black_box(env), &mut dst));
    });
    group.bench_function("uwsgi_decode", |b| {
        iter_fresh(
            b,
            typical.uwsgi.len(),
            || BytesMut::from(&typical.uwsgi[..]),
            uwsgi_decode,
        );
    });
    group.finish();
}

/// The floors of the typical request (see `benches::floor`), timed as the rows they bound:
/// the scans read a fresh receive buffer per iteration and leave their `Vec` to be
/// dropped untimed, as `fastcgi_decode` and `uwsgi_decode`; the copies run in a plain
/// loop, as `fastcgi_encode` and `uwsgi_encode`.
fn bench_floors(c: &mut Criterion, typical: &Typical) {
    let vars = check_floors(typical);
    let mut group = c.benchmark_group("floor");
    for (name, wire, block, scan) in [
        (
            "fastcgi_scan",
            &typical.fastcgi,
            typical.fastcgi_params.clone(),
            fastcgi_pairs as fn(&[u8], usize) -> Vec<[u32; 4]>,
        ),
        (
            "uwsgi_scan",
            &typical.uwsgi,
            typical.uwsgi_vars.clone(),
            uwsgi_vars,
        ),
    ] {
        // One allocation sized up front to the pair count (given as an opaque value).
        group.bench_function(name, |b| {
            iter_fresh(
                b,
                wire.len(),
                || BytesMut::from(&wire[..]),
                |input| {
                    let pairs = scan(black_box(&input[block.clone()]), black_box(vars));
                    (input, pairs)
                },
            );
        });
    }
    for (name, wire) in [
        ("fastcgi_copy", &typical.fastcgi),
        ("uwsgi_copy", &typical.uwsgi),
    ] {
        // The whole encoded request into a fresh BytesMut: one allocation and a memcpy.
        group.bench_function(name, |b| {
            b.iter(|| BytesMut::from(black_box(&wire[..])));
        });
    }
    group.finish();
}

/// Checks once, untimed, that the floor scans find every variable of the typical request,
/// with the same names and values in the same order, in one allocation; returns the count.
fn check_floors(typical: &Typical) -> usize {
    let vars = typical.env.len();
    assert_eq!(vars, 33, "the typical request");
    for (wire, block, scan) in [
        (
            &typical.fastcgi,
            typical.fastcgi_params.clone(),
            fastcgi_pairs as fn(&[u8], usize) -> Vec<[u32; 4]>,
        ),
        (&typical.uwsgi, typical.uwsgi_vars.clone(), uwsgi_vars),
    ] {
        let block = &wire[block];
        let mut pairs = Vec::new();
        let allocations = count_allocations(|| pairs = scan(block, vars));
        assert_eq!(allocations.count, 1);
        assert_eq!(pairs.len(), vars);
        for (&pair, (name, value)) in pairs.iter().zip(&typical.env) {
            assert_eq!(pair_bytes(block, pair), (name, value));
        }
    }
    vars
}

fn bench_body_encoders(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_body");
    for (size, label) in BODY_SIZES {
        let env = post_environ(size);
        let payload = body(size);
        let (_, fastcgi_stdin) = fastcgi_request(&env, &payload);
        group.throughput(Throughput::Bytes(size as u64));

        let mut copy_dst = vec![0u8; size];
        group.bench_with_input(BenchmarkId::new("memcpy", label), &payload, |b, src| {
            b.iter(|| copy_dst.copy_from_slice(black_box(src)));
        });

        // Gateway side: a connection that sent BEGIN_REQUEST and PARAMS.
        let fastcgi_ready = || {
            let (mut conn, id) = fresh_fastcgi_client();
            conn.send_params(id, &env).expect("params fit");
            drop(conn.take_output());
            (conn, id)
        };
        group.bench_function(BenchmarkId::new("fastcgi_encode_vectored", label), |b| {
            iter_fresh(b, 0, fastcgi_ready, |(mut conn, id)| {
                conn.send_stdin(id, payload.clone()).expect("stdin open");
                conn.end_stdin(id).expect("stdin open");
                conn.take_output()
            });
        });
        let mut send = BytesMut::with_capacity(fastcgi_stdin.len());
        group.bench_function(BenchmarkId::new("fastcgi_encode_copy", label), |b| {
            iter_fresh(b, 0, fastcgi_ready, |(mut conn, id)| {
                conn.send_stdin(id, payload.clone()).expect("stdin open");
                conn.end_stdin(id).expect("stdin open");
                send.clear();
                conn.write_output_into(&mut send);
            });
        });

        let uwsgi_ready = || {
            let mut encoder = RequestEncoder::new();
            let mut head = BytesMut::new();
            encoder.encode_head(&env, &mut head).expect("vars fit");
            encoder
        };
        group.bench_function(BenchmarkId::new("uwsgi_encode_vectored", label), |b| {
            iter_fresh(b, 0, uwsgi_ready, |mut encoder| {
                let chunk = encoder.body_chunk(payload.clone()).expect("within length");
                encoder.finish().expect("whole body");
                chunk
            });
        });
        let mut send = BytesMut::with_capacity(size);
        group.bench_function(BenchmarkId::new("uwsgi_encode_copy", label), |b| {
            iter_fresh(b, 0, uwsgi_ready, |mut encoder| {
                send.clear();
                encoder
                    .encode_body(&payload, &mut send)
                    .expect("within length");
                encoder.finish().expect("whole body");
            });
        });
    }
    group.finish();
}

fn bench_body_decoders(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_body");
    for (size, label) in BODY_SIZES {
        let env = post_environ(size);
        let payload = body(size);
        let (fastcgi_head, fastcgi_stdin) = fastcgi_request(&env, &payload);
        let (uwsgi_head, _) = uwsgi_request(&env, &payload);
        group.throughput(Throughput::Bytes(size as u64));
        // Application side: a connection that read the params; the body records are
        // already in a receive buffer.
        let fastcgi_waiting = || {
            let (conn, _) = fastcgi_decode(BytesMut::from(&fastcgi_head[..]));
            (conn, BytesMut::from(&fastcgi_stdin[..]))
        };
        group.bench_function(BenchmarkId::new("fastcgi_decode", label), |b| {
            iter_fresh(
                b,
                fastcgi_stdin.len(),
                fastcgi_waiting,
                |(mut conn, mut input)| {
                    let mut received = 0;
                    loop {
                        match conn.receive(&mut input).expect("valid body") {
                            Some(ApplicationEvent::Stdin { chunk, .. }) => {
                                received += black_box(chunk).len();
                            }
                            Some(ApplicationEvent::StdinEnd { .. }) => break,
                            Some(_) => {}
                            None => panic!("body ended early"),
                        }
                    }
                    assert_eq!(received, size);
                    conn
                },
            );
        });
        let uwsgi_waiting = || {
            let (decoder, _) = uwsgi_decode(BytesMut::from(&uwsgi_head[..]));
            (decoder, BytesMut::from(&payload[..]))
        };
        group.bench_function(BenchmarkId::new("uwsgi_decode", label), |b| {
            iter_fresh(b, size, uwsgi_waiting, |(mut decoder, mut input)| {
                let mut received = 0;
                loop {
                    match decoder.decode(&mut input).expect("valid body") {
                        Some(RequestEvent::Body(chunk)) => received += black_box(chunk).len(),
                        Some(RequestEvent::End) => break,
                        Some(_) => {}
                        None => panic!("body ended early"),
                    }
                }
                assert_eq!(received, size);
                decoder
            });
        });
    }
    group.finish();
}

fn bench_responses(c: &mut Criterion, env: &Environ) {
    let mut group = c.benchmark_group("response");
    for (size, label) in RESPONSE_SIZES {
        let fastcgi = php_fpm_response(size);
        let uwsgi = uwsgi_response(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("fastcgi_decode", label), |b| {
            iter_fresh(
                b,
                fastcgi.len(),
                || (fastcgi_client_waiting(env), BytesMut::from(&fastcgi[..])),
                |(conn, input)| fastcgi_response(conn, input),
            );
        });
        group.bench_function(BenchmarkId::new("uwsgi_decode", label), |b| {
            iter_fresh(
                b,
                uwsgi.len(),
                || BytesMut::from(&uwsgi[..]),
                uwsgi_response_decode,
            );
        });
    }
    group.finish();
}

fn bench_other_crates(c: &mut Criterion, typical: &Typical) {
    let env = &typical.env;
    let params = fastcgi_client_params(env);
    let large_reply = php_fpm_response(MIB);
    let post = post_environ(MIB);
    let large_body = body(MIB);
    let (head, stdin) = fastcgi_request(&post, &large_body);
    let mut large_request = BytesMut::from(&head[..]);
    large_request.extend_from_slice(&stdin);
    let mut send = BytesMut::with_capacity(4 * KIB);
    let mut written = Vec::with_capacity(4 * KIB);
    check_cegla_fcgi(env, &Bytes::new(), &typical.fastcgi);
    check_cegla_fcgi(&post, &large_body, &large_request);
    let no_body = Bytes::new();

    for (group_name, reply, request, (request_env, request_body), payload_len) in [
        (
            "other_crates",
            PHP_FPM_CONN1_RESPONSE,
            &typical.fastcgi[..],
            (env, &no_body),
            None,
        ),
        (
            "other_crates_1MiB",
            &large_reply[..],
            &large_request[..],
            (&post, &large_body),
            Some(MIB as u64),
        ),
    ] {
        let mut group = c.benchmark_group(group_name);
        if let Some(len) = payload_len {
            group.throughput(Throughput::Bytes(len));
        }
        group.bench_function(BenchmarkId::new("fastcgi-codec", "exchange"), |b| {
            b.iter(|| fastcgi_codec_exchange(black_box(env), reply, &mut send));
        });
        group.bench_function(BenchmarkId::new(FASTCGI_CLIENT, "exchange"), |b| {
            // The parameter map is the request's input (ours takes `&Environ`): cloned
            // untimed.
            iter_fresh(
                b,
                0,
                || params.clone(),
                |params| fastcgi_client_exchange(params, reply, &mut written),
            );
        });
        group.bench_function(BenchmarkId::new("fastcgi-codec", "decode_whole"), |b| {
            b.iter(|| fastcgi_decode_whole(black_box(request)));
        });
        group.bench_function(BenchmarkId::new(TOKIO_FASTCGI, "decode_whole"), |b| {
            b.iter(|| tokio_fastcgi_decode(black_box(request)));
        });
        // cegla-fcgi's server path on the same bytes: receive buffer, records, a
        // `CgiEnvironment` of owned strings and the body chunks (see
        // `cegla_fcgi_decode_whole` for what is left out).
        group.bench_function(BenchmarkId::new(CEGLA_FCGI, "decode_whole"), |b| {
            b.iter(|| cegla_fcgi_decode_whole(black_box(request)));
        });
        // Gateway side alone: the request (environ and body) written into a reused send
        // buffer, by ours and by cegla-fcgi's client path. fastcgi-client has no such row:
        // its encoding runs inside its exchange.
        group.bench_function(BenchmarkId::new("fastcgi-codec", "encode_whole"), |b| {
            b.iter(|| fastcgi_encode_whole(black_box(request_env), request_body, &mut send));
        });
        group.bench_function(BenchmarkId::new(CEGLA_FCGI, "encode_whole"), |b| {
            b.iter(|| cegla_fcgi_encode_whole(black_box(request_env), request_body, &mut send));
        });
        group.finish();
    }
}

/// Checks once, untimed, that the cegla-fcgi paths do the whole work: its decoding of
/// `wire` gives `env` (same names and values in the same order) and `body`, and its
/// encoding of `env` and `body` decodes back to them with ours.
fn check_cegla_fcgi(env: &Environ, body: &Bytes, wire: &[u8]) {
    let same_vars = |decoded: &cegla_fcgi::CgiEnvironment| {
        assert_eq!(decoded.len(), env.len());
        for ((name, value), (their_name, their_value)) in env.into_iter().zip(decoded) {
            assert_eq!(
                (name, value),
                (their_name.as_bytes(), their_value.as_bytes())
            );
        }
    };
    let (decoded, chunks) = cegla_fcgi_decode_whole(wire);
    same_vars(&decoded);
    assert_eq!(chunks.concat(), &body[..]);

    let mut encoded = BytesMut::new();
    cegla_fcgi_encode_whole(env, body, &mut encoded);
    let (_, ours, chunks) = fastcgi_decode_whole(&encoded);
    assert_eq!(&ours, env);
    assert_eq!(chunks.concat(), &body[..]);
}

// ---------------------------------------------------------------------------------------
// Allocations and the summary

/// What a decoder must allocate at least: the index of `vars` variables pointing into one
/// received segment.
fn environ_index(mut env: Environ, segment: &Bytes, vars: usize) -> Environ {
    let id = env.add_segment(segment.clone()).expect("small segment");
    for _ in 0..vars {
        env.push_segment_var(id, 0..1, 1..2).expect("in bounds");
    }
    env
}

/// Allocation rows, in the order printed.
type AllocationRows = Vec<(String, Allocations)>;

/// Adds a row for `op`, which counts its own measured part. The first run warms first-use
/// allocations (lazy statics, thread locals) and is not reported.
fn add_count(rows: &mut AllocationRows, name: &str, mut op: impl FnMut() -> Allocations) {
    op();
    rows.push((name.to_owned(), op()));
}

fn allocation_counts(typical: &Typical) -> AllocationRows {
    let mut rows = Vec::new();
    request_allocation_counts(typical, &mut rows);
    response_allocation_counts(typical, &mut rows);
    rows
}

fn request_allocation_counts(typical: &Typical, rows: &mut AllocationRows) {
    let env = &typical.env;
    let mut add = |name: &str, op: Box<dyn FnMut() -> Allocations + '_>| add_count(rows, name, op);
    let vars = env.len();
    let segment = typical.fastcgi.clone();
    add(
        "baseline: an environ index alone (Environ::new, one segment, 33 vars)",
        Box::new(|| count_allocations(|| environ_index(Environ::new(), &segment, vars))),
    );
    add(
        "baseline: an environ index alone (Environ::with_capacity(33))",
        Box::new(|| {
            count_allocations(|| environ_index(Environ::with_capacity(vars), &segment, vars))
        }),
    );
    add(
        "baseline: first split of a fresh receive buffer (bytes makes it shared)",
        Box::new(|| {
            let mut input = BytesMut::from(&typical.fastcgi[..]);
            count_allocations(|| input.split_to(8).freeze())
        }),
    );
    let mut dst = BytesMut::with_capacity(4 * KIB);
    add(
        "FastCGI encode, gateway (GatewayConnection → BytesMut)",
        Box::new(|| count_allocations(|| fastcgi_encode(env, &mut dst))),
    );
    add(
        "FastCGI encode, gateway, vectored (Chunks)",
        Box::new(|| count_allocations(|| fastcgi_encode_vectored(env))),
    );
    add(
        "FastCGI decode, application (ApplicationConnection → Params)",
        Box::new(|| {
            // The input stands for a socket's read buffer: not counted.
            let input = BytesMut::from(&typical.fastcgi[..]);
            count_allocations(|| fastcgi_decode(input))
        }),
    );
    add(
        "FastCGI decode, BEGIN_REQUEST record only (request state)",
        Box::new(|| {
            let mut input = BytesMut::from(&typical.fastcgi[..16]);
            let mut conn = ApplicationConnection::new(ApplicationConfig::default());
            count_allocations(|| conn.receive(&mut input).expect("valid record"))
        }),
    );
    add(
        "uwsgi encode, gateway (RequestEncoder::encode_head)",
        Box::new(|| count_allocations(|| uwsgi_encode(env, &mut dst))),
    );
    add(
        "uwsgi decode, application (RequestDecoder → Head)",
        Box::new(|| {
            let input = BytesMut::from(&typical.uwsgi[..]);
            count_allocations(|| uwsgi_decode(input))
        }),
    );
    add(
        "floor: FastCGI PARAMS scan (Vec of offsets, sized up front)",
        Box::new(|| {
            let block = &typical.fastcgi[typical.fastcgi_params.clone()];
            count_allocations(|| fastcgi_pairs(block, vars))
        }),
    );
    add(
        "floor: FastCGI request copied into a fresh BytesMut",
        Box::new(|| count_allocations(|| BytesMut::from(&typical.fastcgi[..]))),
    );
}

fn response_allocation_counts(typical: &Typical, rows: &mut AllocationRows) {
    let env = &typical.env;
    let fastcgi_response_1k = php_fpm_response(KIB);
    let uwsgi_response_1k = uwsgi_response(KIB);
    let params = fastcgi_client_params(env);
    let mut dst = BytesMut::with_capacity(4 * KIB);
    let mut add = |name: &str, op: Box<dyn FnMut() -> Allocations + '_>| add_count(rows, name, op);
    add(
        "FastCGI response 1 KiB, gateway (GatewayConnection + CGI head)",
        Box::new(|| {
            let conn = fastcgi_client_waiting(env);
            let input = BytesMut::from(&fastcgi_response_1k[..]);
            count_allocations(|| fastcgi_response(conn, input))
        }),
    );
    add(
        "uwsgi response 1 KiB, gateway (ResponseDecoder)",
        Box::new(|| {
            let input = BytesMut::from(&uwsgi_response_1k[..]);
            count_allocations(|| uwsgi_response_decode(input))
        }),
    );
    add(
        "fastcgi-codec exchange (encode + read php-fpm's answer)",
        Box::new(|| {
            count_allocations(|| fastcgi_codec_exchange(env, PHP_FPM_CONN1_RESPONSE, &mut dst))
        }),
    );
    let mut written = Vec::with_capacity(4 * KIB);
    add(
        &format!("{FASTCGI_CLIENT} exchange (same, over an in-memory stream)"),
        Box::new(|| {
            let params = params.clone();
            count_allocations(|| {
                fastcgi_client_exchange(params, PHP_FPM_CONN1_RESPONSE, &mut written)
            })
        }),
    );
    add(
        "fastcgi-codec decode to end of body (receive buffer included)",
        Box::new(|| count_allocations(|| fastcgi_decode_whole(&typical.fastcgi))),
    );
    add(
        &format!("{TOKIO_FASTCGI} decode to end of body"),
        Box::new(|| count_allocations(|| tokio_fastcgi_decode(&typical.fastcgi))),
    );
    add(
        &format!("{CEGLA_FCGI} decode to end of body (its server's steps, no runtime)"),
        Box::new(|| count_allocations(|| cegla_fcgi_decode_whole(&typical.fastcgi))),
    );
    let no_body = Bytes::new();
    add(
        "fastcgi-codec encode of the request into a send buffer",
        Box::new(|| count_allocations(|| fastcgi_encode_whole(env, &no_body, &mut dst))),
    );
    add(
        &format!("{CEGLA_FCGI} encode of the request (its client's steps, no runtime)"),
        Box::new(|| count_allocations(|| cegla_fcgi_encode_whole(env, &no_body, &mut dst))),
    );
}

/// Keeps glibc's heap warm, as a long-running server's is: by default glibc returns the
/// top of the heap to the kernel (and maps large blocks afresh) when a batch's inputs and
/// outputs are freed, so the next batch page-faults its way back in. Those faults land in
/// setup and teardown more than in the timed region, but they made run-to-run spread
/// large; with the thresholds fixed, medians moved by less than that spread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_heap_warm() {
    // glibc's <malloc.h>: M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3.
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    #[allow(unsafe_code)]
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // SAFETY: `mallopt` takes two plain integers, touches only the allocator's settings and
    // is called before any thread but this one exists. 1 GiB of free top is never trimmed;
    // blocks up to 32 MiB (glibc's most) come from the heap, not fresh mappings.
    #[allow(unsafe_code)]
    let set = unsafe {
        mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 && mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
    };
    assert!(set, "mallopt refused the heap settings");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_heap_warm() {}

fn main() {
    keep_heap_warm();
    let quick_env = std::env::var_os("BENCH_QUICK").is_some_and(|value| value != "0");
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_millis(2500))
        .sample_size(20);
    if quick_env {
        criterion = criterion
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(300))
            .sample_size(10);
    }
    let mut criterion = criterion.configure_from_args();

    let typical = Typical::new();
    let allocations = allocation_counts(&typical);

    bench_typical(&mut criterion, &typical);
    bench_floors(&mut criterion, &typical);
    bench_body_encoders(&mut criterion);
    bench_body_decoders(&mut criterion);
    bench_responses(&mut criterion, &typical.env);
    bench_other_crates(&mut criterion, &typical);
    criterion.final_summary();

    print_summary(&results_dir(), &typical, &allocations);
}

/// Where criterion wrote its estimates, by criterion's own rule: `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else the target directory cargo built this binary in
/// (`<target>/release/deps/codecs-*`, which also covers a configured `build.target-dir`),
/// else `<workspace>/target/criterion`.
fn results_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if let Ok(target) = std::env::var("CARGO_TARGET_DIR") {
        return criterion_dir(&workspace, Some(&target));
    }
    let beside_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("criterion")))
        .filter(|dir| dir.is_dir());
    beside_binary.unwrap_or_else(|| criterion_dir(&workspace, None))
}

/// The summary rows, read back from criterion's estimates.
struct Summary<'a> {
    dir: &'a Path,
    rows: Vec<Row>,
}

impl Summary<'_> {
    fn median(&self, id: &str) -> Option<f64> {
        read_median(self.dir, id)
    }

    /// `numerator_id`'s median over `denominator_id`'s, labelled.
    fn compare(&self, label: &str, numerator_id: &str, denominator_id: &str) -> String {
        let value = ratio(self.median(numerator_id), self.median(denominator_id));
        format!("{label} {}", format_ratio(value))
    }

    fn row(&mut self, measurement: &str, id: &str, bytes: Option<u64>, comparison: String) {
        let median_ns = self.median(id);
        self.rows.push(Row {
            measurement: format!("{measurement} (`{id}`)"),
            median_ns,
            bytes,
            comparison,
        });
    }

    /// The typical request's rows, each with its distance to its floor (`floor/*`).
    fn typical(&mut self) {
        let t = |name: &str| format!("typical_request/{name}");
        let f = |name: &str| format!("floor/{name}");
        for (what, id) in [
            (
                "floor: FastCGI request copied into a fresh BytesMut",
                "fastcgi_copy",
            ),
            (
                "floor: uwsgi request copied into a fresh BytesMut",
                "uwsgi_copy",
            ),
            (
                "floor: FastCGI PARAMS lengths scanned into a Vec",
                "fastcgi_scan",
            ),
            ("floor: uwsgi vars lengths scanned into a Vec", "uwsgi_scan"),
        ] {
            self.row(what, &f(id), None, String::new());
        }
        for (what, name, floor, fastcgi) in [
            ("FastCGI encode", "fastcgi_encode", "fastcgi_copy", None),
            (
                "FastCGI encode, vectored",
                "fastcgi_encode_vectored",
                "fastcgi_copy",
                None,
            ),
            (
                "uwsgi encode",
                "uwsgi_encode",
                "uwsgi_copy",
                Some("fastcgi_encode"),
            ),
            ("FastCGI decode", "fastcgi_decode", "fastcgi_scan", None),
            (
                "uwsgi decode",
                "uwsgi_decode",
                "uwsgi_scan",
                Some("fastcgi_decode"),
            ),
        ] {
            let floor_label = if floor.ends_with("copy") {
                "ours/copy floor"
            } else {
                "ours/scan floor"
            };
            let mut comparison = self.compare(floor_label, &t(name), &f(floor));
            if let Some(fastcgi) = fastcgi {
                comparison.push_str("; ");
                comparison.push_str(&self.compare("uwsgi/FastCGI", &t(name), &t(fastcgi)));
            }
            self.row(what, &t(name), None, comparison);
        }
    }

    fn bodies(&mut self) {
        for (size, label) in BODY_SIZES {
            let id = |name: &str| format!("request_body/{name}/{label}");
            let bytes = Some(size as u64);
            self.row(
                &format!("memcpy {label}"),
                &id("memcpy"),
                bytes,
                String::new(),
            );
            for (name, fastcgi, what) in [
                (
                    "fastcgi_encode_vectored",
                    None,
                    "FastCGI body encode, vectored",
                ),
                ("fastcgi_encode_copy", None, "FastCGI body encode, copying"),
                ("fastcgi_decode", None, "FastCGI body decode"),
                (
                    "uwsgi_encode_vectored",
                    Some("fastcgi_encode_vectored"),
                    "uwsgi body encode, vectored",
                ),
                (
                    "uwsgi_encode_copy",
                    Some("fastcgi_encode_copy"),
                    "uwsgi body encode, copying",
                ),
                ("uwsgi_decode", Some("fastcgi_decode"), "uwsgi body decode"),
            ] {
                let mut comparison = self.compare("ours/memcpy", &id(name), &id("memcpy"));
                if let Some(fastcgi) = fastcgi {
                    comparison.push_str("; ");
                    comparison.push_str(&self.compare("uwsgi/FastCGI", &id(name), &id(fastcgi)));
                }
                self.row(&format!("{what} {label}"), &id(name), bytes, comparison);
            }
        }
    }

    fn responses(&mut self) {
        for (size, label) in RESPONSE_SIZES {
            let id = |name: &str| format!("response/{name}/{label}");
            self.row(
                &format!("FastCGI response {label} (8184-byte STDOUT records + CGI head)"),
                &id("fastcgi_decode"),
                Some(size as u64),
                String::new(),
            );
            let comparison =
                self.compare("uwsgi/FastCGI", &id("uwsgi_decode"), &id("fastcgi_decode"));
            self.row(
                &format!("uwsgi response {label} (raw HTTP)"),
                &id("uwsgi_decode"),
                Some(size as u64),
                comparison,
            );
        }
    }

    fn other_crates(&mut self) {
        for (group, size, bytes) in [
            ("other_crates", "", None),
            ("other_crates_1MiB", " 1MiB", Some(MIB as u64)),
        ] {
            let o = |name: &str, what: &str| format!("{group}/{name}/{what}");
            for (what, description, others) in [
                (
                    "exchange",
                    "gateway exchange (encode + response to END)",
                    &[FASTCGI_CLIENT][..],
                ),
                (
                    "decode_whole",
                    "application decode to end of body",
                    &[TOKIO_FASTCGI, CEGLA_FCGI][..],
                ),
                (
                    "encode_whole",
                    "gateway encode of the request into a send buffer",
                    &[CEGLA_FCGI][..],
                ),
            ] {
                let description = if size.is_empty() {
                    description.to_owned()
                } else if what == "exchange" {
                    format!("{description}, 1 MiB response")
                } else {
                    format!("{description}, 1 MiB body")
                };
                let ours = o("fastcgi-codec", what);
                self.row(
                    &format!("fastcgi-codec {description}"),
                    &ours,
                    bytes,
                    String::new(),
                );
                for other in others {
                    let theirs = o(other, what);
                    let comparison = self.compare(&format!("ours/{other}"), &ours, &theirs);
                    self.row(
                        &format!("{other} {description}"),
                        &theirs,
                        bytes,
                        comparison,
                    );
                }
            }
        }
    }
}

fn print_summary(dir: &Path, typical: &Typical, allocations: &AllocationRows) {
    let mut summary = Summary {
        dir,
        rows: Vec::new(),
    };
    summary.typical();
    summary.bodies();
    summary.responses();
    summary.other_crates();

    println!();
    println!("## Summary (medians; ratios are time ratios, below 1 = first is faster)");
    println!();
    println!(
        "Typical request: {} variables; FastCGI request {} bytes, uwsgi request {} bytes. \
         Results from {}.",
        typical.env.len(),
        typical.fastcgi.len(),
        typical.uwsgi.len(),
        dir.canonicalize()
            .unwrap_or_else(|_| dir.to_path_buf())
            .display()
    );
    println!();
    print!("{}", render_timings(&summary.rows));
    println!();
    print!("{}", render_allocations(allocations));
}
