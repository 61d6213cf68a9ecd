//! The sandbox through its public API, with real guests from plugins/ and
//! real HTTP servers on loopback. One test binary: linking wasmtime once
//! instead of once per file keeps `cargo test` fast.

mod cache;
mod capabilities;
mod common;
mod first_party;
mod fixer;
mod hostile;
mod llm;
mod notify;
mod payments;
mod providers;
mod security_scan;

// Every guest in plugins/testing must have a test named after it.
use capabilities::*;
use hostile::*;
use llm::*;

macro_rules! require_test {
    ($name:ident) => {
        const _: fn() = $name;
    };
}
trellis_plugin_artifacts::foreach_testing_guest!(require_test);
