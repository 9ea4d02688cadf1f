//! A test gateway: our own gateway-side codecs driving a server over any byte stream.
#![allow(dead_code, clippy::unused_async)]

pub mod example;
pub mod fake_fcgi;
pub mod log;

use std::collections::BTreeMap;
use std::convert::Infallible;

use bytes::{Buf, Bytes, BytesMut};
use cgi_env::Environ;
use fastcgi_codec::{GatewayConfig, GatewayConnection, GatewayEvent, Limits, RequestId, Role};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

/// The environ nginx would send for `method uri` with a body of `length` bytes.
pub fn environ(method: &str, uri: &str, length: Option<usize>) -> Environ {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut env: Environ = [
        ("QUERY_STRING", query),
        ("REQUEST_METHOD", method),
        ("CONTENT_TYPE", ""),
        ("SCRIPT_NAME", path),
        ("REQUEST_URI", uri),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REMOTE_ADDR", "192.0.2.7"),
        ("REMOTE_PORT", "50000"),
        ("SERVER_NAME", "example.org"),
        ("SERVER_PORT", "80"),
        ("HTTP_HOST", "example.org"),
    ]
    .into_iter()
    .collect();
    env.insert(
        "CONTENT_LENGTH",
        length.map(|l| l.to_string()).unwrap_or_default(),
    );
    env
}

/// A response as the gateway read it.
#[derive(Debug, Default, Clone)]
pub struct Answer {
    pub stdout: Vec<u8>,
    pub app_status: Option<u32>,
}

impl Answer {
    pub fn head_and_body(&self) -> (cgi_env::ResponseHead, Vec<u8>) {
        let bytes = Bytes::copy_from_slice(&self.stdout);
        let head = cgi_env::parse_response_head(&bytes, cgi_env::ResponseHeadLimits::default())
            .expect("valid head")
            .expect("complete head");
        let body = bytes[head.body_offset..].to_vec();
        (head, body)
    }

    fn has_head(&self) -> bool {
        self.stdout.windows(4).any(|w| w == b"\r\n\r\n")
    }
}

/// How the gateway sends request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// Writes and reads at once, as nginx and HAProxy do.
    Concurrent,
    /// Writes every request body in full before reading anything, as Apache's
    /// mod_proxy_fcgi does.
    WriteAllFirst,
    /// Stops sending the body once the response head has arrived, as nginx does once it
    /// passed the head to its client.
    StopAfterHead,
}

/// Our FastCGI gateway side over a byte stream.
pub struct FcgiGateway<IO> {
    pub conn: GatewayConnection,
    reader: ReadHalf<IO>,
    writer: WriteHalf<IO>,
    input: BytesMut,
    /// Bytes queued and not written yet; kept across requests so that records are never
    /// cut (the rest of a body the server stopped waiting for still goes out whole).
    pending: fastcgi_codec::OutputQueue,
    pub answers: BTreeMap<RequestId, Answer>,
    pub eof: bool,
}

impl<IO: AsyncRead + AsyncWrite> FcgiGateway<IO> {
    pub fn new(io: IO) -> Self {
        let (reader, writer) = tokio::io::split(io);
        FcgiGateway {
            conn: GatewayConnection::new(
                GatewayConfig::default()
                    .with_limits(Limits::default().with_max_requests_in_flight(64)),
            ),
            reader,
            writer,
            input: BytesMut::new(),
            pending: fastcgi_codec::OutputQueue::default(),
            answers: BTreeMap::new(),
            eof: false,
        }
    }

    /// Begins a request and sends its params (and no body yet).
    pub fn begin(&mut self, env: &Environ, keep_conn: bool) -> RequestId {
        let id = self
            .conn
            .begin_request(Role::Responder, keep_conn)
            .expect("begin");
        self.conn.send_params(id, env).expect("params");
        self.answers.insert(id, Answer::default());
        id
    }

    /// Queues body bytes in 64 KiB records, and the end of the body when `end`.
    pub fn body(&mut self, id: RequestId, body: &Bytes, end: bool) {
        let mut rest = body.clone();
        while !rest.is_empty() {
            let chunk = rest.split_to(rest.len().min(65528));
            self.conn.send_stdin(id, chunk).expect("stdin");
        }
        if end {
            self.conn.end_stdin(id).expect("end stdin");
        }
    }

    /// One request, answered in full.
    pub async fn request(
        &mut self,
        env: &Environ,
        body: Bytes,
        keep_conn: bool,
        mode: BodyMode,
    ) -> Answer {
        let id = self.begin(env, keep_conn);
        match mode {
            BodyMode::StopAfterHead => {
                let mut rest = body;
                while !rest.is_empty() && !self.answers[&id].has_head() {
                    let chunk = rest.split_to(rest.len().min(65528));
                    self.conn.send_stdin(id, chunk).expect("stdin");
                    self.flush_and_read().await;
                }
                if rest.is_empty() {
                    self.conn.end_stdin(id).expect("end stdin");
                }
            }
            BodyMode::Concurrent | BodyMode::WriteAllFirst => self.body(id, &body, true),
        }
        self.run(mode).await;
        self.answers.remove(&id).expect("answer")
    }

    /// Writes what is queued while reading, until every request begun has ended.
    pub async fn run(&mut self, mode: BodyMode) {
        let mut out = std::mem::take(&mut self.pending);
        out.append(&mut self.conn.take_output());
        if mode == BodyMode::WriteAllFirst {
            while out.has_remaining() {
                self.writer.write_buf(&mut out).await.expect("write");
            }
        }
        while self.answers.values().any(|a| a.app_status.is_none()) && !self.eof {
            out.append(&mut self.conn.take_output());
            tokio::select! {
                written = self.writer.write_buf(&mut out), if out.has_remaining() => {
                    written.expect("write");
                }
                read = self.reader.read_buf(&mut self.input) => {
                    if read.expect("read") == 0 {
                        self.eof = true;
                    }
                    self.receive();
                }
            }
        }
        self.pending = out;
    }

    /// Asks GET_VALUES and waits for the answer, as HAProxy does before it multiplexes.
    pub async fn get_values(&mut self) {
        self.conn.get_values().expect("get values");
        self.flush().await;
        while !self.conn.peer_multiplexes() {
            assert!(
                self.read_once().await,
                "closed before the GET_VALUES answer"
            );
        }
    }

    /// Writes what is queued, then takes what has arrived without waiting long.
    async fn flush_and_read(&mut self) {
        let mut out = std::mem::take(&mut self.pending);
        out.append(&mut self.conn.take_output());
        while out.has_remaining() {
            tokio::select! {
                written = self.writer.write_buf(&mut out) => { written.expect("write"); }
                read = self.reader.read_buf(&mut self.input) => {
                    if read.expect("read") == 0 { self.eof = true; }
                    self.receive();
                }
            }
        }
        tokio::task::yield_now().await;
    }

    /// Sends what is queued (GET_VALUES, an abort) without waiting for answers.
    pub async fn flush(&mut self) {
        let mut out = std::mem::take(&mut self.pending);
        out.append(&mut self.conn.take_output());
        while out.has_remaining() {
            self.writer.write_buf(&mut out).await.expect("write");
        }
    }

    /// Reads once; `false` at the end of the stream.
    pub async fn read_once(&mut self) -> bool {
        let read = self.reader.read_buf(&mut self.input).await.expect("read");
        self.receive();
        read > 0
    }

    fn receive(&mut self) {
        while let Some(event) = self.conn.receive(&mut self.input).expect("valid answer") {
            match event {
                GatewayEvent::Stdout { request_id, chunk } => {
                    if let Some(answer) = self.answers.get_mut(&request_id) {
                        answer.stdout.extend_from_slice(&chunk);
                    }
                }
                GatewayEvent::End {
                    request_id,
                    app_status,
                    ..
                } => {
                    if let Some(answer) = self.answers.get_mut(&request_id) {
                        answer.app_status = Some(app_status);
                    }
                }
                _ => {}
            }
        }
    }
}

/// A service that echoes the request body, streaming each chunk back as it arrives.
pub async fn echo(
    request: http::Request<fastcgi_uwsgi::Body>,
) -> Result<http::Response<fastcgi_uwsgi::Body>, Infallible> {
    Ok(http::Response::new(request.into_body()))
}

/// A service that answers `hello <path>` and never reads the body.
pub async fn hello(
    request: http::Request<fastcgi_uwsgi::Body>,
) -> Result<http::Response<String>, Infallible> {
    Ok(http::Response::new(format!(
        "hello {}",
        request.uri().path()
    )))
}

/// Collects a body, for services that read it all first.
pub async fn collect(body: fastcgi_uwsgi::Body) -> Bytes {
    body.collect().await.expect("body").to_bytes()
}

/// `len` bytes of a pattern that shows where a byte went missing.
pub fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// A uwsgi response as our gateway side read it.
#[derive(Debug)]
pub struct UwsgiAnswer {
    pub head: cgi_env::ResponseHead,
    pub body: Vec<u8>,
}

/// One uwsgi request from our gateway side, its body written while the answer is read
/// (or, with `write_all_first`, before it is read), the answer read to the close.
pub async fn uwsgi_request<IO: AsyncRead + AsyncWrite>(
    io: IO,
    env: &Environ,
    body: Bytes,
    write_all_first: bool,
) -> Result<UwsgiAnswer, String> {
    use uwsgi_codec::{Limits, RequestEncoder, ResponseDecoder, ResponseEvent};
    let (mut reader, mut writer) = tokio::io::split(io);
    let mut encoder = RequestEncoder::new();
    let mut head = BytesMut::new();
    encoder
        .encode_head(env, &mut head)
        .map_err(|e| e.to_string())?;
    let mut out = head.freeze().chain(body);
    if write_all_first {
        while out.has_remaining() {
            writer
                .write_buf(&mut out)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let mut decoder = ResponseDecoder::new(Limits::default());
    let mut input = BytesMut::new();
    let mut response_head = None;
    let mut response_body = Vec::new();
    let mut eof = false;
    loop {
        let event = if eof {
            decoder.decode_eof(&mut input)
        } else {
            decoder.decode(&mut input)
        }
        .map_err(|e| e.to_string())?;
        match event {
            Some(ResponseEvent::Head(head)) => response_head = Some(head),
            Some(ResponseEvent::Body(chunk)) => response_body.extend_from_slice(&chunk),
            Some(ResponseEvent::End) => break,
            Some(_) => {}
            None if eof => return Err("closed before the response ended".into()),
            None => {
                tokio::select! {
                    written = writer.write_buf(&mut out), if out.has_remaining() => {
                        written.map_err(|e| e.to_string())?;
                    }
                    read = reader.read_buf(&mut input) => {
                        if read.map_err(|e| e.to_string())? == 0 {
                            eof = true;
                        }
                    }
                }
            }
        }
    }
    Ok(UwsgiAnswer {
        head: response_head.ok_or("no head")?,
        body: response_body,
    })
}

/// A FastCGI backend for client tests that answers as told whatever its caller does: a
/// request for `/bytes/N` gets a body of N pattern bytes, one for `/hold/N` the same
/// without an end (until it is aborted). It answers nothing on a connection until
/// `together` requests came on it, then answers them in the order they came, writing
/// without reading meanwhile (as a worker that writes its whole output does). It multiplexes (FCGI_MPXS_CONNS=1) when `multiplex`.
/// Returns its address.
pub async fn scripted_fastcgi(multiplex: bool, together: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(scripted_connection(stream, multiplex, together));
        }
    });
    address
}

async fn scripted_connection(mut stream: tokio::net::TcpStream, multiplex: bool, together: usize) {
    use fastcgi_codec::{ApplicationConfig, ApplicationConnection, ApplicationEvent};
    let config = ApplicationConfig::default()
        .with_multiplex(multiplex)
        .with_limits(Limits::default().with_max_requests_in_flight(64));
    let mut conn = ApplicationConnection::new(config);
    let mut input = BytesMut::new();
    let mut waiting: Vec<(RequestId, usize, bool)> = Vec::new();
    let mut came = 0;
    loop {
        match stream.read_buf(&mut input).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            let event = match conn.receive(&mut input) {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(_) => return,
            };
            match event {
                ApplicationEvent::Params { request_id, params } => {
                    let uri = params.get_str("REQUEST_URI").unwrap_or("");
                    let (hold, size) = match uri.strip_prefix("/hold/") {
                        Some(size) => (true, size),
                        None => (false, uri.strip_prefix("/bytes/").unwrap_or("0")),
                    };
                    waiting.push((request_id, size.parse().unwrap_or(0), hold));
                    came += 1;
                }
                ApplicationEvent::Abort { request_id } => {
                    let _ = conn.end_request(request_id, 0);
                }
                _ => {}
            }
        }
        if came >= together {
            for (id, size, hold) in waiting.drain(..) {
                let head = format!("Content-Type: text/plain\r\nContent-Length: {size}\r\n\r\n");
                let _ = conn.send_stdout(id, Bytes::from(head));
                let _ = conn.send_stdout(id, pattern(size));
                if !hold {
                    let _ = conn.end_request(id, 0);
                }
            }
        }
        let mut out = conn.take_output();
        if stream.write_all_buf(&mut out).await.is_err() || conn.should_close() {
            return;
        }
    }
}
