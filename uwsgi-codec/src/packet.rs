//! uwsgi packets: the 4-byte header, modifier1 values, and a generic packet decoder.
//!
//! Every uwsgi packet starts with `modifier1 (u8), datasize (u16 little-endian),
//! modifier2 (u8)`, followed by `datasize` bytes of payload. What the payload means depends
//! on modifier1: a vars block for requests, nothing for ping, and so on.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{MisuseError, ProtocolError, UnexpectedPacket, Violation};

/// The first byte of a uwsgi header: which plugin or message type a packet is for.
///
/// A newtype over `u8`: the values uWSGI defines are associated constants, and any other
/// value is carried as it is.
///
/// ```
/// use uwsgi_codec::Modifier1;
///
/// assert_eq!(Modifier1::from(100), Modifier1::PING);
/// assert_eq!(Modifier1::PING.name(), Some("ping"));
/// assert_eq!(Modifier1::from(42).name(), None);
/// assert!(Modifier1::WSGI.is_request());
/// assert!(!Modifier1::SIGNAL.is_request());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Modifier1(pub u8);

macro_rules! modifiers {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, $text:literal, $request:literal; )*) => {
        impl Modifier1 {
            $( $(#[$doc])* pub const $name: Modifier1 = Modifier1($value); )*

            /// The short name of a value uWSGI defines, `None` for any other value.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some($text), )*
                    _ => None,
                }
            }

            /// Whether a packet with this modifier1 is a request whose payload is a vars block
            /// (a dictionary) and whose body, if any, follows on the stream.
            ///
            /// True for the language and request plugins (and the spooler, whose payload is
            /// also a dictionary), false for the control and message types (ping, signal,
            /// cache, RPC, ...). Values uWSGI does not define count as requests: a server
            /// then decides whether it serves them.
            pub const fn is_request(self) -> bool {
                match self.0 {
                    $( $value => $request, )*
                    _ => true,
                }
            }
        }
    };
}

modifiers! {
    /// 0: WSGI (Python) request; the default of nginx's `uwsgi_modifier1`.
    WSGI = 0, "wsgi", true;
    /// 5: PSGI (Perl) request.
    PSGI = 5, "psgi", true;
    /// 6: Lua WSAPI request.
    LUA = 6, "lua", true;
    /// 7: Rack (Ruby) request.
    RACK = 7, "rack", true;
    /// 8: JVM (JWSGI, Ring) request.
    JVM = 8, "jvm", true;
    /// 9: CGI plugin request.
    CGI = 9, "cgi", true;
    /// 10: management (admin) request; modifier2 is the admin command.
    ADMIN = 10, "admin", false;
    /// 11: Go (gccgo) request.
    GO = 11, "go", true;
    /// 14: PHP plugin request.
    PHP = 14, "php", true;
    /// 15: Mono (ASP.NET) request.
    MONO = 15, "mono", true;
    /// 17: spooler request; the vars are the spool dictionary.
    SPOOLER = 17, "spooler", true;
    /// 18: symcall, a direct call of a C symbol.
    SYMCALL = 18, "symcall", true;
    /// 19: SSI request.
    SSI = 19, "ssi", true;
    /// 22: raw code evaluation; modifier2 chooses the interpreter and the reply is raw.
    EVAL = 22, "eval", false;
    /// 23: XSLT request.
    XSLT = 23, "xslt", true;
    /// 24: V8 (JavaScript) request.
    V8 = 24, "v8", true;
    /// 25: GridFS request.
    GRIDFS = 25, "gridfs", true;
    /// 26: FastFuncs; modifier2 is the function index (the docs give 26 to GlusterFS).
    FASTFUNC = 26, "fastfunc", false;
    /// 27: GlusterFS request (in the code; the docs say 26).
    GLUSTERFS = 27, "glusterfs", true;
    /// 28: Rados request.
    RADOS = 28, "rados", true;
    /// 30: WSGI with SCRIPT_NAME stripped from the front of PATH_INFO.
    MANAGE_PATH_INFO = 30, "wsgi-manage-path-info", true;
    /// 31: generic message.
    MESSAGE = 31, "message", false;
    /// 32: char-array message.
    MESSAGE_ARRAY = 32, "message-array", false;
    /// 33: marshalled-object message.
    MESSAGE_MARSHAL = 33, "message-marshal", false;
    /// 35: WebDAV request.
    WEBDAV = 35, "webdav", true;
    /// 48: SNMP.
    SNMP = 48, "snmp", false;
    /// 72: 'H': the bytes "HTTP" of a raw HTTP response read as a uwsgi header.
    HTTP = 72, "http", false;
    /// 73: multicast announce; modifier2 is the announce type.
    MULTICAST_ANNOUNCE = 73, "multicast-announce", false;
    /// 74: multicast message.
    MULTICAST = 74, "multicast", false;
    /// 95: cluster membership; modifier2 is the action.
    CLUSTER_NODE = 95, "cluster-node", false;
    /// 96: remote logging.
    REMOTE_LOGGING = 96, "remote-logging", false;
    /// 97: brutal reload (modifier2 0 request, 1 confirm).
    RELOAD = 97, "reload", false;
    /// 98: graceful reload (modifier2 0 request, 1 confirm).
    GRACEFUL_RELOAD = 98, "graceful-reload", false;
    /// 99: configuration request.
    CONFIG = 99, "config", false;
    /// 100: ping (modifier2 0) and pong (modifier2 1).
    PING = 100, "ping", false;
    /// 101: echo.
    ECHO = 101, "echo", false;
    /// 109: legion message.
    LEGION = 109, "legion", false;
    /// 110: signal; modifier2 is the signal number, the reply has modifier1 255.
    SIGNAL = 110, "signal", false;
    /// 111: cache; modifier2 is the cache command.
    CACHE = 111, "cache", false;
    /// 173: RPC; modifier2 selects the reply format.
    RPC = 173, "rpc", false;
    /// 200: close mark for persistent connections.
    PERSISTENT_CLOSE = 200, "persistent-close", false;
    /// 224: subscription packet.
    SUBSCRIPTION = 224, "subscription", false;
    /// 250: example (C++) plugin request.
    EXAMPLE = 250, "example", true;
    /// 255: generic response, e.g. a signal or spooler acknowledgement in modifier2.
    RESPONSE = 255, "response", false;
}

impl From<u8> for Modifier1 {
    fn from(value: u8) -> Self {
        Modifier1(value)
    }
}

impl From<Modifier1> for u8 {
    fn from(value: Modifier1) -> Self {
        value.0
    }
}

impl fmt::Debug for Modifier1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "Modifier1({}: {name})", self.0),
            None => write!(f, "Modifier1({})", self.0),
        }
    }
}

impl fmt::Display for Modifier1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The 4-byte uwsgi packet header.
///
/// ```
/// use uwsgi_codec::{Header, Modifier1};
///
/// let header = Header::parse(&[0, 0x96, 0x01, 0]).unwrap();
/// assert_eq!(header, Header { modifier1: Modifier1::WSGI, datasize: 406, modifier2: 0 });
/// assert_eq!(header.to_bytes(), [0, 0x96, 0x01, 0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// Which plugin or message type the packet is for.
    pub modifier1: Modifier1,
    /// Payload length (for requests: the vars block only, not the body).
    pub datasize: u16,
    /// A sub-type whose meaning depends on modifier1.
    pub modifier2: u8,
}

impl Header {
    /// Size of the header on the wire.
    pub const LEN: usize = 4;

    /// Reads a header from the first 4 bytes of `bytes`; `None` when there are fewer.
    pub fn parse(bytes: &[u8]) -> Option<Header> {
        match *bytes {
            [modifier1, low, high, modifier2, ..] => Some(Header {
                modifier1: Modifier1(modifier1),
                datasize: u16::from_le_bytes([low, high]),
                modifier2,
            }),
            _ => None,
        }
    }

    /// The header as it goes on the wire.
    pub fn to_bytes(self) -> [u8; 4] {
        let [low, high] = self.datasize.to_le_bytes();
        [self.modifier1.0, low, high, self.modifier2]
    }

    /// Appends the header to `dst`.
    pub fn encode(self, dst: &mut BytesMut) {
        dst.put_slice(&self.to_bytes());
    }
}

/// One uwsgi packet: a header and its payload.
///
/// The payload is a `Bytes` split off the receive buffer when decoded, never copied.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use uwsgi_codec::{Modifier1, Packet, PacketDecoder};
///
/// let packet = Packet::new(Modifier1::ECHO, 0, Bytes::from_static(b"hi")).unwrap();
/// let mut wire = BytesMut::new();
/// packet.encode(&mut wire);
/// assert_eq!(&wire[..], b"\x65\x02\x00\x00hi");
///
/// let decoded = PacketDecoder::new(4096).decode(&mut wire).unwrap().unwrap();
/// assert_eq!(decoded, packet);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    modifier1: Modifier1,
    modifier2: u8,
    payload: Bytes,
}

impl Packet {
    /// A packet with this payload.
    ///
    /// # Errors
    /// [`MisuseError::PayloadTooLarge`] when the payload is longer than 65535 bytes.
    pub fn new(modifier1: Modifier1, modifier2: u8, payload: Bytes) -> Result<Packet, MisuseError> {
        if u16::try_from(payload.len()).is_err() {
            return Err(MisuseError::PayloadTooLarge { len: payload.len() });
        }
        Ok(Packet {
            modifier1,
            modifier2,
            payload,
        })
    }

    /// A packet without payload.
    pub fn empty(modifier1: Modifier1, modifier2: u8) -> Packet {
        Packet {
            modifier1,
            modifier2,
            payload: Bytes::new(),
        }
    }

    /// modifier1.
    pub fn modifier1(&self) -> Modifier1 {
        self.modifier1
    }

    /// modifier2.
    pub fn modifier2(&self) -> u8 {
        self.modifier2
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The payload, taking the packet apart.
    pub fn into_payload(self) -> Bytes {
        self.payload
    }

    /// The header this packet goes out with.
    pub fn header(&self) -> Header {
        Header {
            modifier1: self.modifier1,
            // The constructors keep the payload within u16.
            datasize: u16::try_from(self.payload.len()).unwrap_or(u16::MAX),
            modifier2: self.modifier2,
        }
    }

    /// The header bytes and the payload, apart, for a vectored write that does not copy
    /// the payload.
    pub fn to_parts(&self) -> ([u8; 4], Bytes) {
        (self.header().to_bytes(), self.payload.clone())
    }

    /// Appends header and payload to `dst` (copies the payload).
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(Header::LEN + self.payload.len());
        self.header().encode(dst);
        dst.put_slice(&self.payload);
    }

    /// The whole packet in one buffer (copies the payload).
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::with_capacity(Header::LEN + self.payload.len());
        self.encode(&mut dst);
        dst.freeze()
    }
}

/// Splits whole packets off a receive buffer.
///
/// Apart from its limit it only counts the bytes it has split off, so that an error says
/// where in the stream it is; any split of the input gives the same packets. A header
/// whose datasize exceeds the limit is refused as soon as its 4 bytes are there; buffer
/// space for the payload is reserved only after that check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketDecoder {
    max_datasize: u16,
    consumed: u64,
}

impl Default for PacketDecoder {
    fn default() -> Self {
        PacketDecoder::new(crate::limits::DEFAULT_MAX_VARS_BLOCK)
    }
}

impl PacketDecoder {
    /// A decoder that accepts payloads of up to `max_datasize` bytes.
    pub fn new(max_datasize: u16) -> Self {
        PacketDecoder {
            max_datasize,
            consumed: 0,
        }
    }

    /// The largest payload accepted.
    pub fn max_datasize(&self) -> u16 {
        self.max_datasize
    }

    /// Reads the header at the front of `src` and checks its datasize against the limit,
    /// without consuming anything. `Ok(None)` when fewer than 4 bytes are buffered.
    ///
    /// # Errors
    /// [`Violation::DatasizeTooLarge`].
    pub fn peek_header(&self, src: &[u8]) -> Result<Option<Header>, ProtocolError> {
        check_header(src, self.max_datasize, self.consumed)
    }

    /// Splits the next whole packet off `src`, or returns `Ok(None)` (after reserving room
    /// for the rest of the packet) when it is not all there yet.
    ///
    /// # Errors
    /// [`Violation::DatasizeTooLarge`]; nothing is consumed then.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, ProtocolError> {
        let Some(header) = self.peek_header(src)? else {
            return Ok(None);
        };
        let packet = split_packet(src, header);
        if let Some(packet) = &packet {
            self.consumed += (Header::LEN + packet.payload.len()) as u64;
        }
        Ok(packet)
    }
}

/// The header at the front of `src` (at stream offset `at`), checked against the limit.
pub(crate) fn check_header(
    src: &[u8],
    max_datasize: u16,
    at: u64,
) -> Result<Option<Header>, ProtocolError> {
    let Some(header) = Header::parse(src) else {
        return Ok(None);
    };
    if header.datasize > max_datasize {
        return Err(ProtocolError::new(
            at,
            Violation::DatasizeTooLarge {
                modifier1: header.modifier1,
                datasize: header.datasize,
                limit: max_datasize,
            },
        ));
    }
    Ok(Some(header))
}

/// Splits the packet that `header` (already read off the front of `src`) announces, or
/// reserves room for the rest of it.
pub(crate) fn split_packet(src: &mut BytesMut, header: Header) -> Option<Packet> {
    let total = Header::LEN + usize::from(header.datasize);
    if src.len() < total {
        src.reserve(total - src.len());
        return None;
    }
    // The header was read already: skipping it first leaves one split and no reference
    // count to touch for a frame that would be dropped at once.
    src.advance(Header::LEN);
    let payload = src.split_to(usize::from(header.datasize)).freeze();
    Some(Packet {
        modifier1: header.modifier1,
        modifier2: header.modifier2,
        payload,
    })
}

/// Ping (modifier1 100, modifier2 0, no payload): "are you alive?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ping;

impl Ping {
    /// The ping packet.
    pub fn to_packet(self) -> Packet {
        Packet::empty(Modifier1::PING, 0)
    }
}

impl TryFrom<&Packet> for Ping {
    type Error = UnexpectedPacket;

    fn try_from(packet: &Packet) -> Result<Self, UnexpectedPacket> {
        if packet.modifier1 == Modifier1::PING && packet.modifier2 == 0 {
            // uWSGI ignores a payload on a ping; so does this.
            Ok(Ping)
        } else {
            Err(unexpected(packet, "a ping (modifier1 100, modifier2 0)"))
        }
    }
}

/// Pong (modifier1 100, modifier2 1): the answer to a ping.
///
/// uWSGI puts its current warning message, if any, in the payload; usually it is empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pong {
    /// The warning message, usually empty.
    pub message: Bytes,
}

impl Pong {
    /// The pong packet.
    ///
    /// # Errors
    /// [`MisuseError::PayloadTooLarge`] for a message over 65535 bytes.
    pub fn to_packet(&self) -> Result<Packet, MisuseError> {
        Packet::new(Modifier1::PING, 1, self.message.clone())
    }
}

impl TryFrom<&Packet> for Pong {
    type Error = UnexpectedPacket;

    fn try_from(packet: &Packet) -> Result<Self, UnexpectedPacket> {
        if packet.modifier1 == Modifier1::PING && packet.modifier2 == 1 {
            Ok(Pong {
                message: packet.payload.clone(),
            })
        } else {
            Err(unexpected(packet, "a pong (modifier1 100, modifier2 1)"))
        }
    }
}

/// Signal (modifier1 110): raise uWSGI signal `number` (carried in modifier2, no payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    /// The uWSGI signal number (0-255).
    pub number: u8,
}

impl Signal {
    /// The signal packet.
    pub fn to_packet(self) -> Packet {
        Packet::empty(Modifier1::SIGNAL, self.number)
    }
}

impl TryFrom<&Packet> for Signal {
    type Error = UnexpectedPacket;

    fn try_from(packet: &Packet) -> Result<Self, UnexpectedPacket> {
        if packet.modifier1 != Modifier1::SIGNAL {
            return Err(unexpected(packet, "a signal (modifier1 110)"));
        }
        if !packet.payload.is_empty() {
            return Err(unexpected(packet, "a signal (no payload)"));
        }
        Ok(Signal {
            number: packet.modifier2,
        })
    }
}

/// The answer to a [`Signal`]: modifier1 255, modifier2 1 when the signal was routed, 0 when
/// it failed; no payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalReply {
    /// Whether uWSGI accepted the signal.
    pub delivered: bool,
}

impl SignalReply {
    /// The reply packet.
    pub fn to_packet(self) -> Packet {
        Packet::empty(Modifier1::RESPONSE, u8::from(self.delivered))
    }
}

impl TryFrom<&Packet> for SignalReply {
    type Error = UnexpectedPacket;

    fn try_from(packet: &Packet) -> Result<Self, UnexpectedPacket> {
        if packet.modifier1 != Modifier1::RESPONSE || packet.modifier2 > 1 {
            return Err(unexpected(
                packet,
                "a signal reply (modifier1 255, modifier2 0 or 1)",
            ));
        }
        Ok(SignalReply {
            delivered: packet.modifier2 == 1,
        })
    }
}

fn unexpected(packet: &Packet, expected: &'static str) -> UnexpectedPacket {
    UnexpectedPacket {
        modifier1: packet.modifier1,
        modifier2: packet.modifier2,
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_little_endian() {
        let header = Header {
            modifier1: Modifier1::PSGI,
            datasize: 0x1234,
            modifier2: 9,
        };
        assert_eq!(header.to_bytes(), [5, 0x34, 0x12, 9]);
        assert_eq!(Header::parse(&header.to_bytes()), Some(header));
        assert_eq!(Header::parse(&[1, 2, 3]), None);
    }

    #[test]
    fn decoder_waits_for_whole_packet() {
        let mut decoder = PacketDecoder::new(10);
        let mut buf = BytesMut::from(&b"\x65\x03\x00\x07ab"[..]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 6, "nothing consumed while partial");
        buf.extend_from_slice(b"cZ");
        let packet = decoder.decode(&mut buf).unwrap().unwrap();
        assert_eq!(packet.modifier1(), Modifier1::ECHO);
        assert_eq!(packet.modifier2(), 7);
        assert_eq!(&packet.payload()[..], b"abc");
        assert_eq!(&buf[..], b"Z");
    }

    #[test]
    fn payload_points_into_the_receive_buffer() {
        let mut buf = BytesMut::from(&b"\x00\x02\x00\x00xy"[..]);
        let start = buf.as_ptr() as usize;
        let packet = PacketDecoder::new(10).decode(&mut buf).unwrap().unwrap();
        assert_eq!(packet.payload().as_ptr() as usize, start + 4);
    }

    #[test]
    fn oversized_datasize_refused_from_header_alone() {
        let mut decoder = PacketDecoder::new(4096);
        let mut buf = BytesMut::from(&[0u8, 0x01, 0x10, 0][..]); // 4097
        let cap_before = buf.capacity();
        match decoder.decode(&mut buf) {
            Err(ProtocolError {
                offset: 0,
                violation:
                    Violation::DatasizeTooLarge {
                        datasize: 4097,
                        limit: 4096,
                        modifier1: Modifier1::WSGI,
                    },
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(buf.capacity(), cap_before, "nothing reserved");
        let mut ok = BytesMut::from(&[0u8, 0x00, 0x10, 0][..]); // 4096
        assert_eq!(decoder.decode(&mut ok).unwrap(), None);
        assert!(ok.capacity() >= 4100);
    }

    #[test]
    fn payload_over_u16_is_refused() {
        let big = Bytes::from(vec![0u8; 65536]);
        assert!(matches!(
            Packet::new(Modifier1::ECHO, 0, big),
            Err(MisuseError::PayloadTooLarge { len: 65536 })
        ));
        assert!(Packet::new(Modifier1::ECHO, 0, Bytes::from(vec![0u8; 65535])).is_ok());
    }

    #[test]
    fn typed_packets() {
        assert_eq!(Ping.to_packet().to_bytes(), &b"\x64\0\0\0"[..]);
        let pong = Pong::default().to_packet().unwrap();
        assert_eq!(pong.to_bytes(), &b"\x64\0\0\x01"[..]);
        assert_eq!(Pong::try_from(&pong).unwrap(), Pong::default());
        assert!(Ping::try_from(&pong).is_err());
        assert!(Pong::try_from(&Ping.to_packet()).is_err());
        let signal = Signal { number: 17 }.to_packet();
        assert_eq!(signal.to_bytes(), &b"\x6e\0\0\x11"[..]);
        assert_eq!(Signal::try_from(&signal).unwrap().number, 17);
        let with_payload = Packet::new(Modifier1::SIGNAL, 1, Bytes::from_static(b"x")).unwrap();
        assert!(matches!(
            Signal::try_from(&with_payload),
            Err(UnexpectedPacket { modifier2: 1, .. })
        ));
        let reply = SignalReply { delivered: true }.to_packet();
        assert_eq!(reply.to_bytes(), &b"\xff\0\0\x01"[..]);
        assert!(SignalReply::try_from(&reply).unwrap().delivered);
        assert!(
            !SignalReply::try_from(&Packet::empty(Modifier1::RESPONSE, 0))
                .unwrap()
                .delivered
        );
    }

    #[test]
    fn modifier_names() {
        assert_eq!(Modifier1::GLUSTERFS.0, 27);
        assert_eq!(format!("{}", Modifier1::SIGNAL), "110 (signal)");
        assert_eq!(format!("{}", Modifier1(3)), "3");
        assert_eq!(format!("{:?}", Modifier1::WSGI), "Modifier1(0: wsgi)");
        assert!(Modifier1(3).is_request());
        assert!(!Modifier1::RESPONSE.is_request());
    }
}
