//! The map of `src/` (docs/DESIGN.md, section "A map of `src/`", linked from the README)
//! stays true: every source file is on it, and every file it names exists. A folder may
//! stand for its files (`view/`).

use std::collections::BTreeSet;
use std::path::Path;

/// The backticked names of the map's table: `main.rs`, `primary/serve.rs`, `view/`.
fn names_on_the_map() -> BTreeSet<String> {
    let design =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/DESIGN.md"))
            .unwrap();
    let start = design
        .find("## A map of `src/`")
        .expect("docs/DESIGN.md has no section \"A map of `src/`\"");
    let table = design[start..]
        .lines()
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'));
    let mut names = BTreeSet::new();
    for row in table {
        // The second column lists the files of the row.
        let Some(files) = row.split('|').nth(2) else {
            continue;
        };
        for name in files.split('`').skip(1).step_by(2) {
            if name.ends_with(".rs") || name.ends_with('/') {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// Every `.rs` file under `src/`, relative to it.
fn source_files() -> BTreeSet<String> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(base).unwrap();
                out.insert(rel.to_string_lossy().into_owned());
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeSet::new();
    walk(&src, &src, &mut files);
    files
}

#[test]
fn the_map_of_src_names_every_file_and_only_files_that_exist() {
    let map = names_on_the_map();
    assert!(map.len() > 20, "the map looks empty: {map:?}");
    let files = source_files();
    let covered = |file: &str| {
        map.contains(file)
            || map
                .iter()
                .any(|n| n.ends_with('/') && file.starts_with(n.as_str()))
    };
    let missing: Vec<_> = files.iter().filter(|f| !covered(f)).collect();
    assert!(
        missing.is_empty(),
        "files in src/ missing from the map in docs/DESIGN.md: {missing:?}"
    );
    let stale: Vec<_> = map
        .iter()
        .filter(|n| {
            if n.ends_with('/') {
                !files.iter().any(|f| f.starts_with(n.as_str()))
            } else {
                !files.contains(n.as_str())
            }
        })
        .collect();
    assert!(
        stale.is_empty(),
        "the map in docs/DESIGN.md names files that src/ does not have: {stale:?}"
    );
}
