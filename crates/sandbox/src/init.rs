//! The sandbox's init, run as `nimbus __sandbox-init` (a fresh, single-threaded
//! process) for every environment:
//!
//! 1. (host PID namespace) join the environment's cgroup; when the server is not
//!    root, enter a new user namespace and make a network namespace, sending its
//!    listeners to the host; else join the host-made network namespace; unshare
//!    mount, PID, IPC and UTS namespaces, fork;
//! 2. (PID 1 of the new namespace) build the root: system directories read-only,
//!    code at `/var/task`, runtime at `/var/runtime`, a size-limited `/tmp`, a
//!    private `/proc` and `/dev`; pivot into it; fork the runtime and reap;
//! 3. (the runtime) set rlimits, drop every capability and to an unprivileged
//!    user, set `no_new_privs`, install the seccomp filter, exec.
//!
//! Step 1 needs nothing of the function, so the host may start it ahead of time
//! (a pool of ready shells). Init then waits, as PID 1, for the function's part of
//! the spec ([`LateSpec`]) and its log pipe on stdin, a Unix socket, before step 2.
//!
//! Errors are written to stderr (the function's log, once known) and end the process.

use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::path::Path;

/// The function's part of the spec, sent as JSON on init's stdin.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LateSpec {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    /// Read-only binds: (host path, path inside).
    pub binds: Vec<(String, String)>,
    pub tmp_mb: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What the host tells init up front, as JSON in `NIMBUS_SANDBOX_SPEC`; the
/// function's part arrives later (see [`LateSpec`]) and is merged in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InitSpec {
    #[serde(default)]
    pub program: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<(String, String)>,
    #[serde(default)]
    pub cwd: String,
    /// An empty host directory the new root is built on.
    pub root: String,
    /// Read-only binds: (host path, path inside).
    #[serde(default)]
    pub binds: Vec<(String, String)>,
    #[serde(default)]
    pub tmp_mb: u32,
    /// `cgroup.procs` files to join.
    pub cgroup_procs: Vec<String>,
    /// The network namespace to join, as a path (`/proc/<host pid>/fd/<n>`): the
    /// host need not hand descriptors down, so it can spawn without forking.
    pub netns_path: Option<String>,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    /// A pipe (as a `/proc/<host pid>/fd/<n>` path) on which init reports when
    /// each stage finished (`<stage> <CLOCK_MONOTONIC ns>` lines).
    #[serde(default)]
    pub marks_path: Option<String>,
    /// Run in a new user namespace with this mapping (when the server is not
    /// root: the namespace gives init the rights to build the sandbox).
    #[serde(default)]
    pub userns: Option<IdMap>,
    /// Make a new network namespace here and send its two listeners (Runtime API,
    /// endpoint) to the host over the Unix socket that is init's stdout. Used
    /// when the host cannot enter the namespace itself (no root).
    #[serde(default)]
    pub own_netns: bool,
    /// Set by init once it opened `marks_path`.
    #[serde(skip)]
    pub marks_fd: Option<i32>,
}

/// One uid and one gid of a user namespace and the host ids they stand for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub inside_uid: u32,
    pub outside_uid: u32,
    pub inside_gid: u32,
    pub outside_gid: u32,
}

impl IdMap {
    /// Map the function's ids to this (unprivileged) process's own.
    pub fn to_current(inside_uid: u32, inside_gid: u32) -> IdMap {
        // SAFETY: geteuid/getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        IdMap {
            inside_uid,
            outside_uid: uid,
            inside_gid,
            outside_gid: gid,
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds: comparable across processes on this host.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn mark(spec: &InitSpec, stage: &str) {
    if let Some(fd) = spec.marks_fd {
        let line = format!("{stage} {}\n", monotonic_ns());
        // SAFETY: write(2) of a buffer we own to an inherited pipe; errors are ignored.
        unsafe { libc::write(fd, line.as_ptr().cast(), line.len()) };
    }
}

pub const SPEC_ENV: &str = "NIMBUS_SANDBOX_SPEC";
/// Host directories visible read-only inside every environment.
const SYSTEM_DIRS: &[&str] = &["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc"];
/// Device nodes bound into the private `/dev`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

fn fail(step: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("nimbus sandbox: {step}: {err}");
    // SAFETY: _exit ends the process without running anything else.
    unsafe { libc::_exit(126) }
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| fail("path", format!("NUL byte in {s:?}")))
}

fn check(step: &str, rc: libc::c_int) {
    if rc != 0 {
        fail(step, std::io::Error::last_os_error());
    }
}

fn mount(
    src: Option<&str>,
    dst: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) {
    let src_c = src.map(cstr);
    let dst_c = cstr(dst);
    let fs_c = fstype.map(cstr);
    let data_c = data.map(cstr);
    // SAFETY: all pointers are NUL-terminated strings alive for the call, or null.
    let rc = unsafe {
        libc::mount(
            src_c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            dst_c.as_ptr(),
            fs_c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            flags,
            data_c
                .as_ref()
                .map_or(std::ptr::null(), |c| c.as_ptr().cast()),
        )
    };
    if rc != 0 {
        fail(
            &format!("mount {} on {dst}", src.unwrap_or("-")),
            std::io::Error::last_os_error(),
        );
    }
}

fn bind_ro(src: &str, dst: &str) {
    mount(Some(src), dst, None, libc::MS_BIND | libc::MS_REC, None);
    // In a user namespace the source's noexec is locked: a remount must keep it.
    let mut extra = 0;
    let c = cstr(src);
    // SAFETY: statvfs fills a struct we own from a NUL-terminated path.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_NOEXEC != 0 {
            extra |= libc::MS_NOEXEC;
        }
    }
    mount(
        None,
        dst,
        None,
        libc::MS_BIND
            | libc::MS_REMOUNT
            | libc::MS_RDONLY
            | libc::MS_NOSUID
            | libc::MS_NODEV
            | extra,
        None,
    );
}

fn mkdir_p(path: &str) {
    if let Err(e) = std::fs::create_dir_all(path) {
        fail(&format!("mkdir {path}"), e);
    }
}

fn build_root(spec: &InitSpec) {
    let root = spec.root.as_str();
    mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None);
    mount(
        Some("tmpfs"),
        root,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("size=16m,mode=0755"),
    );
    for dir in SYSTEM_DIRS {
        let host = Path::new(dir);
        let inside = format!("{root}{dir}");
        match std::fs::symlink_metadata(host) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(host).unwrap_or_else(|e| fail("readlink", e));
                std::os::unix::fs::symlink(target, &inside).unwrap_or_else(|e| fail("symlink", e));
            }
            Ok(m) if m.is_dir() => {
                mkdir_p(&inside);
                bind_ro(dir, &inside);
            }
            _ => {}
        }
    }
    mkdir_p(&format!("{root}/opt"));
    let tmp = format!("{root}/tmp");
    mkdir_p(&tmp);
    mount(
        Some("tmpfs"),
        &tmp,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some(&format!("size={}m,mode=1777", spec.tmp_mb)),
    );
    // After /tmp, so an interpreter that lives under /tmp stays visible.
    for (host, inside) in &spec.binds {
        let target = format!("{root}{inside}");
        if Path::new(&target).exists()
            && std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir())
        {
            // Already visible through a system directory (e.g. /usr/bin/node).
            if Path::new(host).starts_with("/usr") {
                continue;
            }
        }
        mkdir_p(&target);
        bind_ro(host, &target);
    }
    let proc_dir = format!("{root}/proc");
    mkdir_p(&proc_dir);
    mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    );
    let dev = format!("{root}/dev");
    mkdir_p(&dev);
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("size=64k,mode=0755"),
    );
    for d in DEVICES {
        let node = format!("{dev}/{d}");
        std::fs::write(&node, b"").unwrap_or_else(|e| fail("create device node", e));
        mount(Some(&format!("/dev/{d}")), &node, None, libc::MS_BIND, None);
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, format!("{dev}/{name}"))
            .unwrap_or_else(|e| fail("symlink /dev", e));
    }
    let shm = format!("{dev}/shm");
    mkdir_p(&shm);
    mount(
        Some("tmpfs"),
        &shm,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("size=64m,mode=1777"),
    );

    let root_c = cstr(root);
    let dot = cstr(".");
    // SAFETY: chdir/pivot_root/umount2 with valid NUL-terminated paths.
    unsafe {
        check("chdir new root", libc::chdir(root_c.as_ptr()));
        check(
            "pivot_root",
            libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) as libc::c_int,
        );
        check(
            "detach old root",
            libc::umount2(dot.as_ptr(), libc::MNT_DETACH),
        );
        check("chdir /", libc::chdir(cstr("/").as_ptr()));
    }
    mount(
        None,
        "/",
        None,
        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
        None,
    );
}

fn set_rlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads a struct we own.
    unsafe { libc::setrlimit(resource, &lim) };
}

fn drop_privileges(spec: &InitSpec) {
    // Lambda's limits: 1024 open files, no core dumps.
    set_rlimit(libc::RLIMIT_NOFILE, 1024, 1024);
    set_rlimit(libc::RLIMIT_CORE, 0, 0);
    if spec.userns.is_some() {
        // Counted per user namespace, so this is the environment's own process
        // limit (Lambda's 1,024), also where no pids cgroup can be made.
        set_rlimit(libc::RLIMIT_NPROC, 1024, 1024);
    }
    // SAFETY: capability and identity syscalls with constant or owned arguments.
    unsafe {
        for cap in 0..64 {
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        // In a user namespace setgroups is denied (and there are no groups to drop).
        if spec.userns.is_none() {
            check("setgroups", libc::setgroups(0, std::ptr::null()));
        }
        check("setresgid", libc::setresgid(spec.gid, spec.gid, spec.gid));
        check("setresuid", libc::setresuid(spec.uid, spec.uid, spec.uid));
        // Leaving root clears the capability sets; in a user namespace the uid
        // does not change, so clear them explicitly.
        clear_capabilities();
        check(
            "no_new_privs",
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
        );
    }
    if let Err(e) = crate::seccomp::install(&crate::seccomp::program()) {
        fail("seccomp", e);
    }
}

/// Empty the effective, permitted and inheritable capability sets.
fn clear_capabilities() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset(2) reads a header and two data structs we own.
    check("drop capabilities", unsafe {
        libc::syscall(libc::SYS_capset, &header, data.as_ptr()) as libc::c_int
    });
}

fn write_proc(path: &str, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        fail(&format!("write {path}"), e);
    }
}

/// Enter a new user namespace whose only ids are the function's, standing for
/// this process's own: init keeps every capability inside it (enough to build
/// the sandbox), none outside.
fn enter_user_namespace(map: &IdMap) {
    // SAFETY: unshare in a single-threaded process.
    check("unshare user namespace", unsafe {
        libc::unshare(libc::CLONE_NEWUSER)
    });
    write_proc(
        "/proc/self/uid_map",
        &format!("{} {} 1\n", map.inside_uid, map.outside_uid),
    );
    write_proc("/proc/self/setgroups", "deny");
    write_proc(
        "/proc/self/gid_map",
        &format!("{} {} 1\n", map.inside_gid, map.outside_gid),
    );
}

/// Make this process's own network namespace with its listeners, and send them
/// to the host on stdout (a Unix socket); stdout then becomes /dev/null.
fn make_network_namespace() {
    // SAFETY: unshare in a single-threaded process.
    check("unshare network namespace", unsafe {
        libc::unshare(libc::CLONE_NEWNET)
    });
    let l =
        crate::netns::listen_here().unwrap_or_else(|e| fail("listen in the network namespace", e));
    use std::os::fd::AsRawFd;
    let fds = [
        l.runtime_api.as_raw_fd(),
        l.endpoint.as_raw_fd(),
        l.trace_daemon.as_raw_fd(),
    ];
    if let Err(e) = crate::fdpass::send(1, &fds) {
        fail("send listeners to the host", e);
    }
    drop(l);
    let null = cstr("/dev/null");
    // SAFETY: replace stdout with /dev/null; descriptors we own.
    unsafe {
        let n = libc::open(null.as_ptr(), libc::O_WRONLY);
        if n >= 0 {
            libc::dup2(n, 1);
            libc::close(n);
        }
    }
}

fn exec_runtime(spec: &InitSpec) -> ! {
    let program = cstr(&spec.program);
    let mut argv: Vec<CString> = vec![program.clone()];
    argv.extend(spec.args.iter().map(|a| cstr(a)));
    let envp: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| cstr(&format!("{k}={v}")))
        .collect();
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    let cwd = cstr(&spec.cwd);
    // SAFETY: execve with NUL-terminated argument and environment arrays we own.
    unsafe {
        libc::chdir(cwd.as_ptr());
        libc::execve(program.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr());
    }
    let err = std::io::Error::last_os_error();
    eprintln!("fork/exec {}: {}", spec.program, err);
    // SAFETY: ends the process.
    unsafe { libc::_exit(127) }
}

fn wait_status(pid: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return status;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 0;
        }
    }
}

/// Exit the way the runtime did: same code, or the same signal (re-raised), so
/// the host can tell "exit status 1" from "signal: killed".
fn exit_like(status: libc::c_int) -> ! {
    let sig = if libc::WIFEXITED(status) {
        // PID 1 reports a runtime killed by a signal as 128 + signal.
        match libc::WEXITSTATUS(status) {
            code @ 129..=192 => code - 128,
            code => {
                // SAFETY: ends the process.
                unsafe { libc::_exit(code) }
            }
        }
    } else if libc::WIFSIGNALED(status) {
        libc::WTERMSIG(status)
    } else {
        libc::SIGKILL
    };
    // SAFETY: restore the default action and raise the signal on ourselves.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::kill(libc::getpid(), sig);
        libc::_exit(128 + sig)
    }
}

/// Entry point of `nimbus __sandbox-probe`: can this (unprivileged) user make the
/// namespaces an environment needs: a user namespace, and inside it mount, PID,
/// IPC, UTS and network namespaces with a private `/proc`? Exits 0 if so; else
/// prints why on stderr and exits non-zero. Never returns.
pub fn probe() -> ! {
    // SAFETY: the die-with-parent signal; async-signal-safe prctl.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        enter_user_namespace(&IdMap::to_current(
            crate::namespaces::FUNCTION_UID,
            crate::namespaces::FUNCTION_GID,
        ));
    }
    // SAFETY: unshare in a single-threaded process.
    check("unshare", unsafe {
        libc::unshare(
            libc::CLONE_NEWNS
                | libc::CLONE_NEWPID
                | libc::CLONE_NEWIPC
                | libc::CLONE_NEWUTS
                | libc::CLONE_NEWNET,
        )
    });
    if let Err(e) = crate::netns::listen_here() {
        fail("listen in a new network namespace", e);
    }
    // SAFETY: fork in a single-threaded process.
    let child = unsafe { libc::fork() };
    if child < 0 {
        fail("fork", std::io::Error::last_os_error());
    }
    if child == 0 {
        mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None);
        mount(
            Some("proc"),
            "/proc",
            Some("proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        );
        // SAFETY: ends the process.
        unsafe { libc::_exit(0) }
    }
    let status = wait_status(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        125
    };
    // SAFETY: ends the process.
    unsafe { libc::_exit(code) }
}

/// Entry point of `nimbus __sandbox-init`. Never returns.
pub fn main() -> ! {
    let mut spec: InitSpec = match std::env::var(SPEC_ENV)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => fail("read spec", e),
    };
    // SAFETY: the die-with-parent signal; async-signal-safe prctl.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    if let Some(path) = &spec.marks_path {
        let c = cstr(path);
        // SAFETY: open(2) of a NUL-terminated path; the descriptor is ours.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY) };
        spec.marks_fd = (fd >= 0).then_some(fd);
    }
    mark(&spec, "exec");
    let pid = std::process::id().to_string();
    for f in &spec.cgroup_procs {
        if let Err(e) = std::fs::write(f, &pid) {
            fail(&format!("join cgroup {f}"), e);
        }
    }
    mark(&spec, "cgroup_join");
    if let Some(map) = &spec.userns {
        enter_user_namespace(map);
    }
    if spec.own_netns {
        make_network_namespace();
    } else if let Some(path) = &spec.netns_path {
        let c = cstr(path);
        // SAFETY: open the namespace file, setns into it, close it.
        unsafe {
            let fd = libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if fd < 0 {
                fail("open network namespace", std::io::Error::last_os_error());
            }
            check(
                "join network namespace",
                libc::setns(fd, libc::CLONE_NEWNET),
            );
            libc::close(fd);
        }
    }
    // SAFETY: unshare the calling (single-threaded) process's namespaces.
    check("unshare", unsafe {
        libc::unshare(
            libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS,
        )
    });
    mark(&spec, "namespaces");
    // SAFETY: fork in a single-threaded process.
    let child = unsafe { libc::fork() };
    if child < 0 {
        fail("fork", std::io::Error::last_os_error());
    }
    if child > 0 {
        if let Some(fd) = spec.marks_fd {
            // SAFETY: this process reports nothing more.
            unsafe { libc::close(fd) };
        }
        exit_like(wait_status(child));
    }
    // PID 1 of the environment's PID namespace.
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    // Wait for the function (the host may have started us early): the log pipe
    // arrives with the first byte on stdin (a Unix socket), then the spec.
    let Ok(log) = crate::fdpass::recv(0, 1) else {
        // The host dropped this shell unused.
        // SAFETY: ends the process.
        unsafe { libc::_exit(0) }
    };
    let mut late = String::new();
    use std::io::Read;
    if std::io::stdin().read_to_string(&mut late).is_err() || late.is_empty() {
        // SAFETY: ends the process.
        unsafe { libc::_exit(0) }
    }
    let late: LateSpec =
        serde_json::from_str(&late).unwrap_or_else(|e| fail("read function spec", e));
    use std::os::fd::AsRawFd;
    let fd = log[0].as_raw_fd();
    // SAFETY: make the log pipe stdout and stderr; stdin is done.
    unsafe {
        libc::dup2(fd, 1);
        libc::dup2(fd, 2);
        drop(log);
        let null = cstr("/dev/null");
        let n = libc::open(null.as_ptr(), libc::O_RDONLY);
        if n >= 0 {
            libc::dup2(n, 0);
            libc::close(n);
        }
    }
    spec.program = late.program;
    spec.args = late.args;
    spec.env = late.env;
    spec.cwd = late.cwd;
    spec.binds = late.binds;
    spec.tmp_mb = late.tmp_mb;
    spec.uid = late.uid;
    spec.gid = late.gid;
    mark(&spec, "spec");
    let hostname = cstr("localhost");
    // SAFETY: sethostname in our own UTS namespace.
    unsafe { libc::sethostname(hostname.as_ptr(), 9) };
    build_root(&spec);
    mark(&spec, "filesystem");
    // SAFETY: fork in a single-threaded process.
    let runtime = unsafe { libc::fork() };
    if runtime < 0 {
        fail("fork runtime", std::io::Error::last_os_error());
    }
    if runtime == 0 {
        drop_privileges(&spec);
        mark(&spec, "privileges");
        if let Some(fd) = spec.marks_fd {
            // SAFETY: mark the descriptor close-on-exec so the runtime never sees it.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        exec_runtime(&spec);
    }
    if let Some(fd) = spec.marks_fd {
        // SAFETY: PID 1 has no further use for the descriptor.
        unsafe { libc::close(fd) };
    }
    // Reap every orphan until the runtime itself exits; its exit ends the namespace.
    loop {
        let mut status = 0;
        // SAFETY: waiting for any child of PID 1.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r == runtime {
            if libc::WIFEXITED(status) {
                // SAFETY: ends the process.
                unsafe { libc::_exit(libc::WEXITSTATUS(status)) }
            }
            let sig = if libc::WIFSIGNALED(status) {
                libc::WTERMSIG(status)
            } else {
                libc::SIGKILL
            };
            // PID 1 cannot die by its own signal: report it as 128 + signal.
            // SAFETY: ends the process.
            unsafe { libc::_exit(128 + sig) }
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            // SAFETY: ends the process.
            unsafe { libc::_exit(0) }
        }
    }
}
