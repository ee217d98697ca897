//! The JSON documents of `inspect`, `cleanup --json`, `audit --json` and `primary --json`
//! (rounds and serving) are described by the JSON Schemas in `schema/`; real output must
//! validate. (`list --json` and `top --json` are validated in `views.rs`; every schema
//! file is used by a test, checked below.) Every key of the primary's summaries is also
//! described by its schema and named in osps-primary(1), and every key of `STATS` in
//! osps-client(1).

use crate::common;

use std::time::Duration;

use common::{T, TestEnv, kill, output_within, parse_json, run, slow, stderr_of};

fn validate(schema_file: &str, doc: &[u8]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(schema_file);
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{schema_file} is not a valid schema: {e}"));
    let value = parse_json(doc);
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:#?}\n{value:#}");
}

/// Every key of the object `doc` is named in the man page `man` and, with `schema` (a
/// schema file and the JSON pointer of the object's schema in it), described there as a
/// property and required (it is always printed): a key printed but described nowhere is
/// one a script cannot rely on.
fn described_everywhere(doc: &serde_json::Value, schema: Option<(&str, &str)>, man: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("man").join(man)).unwrap();
    let object = doc
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {doc}"));
    for key in object.keys() {
        if let Some((file, pointer)) = schema {
            let schema: serde_json::Value =
                serde_json::from_slice(&std::fs::read(root.join("schema").join(file)).unwrap())
                    .unwrap();
            let def = schema.pointer(pointer).unwrap();
            assert!(
                def["properties"].get(key).is_some(),
                "{file}: {pointer} does not describe {key:?}"
            );
            assert!(
                def["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k == key.as_str()),
                "{file}: {pointer} does not require {key:?}, always printed"
            );
        }
        assert!(
            page.contains(&format!("\\fB{key}\\fR")),
            "{man} does not name the key {key:?}"
        );
    }
}

#[test]
fn the_rounds_summary_matches_its_schema() {
    let env = TestEnv::new("schemarounds");
    let mut cmd = env.cmd("primary");
    cmd.args(["--rounds", "20", "--json"]);
    let out = run(cmd, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    validate("primary.schema.json", &out.stdout);
    let schema = Some(("primary.schema.json", "/$defs/rounds"));
    described_everywhere(&parse_json(&out.stdout), schema, "osps-primary.1");

    // A run that gave up has deaths with signals, and still matches.
    let mut env = TestEnv::new("schemagaveup");
    let primary = env.start_primary(&["--interval", "20ms", "--max-restarts", "0", "--json"]);
    let secondary = env.wait_secondary(T);
    assert!(kill(secondary, libc::SIGKILL));
    let out = output_within(env.take_child(primary), T);
    assert_eq!(out.status.code(), Some(6));
    validate("primary.schema.json", &out.stdout);
}

#[test]
fn the_serving_summary_inspect_and_cleanup_match_their_schemas() {
    let mut env = TestEnv::new("schemaserve");
    let primary = env.start_primary(&["--serve", "--secondaries", "2", "--json"]);
    let socket = env.runtime_dir.join(format!("{}.sock", env.name));
    let deadline = std::time::Instant::now() + slow(T);
    while !socket.exists() || env.header_field(common::field::SECONDARY_STATE) != Some(2) {
        assert!(
            std::time::Instant::now() < deadline,
            "the pool did not come up"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = run(
        {
            let mut c = env.cmd("client");
            c.args(["PING", "STATS"]);
            c
        },
        T,
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    // The STATS reply's keys are named in osps-client(1).
    let stats = String::from_utf8(out.stdout).unwrap();
    let stats = stats.lines().nth(1).unwrap();
    described_everywhere(&parse_json(stats.as_bytes()), None, "osps-client.1");

    let mut inspect = env.cmd("inspect");
    inspect.args(["--name", &env.name]);
    let out = run(inspect, T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    validate("inspect.schema.json", &out.stdout);
    // The header's counters, the serving ones among them.
    let header = &parse_json(&out.stdout)["instances"][0]["segment"]["header"];
    let schema = Some(("inspect.schema.json", "/$defs/header/oneOf/0"));
    described_everywhere(header, schema, "osps-inspect.1");

    assert!(kill(primary, libc::SIGTERM));
    let out = output_within(env.take_child(primary), T);
    assert!(out.status.success(), "{}", stderr_of(&out));
    validate("primary.schema.json", &out.stdout);
    let schema = Some(("primary.schema.json", "/$defs/serve"));
    described_everywhere(&parse_json(&out.stdout), schema, "osps-primary.1");
}

#[test]
fn inspect_and_cleanup_of_a_stale_instance_match_their_schemas() {
    let mut env = TestEnv::new("schemastale");
    let primary = env.start_primary(&["--interval", "20ms"]);
    let secondary = env.wait_secondary(T);
    assert!(kill(primary, libc::SIGKILL));
    let _ = env.take_child(primary).wait();
    assert!(common::wait_gone(secondary, Duration::from_secs(5)));

    let mut inspect = env.cmd("inspect");
    inspect.args(["--name", &env.name, "--compact"]);
    let out = run(inspect, T);
    validate("inspect.schema.json", &out.stdout);

    for dry in [true, false] {
        let mut cleanup = env.cmd("cleanup");
        cleanup.args(["--name", &env.name, "--json"]);
        if dry {
            cleanup.arg("--dry-run");
        }
        let out = run(cleanup, T);
        assert!(out.status.success(), "{}", stderr_of(&out));
        validate("cleanup.schema.json", &out.stdout);
    }
    env.assert_no_leftovers();
}

#[test]
fn the_audit_report_matches_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    // A program with a finding (a FIFO left) beside a child it reaps, one without, and a
    // pipeline whose writer SIGPIPE ends (its `broken_pipe` filled in).
    let script = format!(
        "mkfifo {0}/left.fifo; sleep 0.01 & wait; printf x > {0}/plain",
        dir.path().display()
    );
    let pipeline = vec!["sh", "-c", "yes | head -n 1 >/dev/null"];
    for program in [vec!["sh", "-c", script.as_str()], vec!["true"], pipeline] {
        let mut cmd = std::process::Command::new(common::osps_bin());
        cmd.args(["audit", "--json", "--"]).args(&program);
        let out = run(cmd, T);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            stderr_of(&out)
        );
        validate("audit.schema.json", &out.stdout);
    }
}

#[test]
fn every_json_document_has_a_schema_and_every_schema_a_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    // One per command that writes JSON: audit, cleanup, inspect, list, primary, top.
    assert_eq!(
        files,
        [
            "audit.schema.json",
            "cleanup.schema.json",
            "inspect.schema.json",
            "list.schema.json",
            "primary.schema.json",
            "top.schema.json"
        ]
    );
    let suite = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite");
    let tests: String = ["schema.rs", "views.rs"]
        .iter()
        .map(|f| std::fs::read_to_string(suite.join(f)).unwrap())
        .collect();
    for file in &files {
        let used = format!("validate(\"{file}\"");
        assert!(
            tests.contains(&used),
            "no test validates output against {file}"
        );
    }
}

#[test]
fn the_schemas_reject_documents_that_break_the_contract() {
    let rejects = |schema_file: &str, doc: &str| {
        let result = std::panic::catch_unwind(|| validate(schema_file, doc.as_bytes()));
        assert!(result.is_err(), "{schema_file} accepted {doc}");
    };
    rejects(
        "primary.schema.json",
        r#"{"schema_version":1,"mode":"rounds"}"#,
    );
    rejects(
        "inspect.schema.json",
        r#"{"schema_version":1,"instances":[{"name":"x","status":"alive"}]}"#,
    );
    rejects(
        "inspect.schema.json",
        r#"{"schema_version":2,"instances":[]}"#,
    );
    // list --json was a bare array (version 1), and top's keys were other names.
    rejects("list.schema.json", r#"[{"name":"x"}]"#);
    rejects(
        "list.schema.json",
        r#"{"schema_version":2,"instances":[{"heartbeat_ms":1}]}"#,
    );
    rejects(
        "top.schema.json",
        r#"{"schema_version":1,"unix_ms":0,"monotonic_ns":0,"instances":[]}"#,
    );
    rejects(
        "audit.schema.json",
        r#"{"schema_version":1,"command":{"argv":["x"],"exit_code":0,"signal":null,"duration_ms":1},"ended_by":"program","processes":[],"segments":[],"fifos":[],"findings":[{"kind":"leak","pid":1,"path":null,"message":"m","hint":"h"}]}"#,
    );
    rejects(
        "cleanup.schema.json",
        r#"{"schema_version":1,"removed":[{"name":"x"}],"skipped":[],"errors":[]}"#,
    );
}
