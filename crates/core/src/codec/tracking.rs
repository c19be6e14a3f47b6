//! What a codec did while one frame was encoded or decoded.
//!
//! datafusion-proto discards the errors of UDF encoders (the UDF would then
//! silently travel by name) and flattens those of nested decoders into text
//! (losing their type), and a frame's inline-Python flag has to say whether
//! the body holds inline code. A codec made for one frame
//! (`for_frame` on either codec) carries a [`Tracking`] that records both.
//! It lives inside that codec (no allocation per frame) and is read once
//! the frame's conversion has returned.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use datafusion::error::{DataFusionError, Result};

use super::error::CodecError;
use super::error::codec_error;
use super::family::INLINE_MAGIC_PREFIX;

#[derive(Debug)]
pub struct Tracking {
    /// On decode: whether the frame says its body holds inline Python code.
    flagged_inline: bool,
    inline: AtomicBool,
    /// The first UDF error; later ones are dropped.
    failure: OnceLock<DataFusionError>,
}

impl Tracking {
    pub fn new(flagged_inline: bool) -> Self {
        Self { flagged_inline, inline: AtomicBool::new(false), failure: OnceLock::new() }
    }

    /// Whether an inline Python UDF was written or read.
    pub fn saw_inline(&self) -> bool {
        self.inline.load(Ordering::Relaxed)
    }

    /// Whether a UDF failure is being kept (see [`Self::take_failure`]).
    pub fn has_failure(&self) -> bool {
        self.failure.get().is_some()
    }

    /// The first error a UDF encoder or decoder returned, whole.
    pub fn take_failure(&mut self) -> Option<DataFusionError> {
        self.failure.take()
    }

    /// Keeps the first error whole and hands datafusion-proto its text.
    pub fn keep<T>(tracking: Option<&Self>, outcome: Result<T>) -> Result<T> {
        let Some(tracking) = tracking else { return outcome };
        outcome.map_err(|e| {
            let message = e.to_string();
            // Only the first is kept: a later one is dropped here.
            let _ = tracking.failure.set(e);
            DataFusionError::Execution(message)
        })
    }

    /// Decodes one function node. An inline payload in a frame whose flag
    /// says there is none is refused before the codec (and the unpickler)
    /// sees it.
    pub fn decode_node<T>(
        tracking: Option<&Self>,
        name: &str,
        buf: &[u8],
        decode: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        if let Some(t) = tracking
            && buf.starts_with(INLINE_MAGIC_PREFIX)
        {
            t.inline.store(true, Ordering::Relaxed);
            if !t.flagged_inline {
                return Self::keep(
                    tracking,
                    Err(codec_error(CodecError::Malformed(format!(
                        "the frame's inline-Python flag is clear, but its body holds an inline Python UDF \
                         ('{name}'): refused without loading it"
                    )))),
                );
            }
        }
        Self::keep(tracking, decode())
    }

    /// Encodes one function node, noting whether it was written inline.
    pub fn encode_node(
        tracking: Option<&Self>,
        buf: &mut Vec<u8>,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let before = buf.len();
        let outcome = encode(buf);
        if let (Some(t), Ok(())) = (tracking, &outcome)
            && buf[before..].starts_with(INLINE_MAGIC_PREFIX)
        {
            t.inline.store(true, Ordering::Relaxed);
        }
        Self::keep(tracking, outcome)
    }
}
