//! What both sans-IO decoders share: counting the bytes they consume (so that an error
//! says where in the stream it is) and stopping for good at the first error.

use bytes::BytesMut;

use crate::error::ProtocolError;

/// One decoder's protocol logic, driven by [`Fused`].
pub(crate) trait Step {
    /// What the decoder yields.
    type Event;

    /// The next event from the front of `src`, `Ok(None)` when more input is needed. `at`
    /// is the stream offset of `src`'s first byte.
    fn step(&mut self, src: &mut BytesMut, at: u64) -> Result<Option<Self::Event>, ProtocolError>;

    /// What the end of the stream means once [`Step::step`] wants more input.
    fn end(&mut self, src: &BytesMut, at: u64) -> Result<Option<Self::Event>, ProtocolError>;
}

/// A [`Step`] with its stream offset and its sticky failure: after an error, every call
/// answers with the same error.
#[derive(Debug, Clone)]
pub(crate) struct Fused<S> {
    inner: S,
    consumed: u64,
    failed: Option<ProtocolError>,
}

impl<S: Step> Fused<S> {
    pub(crate) fn new(inner: S) -> Self {
        Fused {
            inner,
            consumed: 0,
            failed: None,
        }
    }

    pub(crate) fn inner(&self) -> &S {
        &self.inner
    }

    pub(crate) fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    #[inline]
    pub(crate) fn decode(&mut self, src: &mut BytesMut) -> Result<Option<S::Event>, ProtocolError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let before = src.len();
        let result = self.inner.step(src, self.consumed);
        self.consumed = self
            .consumed
            .saturating_add(before.saturating_sub(src.len()) as u64);
        self.fail_on(result)
    }

    #[inline]
    pub(crate) fn decode_eof(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<S::Event>, ProtocolError> {
        if let Some(event) = self.decode(src)? {
            return Ok(Some(event));
        }
        let result = self.inner.end(src, self.consumed);
        self.fail_on(result)
    }

    #[inline]
    fn fail_on<T>(&mut self, result: Result<T, ProtocolError>) -> Result<T, ProtocolError> {
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }
}
