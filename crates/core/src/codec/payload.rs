//! Inline Python UDF payloads: the layout is specified in [`dfship_wire`].

use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{
    AggregateUDF, AggregateUDFImpl, ScalarUDF, ScalarUDFImpl, Volatility, WindowUDF, WindowUDFImpl,
};
use datafusion_proto::protobuf::ArrowType;
use prost::Message;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;

use super::bounded::{decode_message, with_stack_for};
use super::cache;
use super::error::CodecError;
use super::family::UdfFamily;
use crate::udf::UdfSignature;
use crate::udf::aggregate::PythonAggregateUDF;
use crate::udf::scalar::PythonScalarUDF;
use crate::udf::window::PythonWindowUDF;
use dfship_wire::{
    CALLABLE_LZ4_PICKLE, CALLABLE_PICKLE, CURRENT, MAX_CALLABLE_BYTES, UdfHeader, WireError, read_bytes,
    read_count, read_varint, write_bytes, write_varint,
};

/// Deepest protobuf nesting of a declared Arrow type (each list, map or
/// struct level takes two or three).
const MAX_TYPE_NESTING: usize = 256;

/// This interpreter's (major, minor) version.
pub fn python_version(py: Python<'_>) -> (u8, u8) {
    static VERSION: OnceLock<(u8, u8)> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let v = py.version_info();
        (v.major, v.minor)
    })
}

fn cloudpickle_dumps(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    DUMPS.get_or_try_init(py, || Ok(py.import("cloudpickle")?.getattr("dumps")?.unbind())).map(|f| f.bind(py))
}

fn pickle_loads(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    LOADS.get_or_try_init(py, || Ok(py.import("pickle")?.getattr("loads")?.unbind())).map(|f| f.bind(py))
}

fn volatility_code(v: Volatility) -> u8 {
    match v {
        Volatility::Immutable => 0,
        Volatility::Stable => 1,
        Volatility::Volatile => 2,
    }
}

fn volatility_from_code(code: u8) -> Volatility {
    match code {
        0 => Volatility::Immutable,
        1 => Volatility::Stable,
        _ => Volatility::Volatile,
    }
}

fn write_type(out: &mut Vec<u8>, t: &DataType) -> Result<(), CodecError> {
    let proto =
        ArrowType::try_from(t).map_err(|e| CodecError::Malformed(format!("cannot encode type {t}: {e}")))?;
    write_bytes(out, &proto.encode_to_vec());
    Ok(())
}

fn read_type(input: &[u8]) -> Result<(DataType, &[u8]), CodecError> {
    let (bytes, rest) = read_bytes(input)?;
    let (proto, nesting) = decode_message::<ArrowType>(bytes, MAX_TYPE_NESTING, "type")?;
    let t = with_stack_for(nesting, move || DataType::try_from(&proto))
        .map_err(|e| CodecError::Malformed(format!("bad type: {e}")))?;
    Ok((t, rest))
}

fn write_types(out: &mut Vec<u8>, list: &[DataType]) -> Result<(), CodecError> {
    write_varint(out, list.len() as u64);
    list.iter().try_for_each(|t| write_type(out, t))
}

fn read_types(input: &[u8]) -> Result<(Vec<DataType>, &[u8]), CodecError> {
    let (count, mut rest) = read_count(input)?;
    let mut list = Vec::with_capacity(count);
    for _ in 0..count {
        let (t, r) = read_type(rest)?;
        list.push(t);
        rest = r;
    }
    Ok((list, rest))
}

/// Writes header, types and pickled callable.
fn encode(
    family: UdfFamily,
    name: &str,
    shape: &UdfSignature,
    state_types: &[DataType],
    callable: &Py<PyAny>,
    buf: &mut Vec<u8>,
    limit: u64,
) -> Result<(), CodecError> {
    Python::attach(|py| {
        let header = UdfHeader {
            magic: family.magic(),
            version: CURRENT,
            python: python_version(py),
            volatility: volatility_code(shape.volatility),
        };
        header.write(buf);
        write_types(buf, &shape.input_types)?;
        write_type(buf, &shape.return_type)?;
        write_types(buf, state_types)?;
        let pickled = cloudpickle_dumps(py)
            .and_then(|dumps| dumps.call1((callable.bind(py),)))
            .and_then(|b| Ok(b.cast_into::<PyBytes>()?))
            .map_err(|error| CodecError::Pickle { udf: name.to_owned(), family, error })?;
        let size = pickled.as_bytes().len() as u64;
        if size > limit {
            return Err(CodecError::ClosureTooLarge { udf: name.to_owned(), family, size, limit });
        }
        write_callable(buf, pickled.as_bytes());
        Ok(())
    })
}

/// Pickles at least this large are tried compressed.
const COMPRESS_FROM: usize = 256;

/// Pickles larger than this are judged on their first this-many bytes
/// before the whole is compressed: a closure capturing megabytes of
/// incompressible data (already-compressed blobs, random state) would
/// otherwise pay a full compression pass for nothing.
const COMPRESS_SAMPLE: usize = 64 * 1024;

/// Whether compressing `bytes` saves at least an eighth.
fn worth_compressing(raw: usize, packed: usize) -> bool {
    packed + 10 < raw - raw / 8
}

/// Appends the encoding byte and the callable, compressed when that saves
/// at least an eighth (judged on a sample first when the callable is large).
fn write_callable(buf: &mut Vec<u8>, pickled: &[u8]) {
    let sample_pays = pickled.len() <= COMPRESS_SAMPLE || {
        let sample = &pickled[..COMPRESS_SAMPLE];
        worth_compressing(sample.len(), lz4_flex::block::compress(sample).len())
    };
    if pickled.len() >= COMPRESS_FROM
        && sample_pays
        && let packed = lz4_flex::block::compress(pickled)
        && worth_compressing(pickled.len(), packed.len())
    {
        buf.push(CALLABLE_LZ4_PICKLE);
        write_varint(buf, pickled.len() as u64);
        buf.extend_from_slice(&packed);
        return;
    }
    buf.push(CALLABLE_PICKLE);
    buf.extend_from_slice(pickled);
}

/// An LZ4 block decompresses to at most this many bytes per compressed byte
/// (a match of up to 255 + 255·n bytes costs n + 1 bytes).
const LZ4_MAX_RATIO: u64 = 255;
/// Allowance for the fixed part of the last sequence.
const LZ4_RATIO_SLACK: u64 = 16;

/// The pickled callable of a payload, decompressed if need be; a callable
/// over `limit` bytes is refused before anything is allocated for it.
fn read_callable<'a>(
    input: &'a [u8],
    family: UdfFamily,
    name: &str,
    limit: u64,
) -> Result<std::borrow::Cow<'a, [u8]>, CodecError> {
    let too_large = |size: u64| CodecError::ClosureTooLarge { udf: name.to_owned(), family, size, limit };
    let (&encoding, rest) = input.split_first().ok_or(WireError::Truncated { needed: 1, available: 0 })?;
    match encoding {
        CALLABLE_PICKLE if rest.len() as u64 > limit => Err(too_large(rest.len() as u64)),
        CALLABLE_PICKLE => Ok(std::borrow::Cow::Borrowed(rest)),
        CALLABLE_LZ4_PICKLE => {
            let (len, used) = read_varint(rest)?;
            if len > MAX_CALLABLE_BYTES {
                return Err(WireError::BadField { field: "callable length", value: len }.into());
            }
            if len > limit {
                return Err(too_large(len));
            }
            // Checked before anything is allocated: an LZ4 block cannot expand
            // past LZ4_MAX_RATIO, so a larger stated length is a lie.
            let packed = (rest.len() - used) as u64;
            if len > packed.saturating_mul(LZ4_MAX_RATIO) + LZ4_RATIO_SLACK {
                return Err(CodecError::Malformed(format!(
                    "the compressed callable states {len} bytes from {packed} compressed bytes, \
                     more than LZ4 can expand to"
                )));
            }
            let len = len as usize;
            let raw = lz4_flex::block::decompress(&rest[used..], len).map_err(|e| {
                CodecError::Malformed(format!("the compressed callable does not decompress: {e}"))
            })?;
            if raw.len() != len {
                return Err(CodecError::Malformed(format!(
                    "the compressed callable holds {} bytes, not the {len} it states",
                    raw.len()
                )));
            }
            Ok(std::borrow::Cow::Owned(raw))
        }
        other => Err(WireError::BadField { field: "callable encoding", value: u64::from(other) }.into()),
    }
}

/// A payload read up to its pickled callable, which is not touched yet.
struct Decoded<'a> {
    shape: UdfSignature,
    state_types: Vec<DataType>,
    /// Encoding byte and stored callable.
    callable: &'a [u8],
}

fn read_payload<'a>(py: Python<'_>, family: UdfFamily, buf: &'a [u8]) -> Result<Decoded<'a>, CodecError> {
    let (header, rest) = UdfHeader::read(buf, &[family.magic()])?;
    header.check_python(python_version(py))?;
    let (input_types, rest) = read_types(rest)?;
    let (return_type, rest) = read_type(rest)?;
    let (state_types, callable) = read_types(rest)?;
    if family != UdfFamily::Aggregate && !state_types.is_empty() {
        return Err(WireError::BadField { field: "state type count", value: state_types.len() as u64 }.into());
    }
    Ok(Decoded {
        shape: UdfSignature { input_types, return_type, volatility: volatility_from_code(header.volatility) },
        state_types,
        callable,
    })
}

fn unpickle(py: Python<'_>, family: UdfFamily, name: &str, pickled: &[u8]) -> Result<Py<PyAny>, CodecError> {
    pickle_loads(py)
        .and_then(|loads| with_borrowed_view(py, pickled, |view| loads.call1((view,))))
        .map(Bound::unbind)
        .map_err(|error| CodecError::Unpickle { udf: name.to_owned(), family, error })
}

/// `PyBUF_READ` of CPython's `memoryobject.h` (not exported by pyo3 for the
/// limited API of Python 3.10).
const PYBUF_READ: std::ffi::c_int = 0x100;

/// Runs `f` with a read-only `memoryview` over `bytes` (no copy: a closure
/// can capture megabytes), and releases the view afterwards, so that
/// nothing `f` kept of it can reach `bytes` once they are gone: any later
/// use raises `ValueError` instead.
fn with_borrowed_view<'py, R>(
    py: Python<'py>,
    bytes: &[u8],
    f: impl FnOnce(&Bound<'py, PyAny>) -> PyResult<R>,
) -> PyResult<R> {
    let len = pyo3::ffi::Py_ssize_t::try_from(bytes.len())
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("the pickled callable is too large"))?;
    // SAFETY: the view is read-only (PyBUF_READ), points at `len` live bytes
    // borrowed for this whole function, and is released before it returns.
    let view = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyMemoryView_FromMemory(bytes.as_ptr().cast_mut().cast(), len, PYBUF_READ),
        )
    }?;
    let result = f(&view);
    // Releasing fails only while a buffer taken from the view is still
    // held. `pickle.loads` gives its buffer back before it returns, and
    // what it builds are copies: a failure here is reported, not ignored.
    view.call_method0("release")?;
    result
}

/// Decodes a payload of `family`, through the cache for immutable UDFs.
fn decode<T: Send + Sync + 'static>(
    family: UdfFamily,
    name: &str,
    buf: &[u8],
    limit: u64,
    build: impl FnOnce(Py<PyAny>, UdfSignature, Vec<DataType>) -> Arc<T>,
) -> Result<Arc<T>, CodecError> {
    Python::attach(|py| {
        let payload = read_payload(py, family, buf)?;
        let cacheable = payload.shape.volatility == Volatility::Immutable;
        if cacheable && let Some(hit) = cache::get::<T>(name, buf) {
            return Ok(hit);
        }
        let pickled = read_callable(payload.callable, family, name, limit)?;
        let callable = unpickle(py, family, name, &pickled)?;
        let udf = build(callable, payload.shape, payload.state_types);
        if cacheable {
            cache::put(name, buf, Arc::clone(&udf));
        }
        Ok(udf)
    })
}

/// Writes a scalar UDF's payload; its pickled callable may take `limit` bytes.
pub fn encode_scalar(udf: &PythonScalarUDF, buf: &mut Vec<u8>, limit: u64) -> Result<(), CodecError> {
    encode(UdfFamily::Scalar, udf.name(), udf.shape(), &[], udf.func(), buf, limit)
}

pub fn encode_aggregate(udf: &PythonAggregateUDF, buf: &mut Vec<u8>, limit: u64) -> Result<(), CodecError> {
    encode(UdfFamily::Aggregate, udf.name(), udf.shape(), udf.state_types(), udf.factory(), buf, limit)
}

pub fn encode_window(udf: &PythonWindowUDF, buf: &mut Vec<u8>, limit: u64) -> Result<(), CodecError> {
    encode(UdfFamily::Window, udf.name(), udf.shape(), &[], udf.factory(), buf, limit)
}

/// Reads a scalar UDF's payload; a pickled callable over `limit` bytes is refused.
pub fn decode_scalar(name: &str, buf: &[u8], limit: u64) -> Result<Arc<ScalarUDF>, CodecError> {
    decode(UdfFamily::Scalar, name, buf, limit, |func, shape, _| {
        Arc::new(PythonScalarUDF::new(name, func, shape).into_udf())
    })
}

pub fn decode_aggregate(name: &str, buf: &[u8], limit: u64) -> Result<Arc<AggregateUDF>, CodecError> {
    decode(UdfFamily::Aggregate, name, buf, limit, |func, shape, state| {
        Arc::new(PythonAggregateUDF::new(name, func, shape, state).into_udaf())
    })
}

pub fn decode_window(name: &str, buf: &[u8], limit: u64) -> Result<Arc<WindowUDF>, CodecError> {
    decode(UdfFamily::Window, name, buf, limit, |func, shape, _| {
        Arc::new(PythonWindowUDF::new(name, func, shape).into_udwf())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored callable read back under the hard cap.
    fn read(input: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, CodecError> {
        read_callable(input, UdfFamily::Scalar, "t", MAX_CALLABLE_BYTES)
    }

    fn stored(pickled: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_callable(&mut out, pickled);
        out
    }

    #[test]
    fn small_callables_are_stored_as_is_and_large_ones_compressed() {
        let small = b"tiny pickle".to_vec();
        assert_eq!(stored(&small)[0], CALLABLE_PICKLE);
        let large: Vec<u8> = b"a pickle with repeated names ".iter().copied().cycle().take(2000).collect();
        let packed = stored(&large);
        assert_eq!(packed[0], CALLABLE_LZ4_PICKLE);
        assert!(packed.len() < large.len() / 4);
        for original in [small, large] {
            assert_eq!(read(&stored(&original)).expect("reads").as_ref(), original.as_slice());
        }
    }

    #[test]
    fn large_callables_are_judged_on_a_sample() {
        // Incompressible first 64 KiB (an xorshift stream), then a long
        // compressible run: the whole would compress, the sample says no.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut noisy: Vec<u8> = (0..COMPRESS_SAMPLE)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        noisy.extend(std::iter::repeat_n(b'x', 8 * COMPRESS_SAMPLE));
        assert_eq!(stored(&noisy)[0], CALLABLE_PICKLE);
        // A compressible sample still compresses the whole.
        let regular: Vec<u8> = (0..4 * COMPRESS_SAMPLE).map(|i| (i % 11) as u8).collect();
        assert_eq!(stored(&regular)[0], CALLABLE_LZ4_PICKLE);
        for original in [noisy, regular] {
            assert_eq!(read(&stored(&original)).expect("reads").as_ref(), original.as_slice());
        }
    }

    #[test]
    fn damaged_callables_are_refused() {
        let large: Vec<u8> = (0..3000u32).map(|i| (i % 7) as u8).collect();
        let packed = stored(&large);
        assert!(read(&[]).is_err());
        assert!(matches!(read(&[9, 1, 2]), Err(CodecError::Wire(WireError::BadField { .. }))));
        // A stated length over the limit is refused before any allocation.
        let mut huge = vec![CALLABLE_LZ4_PICKLE];
        write_varint(&mut huge, MAX_CALLABLE_BYTES + 1);
        assert!(matches!(read(&huge), Err(CodecError::Wire(WireError::BadField { .. }))));
        // Under the limit but beyond what the compressed bytes can expand to:
        // refused before the allocation it asks for.
        let mut inflated = vec![CALLABLE_LZ4_PICKLE];
        write_varint(&mut inflated, 100 * 1024 * 1024);
        inflated.extend_from_slice(&[0x1f; 64]);
        let Err(CodecError::Malformed(why)) = read(&inflated) else {
            panic!("a stated length past LZ4's ratio must be refused")
        };
        assert!(why.contains("more than LZ4 can expand to"), "{why}");
        // The most compressible real input stays within the bound.
        let zeros = vec![0_u8; 1 << 20];
        let packed_zeros = stored(&zeros);
        assert_eq!(read(&packed_zeros).expect("reads").len(), zeros.len());
        // A stated length that does not match what the block holds.
        let mut lying = vec![CALLABLE_LZ4_PICKLE];
        write_varint(&mut lying, 10);
        lying.extend_from_slice(&packed[3..]);
        assert!(read(&lying).is_err());
        // Truncated blocks and garbage never panic.
        for cut in 0..packed.len() {
            let _ = read(&packed[..cut]);
        }
        let mut garbage = vec![CALLABLE_LZ4_PICKLE];
        write_varint(&mut garbage, 3000);
        garbage.extend(std::iter::repeat_n(0xf0u8, 64));
        assert!(read(&garbage).is_err());
    }
}
