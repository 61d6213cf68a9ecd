//! First-party plugins embedded in the binary, so a fresh install has them
//! ready without a marketplace.

pub use trellis_plugin_artifacts::FirstParty;

/// Every first-party plugin, by `publisher/name`.
pub fn all() -> &'static [FirstParty] {
    trellis_plugin_artifacts::FIRST_PARTY
}

/// A first-party plugin by name (`trellis/http-request`).
pub fn find(name: &str) -> Option<&'static FirstParty> {
    all().iter().find(|plugin| plugin.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_first_party_plugins_are_embedded() {
        for name in ["trellis/http-request", "trellis/transform"] {
            let plugin = find(name).unwrap_or_else(|| panic!("{name} missing"));
            assert!(plugin.component.starts_with(b"\0asm"));
            assert_eq!(plugin.version, "0.1.0");
        }
        assert!(find("trellis/echo").is_none(), "test guests must not ship");
    }
}
