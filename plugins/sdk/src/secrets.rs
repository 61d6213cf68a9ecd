//! Secrets granted to this plugin in the running tenant.

use crate::bindings::trellis::plugin::secrets;

/// The secret's value, or the host's reason for refusing (unknown name, or
/// not granted to this plugin).
pub fn get(name: &str) -> Result<String, String> {
    secrets::get(name)
}
