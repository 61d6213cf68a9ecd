//! The publisher's path: keys, projects, builds, a central registry.

use super::*;

#[test]
fn keygen_writes_an_owner_only_secret_key_and_never_overwrites_one() {
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let output = trellis(&["keygen", "--out", dir, "--name", "acme"], cache.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap();
    let public = std::fs::read_to_string(out.path().join("acme.pub")).unwrap();
    assert_eq!(printed, public);
    let public = trellis_marketplace::PublisherKey::from_text(&public).expect("a public key");
    let secret_text = std::fs::read_to_string(out.path().join("acme.key")).unwrap();
    let secret = trellis_marketplace::PublisherSecretKey::from_text(&secret_text).expect("a secret key");
    assert_eq!(secret.public_key(), public, "the two files are one pair");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.path().join("acme.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Again with the same name: refused, and the key is unchanged.
    let again = trellis(&["keygen", "--out", dir, "--name", "acme"], cache.path());
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
    assert_eq!(std::fs::read_to_string(out.path().join("acme.key")).unwrap(), secret_text);
    // A name that is a path is refused.
    let sneaky = trellis(&["keygen", "--out", dir, "--name", "../acme"], cache.path());
    assert!(!sneaky.status.success());
}

#[test]
fn a_publisher_publishes_to_a_central_marketplace_and_a_server_installs_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let cli = |args: &[&str]| trellis(args, dir.path());
    let Registry { child: mut central, address: market, server, key } = registry_with_publisher(dir.path(), "central");

    let echo = trellis_plugin_artifacts::ECHO;
    let manifest = |version: &str| {
        let file = path(&format!("echo-{version}.toml"));
        std::fs::write(
            &file,
            format!(
                "name = \"acme/echo\"\nversion = \"{version}\"\ndescription = \"Echoes\"\nlicense = \"MIT\"\n\
                 category = \"utility\"\n"
            ),
        )
        .unwrap();
        file
    };
    let publish = |version: &str| {
        cli(&["plugin", "publish", echo, "--manifest", &manifest(version), "--server", &server, "--key", &key])
    };
    let refused = publish("1.0.0");
    assert_eq!(refused.status.code(), Some(1), "not approved yet");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not signed by an approved publisher"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let approved = cli(&["marketplace", "approve", "acme", "--data-dir", &path("central")]);
    assert!(approved.status.success(), "{}", String::from_utf8_lossy(&approved.stderr));
    for version in ["1.0.0", "1.1.0"] {
        let published = publish(version);
        assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
        assert_eq!(stdout_json(&published)["version"], version);
    }
    let yanked = cli(&["plugin", "yank", "acme/echo@1.1.0", "--server", &server, "--key", &key]);
    assert!(yanked.status.success(), "{}", String::from_utf8_lossy(&yanked.stderr));
    let (_, listed) = http(&market, "GET", "/v1/marketplace/plugins", None, None);
    let names: Vec<String> = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}@{}", p["name"].as_str().unwrap(), p["latest_version"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            "acme/echo@1.0.0",
            "trellis/ai@0.1.0",
            "trellis/fixer@0.1.0",
            "trellis/flutterwave@0.1.0",
            "trellis/http-request@0.1.2",
            "trellis/notify@0.1.0",
            "trellis/price-watch@0.1.0",
            "trellis/security-scan@0.1.0",
            "trellis/stripe@0.1.0",
            "trellis/transform@0.1.0"
        ]
    );

    // A server that pulls from the central marketplace.
    let created =
        stdout_json(&cli(&["admin", "create-tenant", "Acme", "--owner", "o@acme.test", "--data-dir", &path("server")]));
    let token = created["api_key"].as_str().unwrap();
    let (mut serve, address) = spawn_listening(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", &path("server"), "--marketplace", &server],
        dir.path(),
        "trellis listening on http://",
    );
    let (status, installed) =
        http(&address, "POST", "/v1/plugins", Some(token), Some(json!({"name": "acme/echo", "version": "^1"})));
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["install"]["version"], "1.0.0", "1.1.0 is yanked");
    let (_, catalog) = http(&address, "GET", "/v1/catalog", Some(token), None);
    assert!(catalog.to_string().contains("\"acme/echo\""), "{catalog}");
    // Pulled by digest into the server's own cache.
    let digest = installed["install"]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    assert!(dir.path().join("server/pulled/sha256").join(digest).exists());
    // And the publisher's key pinned at that first pull.
    assert!(dir.path().join("server/pinned-keys/acme.pub").exists());

    for child in [&mut central, &mut serve] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[test]
fn plugin_new_makes_a_project_that_tests_builds_runs_and_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let trellis_bin = env!("CARGO_BIN_EXE_trellis");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let project = path("greeter");

    let created = trellis(&["plugin", "new", "acme/greeter", "--dir", &project], dir.path());
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    // Refused a second time: the folder is no longer empty.
    let again = trellis(&["plugin", "new", "acme/greeter", "--dir", &project], dir.path());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not an empty folder"), "{again:?}");

    // The template's own tests pass natively.
    let manifest_path = format!("{project}/Cargo.toml");
    let tested = with_shared_target(&cargo, &["test", "--manifest-path", &manifest_path], dir.path());
    let test_output = String::from_utf8_lossy(&tested.stdout);
    assert!(tested.status.success(), "{test_output}\n{}", String::from_utf8_lossy(&tested.stderr));
    assert!(test_output.contains("2 passed"), "{test_output}");

    // Built for wasm32-wasip2, it passes the registry's component checks.
    let built = with_shared_target(trellis_bin, &["plugin", "build", &project], dir.path());
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let report = stdout_json(&built);
    assert_eq!(report["name"], "acme/greeter");
    assert_eq!(report["version"], "0.1.0");
    assert_eq!(report["kinds"][0]["name"], "greet");
    let component = report["component"].as_str().unwrap();
    assert!(component.ends_with("plugin_greeter.wasm"), "{component}");
    let bytes = std::fs::read(component).unwrap();
    assert_eq!(report["digest"], trellis_marketplace::ComponentDigest::of(&bytes).to_string());

    // The component runs in the sandbox.
    let ran = trellis(
        &["node", "run", "--plugin", component, "--kind", "greet", "--input", r#"{"name": "Ada"}"#],
        dir.path(),
    );
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    assert_eq!(stdout_json(&ran)["emits"][0]["data"]["message"], "Hello, Ada!");

    // `plugin publish` without a component builds the project and publishes it.
    let Registry { mut child, address: market, server, key } = registry_with_publisher(dir.path(), "registry");
    assert!(trellis(&["marketplace", "approve", "acme", "--data-dir", &path("registry")], dir.path()).status.success());
    let published = with_shared_target(
        trellis_bin,
        &["plugin", "publish", "--project", &project, "--server", &server, "--key", &key],
        dir.path(),
    );
    assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
    let (status, detail) = http(&market, "GET", "/v1/marketplace/plugins/acme/greeter/0.1.0", None, None);
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["digest"], report["digest"]);
    assert_eq!(detail["kinds"][0]["name"], "greet");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn plugin_build_names_what_the_project_lacks_before_building() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let build = || trellis(&["plugin", "build", project.to_str().unwrap()], dir.path());
    let stderr = |output: Output| String::from_utf8_lossy(&output.stderr).into_owned();

    assert!(stderr(build()).contains("is not a folder"));
    std::fs::create_dir(&project).unwrap();
    assert!(stderr(build()).contains("has no Cargo.toml"));
    std::fs::write(project.join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    assert!(stderr(build()).contains("trellis-plugin.toml"));
    std::fs::write(project.join("trellis-plugin.toml"), "name = \"acme/x\"\nversion = \"one\"\n").unwrap();
    let refused = stderr(build());
    assert!(refused.contains("trellis-plugin.toml") && refused.contains("version"), "{refused}");
}
