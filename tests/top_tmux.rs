//! `osps top` in a real terminal: tmux runs it in a detached session on a private server
//! socket (`tmux -L`), `capture-pane` reads the screen, `send-keys` types. The shell
//! around top prints a marker before and after it and `stty -a` after it, so the test sees
//! that the terminal came back: main screen, cursor, canonical mode and echo.
//! Needs tmux (Debian: `apt-get install tmux`; .ci/run installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestEnv, children_of, kill, osps_bin, run, stderr_of, stdout_of, wait_gone};

const T: Duration = Duration::from_secs(30);

/// A tmux server of our own, killed (with everything in it) on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(tag: &str) -> Tmux {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("tmux").is_file()));
        assert!(
            found,
            "`tmux` is not installed, and this test needs it: install it (Debian/Ubuntu: \
             `apt-get install tmux`; .ci/run does this on CI machines)"
        );
        Tmux {
            socket: format!("osps-test-{tag}-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("tmux");
        cmd.arg("-L").arg(&self.socket).args(args);
        let out = run(cmd, T);
        assert!(out.status.success(), "tmux {args:?}: {}", stderr_of(&out));
        stdout_of(&out)
    }

    /// Starts `osps top ARGS` for `env` in a new 160x40 session, inside a shell that
    /// marks the screen before and after it and then reports the terminal modes.
    fn start_top(&self, env: &TestEnv, args: &str) {
        let script = format!(
            "echo BEFORE-TOP; env OSPS_RUNTIME_DIR={dir} NO_COLOR=1 {bin} top {args}; \
             echo TOP-EXITED rc=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon \
             -e echo -e -echo | tr '\\n' ' '; echo; sleep 600",
            dir = env.runtime_dir.display(),
            bin = osps_bin(),
        );
        self.run(&[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "160",
            "-y",
            "40",
            "sh",
            "-c",
            &script,
        ]);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    fn format(&self, what: &str) -> String {
        self.run(&["display-message", "-p", "-t", "top", what])
            .trim()
            .to_string()
    }

    /// Waits until `check` accepts the screen; panics with the screen after `timeout`.
    fn wait_screen(&self, timeout: Duration, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{what} within {timeout:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pid of `osps top`, the child of the pane's shell.
    fn top_pid(&self) -> u32 {
        let shell: u32 = self.format("#{pane_pid}").parse().unwrap();
        let deadline = Instant::now() + T;
        loop {
            if let Some(&pid) = children_of(shell).first() {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "no osps top under the pane's shell {shell}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Checks that top has gone and left the terminal as it found it.
    fn assert_restored(&self) {
        let screen = self.wait_screen(Duration::from_secs(10), "top exiting", |s| {
            s.contains("TOP-EXITED") && s.contains("icanon")
        });
        assert_eq!(
            self.format("#{alternate_on}"),
            "0",
            "still on the alternate screen"
        );
        assert_eq!(
            self.format("#{cursor_flag}"),
            "1",
            "the cursor is still hidden"
        );
        assert!(
            screen.contains("BEFORE-TOP"),
            "the main screen was not restored:\n{screen}"
        );
        assert!(screen.contains("TOP-EXITED rc=0"), "{screen}");
        let modes = screen.lines().find(|l| l.contains("icanon")).unwrap();
        let modes: Vec<&str> = modes.split_whitespace().collect();
        assert!(
            modes.contains(&"icanon") && modes.contains(&"echo"),
            "still raw: {modes:?}"
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// The PER SEC cell of `name`'s line on the screen, if it shows a number.
fn rate_on(screen: &str, name: &str) -> Option<String> {
    let line = screen.lines().find(|l| l.contains(name))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == name)?;
    let rate = *words.get(at + 4)?;
    rate.parse::<f64>().ok().filter(|r| *r > 0.0)?;
    Some(rate.to_string())
}

#[test]
fn top_shows_instances_with_changing_rates_and_q_restores_the_terminal() {
    let mut env = TestEnv::new("toptmux");
    env.start_primary(&["--interval", "10ms"]);
    env.wait_rounds(2, T);
    let tmux = Tmux::new("q");
    // Only this instance: this user's other instances (other tests') would be listed too,
    // and the first row selected might be one of them.
    tmux.start_top(&env, &format!("--interval 200ms --name {}", env.name));
    let screen = tmux.wait_screen(Duration::from_secs(10), "the instance on the screen", |s| {
        s.contains(&env.name) && s.contains("running")
    });
    assert!(screen.contains("osps top - "), "{screen}");
    assert!(screen.contains("PER SEC"), "{screen}");
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "1",
        "top draws on the alternate screen"
    );

    // The rate is a number that changes from refresh to refresh.
    let mut rates = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while rates.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the rate did not change: {rates:?}\n{}",
            tmux.screen()
        );
        if let Some(rate) = rate_on(&tmux.screen(), &env.name) {
            rates.insert(rate);
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // Enter shows the status of the selection; Esc closes it.
    tmux.run(&["send-keys", "-t", "top", "Enter"]);
    tmux.wait_screen(Duration::from_secs(5), "the status panel", |s| {
        s.contains("Status: running since") && s.contains("osps primary")
    });
    tmux.run(&["send-keys", "-t", "top", "Escape"]);
    tmux.wait_screen(Duration::from_secs(5), "the panel closing", |s| {
        !s.contains("Status: running since")
    });

    tmux.run(&["send-keys", "-t", "top", "q"]);
    tmux.assert_restored();
}

#[test]
fn sigterm_ends_top_and_restores_the_terminal() {
    let mut env = TestEnv::new("toptmuxterm");
    env.start_primary(&["--interval", "50ms"]);
    env.wait_rounds(1, T);
    let tmux = Tmux::new("term");
    tmux.start_top(&env, "--interval 200ms");
    tmux.wait_screen(Duration::from_secs(10), "the instance on the screen", |s| {
        s.contains(&env.name)
    });
    assert!(kill(tmux.top_pid(), libc::SIGTERM));
    tmux.assert_restored();
}

#[test]
fn list_colours_the_status_on_a_terminal_unless_no_color() {
    let mut env = TestEnv::new("listcolour");
    env.start_primary(&["--interval", "50ms"]);
    env.wait_rounds(1, T);
    let tmux = Tmux::new("colour");
    let mut lines = Vec::new();
    for (session, no_color) in [("plain", "NO_COLOR=1"), ("colour", "")] {
        let script = format!(
            "env -u NO_COLOR {no_color} OSPS_RUNTIME_DIR={dir} {bin} list; echo LISTED; sleep 600",
            dir = env.runtime_dir.display(),
            bin = osps_bin(),
        );
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "200",
            "-y",
            "20",
            "sh",
            "-c",
            &script,
        ]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let screen = loop {
            // -e keeps the colours (as escape sequences) in the captured text.
            let screen = tmux.run(&["capture-pane", "-e", "-p", "-t", session]);
            if screen.contains("LISTED") {
                break screen;
            }
            assert!(
                Instant::now() < deadline,
                "osps list did not finish:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let line = screen
            .lines()
            .find(|l| l.contains(&env.name))
            .unwrap_or_else(|| panic!("no line for {}:\n{screen}", env.name))
            .to_string();
        lines.push(line);
    }
    assert!(
        !lines[0].contains('\x1b'),
        "NO_COLOR=1 but coloured: {:?}",
        lines[0]
    );
    assert!(
        lines[1].contains("\x1b[32mrunning"),
        "no colour on a terminal: {:?}",
        lines[1]
    );
}

#[test]
fn top_exits_when_its_terminal_goes_away() {
    let mut env = TestEnv::new("toptmuxhup");
    env.start_primary(&["--interval", "50ms"]);
    env.wait_rounds(1, T);
    let tmux = Tmux::new("hup");
    tmux.start_top(&env, "--interval 200ms");
    tmux.wait_screen(Duration::from_secs(10), "the instance on the screen", |s| {
        s.contains(&env.name)
    });
    let top = tmux.top_pid();
    // The terminal closes under it (a terminal window closed, an SSH session dropped).
    tmux.run(&["kill-server"]);
    let gone = wait_gone(top, Duration::from_secs(5));
    if !gone {
        kill(top, libc::SIGKILL);
    }
    assert!(
        gone,
        "osps top {top} still runs after its terminal went away"
    );
}
