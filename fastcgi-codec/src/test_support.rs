//! Helpers shared by the unit tests of the connection modules.

use bytes::BytesMut;

use crate::decoder::RecordDecoder;
use crate::encoder::{Padding, RecordEncoder};
use crate::ids::RequestId;
use crate::record::{Record, RecordType};

/// The records, padded to 8, on the wire.
pub(crate) fn wire(records: &[(RecordType, u16, &[u8])]) -> BytesMut {
    let encoder = RecordEncoder::new(Padding::Align8);
    let mut dst = BytesMut::new();
    for (record_type, id, content) in records {
        encoder
            .record_into(*record_type, RequestId::new(*id), content, &mut dst)
            .unwrap();
    }
    dst
}

/// Every record in `bytes`, which must hold whole records only.
pub(crate) fn decode_all(mut bytes: BytesMut) -> Vec<Record> {
    let mut decoder = RecordDecoder::new();
    let mut out = Vec::new();
    while let Some(record) = decoder.decode(&mut bytes).unwrap() {
        out.push(record);
    }
    assert!(bytes.is_empty());
    out
}

/// Events until `receive` asks for more input; panics on an error.
pub(crate) fn drain<E>(
    mut receive: impl FnMut(&mut BytesMut) -> Result<Option<E>, crate::ProtocolError>,
    buf: &mut BytesMut,
) -> Vec<E> {
    let mut events = Vec::new();
    while let Some(event) = receive(buf).unwrap() {
        events.push(event);
    }
    events
}
