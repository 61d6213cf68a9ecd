//! `trellis/security-scan`: what a security platform's scanner workers do.
//!
//! - `headers`: the MDN HTTP Observatory's grading (`observatory/`);
//! - `exposed-files`: commonly leaked paths, with content matchers so a
//!   soft-404 page is no finding (`exposed.rs`);
//! - `tls`: HTTPS reachability, the HTTP→HTTPS redirect, HSTS, and the
//!   certificate's expiry and issuer from Certificate Transparency (`tls.rs`);
//! - `template`: nuclei-format templates, the HTTP subset (`nuclei/`).

mod exposed;
mod fetch;
mod headers;
mod nuclei;
mod observatory;
mod target;
mod tls;

use trellis_plugin_sdk::plugin;

plugin!(headers::Headers, exposed::ExposedFiles, tls::Tls, nuclei::Templates);
