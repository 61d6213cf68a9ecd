//! Matchers and extractors over one response, as nuclei applies them.

use std::collections::BTreeMap;

use regex::bytes::Regex;
use serde_json::Value;
use trellis_plugin_sdk::http::Response;

use super::template::{Condition, Extractor, HttpRequest, Matcher, Part};

/// One response in the forms matchers read.
pub struct Exchange {
    status: u16,
    headers: Vec<(String, String)>,
    /// `Name: value` lines, as nuclei's `header` part is.
    header_text: String,
    body: Vec<u8>,
}

impl Exchange {
    pub fn new(response: Response) -> Exchange {
        let header_text = response.headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
        Exchange { status: response.status, headers: response.headers, header_text, body: response.body }
    }

    fn part(&self, part: Part) -> Vec<u8> {
        match part {
            Part::Body => self.body.clone(),
            Part::Header => self.header_text.clone().into_bytes(),
            Part::All | Part::Response | Part::Raw => [self.header_text.as_bytes(), b"\r\n", &self.body].concat(),
        }
    }
}

fn combine(condition: Condition, mut results: impl Iterator<Item = bool>) -> bool {
    match condition {
        Condition::And => results.all(|r| r),
        Condition::Or => results.any(|r| r),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

fn matches(matcher: &Matcher, exchange: &Exchange) -> bool {
    let raw = exchange.part(matcher.part);
    let text = if matcher.case_insensitive { raw.to_ascii_lowercase() } else { raw };
    let hit = match matcher.kind.as_str() {
        "word" => combine(
            matcher.condition,
            matcher.words.iter().map(|w| {
                let word = if matcher.case_insensitive { w.to_ascii_lowercase() } else { w.clone() };
                contains(&text, word.as_bytes())
            }),
        ),
        "regex" => {
            combine(matcher.condition, matcher.regex.iter().map(|r| Regex::new(r).is_ok_and(|re| re.is_match(&text))))
        }
        "binary" => combine(
            matcher.condition,
            matcher.binary.iter().map(|b| hex(b).is_some_and(|bytes| contains(&text, &bytes))),
        ),
        "status" => matcher.status.contains(&exchange.status),
        "size" => matcher.size.contains(&exchange.body.len()),
        _ => false,
    };
    hit != matcher.negative
}

fn extract(extractor: &Extractor, exchange: &Exchange) -> Vec<String> {
    let mut found = Vec::new();
    match extractor.kind.as_str() {
        "regex" => {
            let text = exchange.part(extractor.part);
            for pattern in &extractor.regex {
                let Ok(re) = Regex::new(pattern) else { continue };
                for captures in re.captures_iter(&text) {
                    if let Some(group) = captures.get(extractor.group) {
                        found.push(String::from_utf8_lossy(group.as_bytes()).into_owned());
                    }
                }
            }
        }
        "kval" => {
            for key in &extractor.kval {
                let name = key.replace('_', "-");
                found.extend(
                    exchange.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(&name)).map(|(_, v)| v.clone()),
                );
            }
        }
        "json" => {
            if let Ok(document) = serde_json::from_slice::<Value>(&exchange.body) {
                for expression in &extractor.json {
                    for value in jq(&document, expression) {
                        found.push(match value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        });
                    }
                }
            }
        }
        _ => {}
    }
    let mut seen = std::collections::BTreeSet::new();
    found.retain(|f| seen.insert(f.clone()));
    found
}

/// The jq paths templates use: `.a.b`, `.a[0]`, `.a[]`, `.["a-b"]`, `.[]`.
pub fn jq<'a>(document: &'a Value, expression: &str) -> Vec<&'a Value> {
    let mut current = vec![document];
    let mut rest = expression.trim().strip_prefix('.').unwrap_or(expression.trim());
    while !rest.is_empty() {
        rest = rest.strip_prefix('.').unwrap_or(rest);
        if let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else { return Vec::new() };
            let key = &inner[..end];
            rest = &inner[end + 1..];
            current = if key.is_empty() {
                current
                    .into_iter()
                    .flat_map(|v| match v {
                        Value::Array(items) => items.iter().collect::<Vec<_>>(),
                        Value::Object(map) => map.values().collect(),
                        _ => Vec::new(),
                    })
                    .collect()
            } else if let Ok(index) = key.parse::<usize>() {
                current.into_iter().filter_map(|v| v.get(index)).collect()
            } else {
                let name = key.trim_matches('"');
                current.into_iter().filter_map(|v| v.get(name)).collect()
            };
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let name = &rest[..end];
            rest = &rest[end..];
            current = current.into_iter().filter_map(|v| v.get(name)).collect();
        }
    }
    current.into_iter().filter(|v| !v.is_null()).collect()
}

/// Values found, by extractor name.
pub type Extracted = BTreeMap<String, Vec<String>>;

/// `(matched matcher names, extracted values)` when the request matched.
pub fn evaluate(request: &HttpRequest, exchange: &Exchange) -> Option<(Vec<String>, Extracted)> {
    let mut extracted = Extracted::new();
    let mut any_extracted = false;
    for extractor in &request.extractors {
        let values = extract(extractor, exchange);
        any_extracted |= !values.is_empty();
        if !extractor.internal && !values.is_empty() {
            extracted
                .entry(extractor.name.clone().unwrap_or_else(|| "extracted".to_owned()))
                .or_default()
                .extend(values);
        }
    }
    let matched = if request.matchers.is_empty() {
        any_extracted
    } else {
        combine(request.matchers_condition, request.matchers.iter().map(|m| matches(m, exchange)))
    };
    if !matched {
        return None;
    }
    let names = request.matchers.iter().filter(|m| matches(m, exchange)).filter_map(|m| m.name.clone()).collect();
    Some((names, extracted))
}

#[cfg(test)]
mod tests {
    use super::super::template::Template;
    use super::*;
    use serde_json::json;

    fn exchange(status: u16, headers: &[(&str, &str)], body: &str) -> Exchange {
        Exchange::new(Response {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        })
    }

    const TEMPLATE: &str = r#"
id: version-api
info: {name: Version API, severity: low}
http:
  - method: GET
    path: ["{{BaseURL}}/api/version"]
    matchers-condition: and
    matchers:
      - type: word
        part: header
        words: ["application/json"]
      - type: status
        status: [200]
      - type: word
        name: not-html
        words: ["<html"]
        negative: true
    extractors:
      - type: json
        name: version
        json: [".version", ".components[].name"]
      - type: regex
        name: build
        group: 1
        regex: ['"build":\s*"([a-f0-9]+)"']
      - type: kval
        kval: [x_powered_by]
"#;

    #[test]
    fn matchers_combine_and_extractors_extract() {
        let template = Template::parse(TEMPLATE).unwrap();
        let request = &template.http[0];
        let good = exchange(
            200,
            &[("content-type", "application/json"), ("x-powered-by", "Express")],
            r#"{"version": "2.4.1", "build": "a1b2c3", "components": [{"name": "api"}, {"name": "worker"}]}"#,
        );
        let (_, extracted) = evaluate(request, &good).unwrap();
        assert_eq!(extracted["version"], ["2.4.1", "api", "worker"]);
        assert_eq!(extracted["build"], ["a1b2c3"]);
        assert_eq!(extracted["extracted"], ["Express"]);
        assert!(evaluate(request, &exchange(404, &[("content-type", "application/json")], "{}")).is_none());
        assert!(
            evaluate(request, &exchange(200, &[("content-type", "application/json")], "<html>")).is_none(),
            "negative"
        );
        assert_eq!(jq(&json!({"a-b": [1, {"c": 2}]}), r#".["a-b"][1].c"#), [&json!(2)]);
    }

    #[test]
    fn unsupported_parts_are_refused_by_name() {
        let dsl = "id: x\ninfo: {name: x, severity: info}\nhttp:\n  - path: ['{{BaseURL}}']\n    matchers:\n      - type: dsl\n        dsl: ['status_code == 200']\n";
        assert!(Template::parse(dsl).unwrap_err().contains("`dsl` matchers are not supported"));
        let raw =
            "id: y\ninfo: {name: y, severity: info}\nhttp:\n  - raw: ['GET / HTTP/1.1']\n    path: ['{{BaseURL}}']\n";
        assert!(Template::parse(raw).unwrap_err().contains("`raw` is not supported"));
        let dns = "id: z\ninfo: {name: z, severity: info}\ndns:\n  - name: '{{FQDN}}'\n";
        assert!(Template::parse(dns).unwrap_err().contains("uses `dns`"));
        assert!(Template::parse("not: [a template").is_err());
    }
}
