//! The floor of the end-to-end benchmark (`benches/e2e/run.sh`): the least CPU a server
//! behind nginx can spend per request on this machine.
//!
//! One thread, one epoll loop (mio), and no server in it: every read is taken to be one
//! whole request (nginx writes a GET's records or packet in one write), nothing is parsed,
//! and the answer is fixed bytes. What it spends is the system calls and the kernel's TCP
//! work of a request (accept, read, write, close, and the epoll registration around them)
//! and nothing else: a real server spends that plus its own work. One thread, because on
//! the benchmark's shared cores that spends the least per request (one `epoll_wait` serves
//! more ready connections; a second thread on a shared listener is also woken for every
//! connection the first accepts).
//!
//! Usage: `e2e_floor fastcgi|uwsgi ADDRESS`. Not a server: it answers anything it reads,
//! including garbage, and a request split across reads gets two answers.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(0);

/// The uwsgi answer: an HTTP/1.1 head and body, then the connection closes.
const UWSGI_ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";

/// The CGI head and body of the FastCGI answer, in one STDOUT record.
const FASTCGI_STDOUT: &[u8] = b"Content-Type: text/plain\r\n\r\nhello\n";

fn main() -> std::process::ExitCode {
    match serve() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("e2e_floor: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(protocol), Some(address)) = (args.next(), args.next()) else {
        eprintln!("usage: e2e_floor fastcgi|uwsgi ADDRESS");
        std::process::exit(2);
    };
    let uwsgi = match protocol.as_str() {
        "uwsgi" => true,
        "fastcgi" => false,
        other => {
            eprintln!("unknown protocol {other:?}");
            std::process::exit(2);
        }
    };
    let address = address.parse().map_err(|error| {
        std::io::Error::new(ErrorKind::InvalidInput, format!("{address}: {error}"))
    })?;
    let mut listener = TcpListener::bind(address)
        .map_err(|error| std::io::Error::new(error.kind(), format!("{address}: {error}")))?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(256);
    let mut connections: HashMap<Token, TcpStream> = HashMap::new();
    let mut next = 1;
    let mut buffer = vec![0; 64 * 1024];
    let mut answer = Vec::new();
    loop {
        poll.poll(&mut events, None)?;
        for event in &events {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    stream.set_nodelay(true)?;
                    let token = Token(next);
                    next += 1;
                    poll.registry()
                        .register(&mut stream, token, Interest::READABLE)?;
                    connections.insert(token, stream);
                }
                continue;
            }
            let Some(stream) = connections.get_mut(&event.token()) else {
                continue;
            };
            let close = loop {
                match stream.read(&mut buffer) {
                    Ok(0) => break true,
                    Ok(read) => {
                        let request = buffer.get(..read).unwrap_or_default();
                        let keep = if uwsgi {
                            answer.clear();
                            answer.extend_from_slice(UWSGI_ANSWER);
                            false
                        } else {
                            fastcgi_answer(request, &mut answer)
                        };
                        if stream.write_all(&answer).is_err() || !keep {
                            break true;
                        }
                        if read < buffer.len() {
                            break false;
                        }
                    }
                    Err(error) if error.kind() == ErrorKind::WouldBlock => break false,
                    Err(_) => break true,
                }
            };
            if close && let Some(mut stream) = connections.remove(&event.token()) {
                let _ = poll.registry().deregister(&mut stream);
            }
        }
    }
}

/// Writes the answer to `request` (taken to start with its BEGIN_REQUEST record) into
/// `answer`: STDOUT, the end of STDOUT and END_REQUEST for its request id. Returns whether
/// the request asked to keep the connection.
fn fastcgi_answer(request: &[u8], answer: &mut Vec<u8>) -> bool {
    let id = [
        request.get(2).copied().unwrap_or(0),
        request.get(3).copied().unwrap_or(1),
    ];
    // BEGIN_REQUEST's body: role (2 bytes), then flags, where bit 0 is FCGI_KEEP_CONN.
    let keep = request.get(10).is_some_and(|flags| flags & 1 == 1);
    answer.clear();
    let length = u16::try_from(FASTCGI_STDOUT.len())
        .unwrap_or(0)
        .to_be_bytes();
    answer.extend_from_slice(&[1, 6, id[0], id[1], length[0], length[1], 0, 0]);
    answer.extend_from_slice(FASTCGI_STDOUT);
    answer.extend_from_slice(&[1, 6, id[0], id[1], 0, 0, 0, 0]);
    answer.extend_from_slice(&[1, 3, id[0], id[1], 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    keep
}
