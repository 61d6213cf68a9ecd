//! Host bindings of the frozen `trellis:plugin@0.1.0` world (wit/0.1.0).
//! A new WIT version gets its own module beside this one; plugins built
//! against this version keep running.

wasmtime::component::bindgen!({
    path: "../wit/0.1.0",
    world: "trellis:plugin/node",
    imports: { default: async },
    exports: { default: async },
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
        "wasi:cli": wasmtime_wasi::p2::bindings::cli,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
});

pub(crate) const VERSION: &str = "0.1.0";

crate::glue::conversions!();
