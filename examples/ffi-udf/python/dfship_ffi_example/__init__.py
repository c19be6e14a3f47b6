"""UDFs implemented in Rust in a library of their own, exported to dfship
through DataFusion's FFI capsules. They travel by name: every session that
decodes an expression using them must have them registered."""

from dfship_ffi_example._native import CountEven, IsEven, RowIndex

__all__ = ["CountEven", "IsEven", "RowIndex"]
