//! Every answer the API tests receive is checked against the schema the
//! OpenAPI document declares for its route and status, so the document
//! cannot drift from what the handlers send.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_value(trellis_engine::api::openapi()).expect("the OpenAPI document"))
}

/// The documented path template `/v1/runs/{id}` that `path` is an instance of.
fn template_of(path: &str) -> Option<(&'static str, &'static Value)> {
    let segments: Vec<&str> = path.split('?').next().unwrap_or(path).trim_end_matches('/').split('/').collect();
    let paths = document()["paths"].as_object()?;
    // Literal segments win over parameters (`/v1/workflows/validate` over `/v1/workflows/{id}`).
    paths
        .iter()
        .filter_map(|(template, item)| {
            let parts: Vec<&str> = template.trim_end_matches('/').split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') {
                    continue;
                }
                if part != segment {
                    return None;
                }
                literal += 1;
            }
            Some((literal, template.as_str(), item))
        })
        .max_by_key(|(literal, ..)| *literal)
        .map(|(_, template, item)| (template, item))
}

/// Checks `body` against the schema of `method path` answering `status`.
/// Routes the document does not have (the docs pages) are not checked.
pub fn check(method: &str, path: &str, status: u16, body: &Value) {
    let Some((template, item)) = template_of(path) else { return };
    let Some(operation) = item.get(method.to_ascii_lowercase()) else { return };
    let responses = &operation["responses"];
    let code = status.to_string();
    let fallback = format!("{}XX", code.chars().next().unwrap_or('0'));
    let Some(response) = responses.get(&code).or_else(|| responses.get(&fallback)) else {
        panic!("{method} {template} answered {status}, which its OpenAPI operation does not list: {body}");
    };
    let Some(schema) = response.pointer("/content/application~1json/schema") else { return };
    static COMPILED: OnceLock<Mutex<HashMap<String, jsonschema::Validator>>> = OnceLock::new();
    let cache = COMPILED.get_or_init(Mutex::default);
    let key = schema.to_string();
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    let validator = cache.entry(key).or_insert_with(|| {
        let mut root = schema.clone();
        if let Value::Object(map) = &mut root {
            map.insert("components".to_owned(), document()["components"].clone());
        } else {
            root = json!({"allOf": [schema], "components": document()["components"]});
        }
        jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{method} {template}: schema does not compile: {e}"))
    });
    let errors: Vec<String> =
        validator.iter_errors(body).take(5).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{method} {template} → {status} does not fit its OpenAPI schema: {errors:#?}\n{body:#}");
}

/// The check bites: an answer without a required field, or with a time
/// left as milliseconds, does not fit.
#[test]
fn an_answer_off_its_schema_is_caught() {
    let run = json!({"id": "r", "workflow_id": "w", "workflow_version": 1, "document": {}, "status": "running",
        "input": null, "output": null, "error": null, "parent": null, "cancel_requested": false,
        "created_at": "2026-12-07T03:04:05.123Z", "updated_at": "2026-12-07T03:04:05.123Z", "finished_at": null});
    check("POST", "/v1/workflows/w/runs", 202, &json!({"run": run}));
    let mut no_id = run.clone();
    no_id.as_object_mut().unwrap().remove("id");
    let mut millis = run.clone();
    millis["created_at"] = json!(1_796_612_645_123_i64);
    for wrong in [no_id, millis] {
        let caught = std::panic::catch_unwind(|| check("POST", "/v1/workflows/w/runs", 202, &json!({"run": wrong})));
        assert!(caught.is_err(), "accepted an answer off its schema");
    }
    // The workflow document's schema is the engine's own, strict one.
    let good = json!({"id": "w", "version": 1, "document": {"id": "w", "nodes": [{"id": "a", "builtin": "delay", "config": {"ms": 5}}]}});
    check("GET", "/v1/workflows/w", 200, &good);
    let mut typo = good.clone();
    typo["document"]["nodez"] = json!([]);
    assert!(std::panic::catch_unwind(|| check("GET", "/v1/workflows/w", 200, &typo)).is_err());
}

/// Operation ids are unique (generated clients key operations by them).
#[test]
fn operation_ids_are_unique() {
    let mut seen = std::collections::BTreeSet::new();
    for item in document()["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"].as_str().expect("an operationId").to_owned();
            assert!(seen.insert(id.clone()), "operationId `{id}` is used twice");
        }
    }
}

/// Every JSON request and answer the document lists has a named schema:
/// none is a bare `object` or `{}`.
#[test]
fn every_body_has_a_named_schema() {
    let mut bare = Vec::new();
    for (path, item) in document()["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let mut contents = Vec::new();
            if let Some(content) = operation.pointer("/requestBody/content") {
                contents.push(("request".to_owned(), content));
            }
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                if let Some(content) = response.get("content") {
                    contents.push((status.clone(), content));
                }
            }
            for (what, content) in contents {
                for (media, body) in content.as_object().unwrap() {
                    let schema = &body["schema"];
                    if !media.contains("json") {
                        continue;
                    }
                    let named = schema.get("$ref").is_some() || schema.pointer("/items/$ref").is_some();
                    if !named {
                        bare.push(format!("{method} {path} {what} {media}: {schema}"));
                    }
                }
            }
        }
    }
    assert!(bare.is_empty(), "bodies without a named schema:\n{}", bare.join("\n"));
}

/// The page's TypeScript types are generated from `engine/web/src/api/openapi.json`
/// (`npm run build`); this keeps that copy equal to the server's document.
/// `TRELLIS_BLESS=1 cargo test -p trellis-engine --test api page_copy` rewrites it.
#[test]
fn the_page_copy_of_the_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/src/api/openapi.json");
    let current = serde_json::to_string_pretty(document()).unwrap() + "\n";
    if std::env::var_os("TRELLIS_BLESS").is_some() {
        std::fs::write(&path, &current).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "{} is not the server's OpenAPI document; rerun with TRELLIS_BLESS=1",
        path.display()
    );
}
