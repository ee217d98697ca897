//! Every jq filter shown in README.md, in the docs it links to (docs/DESIGN.md, FAULTS.md,
//! PERFORMANCE.md, SERVICE.md; the lab guides run in lab_docs.rs) and in the man pages runs
//! against real output: it must parse, and it must not come out `null` (a key the documents
//! do not have).

use crate::common;

use common::{T, TestEnv, jq, kill, output_within, run, stderr_of};

/// The text of the docs, with the man pages' roff escapes undone.
fn docs() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs: Vec<(String, String)> = [
        "README.md",
        "docs/DESIGN.md",
        "docs/FAULTS.md",
        "docs/PERFORMANCE.md",
        "docs/SERVICE.md",
    ]
    .iter()
    .map(|doc| {
        let text = std::fs::read_to_string(root.join(doc)).unwrap_or_else(|e| panic!("{doc}: {e}"));
        (doc.to_string(), text)
    })
    .collect();
    for entry in std::fs::read_dir(root.join("man")).unwrap() {
        let path = entry.unwrap().path();
        let roff = std::fs::read_to_string(&path).unwrap();
        let text = roff
            .replace("\\-", "-")
            .replace("\\*(Aq", "'")
            .replace("\\\\", "\\");
        docs.push((path.display().to_string(), text));
    }
    docs
}

/// The filters of every `jq '...'` / `jq -r '...'` / `jq -e '...'` in the docs, each with
/// the command whose output it reads (`list`, `top` or another).
fn filters() -> Vec<(String, String, &'static str)> {
    let mut found = Vec::new();
    for (doc, text) in docs() {
        for line in text.lines() {
            let mut rest = line;
            while let Some(at) = rest.find("jq ") {
                rest = &rest[at + 3..];
                let options = rest
                    .trim_start_matches(|c: char| c == '-' || c.is_ascii_alphabetic() || c == ' ');
                if let Some(body) = options.strip_prefix('\'') {
                    if let Some(end) = body.find('\'') {
                        let command = if line.contains("osps list") {
                            "list"
                        } else if line.contains("osps top") {
                            "top"
                        } else {
                            "other"
                        };
                        found.push((doc.clone(), body[..end].to_string(), command));
                        rest = &body[end..];
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_documented_jq_filter_runs_on_real_output() {
    let found = filters();
    assert!(
        found.len() >= 8,
        "too few jq filters found in the docs: {found:?}"
    );

    // Real documents: a running instance, a run's summary with a death, a cleanup report.
    let mut env = TestEnv::new("docsjq");
    let primary = env.start_primary(&["--interval", "20ms"]);
    env.wait_secondary(T);
    env.wait_rounds(2, T);
    let mut inspect = env.cmd("inspect");
    inspect.args(["--name", &env.name]);
    let inspect_doc = run(inspect, T).stdout;
    let mut list = env.cmd("list");
    list.arg("--json");
    let list_doc = run(list, T).stdout;
    let mut top = env.cmd("top");
    top.args([
        "--json",
        "--iterations",
        "2",
        "--interval",
        "50ms",
        "--name",
        &env.name,
    ]);
    let top_out = run(top, T).stdout;
    // The second document: the first has no rates yet.
    let top_doc = top_out
        .split(|&b| b == b'\n')
        .nth(1)
        .unwrap_or_default()
        .to_vec();
    assert!(kill(primary, libc::SIGTERM));
    assert!(output_within(env.take_child(primary), T).status.success());

    let mut dying = TestEnv::new("docsjqdeath");
    let p = dying.start_primary(&["--interval", "20ms", "--max-restarts", "0", "--json"]);
    let secondary = dying.wait_secondary(T);
    assert!(kill(secondary, libc::SIGKILL));
    let summary = output_within(dying.take_child(p), T).stdout;

    let stale = TestEnv::new("docsjqstale");
    stale.make_runtime_dir();
    std::fs::write(
        stale.runtime_dir.join(format!("{}.lock", stale.name)),
        b"1\n",
    )
    .unwrap();
    std::fs::set_permissions(
        stale.runtime_dir.join(format!("{}.lock", stale.name)),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let mut cleanup = stale.cmd("cleanup");
    cleanup.args(["--name", &stale.name, "--json"]);
    let report = run(cleanup, T);
    assert!(report.status.success(), "{}", stderr_of(&report));

    for (doc, filter, command) in found {
        let input: &[u8] = if command == "list" {
            &list_doc
        } else if command == "top" {
            &top_doc
        } else if filter.starts_with(".instances") {
            &inspect_doc
        } else if filter.starts_with(".removed") {
            &report.stdout
        } else if filter.starts_with(".deaths") || filter.starts_with("{rounds") {
            &summary
        } else {
            continue; // `.` and the like: nothing to check
        };
        let out = jq(&["-c", &filter], input);
        assert!(
            out.status.success(),
            "{doc}: jq {filter:?} failed: {}",
            stderr_of(&out)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        // A null value, not the word: another test's instance may be named t-devnullrw.
        let nulls = text
            .lines()
            .filter(|l| !l.is_empty())
            .any(|l| has_null(&serde_json::from_str(l).unwrap_or(serde_json::Value::Null)));
        assert!(!nulls, "{doc}: jq {filter:?} gave null: {text}");
    }
}

/// Whether `v` is null or holds a null anywhere.
fn has_null(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Array(a) => a.iter().any(has_null),
        serde_json::Value::Object(o) => o.values().any(has_null),
        _ => false,
    }
}
