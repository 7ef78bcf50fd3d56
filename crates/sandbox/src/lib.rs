//! Execution environments' processes: how a runtime is started, limited, observed
//! and torn down.
//!
//! [`Sandbox`] is the boundary the execution layer talks to. This crate ships the
//! `none` isolation level: a plain child process in its own process group that dies
//! with the server. Namespaces, cgroups and seccomp arrive behind the same trait.
//! It does not know about the Runtime API or about functions.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

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
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The complete environment: nothing of the host's is inherited.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// Write end of the log pipe; becomes both stdout and stderr.
    pub log: OwnedFd,
    pub memory_mb: u32,
}

/// Starts runtimes. Implementations differ in how strongly they isolate.
pub trait Sandbox: Send + Sync + 'static {
    /// The isolation level's name, as configured (`none`, `namespaces`).
    fn isolation(&self) -> &'static str;
    fn launch(&self, spec: LaunchSpec) -> Result<Process, Error>;
}

/// A running runtime process (and the process group it leads).
pub struct Process {
    child: tokio::process::Child,
    pid: u32,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Wait for the runtime to exit.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// SIGKILL the runtime and everything in its process group.
    pub fn kill(&self) {
        // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
        unsafe {
            libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL);
        }
    }

    /// Peak resident memory of the runtime process, in MB (`VmHWM`).
    pub fn peak_memory_mb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb.div_ceil(1024))
    }
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

    fn launch(&self, spec: LaunchSpec) -> Result<Process, Error> {
        let stderr = spec.log.try_clone()?;
        let mut cmd = tokio::process::Command::new(&spec.program);
        cmd.args(&spec.args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.cwd)
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
        Ok(Process { child, pid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn pipe() -> (std::io::PipeReader, OwnedFd) {
        let (r, w) = std::io::pipe().unwrap();
        (r, OwnedFd::from(w))
    }

    #[tokio::test]
    async fn runs_with_only_the_given_environment() {
        let (mut r, w) = pipe();
        let mut p = PlainProcess
            .launch(LaunchSpec {
                program: "/bin/sh".into(),
                args: vec![
                    "-c".into(),
                    "echo $ONLY; echo err >&2; echo ${HOME:-nohome}".into(),
                ],
                env: vec![("ONLY".into(), "yes".into())],
                cwd: "/".into(),
                log: w,
                memory_mb: 128,
            })
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
        let mut p = PlainProcess
            .launch(LaunchSpec {
                program: "/bin/sh".into(),
                args: vec!["-c".into(), "sleep 30 & sleep 30".into()],
                env: vec![],
                cwd: "/".into(),
                log: w,
                memory_mb: 128,
            })
            .unwrap();
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
        let err = PlainProcess
            .launch(LaunchSpec {
                program: "/nonexistent/bootstrap".into(),
                args: vec![],
                env: vec![],
                cwd: "/".into(),
                log: w,
                memory_mb: 128,
            })
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/bootstrap"));
    }
}
