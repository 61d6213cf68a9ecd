//! The one rule for secret names, shared by the engine (tenant secrets,
//! webhook signing secrets) and the marketplace (secrets a package asks for).

/// Longest secret name accepted.
pub const MAX_NAME_BYTES: usize = 128;

/// Secret names are identifiers (`STRIPE_KEY`, `github.token`), so they are
/// safe in paths, logs and workflow documents.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.len() > MAX_NAME_BYTES {
        Err(format!("secret name is {} bytes, over the {MAX_NAME_BYTES}-byte limit", name.len()))
    } else if !first_ok || !rest_ok {
        Err(format!(
            "secret name `{}` must start with a letter or `_` and hold only letters, digits, `_`, `-` and `.`",
            name.escape_debug()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_are_identifiers() {
        for ok in ["STRIPE_KEY", "_x", "github.token", "a-b"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "a/b", "a b", "ключ", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
