//! Isolation level `namespaces`: each environment in its own mount, PID, IPC, UTS
//! and network namespace, its own cgroup, as an unprivileged user without
//! capabilities under a seccomp filter. The host side lives here; what runs inside
//! is [`crate::init`].
//!
//! Everything that does not depend on the function (network namespace with its
//! listeners, cgroup, the init process in its new namespaces) is a *shell*. A few
//! shells are kept started ahead of time, so a cold start only pays for the
//! function's part: its filesystem, privilege drop and runtime.

use crate::cgroup::{Cgroup, Hierarchy};
use crate::init::{InitSpec, LateSpec, SPEC_ENV};
use crate::{Error, LaunchSpec, Layout, Network, Prepared, Process, Sandbox, netns};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::AsyncWriteExt;

/// The uid and gid functions run as (Lambda's `sbx_user1051` is 993).
pub const FUNCTION_UID: u32 = 993;
pub const FUNCTION_GID: u32 = 990;
/// Memory limit a pooled shell's cgroup starts with, until its function is known.
const SHELL_MEMORY_MB: u32 = 128;

/// A started sandbox waiting for its function.
pub(crate) struct Shell {
    /// The environment's own network namespace, or `None` for an environment
    /// given the host's network (outbound access), which then has this listener
    /// for its Runtime API on the host's loopback.
    netns: Option<netns::NetNs>,
    host_runtime_api: Option<std::net::TcpListener>,
    cgroup: Arc<Cgroup>,
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    marks_r: std::io::PipeReader,
    marks_w: std::io::PipeWriter,
    root: PathBuf,
    /// (netns, cgroup) creation ms, for the cold-start breakdown when unpooled.
    parts: Vec<(&'static str, f64)>,
}

struct Inner {
    /// The `nimbus` binary, re-executed as `__sandbox-init`.
    init_program: PathBuf,
    /// Where empty root directories for environments are made.
    roots: PathBuf,
    cgroups: Hierarchy,
    instance: String,
    pool: Mutex<Vec<Shell>>,
    pool_size: usize,
    spawner: Spawner,
}

type SpawnJob = (
    tokio::process::Command,
    std::sync::mpsc::SyncSender<std::io::Result<tokio::process::Child>>,
);

/// Spawns every sandbox init from one thread that lives as long as the server.
///
/// Init asks the kernel to kill it when its parent dies (`PR_SET_PDEATHSIG`), and
/// "parent" there means the *thread* that spawned it: spawned from a pooled worker
/// thread, an environment would be killed when that thread retires.
struct Spawner {
    jobs: Mutex<std::sync::mpsc::Sender<SpawnJob>>,
}

impl Spawner {
    fn start(handle: Option<tokio::runtime::Handle>) -> std::io::Result<Spawner> {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("nimbus-spawner".into())
            .spawn(move || {
                // The child is reaped by the Tokio runtime: spawn inside its context.
                let _guard = handle.as_ref().map(|h| h.enter());
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })?;
        Ok(Spawner {
            jobs: Mutex::new(tx),
        })
    }

    /// Spawn `cmd` on the spawner thread (blocks until it is spawned).
    fn spawn(&self, cmd: tokio::process::Command) -> std::io::Result<tokio::process::Child> {
        let (reply, result) = std::sync::mpsc::sync_channel(1);
        self.jobs
            .lock()
            .expect("spawner lock")
            .send((cmd, reply))
            .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
        result
            .recv()
            .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
    }
}

pub struct Namespaces {
    inner: Arc<Inner>,
}

fn random_name() -> String {
    let mut b = [0u8; 16];
    // SAFETY: getrandom(2) fills a buffer we own.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Inner {
    /// Start a shell: network namespace, cgroup, init joined to both and unshared.
    /// Must run inside a Tokio runtime (the child is reaped by it).
    fn start_shell(&self, host_network: bool) -> Result<Shell, Error> {
        let t = Instant::now();
        let (ns, host_runtime_api) = if host_network {
            (None, Some(std::net::TcpListener::bind("127.0.0.1:0")?))
        } else {
            (Some(netns::create().map_err(Error::Setup)?), None)
        };
        let netns_ms = t.elapsed().as_secs_f64() * 1000.0;
        let name = random_name();
        let t = Instant::now();
        let cgroup = Cgroup::create(&self.cgroups, &self.instance, &name, SHELL_MEMORY_MB)
            .map_err(Error::Setup)?;
        let cgroup_ms = t.elapsed().as_secs_f64() * 1000.0;
        let root = self.roots.join(&name);
        std::fs::create_dir_all(&root)?;
        let (marks_r, marks_w) = std::io::pipe()?;
        let me = std::process::id();
        let early = InitSpec {
            root: root.display().to_string(),
            cgroup_procs: cgroup
                .procs_files()
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            netns_path: ns
                .as_ref()
                .map(|ns| format!("/proc/{me}/fd/{}", ns.fd.as_raw_fd())),
            marks_path: Some(format!("/proc/{me}/fd/{}", marks_w.as_raw_fd())),
            ..Default::default()
        };
        let early =
            serde_json::to_string(&early).map_err(|e| Error::Setup(std::io::Error::other(e)))?;
        // No pre_exec hook: without one the standard library spawns with
        // posix_spawn (vfork) instead of forking this large, threaded process.
        // Init sets its own die-with-parent signal and opens the namespace and
        // the stage pipe through /proc, so nothing needs to be inherited.
        let mut cmd = tokio::process::Command::new(&self.init_program);
        cmd.arg("__sandbox-init")
            .env_clear()
            .env(SPEC_ENV, early)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = self.spawner.spawn(cmd).map_err(|source| Error::Spawn {
            program: self.init_program.display().to_string(),
            source,
        })?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| Error::Setup(std::io::Error::other("init has no stdin")))?;
        Ok(Shell {
            netns: ns,
            host_runtime_api,
            cgroup: Arc::new(cgroup),
            child,
            stdin,
            marks_r,
            marks_w,
            root,
            parts: vec![("netns", netns_ms), ("cgroup", cgroup_ms)],
        })
    }

    /// Top the pool up in the background.
    fn refill(self: &Arc<Self>) {
        let missing = self
            .pool_size
            .saturating_sub(self.pool.lock().expect("shell pool lock").len());
        for _ in 0..missing {
            let me = self.clone();
            tokio::task::spawn_blocking(move || match me.start_shell(false) {
                Ok(shell) => {
                    let mut pool = me.pool.lock().expect("shell pool lock");
                    if pool.len() < me.pool_size {
                        pool.push(shell);
                    } else {
                        drop(pool);
                        discard(shell);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "start a pooled sandbox shell failed"),
            });
        }
    }
}

/// Tear down an unused shell: kill its init, remove its cgroup and root.
fn discard(shell: Shell) {
    let Shell {
        cgroup,
        child,
        root,
        ..
    } = shell;
    drop(child); // kill_on_drop
    if let Err(e) = cgroup.destroy() {
        tracing::warn!(error = %e, "remove an unused shell's cgroup failed");
    }
    let _ = std::fs::remove_dir(root);
}

impl Namespaces {
    /// Check that this host can isolate, and prepare. Fails with the reason.
    /// `pool_size` shells are kept started ahead of time (0 turns the pool off).
    pub fn new(
        init_program: PathBuf,
        state_dir: PathBuf,
        pool_size: usize,
    ) -> Result<Namespaces, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(
                "isolation 'namespaces' needs root for now (user namespaces are not supported yet)"
                    .into(),
            );
        }
        let cgroups = Hierarchy::detect().ok_or(
            "no usable cgroup hierarchy (need memory, cpu, pids and freezer on v1, or memory, cpu and pids on v2)",
        )?;
        netns::supported()?;
        let roots = state_dir.join("roots");
        std::fs::create_dir_all(&roots).map_err(|e| format!("create {}: {e}", roots.display()))?;
        // Roots of a crashed earlier run are empty directories (mounts were private).
        if let Ok(entries) = std::fs::read_dir(&roots) {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path());
            }
        }
        cgroups.sweep();
        let inner = Arc::new(Inner {
            init_program,
            roots,
            cgroups,
            instance: Hierarchy::instance_name(),
            pool: Mutex::new(Vec::new()),
            pool_size,
            spawner: Spawner::start(tokio::runtime::Handle::try_current().ok())
                .map_err(|e| format!("start the sandbox spawner thread: {e}"))?,
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            inner.refill();
        }
        Ok(Namespaces { inner })
    }

    pub fn cgroup_version(&self) -> u8 {
        self.inner.cgroups.version()
    }
}

impl Sandbox for Namespaces {
    fn isolation(&self) -> &'static str {
        "namespaces"
    }

    fn layout(&self) -> Layout {
        Layout {
            task_root: Some("/var/task".into()),
            runtime_dir: Some("/var/runtime".into()),
        }
    }

    fn shutdown(&self) {
        let shells: Vec<Shell> = self
            .inner
            .pool
            .lock()
            .expect("shell pool lock")
            .drain(..)
            .collect();
        for s in shells {
            discard(s);
        }
        self.inner.cgroups.remove_instance(&self.inner.instance);
    }

    fn prepare(&self, memory_mb: u32, network: Network) -> Result<Prepared, Error> {
        let mut pooled = match network {
            Network::Isolated => self.inner.pool.lock().expect("shell pool lock").pop(),
            Network::Host => None,
        };
        // A shell whose init died (it should not) is no use.
        let dead = pooled
            .as_mut()
            .is_some_and(|s| s.child.try_wait().ok().flatten().is_some());
        if dead && let Some(shell) = pooled.take() {
            discard(shell);
        }
        let mut shell = match pooled {
            Some(mut s) => {
                s.parts = vec![("netns", 0.0), ("cgroup", 0.0)];
                s
            }
            None => self.inner.start_shell(network == Network::Host)?,
        };
        self.inner.refill();
        let t = Instant::now();
        shell.cgroup.set_limits(memory_mb).map_err(Error::Setup)?;
        let limit_ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut parts = std::mem::take(&mut shell.parts);
        parts[1].1 += limit_ms;
        let prepared = match (&shell.netns, &shell.host_runtime_api) {
            (Some(ns), _) => Prepared {
                runtime_api: ns.runtime_api.try_clone()?,
                runtime_api_addr: netns::RUNTIME_API_ADDR.into(),
                platform_endpoint: Some(ns.endpoint.try_clone()?),
                endpoint_url: Some(format!("http://{}", netns::ENDPOINT_ADDR)),
                shell: None,
                parts,
            },
            (None, Some(listener)) => Prepared {
                runtime_api: listener.try_clone()?,
                runtime_api_addr: listener.local_addr()?.to_string(),
                // The host's network: the environment uses the server's own endpoint.
                platform_endpoint: None,
                endpoint_url: None,
                shell: None,
                parts,
            },
            (None, None) => {
                return Err(Error::Setup(std::io::Error::other(
                    "a shell without a network",
                )));
            }
        };
        Ok(Prepared {
            shell: Some(shell),
            ..prepared
        })
    }

    fn launch(&self, spec: LaunchSpec, prepared: &mut Prepared) -> Result<Process, Error> {
        let shell = prepared.shell.take().ok_or_else(|| {
            Error::Setup(std::io::Error::other("launch without a prepared shell"))
        })?;
        let mut binds = vec![
            (
                spec.task_root.display().to_string(),
                "/var/task".to_string(),
            ),
            (
                spec.runtime_dir.display().to_string(),
                "/var/runtime".to_string(),
            ),
        ];
        for b in &spec.read_only {
            let p = b.display().to_string();
            binds.push((p.clone(), p));
        }
        let late = LateSpec {
            program: spec.program.display().to_string(),
            args: spec.args.clone(),
            env: spec.env.clone(),
            cwd: "/var/task".into(),
            binds,
            tmp_mb: spec.ephemeral_storage_mb,
            uid: FUNCTION_UID,
            gid: FUNCTION_GID,
            log_path: format!("/proc/{}/fd/{}", std::process::id(), spec.log.as_raw_fd()),
        };
        let late = serde_json::to_vec(&late).map_err(|e| Error::Setup(std::io::Error::other(e)))?;
        let Shell {
            netns,
            cgroup,
            child,
            mut stdin,
            marks_r,
            marks_w,
            root,
            ..
        } = shell;
        let sent_ns = crate::init::monotonic_ns();
        // The spec is small: it fits the pipe buffer, so this completes at once.
        tokio::spawn(async move {
            let _ = stdin.write_all(&late).await;
            let _ = stdin.shutdown().await;
        });
        let pid = child.id().unwrap_or(0);
        Ok(Process {
            child,
            pid,
            cgroup: Some(cgroup),
            root: Some(root),
            marks: Some((sent_ns, marks_r)),
            // Init opens these through /proc; they stay open until it has.
            held: vec![
                Box::new(netns.map(|n| n.fd)),
                Box::new(marks_w),
                Box::new(spec.log),
            ],
        })
    }
}

/// One line of `nimbus doctor`: what was checked, and what was found.
pub struct Check {
    pub what: &'static str,
    pub result: Result<String, String>,
}

/// Everything isolation `namespaces` needs, checked on this host.
pub fn diagnose() -> Vec<Check> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let mut checks = vec![Check {
        what: "running as root",
        result: if euid == 0 {
            Ok("yes".into())
        } else {
            Err(format!(
                "no (euid {euid}); user namespaces are not supported yet, so use --isolation none"
            ))
        },
    }];
    checks.push(Check {
        what: "cgroups",
        result: match Hierarchy::detect() {
            Some(h) => Ok(format!("v{} with memory, cpu, pids{}", h.version(), if h.version() == 1 { ", freezer" } else { "" })),
            None => Err("no cgroup v2 with memory, cpu and pids, and no v1 with memory, cpu, pids and freezer".into()),
        },
    });
    checks.push(Check {
        what: "network namespaces",
        result: netns::supported().map(|()| "can create one with loopback and listeners".into()),
    });
    // SAFETY: PR_GET_SECCOMP only reads the calling thread's mode.
    let seccomp = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    checks.push(Check {
        what: "seccomp filters",
        result: if seccomp >= 0 {
            Ok(format!(
                "available ({} system calls denied)",
                crate::seccomp::denied().len()
            ))
        } else {
            Err("prctl(PR_GET_SECCOMP) failed: kernel without seccomp".into())
        },
    });
    checks
}
