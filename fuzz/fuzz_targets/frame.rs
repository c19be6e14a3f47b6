//! The frame parser and the other byte-level readers: any input, no panic,
//! and an accepted frame's parts lie inside the input.
#![no_main]

use dfship_distributed::guard;
use dfship_wire::{self as wire, UdfHeader};
use libfuzzer_sys::fuzz_target;

const MAGICS: [[u8; 4]; 4] = [
    wire::MAGIC_LOGICAL_EXPR,
    wire::MAGIC_PHYSICAL_EXPR,
    wire::MAGIC_PHYSICAL_PLAN,
    wire::MAGIC_LOGICAL_PLAN,
];
const UDF_MAGICS: [[u8; 4]; 3] = [wire::MAGIC_SCALAR_UDF, wire::MAGIC_AGGREGATE_UDF, wire::MAGIC_WINDOW_UDF];

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = wire::read_frame(data, &MAGICS, 1 << 20) {
        assert!(frame.body.len() <= data.len());
        assert!(frame.signed_bytes.len() <= data.len());
        let _ = wire::protobuf_nesting(frame.body);
    }
    if let Ok((_, rest)) = UdfHeader::read(data, &UDF_MAGICS) {
        assert!(rest.len() + wire::UDF_HEADER_LEN == data.len());
    }
    let _ = wire::read_varint(data);
    if let Ok((count, rest)) = wire::read_count(data) {
        assert!(count <= rest.len());
    }
    if let Ok((bytes, rest)) = wire::read_bytes(data) {
        assert!(bytes.len() + rest.len() < data.len());
    }
    let _ = wire::protobuf_depth(data);
    // The task key a worker's request guard reads from a refused plan
    // request: whatever it returns, a stand-in made from it yields it back.
    if let Some(key) = guard::task_key(data) {
        let stand_in = guard::stand_in(&key, "http://127.0.0.1:1");
        assert_eq!(guard::task_key(&stand_in[5..]), Some(key));
    }
});
