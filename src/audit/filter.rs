//! The seccomp-bpf filter that makes the audited program stop only where the audit
//! looks: a few dozen classic-BPF instructions, written here by hand.
//!
//! The kernel runs the filter on every system call of the program and its descendants
//! (a filter is inherited across fork and exec and cannot be removed). It returns
//! `SECCOMP_RET_TRACE` for the calls of [`syscalls::TRACED`] (the tracer gets a
//! `PTRACE_EVENT_SECCOMP` stop) and `SECCOMP_RET_ALLOW` for everything else, which then
//! runs at full speed: `strace --seccomp-bpf` works the same way. `open`, `openat` and
//! `creat` stop only with `O_CREAT` or `O_TRUNC` in their flags (the filter reads the
//! argument: an open that truncates an existing segment changes its size), since a
//! Python start alone makes some 1400 `openat` calls that do neither.
//!
//! The architecture is checked first: a call made through another ABI (a 32-bit
//! `int 0x80` on x86_64) has other numbers, so it is allowed, not misread. No crate
//! (seccompiler, libseccomp) for twenty instructions: the program below is the whole
//! story, and a test runs it through a small interpreter.

use super::syscalls::{self, ARCH};

/// The offsets in `struct seccomp_data` (linux/seccomp.h): `nr` (u32), `arch` (u32),
/// `instruction_pointer` (u64), then the six arguments (u64 each).
const NR: u32 = 0;
const ARCH_OFFSET: u32 = 4;
/// The low 32 bits of argument `i` (little-endian: x86_64 and aarch64 alike).
const fn arg_low(i: u32) -> u32 {
    16 + 8 * i
}

/// Where a jump of the program goes, before offsets are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum To {
    Next,
    Allow,
    Trace,
    /// The check of `O_CREAT` and `O_TRUNC` in argument N.
    FlagsIn(u32),
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// Load the 32-bit word at this offset of seccomp_data.
    Load(u32),
    /// If the accumulator equals k go to the first target, else to the second.
    JumpEq(u32, To, To),
    /// If accumulator & k is non-zero go to the first target, else to the second.
    JumpSet(u32, To, To),
    Return(u32),
}

/// The filter, ready for `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)`.
pub struct Filter {
    code: Vec<libc::sock_filter>,
}

impl Filter {
    /// Builds the filter (before fork: the child only installs it).
    pub fn build() -> Filter {
        Filter {
            code: assemble(&program()),
        }
    }

    /// The program for the kernel; it borrows the instructions, so keep `self` alive
    /// until the `prctl` call.
    pub fn prog(&self) -> libc::sock_fprog {
        libc::sock_fprog {
            // At most a few dozen instructions: the length fits in u16.
            len: self.code.len() as u16,
            filter: self.code.as_ptr().cast_mut(),
        }
    }

    #[cfg(test)]
    fn instructions(&self) -> &[libc::sock_filter] {
        &self.code
    }
}

/// The program with symbolic jumps: architecture check, then one comparison per traced
/// call, then the two returns, then the checks of the open flags.
fn program() -> Vec<Op> {
    let mut ops = vec![
        Op::Load(ARCH_OFFSET),
        Op::JumpEq(ARCH, To::Next, To::Allow),
        Op::Load(NR),
    ];
    for &(nr, creat_arg) in syscalls::TRACED {
        let hit = match creat_arg {
            Some(i) => To::FlagsIn(i),
            None => To::Trace,
        };
        // Syscall numbers are small and non-negative.
        ops.push(Op::JumpEq(nr as u32, hit, To::Next));
    }
    ops.push(Op::Return(libc::SECCOMP_RET_ALLOW));
    ops.push(Op::Return(libc::SECCOMP_RET_TRACE));
    // Classic BPF jumps only forward: each check has its own two returns.
    for i in creat_args() {
        ops.push(Op::Load(arg_low(i)));
        ops.push(Op::JumpSet(
            syscalls::OPEN_FLAGS_TRACED,
            To::Trace,
            To::Allow,
        ));
        ops.push(Op::Return(libc::SECCOMP_RET_TRACE));
        ops.push(Op::Return(libc::SECCOMP_RET_ALLOW));
    }
    ops
}

/// The argument positions that hold open flags, each once.
fn creat_args() -> Vec<u32> {
    let mut args: Vec<u32> = syscalls::TRACED.iter().filter_map(|t| t.1).collect();
    args.sort_unstable();
    args.dedup();
    args
}

/// Resolves the targets into the relative offsets of classic BPF: each goes to the first
/// matching instruction after the jump.
fn assemble(ops: &[Op]) -> Vec<libc::sock_filter> {
    let position = |to: To, here: usize| -> u8 {
        let after = |want: &dyn Fn(&Op) -> bool| {
            ops[here + 1..]
                .iter()
                .position(want)
                .map_or(0, |offset| offset)
        };
        let offset = match to {
            To::Next => 0,
            To::Allow => after(&|o| matches!(o, Op::Return(k) if *k == libc::SECCOMP_RET_ALLOW)),
            To::Trace => after(&|o| matches!(o, Op::Return(k) if *k == libc::SECCOMP_RET_TRACE)),
            To::FlagsIn(i) => after(&|o| matches!(o, Op::Load(off) if *off == arg_low(i))),
        };
        // The program is a few dozen instructions: every offset fits in u8.
        offset as u8
    };
    let code = |c: u32| c as u16;
    ops.iter()
        .enumerate()
        .map(|(here, op)| match *op {
            Op::Load(off) => stmt(code(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS), off),
            Op::JumpEq(k, t, f) => jump(
                code(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K),
                k,
                position(t, here),
                position(f, here),
            ),
            Op::JumpSet(k, t, f) => jump(
                code(libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K),
                k,
                position(t, here),
                position(f, here),
            ),
            Op::Return(k) => stmt(code(libc::BPF_RET | libc::BPF_K), k),
        })
        .collect()
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program over a seccomp_data, as the kernel would.
    fn run(code: &[libc::sock_filter], nr: i64, arch: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&(nr as u32).to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let ins = code[pc];
            let class = u32::from(ins.code) & 0x07;
            match class {
                c if c == libc::BPF_LD => {
                    let k = ins.k as usize;
                    acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                    pc += 1;
                }
                c if c == libc::BPF_JMP => {
                    let op = u32::from(ins.code) & 0xf0;
                    let taken = if op == libc::BPF_JEQ {
                        acc == ins.k
                    } else {
                        assert_eq!(op, libc::BPF_JSET);
                        acc & ins.k != 0
                    };
                    pc += 1 + usize::from(if taken { ins.jt } else { ins.jf });
                }
                c if c == libc::BPF_RET => return ins.k,
                other => panic!("unexpected class {other}"),
            }
        }
    }

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const TRACE: u32 = libc::SECCOMP_RET_TRACE;

    #[test]
    fn only_the_calls_that_matter_stop() {
        let f = Filter::build();
        let code = f.instructions();
        assert!(code.len() < 64, "{} instructions", code.len());
        let creat = libc::O_CREAT as u64;
        let at = libc::AT_FDCWD as u64;
        assert_eq!(run(code, libc::SYS_read, ARCH, [0; 6]), ALLOW);
        assert_eq!(run(code, libc::SYS_write, ARCH, [0; 6]), ALLOW);
        assert_eq!(
            run(code, libc::SYS_openat, ARCH, [at, 0, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(
            run(
                code,
                libc::SYS_openat,
                ARCH,
                [at, 0, libc::O_RDWR as u64 | creat, 0, 0, 0]
            ),
            TRACE
        );
        // An open that truncates stops too: it resets a segment's size.
        assert_eq!(
            run(
                code,
                libc::SYS_openat,
                ARCH,
                [at, 0, (libc::O_RDWR | libc::O_TRUNC) as u64, 0, 0, 0]
            ),
            TRACE
        );
        assert_eq!(run(code, libc::SYS_truncate, ARCH, [0; 6]), TRACE);
        assert_eq!(run(code, libc::SYS_mknodat, ARCH, [0; 6]), TRACE);
        assert_eq!(run(code, libc::SYS_unlinkat, ARCH, [0; 6]), TRACE);
        assert_eq!(run(code, libc::SYS_wait4, ARCH, [0; 6]), TRACE);
        assert_eq!(run(code, libc::SYS_waitid, ARCH, [0; 6]), TRACE);
        assert_eq!(run(code, libc::SYS_ftruncate, ARCH, [0; 6]), TRACE);
        assert_eq!(run(code, libc::SYS_kill, ARCH, [0; 6]), TRACE);
        assert_eq!(run(code, libc::SYS_openat2, ARCH, [0; 6]), TRACE);
        // Another ABI's numbers mean other calls: allowed, never misread.
        assert_eq!(
            run(code, libc::SYS_openat, 0x4000_0003, [at, 0, creat, 0, 0, 0]),
            ALLOW
        );
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(run(code, libc::SYS_open, ARCH, [0, 0, 0, 0, 0, 0]), ALLOW);
            assert_eq!(
                run(code, libc::SYS_open, ARCH, [0, creat, 0, 0, 0, 0]),
                TRACE
            );
            assert_eq!(run(code, libc::SYS_unlink, ARCH, [0; 6]), TRACE);
            assert_eq!(run(code, libc::SYS_creat, ARCH, [0; 6]), TRACE);
        }
    }

    #[test]
    fn the_high_half_of_an_argument_does_not_fake_o_creat() {
        let f = Filter::build();
        let high = (libc::O_CREAT as u64) << 32;
        let at = libc::AT_FDCWD as u64;
        assert_eq!(
            run(
                f.instructions(),
                libc::SYS_openat,
                ARCH,
                [at, 0, high, 0, 0, 0]
            ),
            ALLOW
        );
    }
}
