//! Providers' own webhook signature schemes, so a workflow can take a
//! provider's deliveries directly (`webhook: {verify: stripe, secret: …}`).
//! Each follows the provider's documented algorithm; the schemes with a
//! timestamp refuse deliveries outside a 300 s window and return the MAC
//! for the replay guard, the others (whose providers resend identical
//! deliveries on retry) are checked without one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::Sha256;

use super::webhook::{SignatureError, Verified, WINDOW_SECS};

/// Whose signature a webhook trigger checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Ours: `X-Trellis-Timestamp` and `X-Trellis-Signature: sha256=…`.
    Trellis,
    /// `Stripe-Signature: t=…,v1=…`: HMAC-SHA256 of `t.body`.
    Stripe,
    /// `verif-hash`: the secret hash set in the dashboard, as is.
    Flutterwave,
    /// `X-Twilio-Signature`: base64 HMAC-SHA1 of the URL and the sorted
    /// form parameters, keyed by the auth token.
    Twilio,
    /// Svix (Resend, Clerk…): `svix-id`, `svix-timestamp`, `svix-signature:
    /// v1,<base64>` over `id.timestamp.body`, keyed by `whsec_<base64>`.
    Svix,
    /// `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the body.
    Shopify,
    /// `X-Hub-Signature-256: sha256=<hex>` HMAC-SHA256 of the body.
    Github,
    /// `X-Slack-Signature: v0=<hex>` of `v0:timestamp:body`, with
    /// `X-Slack-Request-Timestamp`.
    Slack,
}

/// What the check sees of one delivery.
pub struct Delivery<'a> {
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub body: &'a [u8],
    /// The URL the provider called, as it called it (Twilio signs it).
    pub url: &'a str,
    /// Unix seconds.
    pub now: i64,
}

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    for part in parts {
        mac.update(part);
    }
    mac
}

fn required(delivery: &Delivery<'_>, name: &'static str) -> Result<String, SignatureError> {
    (delivery.header)(name).ok_or(SignatureError::Missing(name))
}

fn fresh(timestamp: &str, now: i64) -> Result<i64, SignatureError> {
    let timestamp: i64 = timestamp.trim().parse().map_err(|_| SignatureError::BadTimestamp)?;
    let skew = now.saturating_sub(timestamp);
    if skew.abs() > WINDOW_SECS {
        return Err(SignatureError::OutsideWindow(skew));
    }
    Ok(timestamp)
}

/// `Some` with the timestamp and MAC when the scheme is timestamped (the
/// replay guard holds it); `None` when the delivery is genuine but carries
/// nothing per delivery to hold.
pub fn verify(scheme: Scheme, secret: &str, delivery: &Delivery<'_>) -> Result<Option<Verified>, SignatureError> {
    let key = secret.as_bytes();
    match scheme {
        Scheme::Trellis => super::webhook::verify(
            key,
            (delivery.header)(super::webhook::TIMESTAMP_HEADER).as_deref(),
            (delivery.header)(super::webhook::SIGNATURE_HEADER).as_deref(),
            delivery.body,
            delivery.now,
        )
        .map(Some),
        Scheme::Stripe => {
            let header = required(delivery, "stripe-signature")?;
            let mut timestamp = None;
            let mut signatures = Vec::new();
            for part in header.split(',') {
                match part.trim().split_once('=') {
                    Some(("t", t)) => timestamp = Some(t.to_owned()),
                    Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
                    _ => {}
                }
            }
            let timestamp = fresh(&timestamp.ok_or(SignatureError::BadTimestamp)?, delivery.now)?;
            let stamp = timestamp.to_string();
            // Any of the v1 signatures may match (Stripe sends one per
            // active secret while a secret is rolled).
            let mac = signatures
                .into_iter()
                .find(|given| hmac256(key, &[stamp.as_bytes(), b".", delivery.body]).verify_slice(given).is_ok())
                .ok_or(SignatureError::Mismatch)?;
            Ok(Some(Verified { timestamp, mac }))
        }
        Scheme::Flutterwave => {
            let given = required(delivery, "verif-hash")?;
            // Constant time: compare MACs of both rather than the strings.
            let expected = hmac256(b"verif-hash", &[key]).finalize().into_bytes();
            hmac256(b"verif-hash", &[given.as_bytes()])
                .verify_slice(&expected)
                .map(|_| None)
                .map_err(|_| SignatureError::Mismatch)
        }
        Scheme::Twilio => {
            let given = required(delivery, "x-twilio-signature")?;
            let given = BASE64.decode(given.trim()).map_err(|_| SignatureError::Mismatch)?;
            let mut params: Vec<(String, String)> =
                url::form_urlencoded::parse(delivery.body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            params.sort();
            let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("any key"));
            mac.update(delivery.url.as_bytes());
            for (name, value) in &params {
                mac.update(name.as_bytes());
                mac.update(value.as_bytes());
            }
            mac.verify_slice(&given).map(|_| None).map_err(|_| SignatureError::Mismatch)
        }
        Scheme::Svix => {
            let id = required(delivery, "svix-id")?;
            let timestamp = fresh(&required(delivery, "svix-timestamp")?, delivery.now)?;
            let header = required(delivery, "svix-signature")?;
            let key = BASE64
                .decode(secret.trim().strip_prefix("whsec_").unwrap_or(secret.trim()))
                .map_err(|_| SignatureError::Mismatch)?;
            let stamp = timestamp.to_string();
            let mac = header
                .split_whitespace()
                .filter_map(|part| part.strip_prefix("v1,"))
                .filter_map(|b64| BASE64.decode(b64).ok())
                .find(|given| {
                    hmac256(&key, &[id.as_bytes(), b".", stamp.as_bytes(), b".", delivery.body])
                        .verify_slice(given)
                        .is_ok()
                })
                .ok_or(SignatureError::Mismatch)?;
            Ok(Some(Verified { timestamp, mac }))
        }
        Scheme::Shopify => {
            let given = BASE64
                .decode(required(delivery, "x-shopify-hmac-sha256")?.trim())
                .map_err(|_| SignatureError::Mismatch)?;
            hmac256(key, &[delivery.body]).verify_slice(&given).map(|_| None).map_err(|_| SignatureError::Mismatch)
        }
        Scheme::Github => {
            let header = required(delivery, "x-hub-signature-256")?;
            let given = header
                .trim()
                .strip_prefix("sha256=")
                .and_then(|h| hex::decode(h).ok())
                .ok_or(SignatureError::Mismatch)?;
            hmac256(key, &[delivery.body]).verify_slice(&given).map(|_| None).map_err(|_| SignatureError::Mismatch)
        }
        Scheme::Slack => {
            let timestamp = fresh(&required(delivery, "x-slack-request-timestamp")?, delivery.now)?;
            let header = required(delivery, "x-slack-signature")?;
            let given =
                header.trim().strip_prefix("v0=").and_then(|h| hex::decode(h).ok()).ok_or(SignatureError::Mismatch)?;
            let stamp = timestamp.to_string();
            hmac256(key, &[b"v0:", stamp.as_bytes(), b":", delivery.body])
                .verify_slice(&given)
                .map_err(|_| SignatureError::Mismatch)?;
            Ok(Some(Verified { timestamp, mac: given }))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn check(
        scheme: Scheme,
        secret: &str,
        headers: &[(&'static str, &str)],
        body: &[u8],
        url: &str,
        now: i64,
    ) -> Result<Option<Verified>, SignatureError> {
        let map: HashMap<&'static str, String> = headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let lookup = |name: &str| map.get(name).cloned();
        verify(scheme, secret, &Delivery { header: &lookup, body, url, now })
    }

    /// GitHub's documented example: secret "It's a Secret to Everybody",
    /// payload "Hello, World!".
    #[test]
    fn github_matches_its_published_example() {
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let secret = "It's a Secret to Everybody";
        let ok = check(Scheme::Github, secret, &[("x-hub-signature-256", signature)], b"Hello, World!", "", 0);
        assert_eq!(ok, Ok(None));
        let bad = check(Scheme::Github, secret, &[("x-hub-signature-256", signature)], b"Hello, World?", "", 0);
        assert_eq!(bad, Err(SignatureError::Mismatch));
    }

    /// Svix's documented example.
    #[test]
    fn svix_matches_its_published_example() {
        let headers = [
            ("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("svix-timestamp", "1614265330"),
            ("svix-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ];
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let verified = check(Scheme::Svix, secret, &headers, body, "", 1_614_265_330).unwrap().unwrap();
        assert_eq!(verified.timestamp, 1_614_265_330);
        let late = check(Scheme::Svix, secret, &headers, body, "", 1_614_265_330 + 301);
        assert_eq!(late, Err(SignatureError::OutsideWindow(301)));
    }

    /// Slack's documented example of a slash command.
    #[test]
    fn slack_matches_its_published_example() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let headers = [
            ("x-slack-request-timestamp", "1531420618"),
            ("x-slack-signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"),
        ];
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        assert!(check(Scheme::Slack, secret, &headers, body.as_bytes(), "", 1_531_420_618).unwrap().is_some());
        assert_eq!(
            check(Scheme::Slack, "another", &headers, body.as_bytes(), "", 1_531_420_618),
            Err(SignatureError::Mismatch)
        );
    }

    /// Twilio's example from its request-validation tests.
    #[test]
    fn twilio_matches_its_published_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
        let headers = [("x-twilio-signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")];
        assert_eq!(check(Scheme::Twilio, "12345", &headers, body, url, 0), Ok(None));
        let other_url = check(Scheme::Twilio, "12345", &headers, body, "https://mycompany.com/other", 0);
        assert_eq!(other_url, Err(SignatureError::Mismatch));
    }

    /// Stripe's scheme, with a vector computed outside this code:
    /// `printf '1767225600.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_stripe`.
    #[test]
    fn stripe_checks_t_and_any_v1_within_the_window() {
        let v1 = "f10ef875721d06df5b13dd6b93ce5a0b5b4abd43378ee382629a0963b7b15685";
        let header = format!("t=1767225600,v1=00ff,v1={v1},v0=abc");
        let body = br#"{"id":"evt_1"}"#;
        let ok = check(Scheme::Stripe, "whsec_stripe", &[("stripe-signature", &header)], body, "", 1_767_225_600);
        assert_eq!(ok.unwrap().unwrap().mac, hex::decode(v1).unwrap());
        let late = check(Scheme::Stripe, "whsec_stripe", &[("stripe-signature", &header)], body, "", 1_767_226_000);
        assert_eq!(late, Err(SignatureError::OutsideWindow(400)));
        let missing = check(Scheme::Stripe, "whsec_stripe", &[], body, "", 0);
        assert_eq!(missing, Err(SignatureError::Missing("stripe-signature")));
    }

    /// Shopify's scheme (base64 of the body's HMAC), with a vector computed
    /// outside this code: `printf '{"id":1}' | openssl dgst -sha256 -hmac shpss -binary | base64`.
    #[test]
    fn shopify_and_flutterwave_check_their_headers() {
        let headers = [("x-shopify-hmac-sha256", "hFJO6VJKe4kBKbdqB4Y0kbIIEQ8QBuyXm5SaI/IGi9o=")];
        assert_eq!(check(Scheme::Shopify, "shpss", &headers, br#"{"id":1}"#, "", 0), Ok(None));
        assert_eq!(check(Scheme::Shopify, "shpss", &headers, br#"{"id":2}"#, "", 0), Err(SignatureError::Mismatch));
        let flutterwave = [("verif-hash", "my-dashboard-hash")];
        assert_eq!(check(Scheme::Flutterwave, "my-dashboard-hash", &flutterwave, b"{}", "", 0), Ok(None));
        assert_eq!(check(Scheme::Flutterwave, "other", &flutterwave, b"{}", "", 0), Err(SignatureError::Mismatch));
    }
}
