//! `osps top` in a real terminal: tmux runs it in a detached session on a private server
//! socket (`tmux -L`), `capture-pane` reads the screen, `send-keys` types. The shell
//! around top prints a marker before and after it and `stty -a` after it, so the test sees
//! that the terminal came back: main screen, cursor, canonical mode and echo.
//! Needs tmux (Debian: `apt-get install tmux`; .ci/run installs it).

use crate::common;

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
        self.start_top_sized(env, args, "top", 160, 40);
    }

    /// Starts `osps top ARGS` in a new session named `session`, `width` x `height`.
    fn start_top_sized(&self, env: &TestEnv, args: &str, session: &str, width: u16, height: u16) {
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
            session,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "sh",
            "-c",
            &script,
        ]);
    }

    fn screen(&self) -> String {
        self.screen_of("top")
    }

    fn screen_of(&self, session: &str) -> String {
        self.run(&["capture-pane", "-p", "-t", session])
    }

    /// Waits until `check` accepts the screen of `session`; panics with the screen after
    /// `timeout`.
    fn wait_screen_of(
        &self,
        session: &str,
        timeout: Duration,
        what: &str,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen_of(session);
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

    fn format(&self, what: &str) -> String {
        self.run(&["display-message", "-p", "-t", "top", what])
            .trim()
            .to_string()
    }

    /// Waits until `check` accepts the screen; panics with the screen after `timeout`.
    fn wait_screen(&self, timeout: Duration, what: &str, check: impl Fn(&str) -> bool) -> String {
        self.wait_screen_of("top", timeout, what, check)
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

// ---------------------------------------------------------------------------------------
// Narrow terminals: a value is shown whole, marked as cut, or not at all

/// The headings of top's table, split into words as the screen shows them.
const HEADING_WORDS: [&str; 10] = [
    "NAME",
    "STATUS",
    "MODE",
    "PRIMARY",
    "PER",
    "SEC",
    "TOTAL",
    "RESTARTS",
    "HEARTBEAT",
    "SECONDARIES",
];

/// The table's heading line of a screen.
fn heading_line(screen: &str) -> &str {
    screen
        .lines()
        .find(|l| l.trim_start().starts_with("NAME"))
        .unwrap_or_else(|| panic!("no heading line:\n{screen}"))
}

/// Whether `shown` on the screen stands for `name`: whole, or cut with its mark `…`
/// between a start and an end of the name.
fn stands_for(shown: &str, name: &str) -> bool {
    match shown.split_once('…') {
        None => shown == name,
        Some((head, tail)) => name.starts_with(head) && name.ends_with(tail),
    }
}

/// The line of the instance `name` (its name whole or cut with a mark), as words without
/// the selection's marker.
fn row_words<'a>(screen: &'a str, name: &str) -> Option<Vec<&'a str>> {
    screen.lines().find_map(|l| {
        let words: Vec<&str> = l.split_whitespace().skip_while(|w| *w == ">").collect();
        words
            .first()
            .is_some_and(|first| stands_for(first, name))
            .then_some(words)
    })
}

/// The words of the line of `name`, which must be on the screen.
fn row_of<'a>(screen: &'a str, name: &str) -> Vec<&'a str> {
    row_words(screen, name)
        .unwrap_or_else(|| panic!("no line shows {name}, whole or cut with a mark (…):\n{screen}"))
}

/// Whether `word` is a duration as top prints one (`281ms`, `12s`, `3m05s`, `2h14m`,
/// `3d04h`), whole.
fn whole_duration(word: &str) -> bool {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let (number, unit) = word.split_at(digits);
    let two_digits_then = |rest: &str, last: &str| {
        rest.len() == 2 + last.len()
            && rest[..2].chars().all(|c| c.is_ascii_digit())
            && &rest[2..] == last
    };
    !number.is_empty()
        && match unit.chars().next() {
            _ if unit == "ms" || unit == "s" => true,
            Some('m') => two_digits_then(&unit[1..], "s"),
            Some('h') => two_digits_then(&unit[1..], "m"),
            Some('d') => two_digits_then(&unit[1..], "h"),
            _ => false,
        }
}

/// Checks the words of an instance's line: no number cut (the pid whole or absent, whole
/// durations and rates), the name whole or marked.
fn assert_nothing_cut(words: &[&str], name: &str, pid: u32, screen: &str) {
    let pid = pid.to_string();
    assert!(
        stands_for(words[0], name),
        "{:?} for {name}:\n{screen}",
        words[0]
    );
    for word in &words[1..] {
        let starts_with_digit = word.starts_with(|c: char| c.is_ascii_digit());
        if word.chars().all(|c| c.is_ascii_digit()) {
            // Counts stay below 100 here, so three digits or more of the pid are the pid.
            assert!(
                *word == pid || word.len() < 3 || !pid.starts_with(word),
                "pid {pid} shown as {word}:\n{screen}"
            );
        } else if starts_with_digit && word.contains('.') {
            let (int, frac) = word.split_once('.').unwrap();
            let decimals = match int.parse::<u64>() {
                Ok(0..10) => 2,
                Ok(10..100) => 1,
                _ => 0,
            };
            assert_eq!(frac.len(), decimals, "rate {word} cut:\n{screen}");
        } else if starts_with_digit && word.contains('/') {
            let (live, total) = word.split_once('/').unwrap();
            assert!(
                !live.is_empty() && !total.is_empty(),
                "{word} cut:\n{screen}"
            );
        } else if starts_with_digit {
            assert!(whole_duration(word), "duration {word} cut:\n{screen}");
        }
    }
}

#[test]
fn the_duration_check_knows_every_form_top_prints_and_no_cut_one() {
    for whole in ["0ms", "281ms", "5s", "3m05s", "2h14m", "3d04h"] {
        assert!(whole_duration(whole), "{whole}");
    }
    for cut in ["281m", "281", "3m0", "3m05", "2h1", "ms", "3d04"] {
        assert!(!whole_duration(cut), "{cut}");
    }
}

#[test]
fn top_in_a_narrow_terminal_shows_numbers_whole_or_not_at_all() {
    // Two instances whose names differ only at the end, as `clitop-a`/`clitop-b` did:
    // cut at the end, both read `clito`.
    let mut a = TestEnv::new("topnarrow");
    let mut b = TestEnv::new("topnarrow");
    // Slow rounds keep the counts below 100, so no count is taken for a cut pid.
    let pid_a = a.start_primary(&["--interval", "500ms"]);
    let pid_b = b.start_primary(&["--interval", "500ms"]);
    a.wait_rounds(1, T);
    b.wait_rounds(1, T);
    let tmux = Tmux::new("narrow");
    // A session that outlives the others: a tmux server whose last session is killed
    // exits, and the next new-session could race its exit ("server exited unexpectedly").
    tmux.run(&["new-session", "-d", "-s", "hold", "sleep", "600"]);
    for width in [60u16, 50, 40, 30, 20] {
        let session = format!("w{width}");
        // Every instance of the user is listed (other tests' too): ours are found by name.
        tmux.start_top_sized(&a, "--interval 200ms", &session, width, 40);
        // Both instances ran before top started: its first table shows them.
        let screen = tmux.wait_screen_of(&session, Duration::from_secs(10), "the table", |s| {
            s.contains("NAME")
        });
        for word in heading_line(&screen).split_whitespace() {
            assert!(
                HEADING_WORDS.contains(&word),
                "heading {word} cut:\n{screen}"
            );
        }
        let words_a = row_of(&screen, &a.name);
        let words_b = row_of(&screen, &b.name);
        assert_ne!(words_a[0], words_b[0], "two names look the same:\n{screen}");
        assert_nothing_cut(&words_a, &a.name, pid_a, &screen);
        assert_nothing_cut(&words_b, &b.name, pid_b, &screen);
        if heading_line(&screen).contains("PRIMARY") {
            assert!(words_a.contains(&pid_a.to_string().as_str()), "{screen}");
        }
        tmux.run(&["kill-session", "-t", &session]);
    }
}

#[test]
fn top_at_80_columns_shows_every_heading_whole() {
    let mut env = TestEnv::new("top80");
    let pid = env.start_primary(&["--interval", "500ms"]);
    env.wait_rounds(1, T);
    let tmux = Tmux::new("w80");
    tmux.start_top_sized(
        &env,
        &format!("--interval 200ms --name {}", env.name),
        "top",
        80,
        24,
    );
    let screen = tmux.wait_screen(Duration::from_secs(10), "the table", |s| s.contains("NAME"));
    let headings: Vec<&str> = heading_line(&screen).split_whitespace().collect();
    for word in &headings {
        assert!(
            HEADING_WORDS.contains(word),
            "heading {word} cut:\n{screen}"
        );
    }
    for needed in [
        "NAME",
        "STATUS",
        "PRIMARY",
        "PER",
        "HEARTBEAT",
        "SECONDARIES",
    ] {
        assert!(
            headings.contains(&needed),
            "{needed} missing at 80 columns:\n{screen}"
        );
    }
    let words = row_of(&screen, &env.name);
    assert_eq!(
        words[0], env.name,
        "the name is whole at 80 columns:\n{screen}"
    );
    assert_nothing_cut(&words, &env.name, pid, &screen);
    assert!(words.contains(&pid.to_string().as_str()), "{screen}");
}

/// The rows of the table on a screen, top to bottom (the first word of each line between
/// the heading and the help line), and which of them is selected (marked `>`).
fn rows_and_selection(screen: &str) -> (Vec<String>, Option<usize>) {
    let mut lines = screen
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("NAME"))
        .skip(1)
        .take_while(|l| !l.contains("q quit"));
    let mut rows = Vec::new();
    let mut selected = None;
    for line in lines.by_ref() {
        let marked = line.starts_with('>');
        let Some(name) = line.split_whitespace().find(|w| *w != ">") else {
            continue;
        };
        if marked {
            selected = Some(rows.len());
        }
        rows.push(name.to_string());
    }
    (rows, selected)
}

#[test]
fn keys_typed_together_each_move_the_selection() {
    let env = TestEnv::new("topkeys");
    env.make_runtime_dir();
    // Eight instances of a lock file each (shown partial): rows enough to move through.
    for i in 0..8 {
        let lock = env.runtime_dir.join(format!("{}-{i}.lock", env.name));
        std::fs::write(&lock, b"").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let tmux = Tmux::new("keys");
    // A long interval: the rows stay as they are between two keys.
    tmux.start_top(&env, "--interval 60s");
    let mine = |s: &str| (0..8).all(|i| s.contains(&format!("{}-{i}", env.name)));
    let screen = tmux.wait_screen(Duration::from_secs(10), "the instances on the screen", mine);
    let (_, first) = rows_and_selection(&screen);
    assert_eq!(first, Some(0), "{screen}");
    // Each step: the keys go in one send-keys call, so they arrive together.
    for (keys, to) in [
        (&["j", "j"][..], 2),
        (&["Down", "Down", "Down"], 5),
        (&["k", "Up"], 3),
    ] {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        tmux.run(&args);
        // A key left queued would only move at the next key: none comes meanwhile.
        let screen = tmux.wait_screen(Duration::from_secs(5), "the selection moving", |s| {
            rows_and_selection(s).1 == Some(to)
        });
        let (rows, selected) = rows_and_selection(&screen);
        assert_eq!(selected, Some(to), "after {keys:?}: {rows:?}\n{screen}");
    }
    tmux.run(&["send-keys", "-t", "top", "q"]);
    tmux.assert_restored();
}

/// Puts a runtime directory's mode back to 0700 when dropped, passed or not.
struct Private(std::path::PathBuf);

impl Drop for Private {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700));
    }
}

/// The screen's text with every run of blanks and line ends made one space: a warning
/// wrapped to the terminal's width reads as one line.
fn flowed(screen: &str) -> String {
    screen.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A refused runtime directory (mode 0777) leaves only /dev/shm to survey: the screen
/// says so, as `top --json` does on stderr, rather than show the instance stale or
/// partial without a word; the warning goes once the directory is private again.
#[test]
fn top_shows_on_the_screen_that_the_runtime_dir_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = TestEnv::new("toprefused");
    let pid = env.start_primary(&["--interval", "50ms"]);
    env.wait_secondary(common::T);
    let _private = Private(env.runtime_dir.clone());
    std::fs::set_permissions(&env.runtime_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let tmux = Tmux::new("refused");
    tmux.start_top(&env, &format!("--interval 200ms --name {}", env.name));
    let dir = env.runtime_dir.display().to_string();
    let warning = format!("the runtime directory {dir} has mode 0777");
    let screen = tmux.wait_screen(Duration::from_secs(10), "the refusal on the screen", |s| {
        s.contains(&env.name) && flowed(s).contains(&warning)
    });
    let text = flowed(&screen);
    assert!(text.contains(&format!("chmod 700 {dir}")), "{screen}");
    assert!(
        text.contains("showing only what is in /dev/shm"),
        "{screen}"
    );
    std::fs::set_permissions(&env.runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    tmux.wait_screen(Duration::from_secs(10), "the warning gone", |s| {
        s.contains("running") && !flowed(s).contains(&warning)
    });
    tmux.run(&["send-keys", "-t", "top", "q"]);
    tmux.assert_restored();
    let out = {
        let mut cmd = env.cmd("stop");
        cmd.arg(&env.name);
        run(cmd, T)
    };
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(wait_gone(pid, T));
    let _ = env.take_child(pid).wait();
    env.assert_no_leftovers();
}
