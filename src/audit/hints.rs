//! The hint for an object left behind, in the words of the program that made it: a
//! Python program is told `os.unlink()`, a shell script `rm` and a trap, anything else
//! the system call (and where the others are, since a C program may run a script).

use super::model::{Kind, Model, Proc};

/// What the process that made an object was written in, as its command says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Python,
    /// A shell script: its objects come from mkfifo(1) and the like, children of it.
    Shell,
    Other,
}

impl Lang {
    /// From the file name of the process's program (argv[0]); for a tool that makes the
    /// object for its caller (`mkfifo`, `mknod`, `ipcmk`), from the program that ran it:
    /// `subprocess.run(["mkfifo", ...])` is Python's to clean up, `mkfifo` in a script the
    /// script's.
    pub fn of(model: &Model, p: &Proc) -> Lang {
        let name = program(p);
        if !TOOLS.contains(&name) {
            return Lang::of_program(name);
        }
        // Run from nothing we followed: a person at a shell.
        model
            .proc(p.ppid)
            .filter(|caller| !TOOLS.contains(&program(caller)))
            .map_or(Lang::Shell, |caller| Lang::of_program(program(caller)))
    }

    fn of_program(program: &str) -> Lang {
        if program.starts_with("python") || program == "pypy3" {
            Lang::Python
        } else if ["sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"].contains(&program) {
            Lang::Shell
        } else {
            Lang::Other
        }
    }
}

/// Tools that make an object for the program that runs them.
const TOOLS: [&str; 3] = ["mkfifo", "mknod", "ipcmk"];

/// The file name of a process's program (argv[0]).
fn program(p: &Proc) -> &str {
    p.argv
        .first()
        .map_or("", |a| a.rsplit('/').next().unwrap_or(a))
}

/// What to do about an object of `kind` left by a process written in `lang`.
pub fn left(kind: Kind, lang: Lang) -> &'static str {
    match (kind, lang) {
        (Kind::Segment, Lang::Python) => {
            "the last process to use it should remove it: shm.unlink(), also on the error \
             path (try/finally)"
        }
        (Kind::Segment, _) => {
            "the last process to use it should remove it: shm_unlink(3) in C, shm.unlink() \
             in Python, rm /dev/shm/NAME in a shell; also on the error path"
        }
        (Kind::SysV, _) => {
            "the last process to use it should remove it: shmctl(id, IPC_RMID, NULL) in C, \
             ipcrm -m ID in a shell; also on the error path"
        }
        (Kind::Semaphore, Lang::Python) => {
            "remove it once both sides have opened it (posix_ipc's sem.unlink()); one of \
             multiprocessing is removed when the program ends normally, not by os._exit()"
        }
        (Kind::Semaphore, _) => "remove it with sem_unlink(3) once both sides have opened it",
        (Kind::SysVSem, _) => {
            "the last process to use it should remove it: semctl(id, 0, IPC_RMID) in C, \
             ipcrm -s ID in a shell; also on the error path"
        }
        (Kind::SysVMsg, _) => {
            "the last process to use it should remove it: msgctl(id, IPC_RMID, NULL) in C, \
             ipcrm -q ID in a shell; also on the error path"
        }
        (Kind::MQueue, Lang::Python) => {
            "remove it once both sides have opened it: posix_ipc's mq.unlink() (mq_unlink(3) \
             in C), also on the error path"
        }
        (Kind::MQueue, _) => {
            "remove it with mq_unlink(3) once both sides have opened it, also on the error \
             path"
        }
        (Kind::Fifo, Lang::Python) => {
            "remove it with os.unlink() when the pair stops, also when it stops on an error \
             (try/finally)"
        }
        (Kind::Fifo, Lang::Shell) => {
            "remove it with rm when the script stops, also on an error or a signal: \
             trap 'rm -f FIFO' EXIT right after the mkfifo"
        }
        (Kind::Fifo, Lang::Other) => {
            "remove it with unlink(2) when the pair stops, also when it stops on an error \
             (os.unlink() in Python, rm in a shell)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::model::Model;
    use std::rc::Rc;

    #[test]
    fn the_language_comes_from_the_program_that_made_the_object() {
        let mut m = Model::default();
        for (pid, argv0) in [
            (10, "/usr/bin/python3.12"),
            (11, "mkfifo"),
            (12, "/bin/bash"),
            (13, "./pair"),
        ] {
            m.started(pid, 1, Some(Rc::from(vec![argv0.to_string()])), 0);
        }
        let lang = |pid| Lang::of(&m, m.proc(pid).unwrap());
        assert_eq!(
            [lang(10), lang(11), lang(12), lang(13)],
            [Lang::Python, Lang::Shell, Lang::Shell, Lang::Other]
        );
        assert!(left(Kind::Fifo, Lang::Shell).contains("rm"));
        assert!(!left(Kind::Fifo, Lang::Shell).contains("os.unlink"));
        // mkfifo(1) run by a program makes the FIFO for that program.
        m.started(20, 10, Some(Rc::from(vec!["mkfifo".to_string()])), 0);
        m.started(
            21,
            13,
            Some(Rc::from(vec!["/usr/bin/mkfifo".to_string()])),
            0,
        );
        m.started(22, 12, Some(Rc::from(vec!["mkfifo".to_string()])), 0);
        let lang = |pid| Lang::of(&m, m.proc(pid).unwrap());
        assert_eq!(
            [lang(20), lang(21), lang(22)],
            [Lang::Python, Lang::Other, Lang::Shell]
        );
    }
}
