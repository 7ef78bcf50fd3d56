//! Execution environments' processes: how a runtime is started, isolated,
//! limited, observed and torn down.
//!
//! [`Sandbox`] is the boundary the execution layer talks to. Two isolation levels:
//! [`namespaces::Namespaces`] (own mount, PID, IPC, UTS and network namespaces, a
//! cgroup, an unprivileged user, seccomp; see `init.rs` for what runs inside) and
//! [`PlainProcess`] (`none`: a plain child process, for hosts that cannot isolate).
//! It does not know about the Runtime API protocol or about functions.

pub mod cgroup;
pub mod fdpass;
pub mod init;
pub mod namespaces;
pub mod netns;
pub mod seccomp;

use cgroup::Cgroup;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;

/// What went wrong starting a runtime process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("could not prepare the environment: {0}")]
    Setup(#[from] std::io::Error),
}

/// Everything needed to start one execution environment's runtime.
#[derive(Debug)]
pub struct LaunchSpec {
    /// The program as the environment sees it (e.g. `/var/task/bootstrap`).
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The complete environment: nothing of the host's is inherited.
    pub env: Vec<(String, String)>,
    /// Host directory of the unpacked code (`/var/task` inside).
    pub task_root: PathBuf,
    /// Host directory of the shipped runtimes (`/var/runtime` inside).
    pub runtime_dir: PathBuf,
    /// Host directory of the function's layers, merged (`/opt` inside, read-only).
    pub opt: Option<PathBuf>,
    /// Host directories visible read-only at the same path (interpreters).
    pub read_only: Vec<PathBuf>,
    /// Write end of the log pipe; becomes both stdout and stderr.
    pub log: OwnedFd,
    pub memory_mb: u32,
    pub ephemeral_storage_mb: u32,
}

/// Where the environment sees its code and runtimes; `None` means at the host path.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub task_root: Option<PathBuf>,
    pub runtime_dir: Option<PathBuf>,
    /// Where the function's layers are.
    pub opt: Option<PathBuf>,
}

/// An environment's resources made before its process starts.
pub struct Prepared {
    /// The Runtime API's listening socket, reachable by the environment.
    pub runtime_api: std::net::TcpListener,
    /// `AWS_LAMBDA_RUNTIME_API` as the environment must use it.
    pub runtime_api_addr: String,
    /// A socket inside the environment's network on which the host should serve
    /// Nimbus's AWS APIs; `None` when the environment shares the host's network.
    pub platform_endpoint: Option<std::net::TcpListener>,
    /// `AWS_ENDPOINT_URL` as the environment must use it, if not the host's.
    pub endpoint_url: Option<String>,
    /// The X-Ray daemon's UDP socket inside the environment's network (at
    /// [`netns::TRACE_DAEMON_ADDR`]); `None`: the host's daemon is used.
    pub trace_daemon: Option<std::net::UdpSocket>,
    shell: Option<namespaces::Shell>,
    /// Named parts of the preparation and their milliseconds (for benchmarks).
    pub parts: Vec<(&'static str, f64)>,
}

/// What an environment's network is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Only loopback, with the Runtime API and Nimbus's endpoint: nothing else.
    Isolated,
    /// The host's network: outbound access (and the host's ports), for functions
    /// configured for it (`VpcConfig`).
    Host,
}

/// Starts runtimes. Implementations differ in how strongly they isolate.
pub trait Sandbox: Send + Sync + 'static {
    /// The isolation level's name, as configured (`none`, `namespaces`).
    fn isolation(&self) -> &'static str;
    fn layout(&self) -> Layout;
    /// Make what the environment needs before its process exists.
    fn prepare(&self, memory_mb: u32, network: Network) -> Result<Prepared, Error>;
    fn launch(&self, spec: LaunchSpec, prepared: &mut Prepared) -> Result<Process, Error>;
    /// Remove what the sandbox keeps on the host, once every environment is gone.
    fn shutdown(&self) {}
    /// What the operator should know about how this host isolates (limits that
    /// cannot be enforced here, and why); printed at start-up.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A running runtime process (and everything it started).
pub struct Process {
    child: tokio::process::Child,
    pid: u32,
    cgroup: Option<Arc<Cgroup>>,
    root: Option<PathBuf>,
    /// When the process was spawned (CLOCK_MONOTONIC ns) and the pipe on which
    /// the sandbox init reports its stages.
    marks: Option<(u64, std::io::PipeReader)>,
    /// Descriptors the sandbox init opens through `/proc` after spawn.
    held: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl Process {
    /// The sandbox init's stage reports, to read once the runtime is up.
    /// Also carries the descriptors init opens through `/proc`: keep the marks
    /// until the runtime is up (init has opened them by then), then drop them.
    pub fn take_boot_marks(&mut self) -> Option<BootMarks> {
        let held = std::mem::take(&mut self.held);
        self.marks.take().map(|(spawned, pipe)| BootMarks {
            spawned,
            pipe,
            _held: held,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The environment's cgroup, when isolated.
    pub fn cgroup(&self) -> Option<Arc<Cgroup>> {
        self.cgroup.clone()
    }

    /// Wait for the runtime to exit.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// SIGKILL the runtime and everything it started.
    pub fn kill(&self) {
        if let Some(cg) = &self.cgroup {
            cg.kill_all();
        }
        // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
        unsafe {
            libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL);
        }
    }

    /// Peak memory of the environment in MB: the cgroup's peak when isolated,
    /// else the runtime process's `VmHWM`.
    pub fn peak_memory_mb(&self) -> Option<u64> {
        if let Some(cg) = &self.cgroup {
            return cg.peak_bytes().map(|b| b.div_ceil(1024 * 1024));
        }
        peak_rss_mb(self.pid)
    }

    /// After the runtime exited: remove what the environment left (cgroup, root
    /// directory). Blocking; call from a blocking thread.
    pub fn cleanup(&self) -> std::io::Result<()> {
        if let Some(cg) = &self.cgroup {
            cg.destroy()?;
        }
        if let Some(root) = &self.root {
            std::fs::remove_dir(root)?;
        }
        Ok(())
    }
}

/// Where a sandboxed start spent its time, reported by the sandbox init.
pub struct BootMarks {
    spawned: u64,
    pipe: std::io::PipeReader,
    _held: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl BootMarks {
    /// Each stage (`namespaces`, `filesystem`, `privileges`) and its ms, in order.
    /// Reads only what is already written: call after the runtime started.
    pub fn stages(self) -> Vec<(String, f64)> {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let fd = self.pipe.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        let mut buf = [0u8; 512];
        let mut pipe = self.pipe;
        let n = pipe.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        let mut prev = self.spawned;
        let mut out = Vec::new();
        for line in text.lines() {
            if let Some((stage, ns)) = line.split_once(' ')
                && let Ok(ns) = ns.parse::<u64>()
            {
                // Stages a pooled shell finished before it was used cost nothing now.
                out.push((stage.to_string(), ns.saturating_sub(prev) as f64 / 1e6));
                prev = prev.max(ns);
            }
        }
        out
    }
}

/// Peak resident memory of a process and everything it started, in MB: the
/// largest `VmHWM` among them (without a cgroup there is no better account; an
/// environment's memory is almost all its runtime process).
pub fn peak_rss_mb(pid: u32) -> Option<u64> {
    let mut peak = None;
    let mut todo = vec![pid];
    let mut seen = 0;
    while let Some(p) = todo.pop() {
        seen += 1;
        if seen > 4096 {
            break;
        }
        if let Some(kb) = vm_hwm_kb(p) {
            peak = Some(peak.unwrap_or(0).max(kb));
        }
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")) {
            todo.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    peak.map(|kb: u64| kb.div_ceil(1024))
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Describe an exit the way Lambda's errors do: `exit status 1`, `signal: killed`.
pub fn describe_exit(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(libc::SIGKILL) => "signal: killed".into(),
        Some(libc::SIGSEGV) => "signal: segmentation fault".into(),
        Some(libc::SIGABRT) => "signal: aborted".into(),
        Some(libc::SIGTERM) => "signal: terminated".into(),
        Some(sig) => format!("signal: {sig}"),
        None => "exit status unknown".into(),
    }
}

/// Isolation level `none`: a plain process, in its own process group, killed when
/// the server dies. It enforces no memory limit and shares the host's network.
#[derive(Debug, Default)]
pub struct PlainProcess;

impl Sandbox for PlainProcess {
    fn isolation(&self) -> &'static str {
        "none"
    }

    fn layout(&self) -> Layout {
        Layout::default()
    }

    fn prepare(&self, _memory_mb: u32, _network: Network) -> Result<Prepared, Error> {
        let runtime_api = std::net::TcpListener::bind("127.0.0.1:0")?;
        let runtime_api_addr = runtime_api.local_addr()?.to_string();
        Ok(Prepared {
            runtime_api,
            runtime_api_addr,
            platform_endpoint: None,
            endpoint_url: None,
            trace_daemon: None,
            shell: None,
            parts: Vec::new(),
        })
    }

    fn launch(&self, spec: LaunchSpec, _prepared: &mut Prepared) -> Result<Process, Error> {
        let stderr = spec.log.try_clone()?;
        let mut cmd = tokio::process::Command::new(&spec.program);
        cmd.args(&spec.args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.task_root)
            .stdin(Stdio::null())
            .stdout(Stdio::from(spec.log))
            .stderr(Stdio::from(stderr))
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: the closure runs in the forked child before exec and only calls
        // prctl(2), which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            program: spec.program.display().to_string(),
            source,
        })?;
        let pid = child.id().unwrap_or(0);
        Ok(Process {
            child,
            pid,
            cgroup: None,
            root: None,
            marks: None,
            held: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn spec(script: &str, env: Vec<(String, String)>, log: OwnedFd) -> LaunchSpec {
        LaunchSpec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env,
            task_root: "/".into(),
            runtime_dir: "/".into(),
            opt: None,
            read_only: vec![],
            log,
            memory_mb: 128,
            ephemeral_storage_mb: 512,
        }
    }

    fn launch(spec: LaunchSpec) -> Result<Process, Error> {
        let mut prepared = PlainProcess.prepare(128, Network::Isolated)?;
        PlainProcess.launch(spec, &mut prepared)
    }

    fn pipe() -> (std::io::PipeReader, OwnedFd) {
        let (r, w) = std::io::pipe().unwrap();
        (r, OwnedFd::from(w))
    }

    #[tokio::test]
    async fn runs_with_only_the_given_environment() {
        let (mut r, w) = pipe();
        let mut p = launch(spec(
            "echo $ONLY; echo err >&2; echo ${HOME:-nohome}",
            vec![("ONLY".into(), "yes".into())],
            w,
        ))
        .unwrap();
        let status = p.wait().await.unwrap();
        assert_eq!(describe_exit(&status), "exit status 0");
        drop(p);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "yes\nerr\nnohome\n");
    }

    #[tokio::test]
    async fn kill_ends_the_process_group() {
        let (_r, w) = pipe();
        let mut p = launch(spec("sleep 30 & sleep 30", vec![], w)).unwrap();
        assert!(p.peak_memory_mb().is_some());
        p.kill();
        assert_eq!(describe_exit(&p.wait().await.unwrap()), "signal: killed");
    }

    #[test]
    fn missing_program_is_a_clear_error() {
        let (_r, w) = pipe();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _g = rt.enter();
        let mut s = spec("", vec![], w);
        s.program = "/nonexistent/bootstrap".into();
        let err = launch(s).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/bootstrap"));
    }
}
