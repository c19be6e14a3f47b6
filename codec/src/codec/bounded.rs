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
//! ([`with_stack`]). A source test (below) fails if a prost `decode` call
//! appears anywhere else in the crate.

use prost::Message;

use super::error::CodecError;
use crate::wire::protobuf_depth;

/// Depth up to which the current stack is used as is.
const SHALLOW: usize = 64;
/// Stack reserved per level of depth beyond [`SHALLOW`], generous for
/// unoptimised builds.
const STACK_PER_LEVEL: usize = 32 * 1024;

/// A stack size that serves `depth` levels of recursion.
pub fn stack_bytes(depth: usize) -> usize {
    depth.saturating_mul(STACK_PER_LEVEL).saturating_add(1 << 20)
}

/// Runs `f` on a stack large enough for `depth` levels of recursion.
pub fn with_stack<R>(depth: usize, f: impl FnOnce() -> R) -> R {
    if depth <= SHALLOW { f() } else { stacker::grow(stack_bytes(depth), f) }
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
/// protobuf levels, on a stack grown to fit. Returns the message and the
/// nesting it has, so that converting it can run on a large enough stack too.
pub fn decode_message<M: Message + Default>(
    bytes: &[u8],
    max_levels: usize,
    what: &'static str,
) -> Result<(M, usize), CodecError> {
    let levels = protobuf_depth(bytes)
        .ok_or_else(|| CodecError::Malformed(format!("the {what} is not a protobuf message")))?;
    if levels > max_levels {
        return Err(CodecError::NestedTooDeep { what, levels, limit: max_levels });
    }
    let message = with_stack(levels, || M::decode(bytes))
        .map_err(|e| CodecError::Malformed(format!("bad {what}: {e}")))?;
    Ok((message, levels))
}

#[cfg(test)]
mod tests {
    use datafusion_proto::protobuf::LogicalExprNode;

    use super::*;
    use crate::wire::nested_message;

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

    /// Every prost decode in the crate goes through `decode_message`.
    #[test]
    fn no_other_protobuf_decode_sites() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![root];
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
