//! The plugin components, built from `plugins/` by this crate's build
//! script (a nested `cargo build --target wasm32-wasip2`, the way wasmtime's
//! `crates/test-programs/artifacts` builds its guests).
//!
//! - `FIRST_PARTY`: every first-party plugin, embedded, for the engine.
//! - one `&str` path constant per component (e.g. `ECHO`, `HTTP_REQUEST`).
//! - `foreach_testing_guest!(mac)`: calls `mac!(name)` for every guest in
//!   `plugins/testing/`, so a test suite can require one test per guest.

/// A first-party plugin shipped inside the `trellis` binary.
#[derive(Debug, Clone, Copy)]
pub struct FirstParty {
    /// `publisher/plugin`.
    pub name: &'static str,
    pub version: &'static str,
    pub component: &'static [u8],
    /// Its `trellis-plugin.toml`, published with it.
    pub manifest: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
