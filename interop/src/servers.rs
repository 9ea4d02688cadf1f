//! Our application servers, in process, for nginx to talk to: a FastCGI server on
//! `fastcgi-codec`'s `ApplicationConnection` and a uwsgi server on `uwsgi-codec`'s
//! `RequestDecoder`/`ResponseWriter`. Each answers a request with [`AppAnswer::render`]:
//! the environ it decoded and the body's length and CRC-32.

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cgi_env::Environ;
use fastcgi_codec::{ApplicationConfig, ApplicationConnection, ApplicationEvent, RequestId};
use http::StatusCode;
use uwsgi_codec::wire::pong_bytes;
use uwsgi_codec::{Limits, RequestDecoder, RequestEvent, ResponseWriter};

use crate::app_answer::AppAnswer;
use crate::checksum::Crc32;
use crate::uwsgi_client::write_all_vectored;

/// A server accepting on a loopback port until dropped.
#[derive(Debug)]
pub struct Server {
    /// The port it listens on.
    pub port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// How many connections it accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn start(handler: fn(TcpStream)) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener
            .local_addr()
            .map_or_else(|e| panic!("{e}"), |a| a.port());
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("nonblocking: {e}"));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (connections.clone(), stop.clone());
        let acceptor = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        count.fetch_add(1, Ordering::SeqCst);
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                        std::thread::spawn(move || handler(stream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server {
            port,
            connections,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// A FastCGI application server (keep-conn honoured, several requests multiplexed).
    pub fn fastcgi() -> Server {
        Server::start(serve_fastcgi)
    }

    /// A uwsgi application server (one request per connection, as uWSGI).
    pub fn uwsgi() -> Server {
        Server::start(serve_uwsgi)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

#[derive(Default)]
struct Pending {
    environ: Environ,
    body_len: u64,
    crc: Crc32,
}

fn serve_fastcgi(mut stream: TcpStream) {
    let mut conn = ApplicationConnection::new(ApplicationConfig::default().with_multiplex(true));
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut requests: HashMap<RequestId, Pending> = HashMap::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        loop {
            match conn.receive(&mut buf) {
                Ok(Some(event)) => on_fastcgi_event(&mut conn, &mut requests, event),
                Ok(None) => break,
                Err(error) if error.scope() == fastcgi_codec::ErrorScope::Request => {}
                Err(_) => {
                    let _ = flush(&mut stream, &mut conn);
                    return;
                }
            }
        }
        if flush(&mut stream, &mut conn).is_err() || conn.should_close() {
            return;
        }
        match crate::socket_read::read_retrying(&mut stream, &mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn flush(stream: &mut TcpStream, conn: &mut ApplicationConnection) -> std::io::Result<()> {
    crate::fcgi::write_queue(stream, conn.take_output())
}

fn on_fastcgi_event(
    conn: &mut ApplicationConnection,
    requests: &mut HashMap<RequestId, Pending>,
    event: ApplicationEvent,
) {
    match event {
        ApplicationEvent::RequestBegun { request_id, .. } => {
            requests.insert(request_id, Pending::default());
        }
        ApplicationEvent::Params { request_id, params } => {
            if let Some(pending) = requests.get_mut(&request_id) {
                pending.environ = params;
            }
        }
        ApplicationEvent::Stdin { request_id, chunk } => {
            if let Some(pending) = requests.get_mut(&request_id) {
                pending.body_len += chunk.len() as u64;
                pending.crc = pending.crc.update(&chunk);
            }
        }
        ApplicationEvent::StdinEnd { request_id } => {
            if let Some(pending) = requests.remove(&request_id) {
                let answer =
                    AppAnswer::render(pending.body_len, pending.crc.value(), &pending.environ);
                let mut head = b"Content-Type: text/plain\r\nContent-Length: ".to_vec();
                head.extend_from_slice(answer.len().to_string().as_bytes());
                head.extend_from_slice(b"\r\n\r\n");
                let _ = conn.send_stdout(request_id, Bytes::from(head));
                let _ = conn.send_stdout(request_id, Bytes::from(answer));
                let _ = conn.end_request(request_id, 0);
            }
        }
        ApplicationEvent::Abort { request_id } => {
            requests.remove(&request_id);
            let _ = conn.end_request(request_id, 0);
        }
        _ => {}
    }
}

fn serve_uwsgi(mut stream: TcpStream) {
    let mut decoder = RequestDecoder::new(Limits::default().with_max_vars_block(65535));
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut pending = Pending::default();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(RequestEvent::Head(head))) => pending.environ = head.environ,
            Ok(Some(RequestEvent::Body(data))) => {
                pending.body_len += data.len() as u64;
                pending.crc = pending.crc.update(&data);
            }
            Ok(Some(RequestEvent::End)) => break,
            Ok(Some(RequestEvent::Ping)) => {
                let _ = stream.write_all(&pong_bytes());
                return;
            }
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => match crate::socket_read::read_retrying(&mut stream, &mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
        }
    }
    let answer = Bytes::from(AppAnswer::render(
        pending.body_len,
        pending.crc.value(),
        &pending.environ,
    ));
    let mut writer = ResponseWriter::new(&pending.environ);
    let mut head = BytesMut::new();
    let length = answer.len().to_string();
    if writer
        .write_head(
            StatusCode::OK,
            [
                ("Content-Type", "text/plain"),
                ("Content-Length", length.as_str()),
            ],
            &mut head,
        )
        .is_err()
    {
        return;
    }
    let Ok(body) = writer.body_chunk(answer) else {
        return;
    };
    if writer.finish().is_ok() {
        let _ = write_all_vectored(&mut stream, &[head.freeze(), body]);
    }
}
