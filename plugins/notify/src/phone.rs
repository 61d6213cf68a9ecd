//! Phone numbers in E.164, the only form the SMS and WhatsApp APIs take.

use trellis_plugin_sdk::NodeError;

/// `+` then 2 to 15 digits, the first not 0.
pub fn e164(field: &str, number: &str) -> Result<String, NodeError> {
    let number = number.trim();
    let digits = number.strip_prefix('+').unwrap_or("");
    let valid =
        (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if valid {
        Ok(number.to_owned())
    } else {
        Err(NodeError::InvalidConfig(format!(
            "config.{field}: `{number}` is not a phone number in E.164 form (`+` and the country code, e.g. +14155550100)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_e164_numbers_pass() {
        assert_eq!(e164("to", " +254711000111 ").unwrap(), "+254711000111");
        for bad in ["254711000111", "+0711", "+1", "+1415555010012345", "+1 415 555", "whatsapp:+1415"] {
            assert!(matches!(e164("to", bad), Err(NodeError::InvalidConfig(m)) if m.starts_with("config.to")), "{bad}");
        }
    }
}
