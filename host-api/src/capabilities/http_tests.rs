//! Unit tests of the outbound HTTP policy: host patterns, grants, routes,
//! address classification and the request budget.

use super::*;

#[test]
fn patterns_match_exact_wildcard_and_port() {
    let policy = HttpPolicy::allowing(["api.example.com", "*.stripe.com", "localhost:8080"]);
    assert!(policy.host_allowed("api.example.com", 443));
    assert!(policy.host_allowed("API.Example.com.", 443));
    assert!(!policy.host_allowed("evil-api.example.com", 443));
    assert!(policy.host_allowed("api.stripe.com", 443));
    assert!(!policy.host_allowed("stripe.com", 443));
    assert!(!policy.host_allowed("notstripe.com", 443));
    assert!(policy.host_allowed("localhost", 8080));
    assert!(!policy.host_allowed("localhost", 9090));
    assert!(HttpPolicy::allowing(["*"]).host_allowed("anything.test", 1));
    assert!(!HttpPolicy::default().host_allowed("api.example.com", 443));
}

#[test]
fn a_grant_narrows_the_operators_list() {
    let policy = HttpPolicy {
        granted_hosts: Some(vec!["api.stripe.com".to_owned()]),
        ..HttpPolicy::allowing(["*.stripe.com", "example.com"])
    };
    assert!(policy.host_allowed("api.stripe.com", 443));
    assert!(!policy.host_allowed("files.stripe.com", 443), "not granted");
    assert!(!policy.host_allowed("example.com", 443), "not granted");
    let wide_grant = HttpPolicy { granted_hosts: Some(vec!["*".to_owned()]), ..HttpPolicy::allowing(["example.com"]) };
    assert!(!wide_grant.host_allowed("other.test", 443), "the operator's list still bounds it");
}

#[test]
fn upstreams_route_a_host_or_a_host_and_port() {
    let policy = HttpPolicy {
        upstreams: [
            ("api.stripe.com".to_owned(), "http://127.0.0.1:12111".to_owned()),
            ("hooks.slack.com:443".to_owned(), "https://egress.internal".to_owned()),
        ]
        .into(),
        ..HttpPolicy::default()
    };
    assert_eq!(policy.upstream("API.stripe.com.", 443), Some(("http".into(), "127.0.0.1".into(), 12111)));
    assert_eq!(policy.upstream("hooks.slack.com", 443), Some(("https".into(), "egress.internal".into(), 443)));
    assert_eq!(policy.upstream("hooks.slack.com", 8443), None);
    assert_eq!(policy.upstream("files.stripe.com", 443), None);
    assert_eq!(parse_origin("ftp://x"), None);
    assert_eq!(parse_origin("http://[::1]:8080"), Some(("http".into(), "::1".into(), 8080)));
}

#[test]
fn coverage_of_patterns() {
    for (outer, inner) in [
        ("*", "*"),
        ("*", "api.example.com:8443"),
        ("api.example.com", "api.example.com:443"),
        ("*.example.com", "api.example.com"),
        ("*.example.com", "*.eu.example.com"),
        ("*.example.com:443", "api.example.com:443"),
    ] {
        assert!(pattern_covers(outer, inner), "{outer} covers {inner}");
    }
    for (outer, inner) in [
        ("api.example.com", "*"),
        ("*.example.com", "example.com"),
        ("*.example.com", "*"),
        ("*.example.com", "badexample.com"),
        ("api.example.com:443", "api.example.com"),
        ("api.example.com", "other.example.com"),
    ] {
        assert!(!pattern_covers(outer, inner), "{outer} does not cover {inner}");
    }
}

#[test]
fn special_addresses_are_classified() {
    let table = [
        ("127.0.0.1", Some("loopback")),
        ("10.1.2.3", Some("private")),
        ("172.20.0.1", Some("private")),
        ("192.168.1.1", Some("private")),
        ("169.254.169.254", Some("cloud metadata")),
        ("169.254.1.1", Some("link-local")),
        ("0.0.0.0", Some("unspecified")),
        ("100.64.0.1", Some("shared (carrier-grade NAT)")),
        ("93.184.216.34", None),
        ("::1", Some("loopback")),
        ("::", Some("unspecified")),
        ("fd00:ec2::254", Some("cloud metadata")),
        ("fc00::1", Some("private (unique local)")),
        ("fe80::1", Some("link-local")),
        ("fec0::1", Some("link-local")),
        ("ff02::1", Some("multicast or broadcast")),
        ("2001:db8::1", Some("documentation")),
        ("3fff::1", Some("documentation")),
        ("2001:2::1", Some("reserved (IETF protocol assignments)")),
        ("100::1", Some("not global unicast")),
        ("4000::1", Some("not global unicast")),
        ("2606:4700::1111", None),
        // IPv4-mapped, and the other forms that carry an IPv4 address.
        ("::ffff:127.0.0.1", Some("loopback")),
        ("::ffff:169.254.169.254", Some("cloud metadata")),
        ("::ffff:93.184.216.34", None),
        ("::127.0.0.1", Some("loopback")),
        ("::10.0.0.1", Some("private")),
        ("::93.184.216.34", None),
        ("::ffff:0:7f00:1", Some("loopback")),
        ("::ffff:0:5db8:d822", None),
        ("2002:7f00:1::", Some("loopback")),
        ("2002:a9fe:a9fe::1", Some("cloud metadata")),
        ("2002:c0a8:101::1", Some("private")),
        ("2002:5db8:d822::1", None),
        ("64:ff9b::a00:1", Some("private")),
        ("64:ff9b::7f00:1", Some("loopback")),
        ("64:ff9b::5db8:d822", None),
        ("64:ff9b:1::5db8:d822", Some("NAT64 local-use")),
        // Teredo: server 65.54.227.120 (public), client inverted in the last 32 bits.
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", Some("loopback")),
        ("2001:0:4136:e378:8000:63bf:a247:29dd", None),
        ("2001:0:7f00:1:8000:63bf:a247:29dd", Some("loopback")),
    ];
    for (address, expected) in table {
        assert_eq!(forbidden_address(address.parse().unwrap()), expected, "{address}");
    }
}

#[test]
fn a_request_budget_is_taken_once_per_request() {
    let budget = RequestBudget::new(3, 3);
    let taken: Vec<bool> = (0..5).map(|_| budget.take()).collect();
    assert_eq!(taken, [true, true, true, false, false]);
    assert_eq!(RequestBudget::new(3, 10).left(), 3, "never more than the limit");
}

#[test]
fn operator_ranges_are_refused_even_on_a_private_network() {
    let policy = HttpPolicy {
        allow_private_network: true,
        denied_ranges: vec!["10.20.0.0/16".parse().unwrap(), "2001:db9::/32".parse().unwrap()],
        ..HttpPolicy::default()
    };
    for address in ["10.20.1.1", "::ffff:10.20.1.1", "2002:a14:101::", "2001:db9::5"] {
        let err = check_address(&policy, "h", address.parse().unwrap()).unwrap_err();
        assert!(err.contains("operator's denied range"), "{address}: {err}");
    }
    assert!(check_address(&policy, "h", "10.21.0.1".parse().unwrap()).is_ok());
}

#[test]
fn embedded_metadata_is_refused_even_on_a_private_network() {
    let open = HttpPolicy { allow_private_network: true, ..HttpPolicy::default() };
    for address in ["::ffff:169.254.169.254", "2002:a9fe:a9fe::", "64:ff9b::a9fe:a9fe", "::169.254.169.254"] {
        let err = check_address(&open, "m", address.parse().unwrap()).unwrap_err();
        assert!(err.contains("cloud metadata"), "{address}: {err}");
    }
}

#[test]
fn private_network_opt_in_never_opens_metadata() {
    let open = HttpPolicy { allow_private_network: true, ..HttpPolicy::default() };
    assert!(check_address(&open, "db.internal", "10.0.0.5".parse().unwrap()).is_ok());
    let err = check_address(&open, "metadata", "169.254.169.254".parse().unwrap()).unwrap_err();
    assert!(err.starts_with("denied:") && err.contains("cloud metadata"), "{err}");
    let closed = HttpPolicy::default();
    let err = check_address(&closed, "localhost", "127.0.0.1".parse().unwrap()).unwrap_err();
    assert_eq!(err, "denied: `localhost` resolves to 127.0.0.1, a loopback address");
}
