//! README.md checked against what is built: its route tables against the
//! OpenAPI document (both ways, roles included; the registry's routes are
//! open or signed, so theirs is `none`), every `trellis …` command
//! it shows against the binary's own help, its configuration block against
//! the defaults, every source path it names against the tree, its plugin
//! example against the plugin it says it is, and its example run by running
//! it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use trellis_engine::server_config::ServerConfig;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// The text of every inline code span (`…`) outside fenced blocks.
fn code_spans(text: &str) -> Vec<String> {
    let mut spans = Vec::new();
    for line in prose_lines(text) {
        let mut rest = line;
        while let Some(start) = rest.find('`') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('`') else { break };
            spans.push(after[..end].to_owned());
            rest = &after[end + 1..];
        }
    }
    spans
}

fn prose_lines(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// The fenced blocks of `language`, each as its text.
fn fenced_blocks(text: &str, language: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(tag) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None if tag.trim() == language => current = Some(String::new()),
                None => current = Some(String::from("\u{0}")),
            }
            continue;
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks.into_iter().filter(|block| !block.starts_with('\u{0}')).collect()
}

/// A table row's cells, for rows of tables whose header's first two cells
/// are `first` and `second`.
fn table_rows(text: &str, first: &str, second: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if !line.starts_with('|') {
            inside = false;
            continue;
        }
        let cells: Vec<String> = split_cells(line);
        if cells.len() >= 2 && cells[0] == first && cells[1] == second {
            inside = true;
        } else if inside && !cells[0].starts_with("---") {
            rows.push(cells);
        }
    }
    rows
}

/// Splits a table row at `|`, except where it is escaped (`\|`).
fn split_cells(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = line.trim().trim_start_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell).trim().to_owned()),
            c => cell.push(c),
        }
    }
    cells
}

/// `GET /v1/workflows/{id}/versions[/{v}]` → every (method, path) it names.
fn operations_of(span: &str) -> Vec<(String, String)> {
    let Some((methods, path)) = span.split_once(' ') else { return Vec::new() };
    if !methods.chars().all(|c| c.is_ascii_uppercase() || c == '/') || !path.starts_with('/') {
        return Vec::new();
    }
    let path = path.split('?').next().unwrap_or_default();
    let mut paths = Vec::new();
    match path.find('[') {
        Some(at) if path[at + 1..].starts_with('?') => paths.push(path[..at].to_owned()),
        Some(at) => {
            let optional = path[at + 1..].trim_end_matches(']');
            paths.push(path[..at].to_owned());
            paths.push(format!("{}{optional}", &path[..at]));
        }
        None => paths.push(path.to_owned()),
    }
    let mut operations = Vec::new();
    for method in methods.split('/') {
        for path in &paths {
            operations.push((method.to_owned(), path.clone()));
        }
    }
    operations
}

/// The role a README role cell gives `method`: `viewer reads, editor writes`,
/// `admin`, `any`, `—`.
fn role_for(cell: &str, method: &str) -> String {
    if cell.starts_with('—') {
        return "none".to_owned();
    }
    if cell == "any" {
        return "viewer".to_owned();
    }
    if let Some((reads, writes)) = cell.split_once(" reads, ") {
        let writes = writes.trim_end_matches(" writes");
        return if method == "GET" { reads.to_owned() } else { writes.to_owned() };
    }
    cell.to_owned()
}

fn openapi_operations() -> BTreeMap<(String, String), String> {
    let document = serde_json::to_value(trellis_engine::api::openapi()).expect("OpenAPI as JSON");
    let mut operations = BTreeMap::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let role = operation["x-required-role"].as_str().unwrap_or("(unmarked)").to_owned();
            operations.insert((method.to_uppercase(), path.clone()), role);
        }
    }
    operations
}

#[test]
fn the_route_tables_are_the_api_with_its_roles() {
    let text = readme();
    let api = openapi_operations();
    let mut documented = BTreeSet::new();
    let mut problems = Vec::new();
    // The registry's table has no role column: its writes are authorised
    // by the publisher's signature, not a role.
    let registry = table_rows(&text, "route", "what").into_iter().map(|row| vec![row[0].clone(), "—".to_owned()]);
    for row in table_rows(&text, "route", "role").into_iter().chain(registry) {
        for span in code_spans(&row[0]) {
            for (method, path) in operations_of(&span) {
                let expected = role_for(&row[1], &method);
                match api.get(&(method.clone(), path.clone())) {
                    None => problems.push(format!("README lists {method} {path}, which the API does not have")),
                    Some(role) if *role != expected => {
                        problems.push(format!("README gives {method} {path} role {expected}; the API requires {role}"))
                    }
                    Some(_) => {}
                }
                documented.insert((method, path));
            }
        }
    }
    for (method, path) in api.keys() {
        if !documented.contains(&(method.clone(), path.clone())) {
            problems.push(format!("the API has {method} {path}, which README's route tables do not list"));
        }
    }
    assert!(documented.len() > 30, "the tables were not found: {documented:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every `trellis …` command README shows: the subcommand words and the
/// flags it uses.
fn commands(text: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let mut lines: Vec<String> = code_spans(text).into_iter().filter(|span| span.starts_with("trellis ")).collect();
    for block in fenced_blocks(text, "sh").into_iter().chain(fenced_blocks(text, "")) {
        for line in block.lines() {
            let line = line.trim();
            if let Some((_, args)) = line.split_once("-p trellis-engine -- ") {
                lines.push(format!("trellis {args}"));
            } else if line.starts_with("trellis ") {
                lines.push(line.to_owned());
            }
        }
    }
    lines
        .iter()
        .map(|line| {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = Vec::new();
            let mut flags = Vec::new();
            let mut in_words = true;
            for token in line.split_whitespace().skip(1) {
                let bare = token.trim_matches(|c| c == '[' || c == ']' || c == '.' || c == '…');
                if in_words
                    && !bare.starts_with('-')
                    && !bare.is_empty()
                    && bare.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                {
                    words.push(bare.to_owned());
                    continue;
                }
                in_words = false;
                if let Some(flag) = bare.strip_prefix("--") {
                    let flag = flag.split('=').next().unwrap_or_default();
                    flags.push(format!("--{flag}"));
                }
            }
            (words, flags)
        })
        .collect()
}

#[test]
fn every_command_readme_shows_exists_with_its_flags() {
    let text = readme();
    let commands = commands(&text);
    assert!(commands.len() > 30, "too few commands found: {commands:?}");
    let mut helps: BTreeMap<Vec<String>, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for (words, flags) in commands {
        let help = helps.entry(words.clone()).or_insert_with(|| {
            let output =
                Command::new(env!("CARGO_BIN_EXE_trellis")).args(&words).arg("--help").output().expect("run trellis");
            if output.status.success() { String::from_utf8_lossy(&output.stdout).into_owned() } else { String::new() }
        });
        if help.is_empty() {
            problems.push(format!("`trellis {} --help` fails", words.join(" ")));
            continue;
        }
        let usage = help.lines().find(|line| line.starts_with("Usage:")).unwrap_or_default();
        if !words.is_empty() && usage.contains("<COMMAND>") {
            problems.push(format!("`trellis {}` is a group, not a command", words.join(" ")));
        }
        for flag in flags {
            let known = help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).any(|token| token == flag);
            if !known {
                problems.push(format!("`trellis {}` has no {flag}", words.join(" ")));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_configuration_block_is_the_defaults() {
    let text = readme();
    let block = fenced_blocks(&text, "toml")
        .into_iter()
        .find(|block| block.contains("[plan]"))
        .expect("the trellis.toml block");
    let shown =
        ServerConfig::parse(&block).unwrap_or_else(|(at, message)| panic!("README's trellis.toml: at {at}: {message}"));
    let defaults = ServerConfig::default();
    assert_eq!(format!("{:?}", shown.http), format!("{:?}", defaults.http));
    assert_eq!(format!("{:?}", shown.execution), format!("{:?}", defaults.execution));
    assert_eq!(format!("{:?}", shown.limits), format!("{:?}", defaults.limits));
    assert_eq!(format!("{:?}", shown.plan), format!("{:?}", defaults.plan));
    assert_eq!(shown.llm.request_timeout_ms, defaults.llm.request_timeout_ms);
    assert!(shown.llm.providers.is_empty());
    // Every other configuration example README shows is a valid file too.
    for example in fenced_blocks(&text, "toml").into_iter().filter(|b| !b.contains("[plan]") && b.contains("[llm")) {
        ServerConfig::parse(&example)
            .unwrap_or_else(|(at, message)| panic!("README's [llm] example: at {at}: {message}"));
    }
    assert_eq!(shown.listen.map(|a| a.to_string()).as_deref(), Some("127.0.0.1:8080"));
    assert_eq!(shown.data_dir.as_deref(), Some(Path::new("./trellis-data")));
    let help = Command::new(env!("CARGO_BIN_EXE_trellis")).args(["serve", "--help"]).output().expect("run trellis");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("default `127.0.0.1:8080`") && help.contains("default `./trellis-data`"), "{help}");
}

/// Every file and folder of the repository, relative to its root.
fn tree() -> BTreeSet<String> {
    fn walk(dir: &Path, prefix: &str, into: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if matches!(name.as_str(), ".git" | "target" | "node_modules") {
                continue;
            }
            let path = format!("{prefix}{name}");
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                into.insert(format!("{path}/"));
                walk(&entry.path(), &format!("{path}/"), into);
            } else {
                into.insert(path);
            }
        }
    }
    let mut paths = BTreeSet::new();
    walk(&root(), "", &mut paths);
    paths
}

/// Files README names that a user makes or the server writes, not files of
/// the repository.
const NOT_IN_THE_TREE: &[&str] = &["trellis.toml", "trellis.db", "marketplace.db"];

#[test]
fn every_source_path_the_docs_name_exists() {
    let tree = tree();
    for page in tree.iter().filter(|path| path.starts_with("docs/") && path.ends_with(".md")) {
        let text = std::fs::read_to_string(root().join(page)).expect("a docs page");
        let missing: Vec<String> = code_spans(&text)
            .into_iter()
            .filter(|span| {
                span.contains('/')
                    && !span.contains(' ')
                    && !span.starts_with('/')
                    && (span.ends_with(".rs") || span.ends_with('/'))
            })
            .filter(|span| !tree.contains(span.as_str()))
            .collect();
        assert!(missing.is_empty(), "{page} names paths the repository does not have: {missing:?}");
    }
    assert!(tree.contains("docs/architecture.md"));
}

#[test]
fn every_source_path_readme_names_exists() {
    let text = readme();
    let tree = tree();
    let resolves = |name: &str| tree.iter().any(|path| path == name || path.ends_with(&format!("/{name}")));
    let mut names: Vec<String> = Vec::new();
    for span in code_spans(&text) {
        for token in span.split([' ', ',', '(', ')']) {
            let looks_like_a_path =
                [".rs", ".toml", ".yaml", ".json", ".md", ".sql", "/"].iter().any(|end| token.ends_with(end))
                    && token.contains(|c: char| c.is_ascii_lowercase())
                    && !token.chars().any(|c| c.is_ascii_uppercase() || "@:{$*<".contains(c))
                    && !token.starts_with('/')
                    && !NOT_IN_THE_TREE.contains(&token);
            if looks_like_a_path {
                names.push(token.to_owned());
            }
        }
    }
    let architecture = text.split("## Architecture").nth(1).expect("an Architecture section");
    let layout = fenced_blocks(architecture, "").into_iter().next().expect("the layout block");
    // Top-level lines name a folder of the root; indented ones name paths
    // inside it, and a second name on a line sits beside the first.
    let mut top = String::new();
    for line in layout.lines() {
        let indented = line.starts_with(' ');
        let entries: Vec<&str> = line.trim_start().split("  ").next().unwrap_or_default().split(' ').collect();
        let Some(first) = entries.first().filter(|e| !e.is_empty()) else { continue };
        if !indented {
            top = (*first).to_owned();
            names.push(top.clone());
            continue;
        }
        let beside = first.trim_end_matches('/').rfind('/').map_or("", |at| &first[..=at]);
        names.push(format!("{top}{first}"));
        for entry in entries.iter().skip(1).filter(|e| !e.is_empty()) {
            names.push(format!("{top}{beside}{entry}"));
        }
    }
    assert!(names.len() > 60, "too few paths found: {names:?}");
    let missing: Vec<&String> = names.iter().filter(|name| !resolves(name)).collect();
    assert!(missing.is_empty(), "README names paths the repository does not have: {missing:?}");
}

/// The code without comments, white space and trailing commas, which
/// rustfmt adds where README's shorter lines have none.
fn without_comments_and_space(source: &str) -> String {
    let bare: String = source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    bare.replace(",}", "}").replace(",)", ")")
}

#[test]
fn the_plugin_example_is_the_echo_plugin() {
    let text = readme();
    let example =
        fenced_blocks(&text, "rust").into_iter().find(|b| b.contains("plugin!(Echo)")).expect("the Rust example");
    let echo = std::fs::read_to_string(root().join("plugins/testing/echo/src/lib.rs")).expect("echo's source");
    assert_eq!(without_comments_and_space(&example), without_comments_and_space(&echo));
}

/// Splits a shell line the way `sh` would for the quoting README uses
/// (words, single-quoted strings).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

#[test]
fn the_example_run_in_readme_succeeds() {
    let text = readme();
    let runs: Vec<String> = code_spans(&text)
        .into_iter()
        .filter_map(|span| {
            let args = span
                .split_once("-p trellis-engine -- run ")
                .map(|(_, args)| args)
                .or_else(|| span.strip_prefix("trellis run "))?;
            args.starts_with("examples/").then(|| args.to_owned())
        })
        .collect();
    let workflows = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .filter(|entry| entry.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml")))
        .count();
    assert!(runs.len() > workflows / 2, "README shows few example runs: {runs:?}");
    for args in runs {
        // An approval waits for a person, and a run with `--config` calls
        // the LLM provider that file names: their tests (engine/tests/engine/
        // examples.rs) decide the approval and answer as the provider.
        let file = args.split_whitespace().next().unwrap_or_default();
        if std::fs::read_to_string(root().join(file)).is_ok_and(|doc| doc.contains("builtin: approval"))
            || args.contains("--config")
        {
            continue;
        }
        let data = tempfile::tempdir().expect("tempdir");
        let output = Command::new(env!("CARGO_BIN_EXE_trellis"))
            .arg("run")
            .args(shell_words(&args))
            .arg("--data-dir")
            .arg(data.path())
            .env("XDG_CACHE_HOME", data.path())
            .current_dir(root())
            .output()
            .expect("run trellis");
        assert!(
            output.status.success(),
            "`trellis run {args}` failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("the run's output is JSON");
        assert!(!printed.is_null(), "the run printed no output");
    }
}

/// The names of the config fields marked `format: secret-name`, anywhere in
/// a schema (tagged variants and nested objects included).
fn secret_fields(schema: &serde_json::Value, found: &mut BTreeSet<String>) {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(properties)) = map.get("properties") {
                for (name, property) in properties {
                    if property["format"] == "secret-name" {
                        found.insert(name.clone());
                    }
                    if property["additionalProperties"]["format"] == "secret-name" {
                        found.insert(format!("{name}.*"));
                    }
                }
            }
            for value in map.values() {
                secret_fields(value, found);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| secret_fields(item, found)),
        _ => {}
    }
}

/// The first-party catalog as README shows it, made from each plugin's
/// manifest and what its component describes.
fn catalog_table() -> String {
    let runtime = trellis_host_api::Runtime::new(trellis_host_api::RuntimeConfig::default()).expect("runtime");
    let tokio = tokio::runtime::Runtime::new().expect("tokio");
    let mut rows = vec![
        "| plugin | kinds | hosts it needs | secrets it reads (config fields) |".to_owned(),
        "|---|---|---|---|".to_owned(),
    ];
    let mut plugins: Vec<_> = trellis_engine::first_party::all().iter().collect();
    plugins.sort_by_key(|p| p.name);
    for plugin in plugins {
        let manifest = trellis_engine::first_party::manifest(plugin).expect("manifest");
        let loaded = runtime.load(plugin.component).expect("component");
        let kinds = tokio.block_on(runtime.describe(&loaded)).expect("describe");
        let names: Vec<String> = kinds.iter().map(|k| format!("`{}`", k.name)).collect();
        let mut secrets = BTreeSet::new();
        for kind in &kinds {
            let mut fields = BTreeSet::new();
            secret_fields(&kind.config_schema, &mut fields);
            secrets.extend(fields.into_iter().map(|f| format!("`{}.{f}`", kind.name)));
        }
        let hosts: Vec<String> = manifest.capabilities.hosts.iter().map(|h| format!("`{h}`")).collect();
        let or_none = |list: Vec<String>| if list.is_empty() { "none".to_owned() } else { list.join(", ") };
        rows.push(format!(
            "| `{}` {} | {} | {} | {} |",
            plugin.name,
            plugin.version,
            names.join(", "),
            or_none(hosts),
            or_none(secrets.into_iter().collect())
        ));
    }
    rows.join("\n") + "\n"
}

const CATALOG_START: &str = "<!-- catalog: generated by engine/tests/readme.rs; TRELLIS_BLESS=1 rewrites it -->\n";
const CATALOG_END: &str = "<!-- end of catalog -->";

/// README's first-party catalog is what the manifests and components say.
/// `TRELLIS_BLESS=1 cargo test -p trellis-engine --test readme catalog`
/// writes the current table into README.
#[test]
fn the_catalog_table_is_generated_from_the_plugins() {
    let text = readme();
    let start = text.find(CATALOG_START).expect("README has the catalog markers") + CATALOG_START.len();
    let end = start + text[start..].find(CATALOG_END).expect("the catalog's end marker");
    let table = catalog_table();
    if std::env::var_os("TRELLIS_BLESS").is_some() {
        let updated = format!("{}{table}{}", &text[..start], &text[end..]);
        std::fs::write(root().join("README.md"), updated).expect("write README.md");
        return;
    }
    assert_eq!(&text[start..end], table, "README's catalog drifted; rerun with TRELLIS_BLESS=1");
}
