//! The schemas of the API's answers, as `/openapi.json` publishes them.
//!
//! Handlers build their answers from store records (whose times are
//! rewritten to RFC 3339 on the way out, `json.rs`); these types describe
//! those answers field by field for the document and the page's generated
//! TypeScript types. They are never built: the API tests check every answer
//! they receive against them (`engine/tests/api/answers.rs`), so a record
//! that changes shape without its schema fails a test.
#![allow(dead_code)]

pub mod access;
pub mod runs;
pub mod tenant;
pub mod workflow;
