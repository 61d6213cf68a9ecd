//! Which imports a plugin may have: exactly the interfaces of the `node`
//! world. Checked before linking so a refusal names the offending import
//! instead of failing with a generic link error.

use crate::error::LoadError;

/// `trellis:plugin` versions this host runs, oldest first.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &[crate::v0_1_0::VERSION, crate::v0_2_0::VERSION];

/// WASI 0.2 interfaces in the world: HTTP out plus what language runtimes
/// link (io, clocks, random, stdio, empty environment, exit, terminals).
const WASI_INTERFACES: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure-seed",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
];

const TRELLIS_INTERFACES: &[&str] = &[
    "trellis:plugin/types",
    "trellis:plugin/secrets",
    "trellis:plugin/kv",
    "trellis:plugin/llm",
    "trellis:plugin/log",
];

/// Interfaces through which an execution acts outside itself: a request
/// out, a secret read (it may be used to act), kv written, an LLM called.
const REACHING_OUT: &[&str] =
    &["wasi:http/outgoing-handler", "trellis:plugin/secrets", "trellis:plugin/kv", "trellis:plugin/llm"];

/// Whether an import (`namespace:package/interface@version`) lets a plugin
/// act outside its own execution.
pub fn reaches_out(name: &str) -> bool {
    let interface = name.split_once('@').map_or(name, |(interface, _)| interface);
    REACHING_OUT.contains(&interface)
}

/// Whether a component import name (`namespace:package/interface@version`)
/// is part of a supported `node` world.
pub fn allowed_import(name: &str) -> bool {
    let Some((interface, version)) = name.split_once('@') else {
        return false;
    };
    if WASI_INTERFACES.contains(&interface) {
        return version.starts_with("0.2.");
    }
    TRELLIS_INTERFACES.contains(&interface) && SUPPORTED_WIT_VERSIONS.contains(&version)
}

/// Checks every import; returns the `trellis:plugin` version the component
/// targets.
pub(crate) fn check_imports<'a>(names: impl Iterator<Item = &'a str>) -> Result<String, LoadError> {
    let mut forbidden = Vec::new();
    let mut version = None;
    for name in names {
        if let Some(rest) = name.strip_prefix("trellis:plugin/") {
            let found = rest.split_once('@').map(|(_, v)| v).unwrap_or("");
            if !SUPPORTED_WIT_VERSIONS.contains(&found) {
                return Err(LoadError::UnsupportedVersion {
                    found: found.to_owned(),
                    supported: SUPPORTED_WIT_VERSIONS.join(", "),
                });
            }
            version = Some(found.to_owned());
        }
        if !allowed_import(name) {
            forbidden.push(name.to_owned());
        }
    }
    if !forbidden.is_empty() {
        return Err(LoadError::ForbiddenImports { imports: forbidden });
    }
    // A node's exports mention trellis:plugin/types, so a component without
    // that import cannot be a node; the export check gives the detail.
    Ok(version.unwrap_or_else(|| crate::v0_2_0::VERSION.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_secrets_kv_and_llm_reach_out_and_nothing_else_does() {
        assert!(reaches_out("wasi:http/outgoing-handler@0.2.12"));
        assert!(reaches_out("trellis:plugin/secrets@0.1.0"));
        assert!(reaches_out("trellis:plugin/kv@0.2.0"));
        assert!(reaches_out("trellis:plugin/llm@0.2.0"));
        assert!(!reaches_out("wasi:http/types@0.2.12"));
        assert!(!reaches_out("trellis:plugin/log@0.2.0"));
        assert!(!reaches_out("wasi:clocks/wall-clock@0.2.0"));
    }

    #[test]
    fn world_interfaces_are_allowed_and_others_named() {
        assert!(allowed_import("wasi:http/outgoing-handler@0.2.12"));
        assert!(allowed_import("wasi:cli/environment@0.2.0"));
        assert!(allowed_import("trellis:plugin/kv@0.1.0"));
        assert!(allowed_import("trellis:plugin/llm@0.2.0"));
        assert!(!allowed_import("trellis:plugin/llm@0.3.0"));
        assert!(!allowed_import("wasi:filesystem/types@0.2.6"));
        assert!(!allowed_import("wasi:sockets/tcp@0.2.0"));
        assert!(!allowed_import("wasi:http/outgoing-handler@0.3.0"));
        assert!(!allowed_import("evil:backdoor/api"));

        let err = check_imports(["wasi:io/poll@0.2.0", "wasi:filesystem/preopens@0.2.6"].into_iter()).unwrap_err();
        assert!(err.to_string().contains("wasi:filesystem/preopens@0.2.6"), "{err}");
    }

    #[test]
    fn unknown_trellis_version_is_reported_as_such() {
        let err = check_imports(["trellis:plugin/types@9.0.0"].into_iter()).unwrap_err();
        assert!(matches!(err, LoadError::UnsupportedVersion { .. }), "{err}");
    }
}
