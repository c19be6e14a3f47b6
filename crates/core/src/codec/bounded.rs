//! The one way dfship decodes protobuf: measure, refuse, then decode.
//!
//! prost recurses once per nested message (and per nested group it skips),
//! and dfship builds it without its fixed recursion limit of 100 so that
//! legitimately deep expressions decode. Every protobuf message that reaches
//! a decoder in this crate therefore passes through here first:
//!
//! * [`decode_message`] for the messages dfship decodes itself (frame bodies,
//!   the Arrow types inside inline UDF payloads);
//! * [`check_nested`] for the bytes datafusion-proto hands to an extension
//!   codec (extension nodes, table providers, file formats, functions), which
//!   the inner codec may decode as protobuf in turn.
//!
//! Both measure nesting with [`protobuf_depth`] (iterative, linear in the
//! input) and refuse anything over the limit with [`CodecError::NestedTooDeep`]
//! before any recursive step; what passes is decoded on a stack grown to fit
//! ([`with_stack`]). Nesting alone does not bound the trees built from a
//! message: datafusion-proto folds flat operand lists into left-deep chains.
//! So converting a message runs on a stack sized for that too
//! ([`with_stack_for`]), and the converted tree is measured exactly before it
//! is accepted. A source test (below) fails if a prost `decode` call
//! appears anywhere else in the crate.

use prost::Message;

use super::error::CodecError;
use dfship_wire::{Nesting, protobuf_depth, protobuf_nesting_visiting};

/// Depth up to which the current stack is used as is.
const SHALLOW: usize = 64;
/// Stack reserved per level of depth beyond [`SHALLOW`], generous for
/// unoptimised builds.
const STACK_PER_LEVEL: usize = 32 * 1024;

/// Stack reserved per level of a chain a decoder folds from a flat list:
/// building a plan node over such a chain walks it recursively (for
/// example to derive its ordering properties).
const STACK_PER_FOLDED_LEVEL: usize = 16 * 1024;

/// The deepest chain a message may fold into, as bounded by
/// [`Nesting::unfolded`]: at 16 KiB of stack per level this reserves at
/// most 4 GiB of address space (not memory) for the stack. Also bounds
/// flat lists (an `IN` list of more entries is refused).
pub const MAX_UNFOLDED: usize = 262_144;

/// A stack size that serves `depth` levels of recursion.
pub fn stack_bytes(depth: usize) -> usize {
    depth.saturating_mul(STACK_PER_LEVEL).saturating_add(1 << 20)
}

/// Runs `f` on a stack large enough for `depth` levels of recursion.
pub fn with_stack<R>(depth: usize, f: impl FnOnce() -> R) -> R {
    if depth <= SHALLOW { f() } else { on_stack_of(stack_bytes(depth), f) }
}

/// Runs `f`, which decodes a message of this nesting into a tree and may
/// drop that tree again, on a stack large enough for both.
pub fn with_stack_for<R>(nesting: Nesting, f: impl FnOnce() -> R) -> R {
    if nesting.levels <= SHALLOW && nesting.unfolded <= SHALLOW {
        return f();
    }
    on_stack_of(stack_for(nesting), f)
}

/// Runs `f` with at least `bytes` of stack: on the current one when that
/// has them left, else on a new one (mapping, faulting in and unmapping a
/// stack costs more than decoding a mid-sized expression).
fn on_stack_of<R>(bytes: usize, f: impl FnOnce() -> R) -> R {
    if stacker::remaining_stack().is_some_and(|left| left >= bytes) { f() } else { stacker::grow(bytes, f) }
}

/// The stack that decoding a message of this nesting into a tree, and
/// dropping that tree, may take.
pub fn stack_for(nesting: Nesting) -> usize {
    stack_bytes(nesting.levels).saturating_add(nesting.unfolded.saturating_mul(STACK_PER_FOLDED_LEVEL))
}

/// Refuses `bytes` when they are a protobuf message nested deeper than
/// `max_levels`; returns the nesting found (0 when the bytes are not
/// protobuf at all, which a protobuf decoder refuses without recursing).
pub fn check_nested(bytes: &[u8], max_levels: usize, what: &'static str) -> Result<usize, CodecError> {
    match protobuf_depth(bytes) {
        Some(levels) if levels > max_levels => {
            Err(CodecError::NestedTooDeep { what, levels, limit: max_levels })
        }
        Some(levels) => Ok(levels),
        None => Ok(0),
    }
}

/// Decodes a `M` from `bytes` if it nests no deeper than `max_levels`
/// protobuf levels, on a stack grown to fit. Returns the message and how it
/// nests, so that converting it ([`with_stack_for`]) can run on a large
/// enough stack too.
pub fn decode_message<M: Message + Default>(
    bytes: &[u8],
    max_levels: usize,
    what: &'static str,
) -> Result<(M, Nesting), CodecError> {
    // One pass measures the nesting and looks at every field that might
    // be an Arrow IPC stream; its findings are reported in the order the
    // checks are listed here.
    let mut bad_ipc = None;
    let nesting = protobuf_nesting_visiting(bytes, |field| {
        if bad_ipc.is_none() && may_be_ipc(field) {
            bad_ipc = bad_ipc_message(field);
        }
    })
    .ok_or_else(|| CodecError::Malformed(format!("the {what} is not a protobuf message")))?;
    if nesting.levels > max_levels {
        return Err(CodecError::NestedTooDeep { what, levels: nesting.levels, limit: max_levels });
    }
    if nesting.unfolded > MAX_UNFOLDED {
        return Err(CodecError::NestedTooDeep {
            what: "flat lists (which fold into chains as deep as they are long)",
            levels: nesting.unfolded,
            limit: MAX_UNFOLDED,
        });
    }
    if let Some(problem) = bad_ipc {
        return Err(CodecError::Malformed(format!("an Arrow IPC message inside the {what} {problem}")));
    }
    let message = with_stack(nesting.levels, || M::decode(bytes))
        .map_err(|e| CodecError::Malformed(format!("bad {what}: {e}")))?;
    Ok((message, nesting))
}

/// Whether `stream` starts as an Arrow IPC message would: a positive
/// metadata length (after the optional continuation marker) that fits in
/// the bytes left. Every field is asked, almost none pass, and for those
/// that do not [`bad_ipc_message`] finds nothing either: this keeps the
/// call (and its result) off the path of the others.
#[inline]
fn may_be_ipc(stream: &[u8]) -> bool {
    let (word, rest) = match stream.split_first_chunk::<4>() {
        Some(([0xff, 0xff, 0xff, 0xff], rest)) => match rest.split_first_chunk::<4>() {
            Some((word, rest)) => (word, rest),
            None => return false,
        },
        Some((word, rest)) => (word, rest),
        None => return false,
    };
    usize::try_from(i32::from_le_bytes(*word)).is_ok_and(|n| n > 0 && n <= rest.len())
}

/// What is wrong with the first message of `stream` that Arrow could not
/// read safely, if `stream` reads as an Arrow IPC stream: a body longer
/// than the bytes that follow, or a batch buffer outside the body.
///
/// Arrow IPC streams travel inside messages (the batches of an in-memory
/// scan, nested literals). Arrow's stream reader allocates a message body
/// of the length the message declares before reading it, and a failed
/// allocation aborts the process; it also slices each buffer of a batch out
/// of the body where the message says, and panics on a range outside it.
/// So [`decode_message`] hands every length-delimited field (at any depth)
/// here, and a stream whose message declares a body longer than the bytes
/// left, or places buffers outside its body, is refused before decoding.
/// A field only counts as IPC when its metadata verifies as an Arrow IPC
/// `Message` flatbuffer, so other bytes are never refused for looking alike.
fn bad_ipc_message(stream: &[u8]) -> Option<String> {
    const CONTINUATION: [u8; 4] = [0xff; 4];
    let mut pos = 0;
    loop {
        let mut word: [u8; 4] = stream.get(pos..pos + 4)?.try_into().ok()?;
        pos += 4;
        if word == CONTINUATION {
            word = stream.get(pos..pos + 4)?.try_into().ok()?;
            pos += 4;
        }
        let meta_len = usize::try_from(i32::from_le_bytes(word)).ok().filter(|n| *n > 0)?;
        let meta = stream.get(pos..pos.checked_add(meta_len)?)?;
        let message = arrow::ipc::root_as_message(meta).ok()?;
        pos += meta_len;
        let body = message.bodyLength();
        let length = match usize::try_from(body) {
            Ok(n) if n <= stream.len() - pos => n,
            _ => return Some(format!("declares a body of {body} bytes, more than the stream holds")),
        };
        let batch = message.header_as_record_batch().or_else(|| message.header_as_dictionary_batch()?.data());
        for buffer in batch.and_then(|b| b.buffers()).into_iter().flatten() {
            let (offset, len) = (buffer.offset(), buffer.length());
            if offset < 0 || len < 0 || offset.checked_add(len).is_none_or(|end| end > body) {
                return Some(format!(
                    "places a buffer at {offset} (+{len} bytes) outside its body of {body} bytes"
                ));
            }
        }
        pos += length;
    }
}

#[cfg(test)]
mod tests {
    use datafusion_proto::protobuf::LogicalExprNode;

    use super::*;
    use dfship_wire::nested_message;

    #[test]
    fn over_deep_messages_are_refused_before_decoding() {
        let deep = nested_message(200_000);
        let err = decode_message::<LogicalExprNode>(&deep, 1_000, "expression").expect_err("too deep");
        assert!(matches!(err, CodecError::NestedTooDeep { levels: 200_000, limit: 1_000, .. }), "{err}");
        assert!(matches!(check_nested(&deep, 1_000, "node"), Err(CodecError::NestedTooDeep { .. })));
        // Deep groups in an unknown field are what prost skips by recursion.
        let mut groups = vec![0x7b_u8; 100_000];
        groups.extend(std::iter::repeat_n(0x7c_u8, 100_000));
        let err = decode_message::<LogicalExprNode>(&groups, 1_000, "expression").expect_err("too deep");
        assert!(matches!(err, CodecError::NestedTooDeep { .. }), "{err}");
        // Within the limit, a legitimate message decodes.
        assert!(decode_message::<LogicalExprNode>(&[], 10, "expression").is_ok());
        assert_eq!(check_nested(b"DFSs not protobuf", 1, "node").expect("not protobuf"), 0);
    }

    /// The cheap test that keeps most fields away from the IPC check never
    /// turns one away that the check would refuse, and lets every real
    /// stream through.
    #[test]
    fn ipc_prefilter_hides_no_finding() {
        use std::sync::Arc;

        use datafusion::arrow::array::Int64Array;
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::arrow::ipc::writer::StreamWriter;
        use datafusion::arrow::record_batch::RecordBatch;

        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let batch =
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int64Array::from(vec![1, 2, 3]))])
                .expect("batch");
        let mut stream = Vec::new();
        let mut writer = StreamWriter::try_new(&mut stream, &schema).expect("writer");
        writer.write(&batch).expect("write");
        writer.finish().expect("finish");
        drop(writer);
        assert!(may_be_ipc(&stream) && bad_ipc_message(&stream).is_none());
        // Every cut of the stream, and every one-byte change of its start:
        // whatever the check finds, the filter has let through.
        let mut findings = 0;
        let mut inputs: Vec<Vec<u8>> = (0..stream.len()).map(|n| stream[..n].to_vec()).collect();
        for at in 0..16 {
            for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut changed = stream.clone();
                changed[at] = value;
                inputs.push(changed);
            }
        }
        // And random bytes, half of them opening with a plausible length.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 48) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|i| (state >> (i % 8 * 8)) as u8).collect();
            if state & 1 == 0 && len >= 4 {
                bytes[..4].copy_from_slice(&((state >> 8) % 40).to_le_bytes()[..4]);
            }
            inputs.push(bytes);
        }
        for input in &inputs {
            let finding = bad_ipc_message(input);
            findings += usize::from(finding.is_some());
            assert!(finding.is_none() || may_be_ipc(input), "{input:?}: {finding:?}");
        }
        assert!(findings > 10, "the inputs exercise the check: {findings} findings");
        // Exactly what the first step of the check needs: a cut one byte
        // into the metadata still passes, a length past the end does not.
        assert!(may_be_ipc(&[0xff, 0xff, 0xff, 0xff, 4, 0, 0, 0, 1, 2, 3, 4]));
        assert!(!may_be_ipc(&[0xff, 0xff, 0xff, 0xff, 5, 0, 0, 0, 1, 2, 3, 4]));
        assert!(!may_be_ipc(&[0, 0, 0, 0, 1]) && !may_be_ipc(&[0xff, 0xff, 0xff, 0xff]));
    }

    /// Every prost decode in the workspace's crates goes through `decode_message`.
    #[test]
    fn no_other_protobuf_decode_sites() {
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut stack: Vec<_> = std::fs::read_dir(&crates)
            .expect("crates dir")
            .map(|entry| entry.expect("entry").path().join("src"))
            .filter(|src| src.is_dir())
            .collect();
        assert!(stack.len() >= 4, "every layer crate is scanned: {stack:?}");
        let mut offenders = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("source dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.file_name().is_some_and(|n| n == "bounded.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("source");
                for (i, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    if code.contains("::decode(") || code.contains("decode_length_delimited") {
                        offenders.push(format!("{}:{}", path.display(), i + 1));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "decode protobuf through codec::bounded only: {offenders:?}");
    }
}
