//! The README as a newcomer follows it: the lines of its walk-through, of its other
//! examples and of its install section, taken from README.md itself (the fenced block
//! after each `<!-- walkthrough: ... -->`, `<!-- snippet: ... -->` or `<!-- install ... -->`
//! marker) and run in a fresh `bash --noprofile --norc` with an empty environment, as
//! typed and in order. A README line that stops working, or stops printing what its
//! comment promises, fails here: in the examples, a comment quotes an output after `→ `
//! (`osps stop demo   # → stopped instance demo`), and the line must print it.
//!
//! Three things differ from a newcomer's machine, each to keep the test isolated and
//! fast: the instance name `demo` is replaced by the test's unique name (the segment
//! `/dev/shm/osps.UID.demo` is shared by everything this user runs); `OSPS_RUNTIME_DIR`
//! points into the test's private directory; and `cargo build --release` / `cargo install`
//! are answered by a stub `cargo` first on PATH, with the test's `osps` binary already
//! in `target/release/` of a scratch copy of the repository's layout (compiling a
//! release build inside a test would take minutes). Terminal 2's lines run one at a
//! time with a short pause between them, as a person types.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestEnv, osps_bin, run, stderr_of, stdout_of};

/// No shell of this test may run longer.
const DEADLINE: Duration = Duration::from_secs(60);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The lines of the first fenced block after the line containing `marker` (blank lines
/// dropped). Panics, naming the marker, when the README no longer has it.
fn block_after(marker: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let at = readme
        .find(marker)
        .unwrap_or_else(|| panic!("README.md lost the marker {marker:?}"));
    let mut lines = readme[at..].lines().skip_while(|l| !l.starts_with("```"));
    assert!(lines.next().is_some(), "no fenced block after {marker:?}");
    let block: Vec<String> = lines
        .take_while(|l| !l.starts_with("```"))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    assert!(!block.is_empty(), "the block after {marker:?} is empty");
    block
}

/// The comment at the end of a README line (`cmd   # what it shows`), if any.
fn comment_of(line: &str) -> Option<&str> {
    line.rsplit_once("  # ").map(|(_, c)| c.trim())
}

/// A directory with stub `cargo` and `sudo` commands, put first on PATH: `cargo` accepts
/// exactly the README's `build --release` and `install --path .` (the binary is already
/// built by the test harness), `sudo` runs its arguments as is.
fn stub_bin(env: &TestEnv) -> PathBuf {
    let bin = env.tmp.path().join("stub-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let cargo = "#!/bin/sh\n\
        # Stands in for the README's cargo commands: the test's osps is already built.\n\
        case \"$*\" in\n\
        'build --release') [ -x \"${CARGO_TARGET_DIR:-target}/release/osps\" ] ;;\n\
        'install --path .') [ -f Cargo.toml ] ;;\n\
        *) echo \"stub cargo: the README now runs 'cargo $*': update tests/suite/readme_walkthrough.rs\" >&2; exit 1 ;;\n\
        esac\n";
    let sudo = "#!/bin/sh\nexec \"$@\"\n";
    for (name, text) in [("cargo", cargo), ("sudo", sudo)] {
        let path = bin.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// A fresh non-interactive bash with an empty environment but for a standard PATH (the
/// stubs first), HOME, and the test's runtime directory.
fn fresh_bash(env: &TestEnv, cwd: &Path, home: &Path, script: &str) -> Command {
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        stub_bin(env).to_str().unwrap()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-c", script])
        .current_dir(cwd)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("OSPS_RUNTIME_DIR", &env.runtime_dir)
        .stdin(Stdio::null());
    cmd
}

/// A scratch "repository" for the walk-through: `target/release/osps` is the binary
/// under test.
fn scratch_repo(env: &TestEnv) -> PathBuf {
    let dir = env.tmp.path().join("repo");
    std::fs::create_dir_all(dir.join("target/release")).unwrap();
    std::os::unix::fs::symlink(osps_bin(), dir.join("target/release/osps")).unwrap();
    dir
}

/// Splits the output of terminal 2 into each step's output, by the markers the test
/// printed before each line.
fn steps(out: &str, n: usize) -> Vec<String> {
    let mut steps = vec![String::new(); n];
    let mut current = None;
    for line in out.lines() {
        if let Some(i) = line.strip_prefix("@@step ") {
            current = Some(i.parse::<usize>().unwrap());
            continue;
        }
        if let Some(i) = current {
            steps[i].push_str(line);
            steps[i].push('\n');
        }
    }
    steps
}

#[test]
fn the_walk_through_in_two_terminals_runs_as_typed() {
    let mut env = TestEnv::new("readme");
    let name = env.name.clone();
    let repo_dir = scratch_repo(&env);
    let home = env.tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let ours = |line: &str| line.replace("demo", &name);

    // Terminal 1: a long-lived primary, in the background of the test.
    let terminal1: Vec<String> = block_after("<!-- walkthrough: terminal 1")
        .iter()
        .map(|l| ours(l.as_str()))
        .collect();
    assert!(
        terminal1.last().unwrap().contains("osps primary"),
        "terminal 1 no longer ends by starting the primary: {terminal1:?}"
    );
    let t1 = env.start_logged(fresh_bash(&env, &repo_dir, &home, &terminal1.join("\n")));
    let deadline = Instant::now() + DEADLINE;
    while env
        .header_field(common::field::ROUNDS_COMPLETED)
        .unwrap_or(0)
        < 1
    {
        assert!(
            Instant::now() < deadline,
            "terminal 1 ({terminal1:?}) did not start instance {name}: {}",
            env.stderr_so_far(&t1)
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Terminal 2: a new shell in the same directory, each line run as typed.
    let terminal2 = block_after("<!-- walkthrough: terminal 2");
    let mut script = String::from("exec 2>&1\n");
    for (i, line) in terminal2.iter().enumerate() {
        script.push_str(&format!("echo '@@step {i}'\n{}\nsleep 0.3\n", ours(line)));
    }
    let out = run(fresh_bash(&env, &repo_dir, &home, &script), DEADLINE);
    let text = stdout_of(&out);
    let steps = steps(&text, terminal2.len());
    let context = |i: usize| format!("step {i}: {}\noutput:\n{}", terminal2[i], steps[i]);

    // Every line's comment states its result; each must hold.
    let mut checked = 0;
    for (i, line) in terminal2.iter().enumerate() {
        let out = &steps[i];
        assert!(
            !out.contains("command not found") && !out.contains("No such file"),
            "{}",
            context(i)
        );
        match comment_of(line).map(&ours) {
            Some(c) if c.starts_with(&name) => {
                // `# demo running`: the instance listed with that status.
                let want: String = c.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                assert!(
                    out.lines().any(|l| l == want),
                    "wanted {want:?}: {}",
                    context(i)
                );
                checked += 1;
            }
            Some(c) if c.starts_with("removes") => {
                assert!(out.contains(&format!("{name}.lock")), "{}", context(i));
                checked += 1;
            }
            Some(c) if c.contains("status 4") => {
                assert!(out.contains("exit status 4"), "{}", context(i));
                checked += 1;
            }
            Some(c) => panic!("a README comment this test does not check: {c:?}"),
            None if line.contains("jq '.instances[0] | {status") => {
                let v: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| {
                    panic!("not JSON ({e}): {}", context(i));
                });
                assert_eq!(v["status"], "running", "{}", context(i));
                assert!(
                    v["rounds"].as_u64().is_some_and(|r| r >= 1),
                    "{}",
                    context(i)
                );
                assert!(v["primary"].as_u64().is_some() && v["secondary"].as_u64().is_some());
                checked += 1;
            }
            None => assert!(out.trim().is_empty(), "unexpected output: {}", context(i)),
        }
    }
    assert_eq!(
        checked, 5,
        "the walk-through's documented results changed: {terminal2:?}"
    );

    // Terminal 1's primary was killed with SIGKILL by terminal 2, and said it was ready.
    let t1_out = env.finish_logged(&t1, DEADLINE);
    assert!(!t1_out.status.success(), "terminal 1 ended normally?");
    assert!(
        stderr_of(&t1_out).contains("ready"),
        "{}",
        stderr_of(&t1_out)
    );
    env.assert_no_leftovers();
}

/// The outputs a README line's comment quotes: each text after a `→ ` (`# → PONG → olleh`).
fn quoted_outputs(line: &str) -> Vec<String> {
    comment_of(line)
        .map(|c| {
            c.split("→ ")
                .skip(1)
                .map(|q| q.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs of spaces as one, to compare an output line with its quote (`ps` and `osps list`
/// align their columns).
fn squeezed(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The names of the README's `<!-- snippet: NAME ... -->` blocks, in order.
fn snippet_names() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    readme
        .lines()
        .filter_map(|l| l.strip_prefix("<!-- snippet: "))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

/// Runs one snippet line by line in one fresh shell, as typed, with the test's osps first
/// on PATH and the snippet's instance names (`demo`, `zdemo`, `web`) replaced by the
/// test's; each quoted output must appear in its line's output, and the snippet must
/// leave nothing behind.
fn run_snippet(snippet: &str) -> usize {
    run_snippet_after(snippet, "")
}

/// [`run_snippet`], with `prelude` run first in the same shell.
fn run_snippet_after(snippet: &str, prelude: &str) -> usize {
    let env = TestEnv::new("snippet");
    let name = env.name.clone();
    let ours = |line: &str| {
        line.replace("zdemo", &name)
            .replace("demo", &name)
            .replace("--name web", &format!("--name {name}"))
            .replace("stop web", &format!("stop {name}"))
            .replace("instance web", &format!("instance {name}"))
    };
    let lines = block_after(&format!("<!-- snippet: {snippet} "));
    let work = env.tmp.path().join("work");
    let home = env.tmp.path().join("home");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let bin_dir = Path::new(osps_bin()).parent().unwrap();
    let mut script = format!(
        "exec 2>&1
export PATH={}:$PATH
{prelude}
",
        bin_dir.display()
    );
    for (i, line) in lines.iter().enumerate() {
        script.push_str(&format!("echo '@@step {i}'\n{}\nsleep 0.3\n", ours(line)));
    }
    let out = run(fresh_bash(&env, &work, &home, &script), DEADLINE);
    let text = stdout_of(&out);
    let steps = steps(&text, lines.len());
    let mut checked = 0;
    for (i, line) in lines.iter().enumerate() {
        let context = format!("snippet {snippet}, line {i}: {line}\noutput:\n{}", steps[i]);
        assert!(
            !steps[i].contains("command not found") && !steps[i].contains("No such file"),
            "{context}"
        );
        for quote in quoted_outputs(&ours(line)) {
            let quote = squeezed(&quote);
            assert!(
                steps[i].lines().any(|l| squeezed(l).contains(&quote)),
                "wanted a line with {quote:?}: {context}"
            );
            checked += 1;
        }
    }
    env.assert_no_leftovers();
    checked
}

#[test]
fn every_readme_example_runs_in_order_and_prints_what_it_quotes() {
    let names = snippet_names();
    for want in ["watching", "serving", "zombie", "stop-first", "size"] {
        assert!(
            names.iter().any(|n| n == want),
            "README.md lost the snippet {want:?}: {names:?}"
        );
    }
    // Each snippet has its own instance and runtime directory: run them side by side
    // (they mostly wait: a primary's interval, a zombie held for seconds).
    let checked: Vec<(String, usize)> = std::thread::scope(|scope| {
        let runs: Vec<_> = names
            .iter()
            .map(|n| (n, scope.spawn(|| run_snippet(n))))
            .collect();
        runs.into_iter()
            .map(|(n, h)| match h.join() {
                Ok(c) => (n.clone(), c),
                Err(e) => std::panic::resume_unwind(e),
            })
            .collect()
    });
    for (name, count) in &checked {
        assert!(*count >= 1, "snippet {name} quotes no output to check");
    }
}

/// The set-up a newcomer runs on a fresh machine is two commands: the main job on its
/// defaults and the tests.
#[test]
fn the_set_up_is_two_commands_the_main_job_and_the_tests() {
    let lines = block_after("## Set up on a fresh machine");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("cargo run --release -- primary"),
        "{lines:?}"
    );
    assert_eq!(lines[1], "cargo test", "{lines:?}");
}

#[test]
fn the_install_lines_work_on_a_system_without_the_directories() {
    let env = TestEnv::new("install");
    let root = env.tmp.path().join("root");
    let home = root.join("home/newcomer");
    std::fs::create_dir_all(&home).unwrap();
    let lines = block_after("<!-- install");
    let script: Vec<String> = lines
        .iter()
        .map(|l| l.replace("/usr/local", &format!("{}/usr/local", root.display())))
        .collect();
    let cmd = fresh_bash(
        &env,
        repo(),
        &home,
        &format!("set -e\n{}", script.join("\n")),
    );
    let out = run(cmd, DEADLINE);
    assert!(
        out.status.success(),
        "the install lines failed: {}{}\nlines: {lines:#?}",
        stdout_of(&out),
        stderr_of(&out)
    );
    let installed = |path: PathBuf, from: &str| {
        let got = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(got, std::fs::read(repo().join(from)).unwrap(), "{from}");
        assert_eq!(common::mode_of(&path) & 0o777, 0o644, "{}", path.display());
    };
    for page in std::fs::read_dir(repo().join("man")).unwrap() {
        let page = page.unwrap().file_name().into_string().unwrap();
        installed(
            root.join("usr/local/share/man/man1").join(&page),
            &format!("man/{page}"),
        );
    }
    installed(
        home.join(".local/share/bash-completion/completions/osps"),
        "completions/osps.bash",
    );
    installed(home.join(".zfunc/_osps"), "completions/_osps");
    installed(
        home.join(".config/fish/completions/osps.fish"),
        "completions/osps.fish",
    );
}

#[test]
fn the_readme_says_which_shells_complete_live_names() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains("Only bash, zsh and fish complete the names of live instances"),
        "README.md must say which shells complete instance names (elvish and PowerShell do not)"
    );
    // The generator agrees: the dynamic helper is in those three scripts only.
    for (file, dynamic) in [
        ("osps.bash", true),
        ("_osps", true),
        ("osps.fish", true),
        ("osps.elv", false),
        ("_osps.ps1", false),
    ] {
        let text = std::fs::read_to_string(repo().join("completions").join(file)).unwrap();
        assert_eq!(text.contains("instance_names"), dynamic, "{file}");
    }
}

/// A newcomer whose cargo builds elsewhere (`CARGO_TARGET_DIR` set, as on a shared
/// machine) follows the same lines: the walk-through's `export PATH=...` must find the
/// binary where cargo put it, not only in `./target/release`.
#[test]
fn the_walk_through_finds_osps_where_cargo_target_dir_puts_it() {
    let env = TestEnv::new("readme-tdir");
    let repo_dir = env.tmp.path().join("repo");
    let target = env.tmp.path().join("elsewhere");
    std::fs::create_dir_all(&repo_dir).unwrap();
    std::fs::create_dir_all(target.join("release")).unwrap();
    std::os::unix::fs::symlink(osps_bin(), target.join("release/osps")).unwrap();
    let home = env.tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    for marker in [
        "<!-- walkthrough: terminal 1",
        "<!-- walkthrough: terminal 2",
    ] {
        let first = block_after(marker)[0].clone();
        assert!(first.contains("export PATH="), "{marker}: {first}");
        let script = format!("{first}\nosps --version");
        let mut cmd = fresh_bash(&env, &repo_dir, &home, &script);
        cmd.env("CARGO_TARGET_DIR", &target);
        let out = run(cmd, DEADLINE);
        assert!(
            out.status.success(),
            "{marker}: {first}\n{}{}",
            stdout_of(&out),
            stderr_of(&out)
        );
        assert!(stdout_of(&out).starts_with("osps "), "{}", stdout_of(&out));
    }
}

/// A student's shell may run niced (a lab machine's batch session, `nice cargo test` on a
/// shared one): ps's STAT column then reads `ZN`, not `Z`. The zombie line the README
/// quotes must still be what ps prints there.
#[test]
fn the_zombie_snippet_prints_what_it_quotes_in_a_niced_shell() {
    assert!(run_snippet_after("zombie", "renice -n 5 -p $$ >/dev/null") >= 1);
}
