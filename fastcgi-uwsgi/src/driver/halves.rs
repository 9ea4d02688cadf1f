//! A connection's reading and writing halves, used at once by its driver.
//!
//! `tokio::io::split` works for any stream but locks the stream for each read and write
//! and allocates per connection; a TCP or Unix socket lends both halves for free, as
//! its own `split` does.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::{tcp, unix};

use crate::listener::Stream;
use crate::respond::Transport;

/// A stream that lends its two halves.
pub(crate) trait Halves: Send {
    /// The reading half.
    type Reader<'a>: AsyncRead + Unpin + Send
    where
        Self: 'a;
    /// The writing half.
    type Writer<'a>: AsyncWrite + Unpin + Send
    where
        Self: 'a;

    /// Both halves, for as long as the stream is borrowed.
    fn halves(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>);
}

/// Any stream, split with `tokio::io::split`.
pub(crate) struct Locked<IO> {
    reader: ReadHalf<IO>,
    writer: WriteHalf<IO>,
}

impl<IO: Transport> Locked<IO> {
    pub(crate) fn new(io: IO) -> Self {
        let (reader, writer) = tokio::io::split(io);
        Locked { reader, writer }
    }
}

impl<IO: Transport> Halves for Locked<IO> {
    type Reader<'a> = &'a mut ReadHalf<IO>;
    type Writer<'a> = &'a mut WriteHalf<IO>;

    fn halves(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>) {
        (&mut self.reader, &mut self.writer)
    }
}

impl Halves for Stream {
    type Reader<'a> = StreamReader<'a>;
    type Writer<'a> = StreamWriter<'a>;

    fn halves(&mut self) -> (StreamReader<'_>, StreamWriter<'_>) {
        match self {
            Stream::Tcp(stream) => {
                let (reader, writer) = stream.split();
                (StreamReader::Tcp(reader), StreamWriter::Tcp(writer))
            }
            Stream::Unix(stream) => {
                let (reader, writer) = stream.split();
                (StreamReader::Unix(reader), StreamWriter::Unix(writer))
            }
        }
    }
}

/// The reading half of an accepted socket.
pub(crate) enum StreamReader<'a> {
    Tcp(tcp::ReadHalf<'a>),
    Unix(unix::ReadHalf<'a>),
}

/// The writing half of an accepted socket.
pub(crate) enum StreamWriter<'a> {
    Tcp(tcp::WriteHalf<'a>),
    Unix(unix::WriteHalf<'a>),
}

impl AsyncRead for StreamReader<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            StreamReader::Tcp(half) => Pin::new(half).poll_read(cx, buf),
            StreamReader::Unix(half) => Pin::new(half).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for StreamWriter<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            StreamWriter::Tcp(half) => Pin::new(half).poll_write(cx, buf),
            StreamWriter::Unix(half) => Pin::new(half).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            StreamWriter::Tcp(half) => Pin::new(half).poll_write_vectored(cx, bufs),
            StreamWriter::Unix(half) => Pin::new(half).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            StreamWriter::Tcp(half) => Pin::new(half).poll_flush(cx),
            StreamWriter::Unix(half) => Pin::new(half).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            StreamWriter::Tcp(half) => Pin::new(half).poll_shutdown(cx),
            StreamWriter::Unix(half) => Pin::new(half).poll_shutdown(cx),
        }
    }
}
