//! What the decoding targets share.

use std::sync::{Arc, LazyLock};

use datafusion::execution::TaskContext;
use datafusion::prelude::SessionContext;
use dfship_wire::{self as wire, FLAG_INLINE_PYTHON, Signer};

/// DataFusion's built-in functions, so that decoding gets past names.
pub static REGISTRY: LazyLock<Arc<TaskContext>> = LazyLock::new(|| SessionContext::new().task_ctx());

/// dfship's decoders report a panic inside DataFusion's conversion as
/// corrupt input (`framing::converting`), but libFuzzer's panic hook would
/// abort first: this hook stays quiet instead. A panic that escapes a
/// decode call still ends the run, as libFuzzer catches it and aborts.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// A valid frame of kind `magic` around an input: its first byte gives the
/// flags (the inline-Python bit only), the rest is the body. The checksum
/// is right, so the fuzzer mutates what the decoder reads.
pub fn framed(magic: [u8; 4], input: &[u8], sign: Option<Signer<'_>>) -> Option<Vec<u8>> {
    let (&flags, body) = input.split_first()?;
    Some(wire::write_frame(magic, flags & FLAG_INLINE_PYTHON, body, sign))
}
