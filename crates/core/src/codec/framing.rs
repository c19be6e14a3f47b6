//! The steps every framed object (logical expressions, physical expressions,
//! physical plans) shares on its way into and out of a frame.

use prost::Message;

use super::error::CodecError;
use super::limits::WireLimits;
use super::tracking::Tracking;
use dfship_wire::{FLAG_INLINE_PYTHON, FLAG_SIGNED, Frame, WireError, read_frame, write_frame_with};

/// Seals a message encoded with `tracking` into a frame of `magic`: the
/// first UDF failure wins over datafusion-proto's outcome, the flag says
/// whether inline Python code is inside, and the frame must fit the limit.
pub fn seal<M: Message, E: std::fmt::Display>(
    magic: [u8; 4],
    tracking: &mut Tracking,
    node: Result<M, E>,
    what: &str,
    limits: &WireLimits,
) -> Result<Vec<u8>, CodecError> {
    if let Some(failure) = tracking.take_failure() {
        return Err(CodecError::Query(failure));
    }
    let node = node.map_err(|e| CodecError::Malformed(format!("cannot serialize the {what}: {e}")))?;
    let flags = if tracking.saw_inline() { FLAG_INLINE_PYTHON } else { 0 };
    let sign = limits.keys.as_ref().map(|keys| move |bytes: &[u8]| keys.tag(bytes));
    // The body is encoded straight into the frame.
    let frame = write_frame_with(
        magic,
        flags,
        node.encoded_len(),
        |out| node.encode_raw(out),
        sign.as_ref().map(|s| s as &dyn Fn(&[u8]) -> [u8; dfship_wire::TAG_LEN]),
    );
    if frame.len() > limits.max_payload_bytes {
        return Err(CodecError::from(WireError::TooLarge {
            size: frame.len() as u64,
            limit: limits.max_payload_bytes,
        }));
    }
    Ok(frame)
}

/// Checks a frame of `magic`, and its signature: a session with keys
/// accepts only frames signed with one of them, a session without refuses
/// signed frames (no key is there to verify the tag). Nothing of the body
/// has been decoded when this returns an error.
pub fn open<'a>(bytes: &'a [u8], magic: [u8; 4], limits: &WireLimits) -> Result<Frame<'a>, CodecError> {
    let frame = read_frame(bytes, &[magic], limits.max_payload_bytes)?;
    match &limits.keys {
        Some(keys) => keys.verify(&frame)?,
        None if frame.flags & FLAG_SIGNED != 0 => return Err(CodecError::Unverifiable),
        None => {}
    }
    Ok(frame)
}

/// Whether a frame says its body holds inline Python code.
pub fn flagged_inline(frame: &Frame<'_>) -> bool {
    frame.flags & FLAG_INLINE_PYTHON != 0
}

/// Ends a decode: the first UDF failure wins over datafusion-proto's
/// outcome, and a frame flagged as holding inline Python code must hold
/// some (the other way round is refused while decoding).
pub fn finish<T>(
    tracking: &mut Tracking,
    flagged: bool,
    parsed: Result<T, CodecError>,
) -> Result<T, CodecError> {
    if let Some(failure) = tracking.take_failure() {
        return Err(CodecError::Query(failure));
    }
    let value = parsed?;
    if flagged && !tracking.saw_inline() {
        return Err(CodecError::Malformed(
            "the frame's inline-Python flag is set, but its body holds no inline Python UDF".into(),
        ));
    }
    Ok(value)
}

/// Runs a datafusion-proto conversion of untrusted bytes, reporting a panic
/// inside it as corrupt input. DataFusion and Arrow assert some invariants
/// of what they decode (a decimal's byte length, an Arrow schema's fields)
/// by panicking; for a decoder those are malformed bytes, not a defect, and
/// must neither unwind into the caller nor take the process down.
pub fn converting<T>(
    what: &'static str,
    convert: impl FnOnce() -> Result<T, CodecError>,
) -> Result<T, CodecError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(convert)).unwrap_or_else(|payload| {
        Err(CodecError::Malformed(format!(
            "the {what} could not be decoded: {}",
            crate::panics::panic_message(payload.as_ref())
        )))
    })
}
