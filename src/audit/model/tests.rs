//! The model's bookkeeping, without a tracer: processes and objects as the tracer
//! would report them.

use super::*;

#[test]
fn a_child_gone_at_the_end_with_no_reap_seen_is_not_said_kernel_reaped() {
    // Its parent's wait ended as the audit stopped looking: no zombie is left, and
    // nothing says the kernel reaped it (the tracer sees that at the exit).
    let ended_child = || {
        let mut m = Model::default();
        m.started(10, 1, None, 0);
        m.started(11, 10, None, 5);
        m.died(11, Some(0), None, 100);
        m
    };
    let mut m = ended_child();
    m.finish(|_| false, |_| false);
    let child = m.proc(11).unwrap();
    assert!(!child.auto_reaped && child.gone_unseen);
    // The kernel's, when the tracer saw it gone at its exit.
    let mut m = ended_child();
    m.kernel_reaped(11);
    m.finish(|_| false, |_| false);
    let child = m.proc(11).unwrap();
    assert!(child.auto_reaped && !child.gone_unseen);
}

#[test]
fn objects_under_a_renamed_directory_move_with_it() {
    let mut m = Model::default();
    m.created(Kind::Fifo, b"/t/d/a".to_vec(), b"/t/d/a".to_vec(), 10, 1);
    m.created(Kind::Fifo, b"/t/dd/b".to_vec(), b"/t/dd/b".to_vec(), 10, 2);
    m.created(Kind::Fifo, b"/t/e/c".to_vec(), b"/t/e/c".to_vec(), 10, 3);
    assert!(m.is_live_under(b"/t/d") && !m.is_live_under(b"/t/x"));
    m.moved_dir(b"/t/d", b"/t/n", false);
    assert_eq!(m.objects[0].path, b"/t/n/a");
    // Only what lies under the directory: /t/dd is another one.
    assert_eq!(m.objects[1].path, b"/t/dd/b");
    m.moved_dir(b"/t/n", b"/t/e", true);
    assert_eq!(m.objects[0].path, b"/t/e/a");
    assert_eq!(m.objects[2].path, b"/t/n/c");
    m.unlinked(b"/t/e/a", 10, 4);
    assert_eq!(m.objects[0].unlinked, Some(4));
}

#[test]
fn a_segments_size_is_measured_at_its_removal_or_at_the_end_not_only_set() {
    let mut m = Model::default();
    let seg = |name: &str| (format!("/dev/shm/{name}").into_bytes(), name.into());
    for name in ["a", "b", "c"] {
        let (path, name) = seg(name);
        m.created(Kind::Segment, path, name, 10, 1);
    }
    m.resized(b"/dev/shm/a", 4096, false);
    m.resized(b"/dev/shm/a", 100, true); // fallocate never shrinks
    m.resized(b"/dev/shm/b", 4096, false);
    m.resized(b"/dev/shm/b", 0, false); // an open with O_TRUNC
    m.resized(b"/dev/shm/c", 4096, false);
    // Written past its end, then removed: a stat just before says 8192.
    m.measured(b"/dev/shm/c", 8192);
    m.unlinked(b"/dev/shm/c", 10, 5);
    m.finish(|o| o.unlinked.is_none(), |_| false);
    m.measure_left(|o| (o.path == b"/dev/shm/b").then_some(100));
    let sizes: Vec<_> = m.objects.iter().map(|o| (o.size, o.size_set)).collect();
    assert_eq!(
        sizes,
        [
            (Some(4096), Some(4096)),
            (Some(100), Some(0)),
            (Some(8192), Some(4096))
        ]
    );
}

#[test]
fn a_parent_ending_first_adopts_its_live_children_only() {
    let mut m = Model::default();
    m.started(10, 1, Some(Rc::from(vec!["a".to_string()])), 0);
    m.started(11, 10, None, 5);
    m.started(12, 10, None, 6);
    assert_eq!(&*m.proc(11).unwrap().argv, ["a".to_string()]);
    m.died(12, Some(0), None, 7);
    m.reaped(12, 10, 9);
    m.died(10, Some(0), None, 20);
    assert_eq!(m.proc(11).unwrap().adopted, Some(20));
    assert_eq!(m.proc(12).unwrap().adopted, None);
    assert_eq!(m.proc(12).unwrap().reaped_by, Some(10));
    // Met again: the zombie case returns true only for an already dead one.
    assert!(!m.died(11, None, Some(9), 30));
    assert!(m.died(11, None, Some(9), 31));
}

#[test]
fn objects_follow_their_path_through_rename_and_unlink() {
    let mut m = Model::default();
    m.created(Kind::Fifo, b"/t/a".to_vec(), b"/t/a".to_vec(), 10, 1);
    m.renamed(b"/t/a", b"/t/b".to_vec(), None);
    assert!(m.is_live(b"/t/b") && !m.is_live(b"/t/a"));
    m.unlinked(b"/t/b", 11, 4);
    assert_eq!(m.objects[0].unlinked_by, Some(11));
    m.finish(|_| true, |_| false);
    assert!(!m.objects[0].left);
}

#[test]
fn an_exchange_swaps_the_paths_of_two_objects() {
    let mut m = Model::default();
    m.created(Kind::Fifo, b"/t/x".to_vec(), b"/t/x".to_vec(), 10, 1);
    m.created(Kind::Fifo, b"/t/y".to_vec(), b"/t/y".to_vec(), 10, 2);
    m.exchanged(b"/t/x", b"/t/y", None, None);
    assert_eq!(m.objects[0].path, b"/t/y");
    assert_eq!(m.objects[1].path, b"/t/x");
    m.unlinked(b"/t/x", 10, 3);
    assert_eq!(m.objects[1].unlinked, Some(3));
}

#[test]
fn the_forkserver_is_a_helper_but_not_the_workers_it_forks() {
    let mut m = Model::default();
    m.started(10, 1, Some(Rc::from(vec!["python3".to_string()])), 0);
    m.started(11, 10, None, 1);
    m.execed(
        11,
        vec![
            "-c".into(),
            "from multiprocessing.forkserver import main".into(),
        ],
    );
    m.started(12, 11, None, 2);
    assert!(m.proc(11).unwrap().is_python_helper());
    assert!(!m.proc(12).unwrap().is_python_helper());
    assert!(!m.proc(10).unwrap().is_python_helper());
}
