//! # The dfship wire format
//!
//! Everything dfship serializes travels inside a **frame**, so that a damaged
//! or foreign payload is refused before any of it is decoded — the body is
//! never parsed, and no Python code is ever unpickled, until the frame checks
//! out.
//!
//! ## Frame
//!
//! | offset | size | field | meaning |
//! |---|---|---|---|
//! | 0 | 4 | magic | the family, one of the frame magics below |
//! | 4 | 1 | version | format version of the frame and its body |
//! | 5 | 1 | flags | bit 0 [`FLAG_INLINE_PYTHON`], bit 1 [`FLAG_SIGNED`]; other bits must be 0 |
//! | 6 | 1–10 | length | body length in bytes, unsigned LEB128 |
//! | … | length | body | family-specific (a protobuf message for expressions) |
//! | … | 40 | tag | present only with [`FLAG_SIGNED`]: the signing key's 8-byte id, then HMAC-SHA256 under that key of every byte before the MAC (header, body, key id) |
//! | … | 4 | check | CRC-32 (IEEE), little-endian, of every byte before it |
//!
//! A reader checks, in order: that the input holds at least a header
//! ([`WireError::Truncated`]); the magic ([`WireError::BadMagic`]); the
//! version against [`MIN_SUPPORTED`]..=[`CURRENT`]
//! ([`WireError::UnsupportedVersion`]); the flags
//! ([`WireError::UnknownFlags`]); the length against the reader's size limit
//! ([`WireError::TooLarge`]) and against the bytes present
//! ([`WireError::Truncated`], [`WireError::TrailingBytes`]); and the check
//! ([`WireError::ChecksumMismatch`]). Only then is the body handed on.
//!
//! The flags bind the body: every decoder (expressions and plans) refuses a frame with
//! [`FLAG_SIGNED`] whose tag it cannot verify (a tag nobody checks proves
//! nothing); a decoder holding payload keys refuses every frame that is
//! not signed with one of them, before the body is parsed; and a decoder refuses an inline Python payload in a frame without
//! [`FLAG_INLINE_PYTHON`] before loading it, and refuses a frame with that
//! flag whose body turns out to hold no inline payload.
//!
//! ## Magics
//!
//! | magic | bytes | what follows |
//! |---|---|---|
//! | [`MAGIC_LOGICAL_EXPR`] | `DFSE` | frame; body is a datafusion-proto `LogicalExprNode` |
//! | [`MAGIC_PHYSICAL_EXPR`] | `DFSX` | frame; body is a datafusion-proto `PhysicalExprNode` |
//! | [`MAGIC_PHYSICAL_PLAN`] | `DFSP` | frame; body is a datafusion-proto `PhysicalPlanNode` |
//! | [`MAGIC_LOGICAL_PLAN`] | `DFSL` | frame; body is a datafusion-proto `LogicalPlanNode` |
//! | [`MAGIC_SCALAR_UDF`] | `DFSs` | inline scalar Python UDF payload |
//! | [`MAGIC_AGGREGATE_UDF`] | `DFSa` | inline aggregate Python UDF payload |
//! | [`MAGIC_WINDOW_UDF`] | `DFSw` | inline window Python UDF payload |
//!
//! ## Inline Python UDF payload
//!
//! An inline Python UDF rides inside the expression body, in the
//! `fun_definition` bytes of its datafusion-proto node (the node also carries
//! the UDF's name). It is covered by the enclosing frame's check.
//!
//! | offset | size | field | meaning |
//! |---|---|---|---|
//! | 0 | 4 | magic | `DFSs`, `DFSa` or `DFSw` |
//! | 4 | 1 | version | payload version, same range as frames |
//! | 5 | 1 | python major | the sender's `sys.version_info.major` |
//! | 6 | 1 | python minor | the sender's `sys.version_info.minor` |
//! | 7 | 1 | volatility | 0 immutable, 1 stable, 2 volatile |
//! | 8 | … | types | input, return and (aggregates) state types, see below |
//! | … | 1 | encoding | how the callable is stored: [`CALLABLE_PICKLE`] or [`CALLABLE_LZ4_PICKLE`] |
//! | … | rest | callable | the pickled callable (cloudpickle); with [`CALLABLE_LZ4_PICKLE`], a LEB128 length of the pickle, then an LZ4 block holding it |
//!
//! Types are written as a LEB128 count of input types, each type, the return
//! type, a LEB128 count of state types and each state type; each type is a
//! LEB128 length and a datafusion-proto `ArrowType` message. An `Int64` costs
//! 3 bytes, where an Arrow IPC schema message costs over a hundred.
//!
//! Large pickles (classes carry every method's code) are stored compressed
//! when that saves space; the stated length is checked against
//! [`MAX_CALLABLE_BYTES`] before anything is allocated, and the block must
//! decompress to exactly that length. LZ4 costs about a microsecond here,
//! a small fraction of pickling the callable.
//!
//! The Python version is checked before the callable is touched: bytecode is
//! not portable across minor versions, so a mismatch is refused with both
//! versions named ([`WireError::PythonVersionMismatch`]).

use std::fmt;

/// Frame magic: a logical expression.
pub const MAGIC_LOGICAL_EXPR: [u8; 4] = *b"DFSE";
/// Frame magic: a physical expression.
pub const MAGIC_PHYSICAL_EXPR: [u8; 4] = *b"DFSX";
/// Frame magic: a physical plan.
pub const MAGIC_PHYSICAL_PLAN: [u8; 4] = *b"DFSP";
/// Frame magic: a logical plan.
pub const MAGIC_LOGICAL_PLAN: [u8; 4] = *b"DFSL";
/// Payload magic: an inline scalar Python UDF.
pub const MAGIC_SCALAR_UDF: [u8; 4] = *b"DFSs";
/// Payload magic: an inline aggregate Python UDF.
pub const MAGIC_AGGREGATE_UDF: [u8; 4] = *b"DFSa";
/// Payload magic: an inline window Python UDF.
pub const MAGIC_WINDOW_UDF: [u8; 4] = *b"DFSw";

/// The format version written by this build.
pub const CURRENT: u8 = 1;
/// The oldest format version this build reads.
pub const MIN_SUPPORTED: u8 = 1;

/// The body holds at least one inline Python payload (decoding it will
/// unpickle Python code).
pub const FLAG_INLINE_PYTHON: u8 = 0b0000_0001;
/// A [`TAG_LEN`]-byte authentication tag follows the body.
pub const FLAG_SIGNED: u8 = 0b0000_0010;
const KNOWN_FLAGS: u8 = FLAG_INLINE_PYTHON | FLAG_SIGNED;

/// Callable encoding: the pickle as is.
pub const CALLABLE_PICKLE: u8 = 0;
/// Callable encoding: LEB128 pickle length, then the pickle as an LZ4 block.
pub const CALLABLE_LZ4_PICKLE: u8 = 1;
/// Largest pickled callable a payload may declare.
pub const MAX_CALLABLE_BYTES: u64 = 256 * 1024 * 1024;

/// Length of the authentication tag of a signed frame: an 8-byte key id
/// and a 32-byte HMAC-SHA256 (see `codec::signing`).
pub const TAG_LEN: usize = 40;
/// Length of the trailing check.
pub const CHECK_LEN: usize = 4;
/// Bytes before the length field.
const FIXED_HEADER: usize = 6;
/// The smallest possible frame: fixed header, a one-byte length, the check.
pub const MIN_FRAME_LEN: usize = FIXED_HEADER + 1 + CHECK_LEN;

/// Why bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than the format needs at this point.
    Truncated { needed: usize, available: usize },
    /// The first four bytes are not the expected magic.
    BadMagic { expected: Vec<[u8; 4]>, found: Vec<u8> },
    /// Written by a format version this build does not read.
    UnsupportedVersion { found: u8 },
    /// Flag bits this build does not know.
    UnknownFlags { flags: u8 },
    /// Bytes left over after the frame.
    TrailingBytes { extra: usize },
    /// The declared or actual size is over the reader's limit.
    TooLarge { size: u64, limit: usize },
    /// The body does not match its check: the bytes were damaged.
    ChecksumMismatch { stored: u32, computed: u32 },
    /// A length field is not valid LEB128.
    BadLength,
    /// An inline payload was made by another Python minor version.
    PythonVersionMismatch { sender: (u8, u8), receiver: (u8, u8) },
    /// A field holds a value outside its range.
    BadField { field: &'static str, value: u64 },
}

fn show_magic(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| {
            if b.is_ascii_graphic() || *b == b' ' {
                char::from(*b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "payload is truncated: needs {needed} bytes, has {available}")
            }
            Self::BadMagic { expected, found } => {
                let expected: Vec<String> = expected.iter().map(|m| show_magic(m)).collect();
                write!(
                    f,
                    "not a dfship payload: starts with \"{}\", expected {}",
                    show_magic(found),
                    expected.join(" or ")
                )
            }
            Self::UnsupportedVersion { found } => write!(
                f,
                "unsupported dfship format version {found}: this build reads versions {MIN_SUPPORTED} to {CURRENT}"
            ),
            Self::UnknownFlags { flags } => write!(f, "payload has unknown flag bits {flags:#010b}"),
            Self::TrailingBytes { extra } => write!(f, "payload has {extra} unexpected bytes after its end"),
            Self::TooLarge { size, limit } => {
                write!(f, "payload of {size} bytes is over the limit of {limit} bytes")
            }
            Self::ChecksumMismatch { stored, computed } => write!(
                f,
                "payload is corrupt: its check is {stored:#010x} but its bytes give {computed:#010x}"
            ),
            Self::BadLength => write!(f, "payload is corrupt: a length field is malformed"),
            Self::PythonVersionMismatch { sender, receiver } => write!(
                f,
                "Python version mismatch: the UDF was serialized by Python {}.{} and cannot be loaded by Python {}.{}; \
                 run the same Python minor version on sender and receiver",
                sender.0, sender.1, receiver.0, receiver.1
            ),
            Self::BadField { field, value } => {
                write!(f, "payload is corrupt: {field} has invalid value {value}")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// Appends `value` as unsigned LEB128.
pub fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads unsigned LEB128 from the start of `input`: the value and the number
/// of bytes it took.
#[inline]
pub fn read_varint(input: &[u8]) -> Result<(u64, usize), WireError> {
    // Most keys and lengths fit one byte.
    if let Some(&byte) = input.first()
        && byte < 0x80
    {
        return Ok((u64::from(byte), 1));
    }
    let mut value: u64 = 0;
    for (i, byte) in input.iter().take(10).enumerate() {
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return Err(WireError::BadLength);
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    if input.len() < 10 {
        Err(WireError::Truncated { needed: input.len() + 1, available: input.len() })
    } else {
        Err(WireError::BadLength)
    }
}

/// A frame checked and split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub magic: [u8; 4],
    pub version: u8,
    pub flags: u8,
    pub body: &'a [u8],
    /// The authentication tag, for a signed frame.
    pub tag: Option<&'a [u8]>,
    /// Every byte the tag covers (header and body).
    pub signed_bytes: &'a [u8],
}

impl Frame<'_> {
    pub fn has_inline_python(&self) -> bool {
        self.flags & FLAG_INLINE_PYTHON != 0
    }
}

/// Computes the authentication tag of a signed frame from every byte before it.
pub type Signer<'a> = &'a dyn Fn(&[u8]) -> [u8; TAG_LEN];

/// Writes a frame around `body`. With `tag` (for [`FLAG_SIGNED`]), it is
/// called with every byte written so far and must return the tag.
pub fn write_frame(magic: [u8; 4], flags: u8, body: &[u8], tag: Option<Signer<'_>>) -> Vec<u8> {
    write_frame_with(magic, flags, body.len(), |out| out.extend_from_slice(body), tag)
}

/// Like [`write_frame`], with the body written in place by `write_body`,
/// which must append exactly `body_len` bytes.
pub fn write_frame_with(
    magic: [u8; 4],
    flags: u8,
    body_len: usize,
    write_body: impl FnOnce(&mut Vec<u8>),
    tag: Option<Signer<'_>>,
) -> Vec<u8> {
    let flags = if tag.is_some() { flags | FLAG_SIGNED } else { flags & !FLAG_SIGNED };
    let mut out = Vec::with_capacity(FIXED_HEADER + 10 + body_len + TAG_LEN + CHECK_LEN);
    out.extend_from_slice(&magic);
    out.push(CURRENT);
    out.push(flags);
    write_varint(&mut out, body_len as u64);
    let start = out.len();
    write_body(&mut out);
    debug_assert_eq!(out.len() - start, body_len, "write_body wrote another length than declared");
    if let Some(sign) = tag {
        let t = sign(&out);
        out.extend_from_slice(&t);
    }
    let check = crc32fast::hash(&out);
    out.extend_from_slice(&check.to_le_bytes());
    out
}

/// Checks a frame as described in the module docs; never panics.
pub fn read_frame<'a>(input: &'a [u8], expected: &[[u8; 4]], limit: usize) -> Result<Frame<'a>, WireError> {
    if input.len() > limit {
        return Err(WireError::TooLarge { size: input.len() as u64, limit });
    }
    if input.len() < FIXED_HEADER {
        return Err(WireError::Truncated { needed: MIN_FRAME_LEN, available: input.len() });
    }
    let magic: [u8; 4] = [input[0], input[1], input[2], input[3]];
    if !expected.contains(&magic) {
        return Err(WireError::BadMagic { expected: expected.to_vec(), found: input[..4].to_vec() });
    }
    let version = input[4];
    if !(MIN_SUPPORTED..=CURRENT).contains(&version) {
        return Err(WireError::UnsupportedVersion { found: version });
    }
    let flags = input[5];
    if flags & !KNOWN_FLAGS != 0 {
        return Err(WireError::UnknownFlags { flags });
    }
    let (length, used) = read_varint(&input[FIXED_HEADER..])?;
    if length > limit as u64 {
        return Err(WireError::TooLarge { size: length, limit });
    }
    let body_start = FIXED_HEADER + used;
    let tag_len = if flags & FLAG_SIGNED != 0 { TAG_LEN } else { 0 };
    // length <= limit <= usize::MAX here, and the sum cannot overflow for any
    // limit a caller can hold in memory.
    let needed = body_start.saturating_add(length as usize).saturating_add(tag_len).saturating_add(CHECK_LEN);
    if input.len() < needed {
        return Err(WireError::Truncated { needed, available: input.len() });
    }
    if input.len() > needed {
        return Err(WireError::TrailingBytes { extra: input.len() - needed });
    }
    let check_at = needed - CHECK_LEN;
    let stored =
        u32::from_le_bytes([input[check_at], input[check_at + 1], input[check_at + 2], input[check_at + 3]]);
    let computed = crc32fast::hash(&input[..check_at]);
    if stored != computed {
        return Err(WireError::ChecksumMismatch { stored, computed });
    }
    let body_end = body_start + length as usize;
    Ok(Frame {
        magic,
        version,
        flags,
        body: &input[body_start..body_end],
        tag: (tag_len > 0).then(|| &input[body_end..check_at]),
        signed_bytes: &input[..body_end],
    })
}

/// The fixed part of an inline Python UDF payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdfHeader {
    pub magic: [u8; 4],
    pub version: u8,
    pub python: (u8, u8),
    /// 0 immutable, 1 stable, 2 volatile.
    pub volatility: u8,
}

/// Bytes in [`UdfHeader`].
pub const UDF_HEADER_LEN: usize = 8;

impl UdfHeader {
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.magic);
        out.extend_from_slice(&[self.version, self.python.0, self.python.1, self.volatility]);
    }

    /// Reads and checks the header of a payload whose magic is one of
    /// `expected`; the rest of the payload follows it.
    pub fn read<'a>(input: &'a [u8], expected: &[[u8; 4]]) -> Result<(Self, &'a [u8]), WireError> {
        if input.len() < 4 || !expected.iter().any(|m| input.starts_with(m)) {
            return Err(WireError::BadMagic {
                expected: expected.to_vec(),
                found: input[..input.len().min(4)].to_vec(),
            });
        }
        if input.len() < UDF_HEADER_LEN {
            return Err(WireError::Truncated { needed: UDF_HEADER_LEN, available: input.len() });
        }
        let header = Self {
            magic: [input[0], input[1], input[2], input[3]],
            version: input[4],
            python: (input[5], input[6]),
            volatility: input[7],
        };
        if !(MIN_SUPPORTED..=CURRENT).contains(&header.version) {
            return Err(WireError::UnsupportedVersion { found: header.version });
        }
        if header.volatility > 2 {
            return Err(WireError::BadField { field: "volatility", value: u64::from(header.volatility) });
        }
        Ok((header, &input[UDF_HEADER_LEN..]))
    }

    /// Refuses a payload made by another Python minor version.
    pub fn check_python(&self, receiver: (u8, u8)) -> Result<(), WireError> {
        if self.python == receiver {
            Ok(())
        } else {
            Err(WireError::PythonVersionMismatch { sender: self.python, receiver })
        }
    }
}

/// Appends a length-prefixed byte string.
pub fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads a length-prefixed byte string: the bytes and what follows them.
pub fn read_bytes(input: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    let (len, used) = read_varint(input)?;
    let rest = &input[used..];
    if len > rest.len() as u64 {
        return Err(WireError::Truncated {
            needed: used.saturating_add(usize::try_from(len).unwrap_or(usize::MAX)),
            available: input.len(),
        });
    }
    let len = len as usize;
    Ok((&rest[..len], &rest[len..]))
}

/// Reads a LEB128 count: the count and what follows it. Counts larger than
/// the remaining bytes are refused, so a count can never make a reader
/// allocate more than the input's size.
pub fn read_count(input: &[u8]) -> Result<(usize, &[u8]), WireError> {
    let (n, used) = read_varint(input)?;
    let rest = &input[used..];
    if n > rest.len() as u64 {
        return Err(WireError::BadField { field: "count", value: n });
    }
    Ok((n as usize, rest))
}

/// A stack whose first `N` entries live inline, so that walking a shallow
/// structure allocates nothing; deeper entries spill to the heap. Shared by
/// the iterative walks of this workspace (message nesting, expression
/// shape), which run on every decode.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct InlineStack<T: Copy, const N: usize> {
    // The inline part stays uninitialised until pushed (arrayvec): a stack
    // made on every decode costs no fill. `spill` holds entries only while
    // `inline` is full.
    inline: arrayvec::ArrayVec<T, N>,
    spill: Vec<T>,
}

impl<T: Copy, const N: usize> InlineStack<T, N> {
    pub fn new() -> Self {
        Self { inline: arrayvec::ArrayVec::new_const(), spill: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.inline.len() + self.spill.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inline.is_empty()
    }

    #[inline]
    pub fn push(&mut self, value: T) {
        if let Err(full) = self.inline.try_push(value) {
            self.spill.push(full.element());
        }
    }

    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        match self.spill.pop() {
            Some(value) => Some(value),
            None => self.inline.pop(),
        }
    }
}

impl<T: Copy, const N: usize> Default for InlineStack<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

/// How deeply a protobuf message nests, found by [`protobuf_nesting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nesting {
    /// An upper bound of the nesting depth: every length-delimited field
    /// that parses as a message counts as one level, and so does every group
    /// (the deprecated start/end-group wire types, which a decoder skips by
    /// recursion when it does not know the field).
    pub levels: usize,
    /// An upper bound of the depth of any tree a decoder may build from the
    /// message when it folds a repeated field into a chain (datafusion-proto
    /// writes `a + b + c` as one node with a flat operand list and rebuilds
    /// the left-deep tree from it): at each level, the deepest child plus the
    /// number of children.
    pub unfolded: usize,
}

/// The nesting depth of a protobuf message ([`Nesting::levels`]); see
/// [`protobuf_nesting`].
pub fn protobuf_depth(input: &[u8]) -> Option<usize> {
    protobuf_nesting(input).map(|n| n.levels)
}

/// Measures a protobuf message without recursion and without knowing its
/// schema. Returns `None` when the bytes are not a well-formed message.
///
/// Each byte is visited a bounded number of times, so the cost is linear in
/// the input. Decoders use this to refuse over-deep input, and to size the
/// stack of what they accept, before a recursive decoder sees it.
pub fn protobuf_nesting(input: &[u8]) -> Option<Nesting> {
    protobuf_nesting_visiting(input, |_| {})
}

/// The varint at `pos` in `input[..end]` and the position after it; the
/// one-byte case (most keys and lengths) without a call. Positions travel
/// by value so that the scan keeps them in registers.
#[inline]
fn varint_at(input: &[u8], pos: usize, end: usize) -> Option<(u64, usize)> {
    match input.get(pos) {
        Some(&byte) if byte < 0x80 && pos < end => Some((u64::from(byte), pos + 1)),
        _ => long_varint_at(input, pos, end),
    }
}

/// [`varint_at`] for the varints of two bytes or more, and for the end of
/// the input: out of line, so that the one-byte case inlines.
#[cold]
#[inline(never)]
fn long_varint_at(input: &[u8], pos: usize, end: usize) -> Option<(u64, usize)> {
    let (value, used) = read_varint(input.get(pos..end)?).ok()?;
    Some((value, pos + used))
}

/// [`protobuf_nesting`], also handing every non-empty length-delimited
/// field met on the way (at any depth, in order, before any of its own
/// fields) to `visit`, so that a check of field contents costs no second
/// pass over the input.
pub fn protobuf_nesting_visiting(input: &[u8], mut visit: impl FnMut(&[u8])) -> Option<Nesting> {
    // An open message (with its end) or group (ending at an end-group key of
    // its field number, inside the enclosing message's bounds).
    #[derive(Clone, Copy)]
    struct Open {
        end: usize,
        /// The group's field number; 0 (never a field's) for a message.
        group: u64,
        /// Length-delimited children seen so far.
        children: usize,
        /// The largest `unfolded` of a child that completed.
        deepest_child: usize,
    }
    impl Open {
        fn new(end: usize, group: u64) -> Self {
            Self { end, group, children: 0, deepest_child: 0 }
        }
        /// What this message or group, once complete, counts towards its
        /// parent's `unfolded`.
        fn bound(&self) -> usize {
            self.deepest_child + self.children + 1
        }
    }
    // The innermost open message or group is `open`, at depth
    // `outer.len() + 1`; the ones around it wait on `outer`, which stays
    // off the heap for the few levels most messages nest.
    let mut outer: InlineStack<Open, 16> = InlineStack::new();
    let mut open = Open::new(input.len(), 0);
    let mut pos = 0;
    let mut max_depth = 1;
    loop {
        if pos == open.end && open.group == 0 {
            // A message parsed to its end: its depth counts, and its bound
            // counts towards its parent (or is the answer).
            max_depth = max_depth.max(outer.len() + 1);
            let bound = open.bound();
            let Some(parent) = outer.pop() else {
                return Some(Nesting { levels: max_depth, unfolded: bound });
            };
            open = parent;
            open.deepest_child = open.deepest_child.max(bound);
            continue;
        }
        let end = open.end;
        // One field at `pos`; false when the bytes are not a field here.
        let parsed = 'field: {
            let Some((key, next)) = varint_at(input, pos, end) else { break 'field false };
            pos = next;
            let field = key >> 3;
            if field == 0 {
                break 'field false;
            }
            let wire_type = key & 7;
            // Varints (0) and length-delimited fields (2), most of the
            // fields, go first: both read a varint, the value or the length.
            if wire_type & 0b101 == 0 {
                let Some((value, next)) = varint_at(input, pos, end) else { break 'field false };
                pos = next;
                if wire_type == 0 {
                    break 'field true;
                }
                let Some(inner_end) =
                    usize::try_from(value).ok().and_then(|l| pos.checked_add(l)).filter(|e| *e <= end)
                else {
                    break 'field false;
                };
                // An empty field is an empty message or empty bytes: no depth.
                if inner_end > pos {
                    visit(&input[pos..inner_end]);
                    open.children += 1;
                    outer.push(open);
                    open = Open::new(inner_end, 0);
                }
                break 'field true;
            }
            match wire_type {
                1 | 5 => match pos.checked_add(if wire_type == 1 { 8 } else { 4 }).filter(|p| *p <= end) {
                    Some(next) => {
                        pos = next;
                        true
                    }
                    None => false,
                },
                3 => {
                    // Counted when opened: a decoder recurses into a group
                    // before it can know whether the group is well formed.
                    max_depth = max_depth.max(outer.len() + 2);
                    outer.push(open);
                    open = Open::new(end, field);
                    true
                }
                4 if open.group == field => {
                    let bound = open.bound();
                    // A group always has a parent.
                    open = outer.pop()?;
                    open.deepest_child = open.deepest_child.max(bound);
                    true
                }
                _ => false,
            }
        };
        if !parsed {
            // Not a message at this level: drop the open groups and the
            // message holding them. If that is the outermost level the
            // input is malformed; otherwise it was a bytes field and its
            // parent resumes after it.
            while open.group != 0 {
                open = outer.pop()?;
            }
            let failed_end = open.end;
            open = outer.pop()?;
            pos = failed_end;
        }
    }
}

/// A protobuf message of `levels` field-1 submessages nested around a
/// varint field, built outside in (linear time); for tests (here and in
/// the crates that bound decoding with [`protobuf_nesting`]).
#[doc(hidden)]
pub fn nested_message(levels: usize) -> Vec<u8> {
    let mut sizes = Vec::with_capacity(levels);
    let mut size = 2;
    for _ in 1..levels {
        sizes.push(size);
        let mut header = vec![0x0a];
        write_varint(&mut header, size as u64);
        size += header.len();
    }
    let mut msg = Vec::with_capacity(size);
    for inner in sizes.iter().rev() {
        msg.push(0x0a);
        write_varint(&mut msg, *inner as u64);
    }
    msg.extend_from_slice(&[0x08, 0x01]);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;

    fn frame(body: &[u8]) -> Vec<u8> {
        write_frame(MAGIC_LOGICAL_EXPR, 0, body, None)
    }

    #[test]
    fn header_bytes_are_pinned() {
        let bytes = frame(b"hello");
        assert_eq!(&bytes[..7], b"DFSE\x01\x00\x05");
        assert_eq!(&bytes[7..12], b"hello");
        assert_eq!(bytes.len(), 7 + 5 + CHECK_LEN);
        assert_eq!(crc32fast::hash(&bytes[..12]).to_le_bytes(), bytes[12..16]);
    }

    #[test]
    fn round_trip_plain_and_signed() {
        let bytes = frame(b"body");
        let f = read_frame(&bytes, &[MAGIC_LOGICAL_EXPR], LIMIT).expect("valid");
        assert_eq!((f.body, f.tag, f.flags), (&b"body"[..], None, 0));
        let signer = |covered: &[u8]| {
            let mut t = [0u8; TAG_LEN];
            t[0] = covered.len() as u8;
            t
        };
        let bytes = write_frame(MAGIC_LOGICAL_EXPR, FLAG_INLINE_PYTHON, b"body", Some(&signer));
        let f = read_frame(&bytes, &[MAGIC_LOGICAL_EXPR], LIMIT).expect("valid");
        assert!(f.has_inline_python());
        assert_eq!(f.flags & FLAG_SIGNED, FLAG_SIGNED);
        assert_eq!(f.tag.map(|t| t[0]), Some(11));
        assert_eq!(f.signed_bytes.len(), 11);
    }

    #[test]
    fn every_rejection_has_its_message() {
        let good = frame(b"abc");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "payload is truncated: needs 11 bytes, has 0"),
            (b"XXXX\x01\x00\x00".to_vec(), "not a dfship payload: starts with \"XXXX\", expected DFSE"),
            (
                [&b"DFSE\x09"[..], &good[5..]].concat(),
                "unsupported dfship format version 9: this build reads versions 1 to 1",
            ),
            ([&b"DFSE\x01\x80"[..], &good[6..]].concat(), "payload has unknown flag bits 0b10000000"),
            (good[..good.len() - 1].to_vec(), "payload is truncated: needs 14 bytes, has 13"),
            ([&good[..], b"z"].concat(), "payload has 1 unexpected bytes after its end"),
        ];
        for (bytes, message) in cases {
            let err = read_frame(&bytes, &[MAGIC_LOGICAL_EXPR], LIMIT).expect_err("refused");
            assert_eq!(err.to_string(), message);
        }
        let mut flipped = good.clone();
        flipped[8] ^= 0x01;
        let err = read_frame(&flipped, &[MAGIC_LOGICAL_EXPR], LIMIT).expect_err("refused");
        assert!(matches!(err, WireError::ChecksumMismatch { .. }), "{err}");
        assert!(err.to_string().starts_with("payload is corrupt: its check is 0x"));
        let err = read_frame(&good, &[MAGIC_LOGICAL_EXPR], 8).expect_err("refused");
        assert_eq!(err.to_string(), "payload of 14 bytes is over the limit of 8 bytes");
    }

    #[test]
    fn huge_declared_length_is_refused_without_allocation() {
        let mut bytes = b"DFSE\x01\x00".to_vec();
        write_varint(&mut bytes, u64::MAX);
        let err = read_frame(&bytes, &[MAGIC_LOGICAL_EXPR], LIMIT).expect_err("refused");
        assert_eq!(err, WireError::TooLarge { size: u64::MAX, limit: LIMIT });
        let err = read_frame(
            b"DFSE\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
            &[MAGIC_LOGICAL_EXPR],
            LIMIT,
        )
        .expect_err("refused");
        assert_eq!(err, WireError::BadLength);
    }

    #[test]
    fn every_single_byte_flip_is_caught() {
        let good = frame(b"some expression body bytes");
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                assert!(read_frame(&bad, &[MAGIC_LOGICAL_EXPR], LIMIT).is_err(), "flip {i}:{bit}");
            }
        }
    }

    #[test]
    fn varints_round_trip() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert_eq!(read_varint(&out), Ok((v, out.len())));
        }
        assert!(matches!(read_varint(&[0x80]), Err(WireError::Truncated { .. })));
    }

    #[test]
    fn udf_header_checks() {
        let header = UdfHeader { magic: MAGIC_SCALAR_UDF, version: CURRENT, python: (3, 11), volatility: 0 };
        let mut out = Vec::new();
        header.write(&mut out);
        out.extend_from_slice(b"rest");
        let (back, rest) = UdfHeader::read(&out, &[MAGIC_SCALAR_UDF]).expect("valid");
        assert_eq!((back, rest), (header, &b"rest"[..]));
        assert_eq!(
            back.check_python((3, 12)).expect_err("mismatch").to_string(),
            "Python version mismatch: the UDF was serialized by Python 3.11 and cannot be loaded by Python 3.12; \
             run the same Python minor version on sender and receiver"
        );
        assert!(matches!(UdfHeader::read(b"DFPYUDF", &[MAGIC_SCALAR_UDF]), Err(WireError::BadMagic { .. })));
        let mut bad = out.clone();
        bad[7] = 9;
        assert!(matches!(UdfHeader::read(&bad, &[MAGIC_SCALAR_UDF]), Err(WireError::BadField { .. })));
    }

    #[test]
    fn length_prefixed_reads_never_overrun() {
        let mut out = Vec::new();
        write_bytes(&mut out, b"xyz");
        assert_eq!(read_bytes(&out), Ok((&b"xyz"[..], &[][..])));
        assert!(read_bytes(&out[..2]).is_err());
        assert!(read_count(&[200, 1]).is_err());
    }

    /// The scan as first written (every open level on a `Vec`, depth kept
    /// per entry): the model the faster scan must agree with exactly.
    #[allow(clippy::too_many_lines)] // kept as first written, to compare against
    fn nesting_by_model(input: &[u8], mut visit: impl FnMut(&[u8])) -> Option<Nesting> {
        // An open message (with its end) or group (ending at an end-group key of
        // its field number, inside the enclosing message's bounds).
        struct Open {
            end: usize,
            depth: usize,
            group: Option<u64>,
            /// Length-delimited children seen so far.
            children: usize,
            /// The largest `unfolded` of a child that completed.
            deepest_child: usize,
        }
        impl Open {
            fn new(end: usize, depth: usize, group: Option<u64>) -> Self {
                Self { end, depth, group, children: 0, deepest_child: 0 }
            }
        }
        enum Step {
            Scalar,
            Message(usize),
            StartGroup(u64),
            EndGroup(u64),
        }
        let mut stack: Vec<Open> = vec![Open::new(input.len(), 1, None)];
        let mut pos = 0;
        let mut max_depth = 1;
        let mut unfolded = 0;
        // A message or group that completed: its bound counts towards its parent.
        let complete = |stack: &mut Vec<Open>, unfolded: &mut usize| {
            if let Some(done) = stack.pop() {
                let bound = done.deepest_child + done.children + 1;
                match stack.last_mut() {
                    Some(parent) => parent.deepest_child = parent.deepest_child.max(bound),
                    None => *unfolded = bound,
                }
            }
        };
        while let Some(top) = stack.last() {
            let (end, depth, group) = (top.end, top.depth, top.group);
            if pos == end && group.is_none() {
                // A message parsed to its end: its depth counts.
                max_depth = max_depth.max(depth);
                complete(&mut stack, &mut unfolded);
                continue;
            }
            let step = (|| -> Option<Step> {
                let (key, used) = read_varint(&input[pos..end]).ok()?;
                pos += used;
                let field = key >> 3;
                if field == 0 {
                    return None;
                }
                match key & 7 {
                    0 => {
                        let (_, used) = read_varint(&input[pos..end]).ok()?;
                        pos += used;
                        Some(Step::Scalar)
                    }
                    1 => {
                        pos = pos.checked_add(8).filter(|p| *p <= end)?;
                        Some(Step::Scalar)
                    }
                    5 => {
                        pos = pos.checked_add(4).filter(|p| *p <= end)?;
                        Some(Step::Scalar)
                    }
                    2 => {
                        let (len, used) = read_varint(&input[pos..end]).ok()?;
                        pos += used;
                        let inner_end = usize::try_from(len)
                            .ok()
                            .and_then(|l| pos.checked_add(l))
                            .filter(|e| *e <= end)?;
                        Some(Step::Message(inner_end))
                    }
                    3 => Some(Step::StartGroup(field)),
                    4 => Some(Step::EndGroup(field)),
                    _ => None,
                }
            })();
            match step {
                // An empty field is an empty message or empty bytes: no depth.
                Some(Step::Message(inner_end)) if inner_end > pos => {
                    visit(&input[pos..inner_end]);
                    if let Some(parent) = stack.last_mut() {
                        parent.children += 1;
                    }
                    stack.push(Open::new(inner_end, depth + 1, None));
                }
                Some(Step::Scalar | Step::Message(_)) => {}
                Some(Step::StartGroup(field)) => {
                    // Counted when opened: a decoder recurses into a group before
                    // it can know whether the group is well formed.
                    max_depth = max_depth.max(depth + 1);
                    stack.push(Open::new(end, depth + 1, Some(field)));
                }
                Some(Step::EndGroup(field)) if group == Some(field) => {
                    complete(&mut stack, &mut unfolded);
                }
                Some(Step::EndGroup(_)) | None => {
                    // Not a message at this level: drop the open groups and the
                    // message holding them. If that is the outermost level the
                    // input is malformed; otherwise it was a bytes field and its
                    // parent resumes after it.
                    while stack.last().is_some_and(|o| o.group.is_some()) {
                        stack.pop();
                    }
                    let failed = stack.pop()?;
                    if stack.is_empty() {
                        return None;
                    }
                    pos = failed.end;
                }
            }
        }
        Some(Nesting { levels: max_depth, unfolded })
    }

    /// A small deterministic generator (xorshift), enough to draw messages.
    struct Draw(u64);
    impl Draw {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A random message up to `depth` levels and about `budget` fields:
    /// varints, fixed fields, nested messages (some flat lists of them),
    /// text, and groups.
    fn random_message(draw: &mut Draw, depth: usize, budget: &mut usize, out: &mut Vec<u8>) {
        for _ in 0..=draw.below(5) {
            if *budget == 0 {
                return;
            }
            *budget -= 1;
            let field = 1 + draw.below(20);
            match draw.below(7) {
                0 => {
                    write_varint(out, field << 3);
                    write_varint(out, draw.next() >> draw.below(64));
                }
                1 => {
                    write_varint(out, field << 3 | 1);
                    out.extend_from_slice(&draw.next().to_le_bytes());
                }
                2 => {
                    write_varint(out, field << 3 | 5);
                    out.extend_from_slice(&(draw.next() as u32).to_le_bytes());
                }
                3 | 4 if depth > 0 => {
                    for _ in 0..=draw.below(4) {
                        let mut inner = Vec::new();
                        random_message(draw, depth - 1, budget, &mut inner);
                        write_varint(out, field << 3 | 2);
                        write_bytes(out, &inner);
                    }
                }
                5 => {
                    let text: Vec<u8> = (0..draw.below(12)).map(|_| b'a' + draw.below(26) as u8).collect();
                    write_varint(out, field << 3 | 2);
                    write_bytes(out, &text);
                }
                _ if depth > 0 => {
                    write_varint(out, field << 3 | 3);
                    random_message(draw, depth - 1, budget, out);
                    write_varint(out, field << 3 | 4);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn nesting_scan_agrees_with_its_model() {
        let mut draw = Draw(0x9e37_79b9_7f4a_7c15);
        let mut checked = 0;
        for round in 0..4_000_usize {
            let mut message = Vec::new();
            random_message(&mut draw, round % 24, &mut 120, &mut message);
            // Half the inputs are damaged: bytes flipped, cut short, or
            // spliced, so the failure paths are compared as well.
            if round % 2 == 1 && !message.is_empty() {
                for _ in 0..=draw.below(3) {
                    let at = draw.below(message.len() as u64) as usize;
                    match draw.below(3) {
                        0 => message[at] = draw.next() as u8,
                        1 => message.truncate(at),
                        _ => message.insert(at, draw.next() as u8),
                    }
                    if message.is_empty() {
                        break;
                    }
                }
            }
            let (mut seen, mut expected) = (Vec::new(), Vec::new());
            let found = protobuf_nesting_visiting(&message, |f| seen.push(f.to_vec()));
            let model = nesting_by_model(&message, |f| expected.push(f.to_vec()));
            assert_eq!(found, model, "round {round}: {message:02x?}");
            assert_eq!(seen, expected, "round {round}: visited fields");
            checked += usize::from(found.is_some_and(|n| n.levels > 16));
        }
        // Deep enough, often enough, to take the stack past its inline part.
        assert!(checked > 100, "{checked} inputs deeper than the inline stack");
    }

    #[test]
    fn inline_stack_behaves_as_a_vec_across_the_spill() {
        // Pushes and pops in a pattern that crosses the inline boundary
        // both ways, checked step by step against a Vec.
        let mut stack: InlineStack<u32, 4> = InlineStack::new();
        let mut model: Vec<u32> = Vec::new();
        let ops = [6, -3, 5, -8, 2, -1, 9, -9, 3];
        let mut next = 1;
        for op in ops {
            for _ in 0..op.max(0) {
                stack.push(next);
                model.push(next);
                next += 1;
                assert_eq!(stack.len(), model.len());
            }
            for _ in 0..(-op).max(0) {
                assert_eq!(stack.pop(), model.pop());
                assert_eq!(stack.len(), model.len());
            }
        }
        while let Some(top) = model.pop() {
            assert_eq!(stack.pop(), Some(top));
        }
        assert_eq!(stack.pop(), None);
        assert!(stack.is_empty());
    }

    #[test]
    fn protobuf_depth_measures_nesting() {
        assert_eq!(protobuf_depth(&nested_message(1)), Some(1));
        assert_eq!(protobuf_depth(&nested_message(5)), Some(5));
        assert_eq!(protobuf_depth(&nested_message(10_000)), Some(10_000));
        // A string field that is not a message adds no depth.
        assert_eq!(protobuf_depth(&[0x0a, 0x03, 0xff, 0xff, 0xff]), Some(1));
        assert_eq!(protobuf_depth(&[0x0f]), None);
        assert_eq!(protobuf_depth(&[]), Some(1));
    }

    /// `depth` groups of field 1 nested inside one another.
    fn groups(depth: usize, closed: bool) -> Vec<u8> {
        let mut msg = vec![0x0b; depth];
        if closed {
            msg.extend(std::iter::repeat_n(0x0c, depth));
        }
        msg
    }

    #[test]
    fn protobuf_nesting_bounds_folded_chains() {
        // One message holding 1,000 small submessages: shallow, but a
        // decoder folding them into a chain builds 1,000 levels.
        let mut wide = Vec::new();
        for _ in 0..1_000 {
            wide.extend_from_slice(&[0x0a, 0x02, 0x08, 0x01]);
        }
        let n = protobuf_nesting(&wide).expect("valid");
        assert_eq!(n.levels, 2);
        assert!(n.unfolded > 1_000, "{n:?}");
        // Nested chains add up.
        let mut outer = Vec::new();
        for _ in 0..10 {
            outer.push(0x0a);
            write_varint(&mut outer, wide.len() as u64);
            outer.extend_from_slice(&wide);
        }
        assert!(protobuf_nesting(&outer).expect("valid").unfolded > 1_010);
        // A plain nested message: one child per level.
        let n = protobuf_nesting(&nested_message(100)).expect("valid");
        assert_eq!(n.levels, 100);
        assert!(n.unfolded >= 100 && n.unfolded <= 300, "{n:?}");
    }

    #[test]
    fn protobuf_nesting_visits_every_length_delimited_field() {
        // field 1 { field 2: "ab" }, field 3: "xyz" (bytes, not a message),
        // field 4: "" (empty: not visited).
        let msg = [0x0a, 0x04, 0x12, 0x02, b'a', b'b', 0x1a, 0x03, 0xff, 0xff, 0xff, 0x22, 0x00];
        let mut seen = Vec::new();
        let nesting = protobuf_nesting_visiting(&msg, |field| seen.push(field.to_vec()));
        assert_eq!(nesting, protobuf_nesting(&msg));
        assert_eq!(seen, [vec![0x12, 0x02, b'a', b'b'], b"ab".to_vec(), vec![0xff, 0xff, 0xff]]);
    }

    #[test]
    fn protobuf_depth_counts_groups() {
        assert_eq!(protobuf_depth(&groups(3, true)), Some(4));
        assert_eq!(protobuf_depth(&groups(100_000, true)), Some(100_001));
        // Unclosed or mismatched groups are malformed at the top level.
        assert_eq!(protobuf_depth(&groups(3, false)), None);
        assert_eq!(protobuf_depth(&[0x0b, 0x14]), None);
        // Inside a bytes field, deep groups still count even when the field
        // turns out not to be a message: a decoder that treats the field as
        // a message recurses into them before failing.
        let inner = groups(50_000, false);
        let mut outer = vec![0x0a];
        write_varint(&mut outer, inner.len() as u64);
        outer.extend_from_slice(&inner);
        assert!(protobuf_depth(&outer).is_some_and(|d| d > 50_000));
    }
}
