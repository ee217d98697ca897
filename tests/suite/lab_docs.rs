//! The lab guides (docs/LAB.md, docs/LAB.fr.md) stay true: every command in them that can
//! run unattended is run, against the real binary, and must succeed and leave nothing
//! behind.
//!
//! The convention, written down in the guides themselves: every ```sh block runs, in its
//! own bash with `set -eo pipefail`, after the guide's setup block (the one whose first
//! line is `# setup` or `# préparation`); a block whose first line is `# by hand` or
//! `# à la main` needs a person (a terminal, systemd, a machine of one's own) and is
//! skipped; a block that uses strace fails the test when strace cannot trace here. Each block
//! gets its own instance name (`OSPS_NAME`), runtime directory (`OSPS_RUNTIME_DIR`),
//! working directory and `TMPDIR` (the guides' `$LAB_TMP` is made there), with the osps
//! under test first in `PATH`. A line whose comment quotes an output (`# → text`, the
//! guides' own convention) must print it: some line of the block's output, stdout or
//! stderr, contains the text (runs of spaces count as one).

use crate::common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{TestEnv, osps_bin, stderr_of, stdout_of, wait_gone};

/// How long one block may take (it runs several primaries, on a loaded machine).
const BLOCK_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug)]
enum Kind {
    Setup,
    ByHand,
    Run,
}

#[derive(Debug)]
struct Block {
    /// Where it starts, for messages: `docs/LAB.md:123`.
    at: String,
    code: String,
    kind: Kind,
}

fn read_doc(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ```sh blocks of a guide (fences may be indented, inside a list item).
fn blocks(file: &str) -> Vec<Block> {
    let text = read_doc(file);
    let mut found = Vec::new();
    let mut current: Option<(usize, String, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match current.as_mut() {
            None if trimmed == "```sh" => {
                let indent = line.len() - trimmed.len();
                current = Some((n + 1, " ".repeat(indent), String::new()));
            }
            None => {}
            Some(_) if trimmed == "```" => {
                let (start, _, code) = current.take().unwrap();
                let first = code.lines().next().unwrap_or("");
                let kind = if first.starts_with("# setup") || first.starts_with("# préparation") {
                    Kind::Setup
                } else if first.starts_with("# by hand") || first.starts_with("# à la main") {
                    Kind::ByHand
                } else {
                    Kind::Run
                };
                found.push(Block {
                    at: format!("docs/{file}:{start}"),
                    code,
                    kind,
                });
            }
            Some((_, indent, code)) => {
                code.push_str(line.strip_prefix(indent.as_str()).unwrap_or(trimmed));
                code.push('\n');
            }
        }
    }
    assert!(
        current.is_none(),
        "docs/{file}: a ```sh block is not closed"
    );
    found
}

/// Whether strace can trace a child here (it may be missing, or ptrace forbidden).
fn strace_works() -> bool {
    Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs one block after the setup; panics with the block and its output when it fails
/// or leaves objects behind.
fn run_block(setup: &str, block: &Block) {
    let env = TestEnv::new("lab");
    let work = env.tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let bin_dir = Path::new(osps_bin()).parent().unwrap();
    // The interpreter's own directory before pyenv's shims: the shim is a bash script
    // whose helpers, on a loaded machine, reap their children late enough for an audited
    // block to report them as zombies, though no block is about them.
    let python_dir = Path::new(common::python3())
        .parent()
        .filter(|d| d.is_absolute())
        .map(|d| format!("{}:", d.display()))
        .unwrap_or_default();
    let path = format!(
        "{}:{python_dir}{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -eo pipefail\n{setup}\n{}", block.code);
    let (out_file, err_file) = (env.tmp.path().join("out"), env.tmp.path().join("err"));
    let child = Command::new("bash")
        .args(["-c", &script])
        .env("PATH", path)
        .env("OSPS_NAME", &env.name)
        .env("OSPS_RUNTIME_DIR", &env.runtime_dir)
        .env("TMPDIR", env.tmp.path())
        .env("NO_COLOR", "1")
        .env_remove("OSPS_TRACE")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .current_dir(&work)
        .stdin(Stdio::null())
        // Files, not pipes: a process the block leaves running would keep a pipe open
        // and the test would wait for it instead of killing it.
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap())
        // Its own process group, so whatever the block left running is killed with it.
        .process_group(0)
        .spawn()
        .unwrap();
    let group = child.id();
    let mut child = child;
    let deadline = Instant::now() + BLOCK_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whatever the block left running goes with its group, even when it timed out.
    kill_group(group);
    let status = status.unwrap_or_else(|| {
        let _ = child.wait();
        panic!(
            "{}: the block did not end within {BLOCK_TIMEOUT:?}:\n{}\n--- stderr:\n{}",
            block.at,
            block.code,
            String::from_utf8_lossy(&std::fs::read(&err_file).unwrap_or_default())
        )
    });
    let out = std::process::Output {
        status,
        stdout: std::fs::read(&out_file).unwrap_or_default(),
        stderr: std::fs::read(&err_file).unwrap_or_default(),
    };
    assert!(
        out.status.success(),
        "{}: the block failed ({}):\n{}\n--- stdout:\n{}\n--- stderr:\n{}",
        block.at,
        out.status,
        block.code,
        stdout_of(&out),
        stderr_of(&out)
    );
    // A jq filter naming a key the documents no longer have prints null.
    assert!(
        !stdout_of(&out).contains("null"),
        "{}: the block printed null (a jq filter with a key osps does not have?):\n{}\n--- stdout:\n{}",
        block.at,
        block.code,
        stdout_of(&out)
    );
    let printed: Vec<String> = stdout_of(&out)
        .lines()
        .chain(stderr_of(&out).lines())
        .map(squeezed)
        .collect();
    for quote in block.code.lines().flat_map(quoted_outputs) {
        assert!(
            printed.iter().any(|l| l.contains(&quote)),
            "{}: no line of the output has {quote:?}, which the guide quotes:\n{}\n--- stdout:\n{}\n--- stderr:\n{}",
            block.at,
            block.code,
            stdout_of(&out),
            stderr_of(&out)
        );
    }
    let left = env.leftovers();
    assert!(
        left.is_empty(),
        "{}: the block left objects behind: {left:?}\n{}",
        block.at,
        block.code
    );
    // The working directory stands for the student's clone of the repository, which the
    // guide promises to keep clean ("none lands in the repository").
    let files: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        files.is_empty(),
        "{}: the block left files in the repository: {files:?}\n{}",
        block.at,
        block.code
    );
}

/// Runs of spaces as one (`ps` aligns its columns).
fn squeezed(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The outputs a line's comment quotes: each text after a `→ ` in its `  # ` comment
/// (`# → is already running → refused: exit status 1`), spaces squeezed.
fn quoted_outputs(line: &str) -> Vec<String> {
    line.rsplit_once("  # ")
        .map(|(_, c)| c.split("→ ").skip(1).map(squeezed).collect())
        .unwrap_or_default()
}

/// Kills what is left of the block's process group (a background primary the block
/// failed to stop); the group's leader is our own child, already reaped.
fn kill_group(group: u32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created.
    unsafe { libc::kill(-(group as i32), libc::SIGKILL) };
}

/// How many blocks of one guide run at once: they wait far more than they compute (a
/// primary's interval, a zombie held for seconds), and each has its own instance, runtime
/// directory and working directory, so they cannot collide.
const BLOCKS_AT_ONCE: usize = 4;

/// Runs every unattended block of a guide, a few at a time; returns how many ran. A
/// failing block fails the test with its own message, once the blocks already running
/// have ended (after a failure no worker starts another block).
fn run_guide(file: &str) -> usize {
    let all = blocks(file);
    let setup: String = all
        .iter()
        .filter(|b| matches!(b.kind, Kind::Setup))
        .map(|b| b.code.as_str())
        .collect();
    assert!(!setup.is_empty(), "docs/{file}: no setup block");
    let strace = strace_works();
    let mut runnable = Vec::new();
    for block in all.iter().filter(|b| matches!(b.kind, Kind::Run)) {
        assert!(
            !block.code.contains("strace") || strace,
            "{}: strace cannot trace here (install it: `apt-get install strace`, as .ci/run \
             does; in a container, ptrace may be refused)",
            block.at
        );
        runnable.push(block);
    }
    // Workers take the next block as they finish one, so a long block does not hold up
    // the others.
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let failures: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..BLOCKS_AT_ONCE)
            .map(|_| {
                scope.spawn(|| {
                    while !failed.load(Ordering::Relaxed) {
                        let Some(block) = runnable.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        let ran = std::panic::catch_unwind(|| run_block(&setup, block));
                        if let Err(failure) = ran {
                            failed.store(true, Ordering::Relaxed);
                            std::panic::resume_unwind(failure);
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().err()).collect()
    });
    if let Some(failure) = failures.into_iter().next() {
        std::panic::resume_unwind(failure);
    }
    runnable.len()
}

#[test]
fn every_unattended_command_of_the_english_guide_runs() {
    assert!(run_guide("LAB.md") >= 15);
}

#[test]
fn every_unattended_command_of_the_french_guide_runs() {
    assert!(run_guide("LAB.fr.md") >= 15);
}

/// Both guides have the same blocks in the same order (the commands are the same; only
/// the comments are translated), and one section per step of the lab, in order.
#[test]
fn the_guides_have_the_same_commands_and_the_four_steps() {
    let shape = |file| {
        blocks(file)
            .iter()
            .map(|b| format!("{:?} {}", b.kind, b.code.lines().count()))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape("LAB.md"), shape("LAB.fr.md"));
    for file in ["LAB.md", "LAB.fr.md"] {
        let text = read_doc(file);
        let mut from = 0;
        for step in ["## 1. ", "## 2. ", "## 3. ", "## 4. "] {
            let at = text[from..]
                .find(step)
                .unwrap_or_else(|| panic!("docs/{file}: no section {step:?} in order"));
            from += at + step.len();
        }
    }
}

/// The harness itself: a failing block is reported (a guide test that cannot fail is
/// useless), and what a block leaves running is killed with its process group.
#[test]
fn a_failing_block_fails_the_test_and_leaves_nothing_running() {
    let block = Block {
        at: "test".into(),
        code: "osps primary --rounds 1 --size 4100\n".into(),
        kind: Kind::Run,
    };
    assert!(std::panic::catch_unwind(|| run_block("", &block)).is_err());
    let block = Block {
        at: "test".into(),
        code: "echo hello   # → goodbye\n".into(),
        kind: Kind::Run,
    };
    assert!(std::panic::catch_unwind(|| run_block("", &block)).is_err());
    assert_eq!(
        quoted_outputs("ps   # the secondary: → Z [osps]  <defunct>"),
        ["Z [osps] <defunct>"]
    );

    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sleeper.pid");
    let block = Block {
        at: "test".into(),
        code: format!("sleep 1000 &\necho $! > {}\n", pid_file.display()),
        kind: Kind::Run,
    };
    run_block("", &block);
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_gone(pid, Duration::from_secs(10)),
        "the block's background sleep {pid} still runs"
    );
}
