//! No code: this crate exists for its dependency list (see `Cargo.toml`).
