//! The views with many objects in `/dev/shm` (`OSPS_BENCH_ONLY=views`; not in the full
//! report): `osps list` and `osps top --json` among 2 000 files, half of them named like
//! osps segments of ours (junk: a crashed program's, a student's test), half unrelated,
//! beside a few running primaries, against the same commands on a `/dev/shm` without
//! them, in the same run. Targets (issue 26): `list` under 100 ms, one `top` refresh well
//! within its 1 s interval.
//!
//! The files are removed at the end, also when the bench fails (a guard).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Files named like this user's osps segments, and as many unrelated ones.
const JUNK: usize = 1000;
/// Runs of each command; the figure is the median.
const RUNS: usize = 7;

/// Removes the planted files and stops the primaries on drop.
struct Planted {
    files: Vec<PathBuf>,
    primaries: Vec<Child>,
    runtime_dir: tempfile_dir::Dir,
}

mod tempfile_dir {
    /// A private runtime directory of the bench's own.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Drop for Planted {
    fn drop(&mut self) {
        for p in &mut self.primaries {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = p.wait();
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        let _ = &self.runtime_dir;
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The median wall time of `osps ARGS` run to its end.
fn time_of(osps: &str, rundir: &std::path::Path, args: &[&str]) -> Duration {
    median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                let ok = Command::new(osps)
                    .args(args)
                    .arg("--runtime-dir")
                    .arg(rundir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "osps {args:?} failed");
                t.elapsed()
            })
            .collect(),
    )
}

/// How long one refresh of `osps top --json --interval 1s` takes: the gap between two
/// documents less the interval (the median over a few refreshes).
fn top_refresh(osps: &str, rundir: &std::path::Path) -> Duration {
    use std::io::BufRead;
    let mut top = Command::new(osps)
        .args(["top", "--json", "--interval", "1s", "--runtime-dir"])
        .arg(rundir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting osps top");
    let mut lines = std::io::BufReader::new(top.stdout.take().expect("piped")).lines();
    let mut at = Vec::new();
    for _ in 0..4 {
        if lines.next().is_none() {
            break;
        }
        at.push(Instant::now());
    }
    let _ = top.kill();
    let _ = top.wait();
    assert!(at.len() == 4, "osps top --json stopped early");
    median(
        at.windows(2)
            .map(|w| (w[1] - w[0]).saturating_sub(Duration::from_secs(1)))
            .collect(),
    )
}

pub fn report(osps: &str) {
    let uid = nix::unistd::getuid().as_raw();
    let dir = std::env::temp_dir().join(format!("osps-bench-views-{}", std::process::id()));
    std::fs::create_dir(&dir).expect("creating the bench's runtime directory");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod 700");
    let mut planted = Planted {
        files: Vec::new(),
        primaries: Vec::new(),
        runtime_dir: tempfile_dir::Dir(dir.clone()),
    };
    for i in 0..3 {
        let child = Command::new(osps)
            .args(["primary", "--interval", "1s", "--name"])
            .arg(format!("bench-views-{i}"))
            .arg("--runtime-dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting a primary");
        planted.primaries.push(child);
    }
    std::thread::sleep(Duration::from_millis(500));
    let clean_list = time_of(osps, &dir, &["list"]);
    let clean_top = top_refresh(osps, &dir);
    for i in 0..JUNK {
        for name in [
            format!("/dev/shm/osps.{uid}.bench-junk-{i}"),
            format!("/dev/shm/bench-unrelated-{i}"),
        ] {
            let path = PathBuf::from(name);
            std::fs::write(&path, [0u8; 300]).expect("planting a file in /dev/shm");
            planted.files.push(path);
        }
    }
    let junk_list = time_of(osps, &dir, &["list"]);
    let junk_top = top_refresh(osps, &dir);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!();
    println!(
        "## The views among {} files in /dev/shm ({JUNK} named like ours), 3 primaries",
        2 * JUNK
    );
    println!();
    println!("| command | without the files | with them | target |");
    println!("|---|---:|---:|---|");
    println!(
        "| `osps list` | {:.1} ms | {:.1} ms | < 100 ms |",
        ms(clean_list),
        ms(junk_list)
    );
    println!(
        "| one `osps top --json` refresh | {:.1} ms | {:.1} ms | < 1000 ms (its interval) |",
        ms(clean_top),
        ms(junk_top)
    );
}
