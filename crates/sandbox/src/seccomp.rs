//! The seccomp filter every sandboxed runtime runs under: a deny list of system
//! calls no function needs (mounting, tracing other processes, loading kernel
//! code, making namespaces, ...), answered with `EPERM`. Written as classic BPF
//! by hand; it is small enough to read in full.

/// `struct sock_filter`: one classic BPF instruction.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// Namespace-creating flags refused in `clone(2)`'s first argument.
const CLONE_NS_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP) as u32;

/// System calls refused with `EPERM`.
pub fn denied() -> Vec<(i64, &'static str)> {
    let mut v = vec![
        (libc::SYS_mount, "mount"),
        (libc::SYS_umount2, "umount2"),
        (libc::SYS_pivot_root, "pivot_root"),
        (libc::SYS_ptrace, "ptrace"),
        (libc::SYS_process_vm_readv, "process_vm_readv"),
        (libc::SYS_process_vm_writev, "process_vm_writev"),
        (libc::SYS_kexec_load, "kexec_load"),
        (libc::SYS_kexec_file_load, "kexec_file_load"),
        (libc::SYS_init_module, "init_module"),
        (libc::SYS_finit_module, "finit_module"),
        (libc::SYS_delete_module, "delete_module"),
        (libc::SYS_bpf, "bpf"),
        (libc::SYS_unshare, "unshare"),
        (libc::SYS_setns, "setns"),
        (libc::SYS_swapon, "swapon"),
        (libc::SYS_swapoff, "swapoff"),
        (libc::SYS_reboot, "reboot"),
        (libc::SYS_syslog, "syslog"),
        (libc::SYS_acct, "acct"),
        (libc::SYS_settimeofday, "settimeofday"),
        (libc::SYS_clock_settime, "clock_settime"),
        (libc::SYS_clock_adjtime, "clock_adjtime"),
        (libc::SYS_adjtimex, "adjtimex"),
        (libc::SYS_add_key, "add_key"),
        (libc::SYS_request_key, "request_key"),
        (libc::SYS_keyctl, "keyctl"),
        (libc::SYS_perf_event_open, "perf_event_open"),
        (libc::SYS_open_by_handle_at, "open_by_handle_at"),
        (libc::SYS_name_to_handle_at, "name_to_handle_at"),
        (libc::SYS_userfaultfd, "userfaultfd"),
        (libc::SYS_quotactl, "quotactl"),
        (libc::SYS_sethostname, "sethostname"),
        (libc::SYS_setdomainname, "setdomainname"),
        (libc::SYS_kcmp, "kcmp"),
        (libc::SYS_fsopen, "fsopen"),
        (libc::SYS_fsmount, "fsmount"),
        (libc::SYS_fsconfig, "fsconfig"),
        (libc::SYS_fspick, "fspick"),
        (libc::SYS_move_mount, "move_mount"),
        (libc::SYS_open_tree, "open_tree"),
        (libc::SYS_mount_setattr, "mount_setattr"),
        (libc::SYS_vhangup, "vhangup"),
        (libc::SYS_chroot, "chroot"),
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([(libc::SYS_iopl, "iopl"), (libc::SYS_ioperm, "ioperm")]);
    v
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// The complete filter program.
pub fn program() -> Vec<Insn> {
    let deny = denied();
    let mut p = vec![
        // A foreign architecture's numbering would bypass the list: kill.
        insn(LD_W_ABS, 0, 0, 4),
        insn(JEQ_K, 1, 0, AUDIT_ARCH),
        insn(RET_K, 0, 0, RET_KILL_PROCESS),
        insn(LD_W_ABS, 0, 0, 0),
    ];
    #[cfg(target_arch = "x86_64")]
    p.extend([
        insn(JGE_K, 0, 1, X32_SYSCALL_BIT),
        insn(RET_K, 0, 0, RET_ERRNO | libc::EPERM as u32),
    ]);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (JGE_K, X32_SYSCALL_BIT);
    for (nr, _) in &deny {
        p.push(insn(JEQ_K, 0, 1, *nr as u32));
        p.push(insn(RET_K, 0, 0, RET_ERRNO | libc::EPERM as u32));
    }
    // clone3 takes its flags in memory BPF cannot read: answer ENOSYS so libc
    // falls back to clone(2), whose flags we can check.
    p.push(insn(JEQ_K, 0, 1, libc::SYS_clone3 as u32));
    p.push(insn(RET_K, 0, 0, RET_ERRNO | libc::ENOSYS as u32));
    p.push(insn(JEQ_K, 0, 3, libc::SYS_clone as u32));
    p.push(insn(LD_W_ABS, 0, 0, 16)); // low 32 bits of args[0]: the flags
    p.push(insn(JSET_K, 0, 1, CLONE_NS_FLAGS));
    p.push(insn(RET_K, 0, 0, RET_ERRNO | libc::EPERM as u32));
    p.push(insn(RET_K, 0, 0, RET_ALLOW));
    p
}

/// Install the filter on the calling thread (and what it execs). Requires
/// `no_new_privs` (or CAP_SYS_ADMIN). Async-signal-safe given a prebuilt program.
pub fn install(prog: &[Insn]) -> std::io::Result<()> {
    #[repr(C)]
    struct Fprog {
        len: u16,
        filter: *const Insn,
    }
    let fprog = Fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr(),
    };
    // SAFETY: PR_SET_SECCOMP reads `fprog` and the instructions it points to, both
    // alive for the duration of the call.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &fprog as *const Fprog as libc::c_ulong,
            0,
            0,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_is_well_formed() {
        let p = program();
        assert!(
            p.len() < 4096,
            "BPF programs are limited to 4096 instructions"
        );
        assert_eq!(p.last().unwrap(), &insn(RET_K, 0, 0, RET_ALLOW));
        // Every conditional jump lands inside the program.
        for (i, ins) in p.iter().enumerate() {
            if ins.code & 0x07 == 0x05 {
                assert!(i + 1 + (ins.jt as usize) < p.len() && i + 1 + (ins.jf as usize) < p.len());
            }
        }
        let names: Vec<&str> = denied().iter().map(|(_, n)| *n).collect();
        for must in [
            "mount",
            "ptrace",
            "kexec_load",
            "init_module",
            "bpf",
            "unshare",
            "setns",
        ] {
            assert!(names.contains(&must), "{must} must be denied");
        }
    }

    #[test]
    fn filter_refuses_denied_calls_in_a_child() {
        // Install in a forked child so the test process itself stays unfiltered.
        let prog = program();
        // SAFETY: fork in a test; the child only makes raw syscalls and _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: prctl and syscalls with constant arguments; the child then _exits.
            unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || install(&prog).is_err()
                {
                    libc::_exit(10);
                }
                let r = libc::unshare(libc::CLONE_NEWUTS);
                let errno = *libc::__errno_location();
                if r != -1 || errno != libc::EPERM {
                    libc::_exit(11);
                }
                if libc::getpid() <= 0 {
                    libc::_exit(12);
                }
                libc::_exit(0);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "child died: {status}");
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }
}
