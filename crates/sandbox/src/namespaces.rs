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
use crate::init::{IdMap, InitSpec, LateSpec, SPEC_ENV};
use crate::{Error, LaunchSpec, Layout, Network, Prepared, Process, Sandbox, netns};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The uid and gid functions run as (Lambda's `sbx_user1051` is 993).
pub const FUNCTION_UID: u32 = 993;
pub const FUNCTION_GID: u32 = 990;
/// Memory limit a pooled shell's cgroup starts with, until its function is known.
const SHELL_MEMORY_MB: u32 = 128;

/// A started sandbox waiting for its function.
pub(crate) struct Shell {
    /// The Runtime API and endpoint listeners (and the trace daemon's socket)
    /// inside the environment's own network namespace, or `None` for an
    /// environment given the host's network (outbound access), which then has
    /// this listener for its Runtime API on the host's loopback.
    listeners: Option<netns::Listeners>,
    /// The namespace made by the host, which init joins (root only; an
    /// unprivileged init makes its own).
    netns_fd: Option<OwnedFd>,
    host_runtime_api: Option<std::net::TcpListener>,
    /// `None` where this server may not manage cgroups (see [`Namespaces::notes`]).
    cgroup: Option<Arc<Cgroup>>,
    child: tokio::process::Child,
    /// Init's stdin (and, when it makes its own network namespace, stdout): a
    /// Unix socket on which the host sends the function's spec with the log
    /// pipe, and init sends its listeners.
    control: std::os::unix::net::UnixStream,
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
    cgroups: Option<Hierarchy>,
    /// Set when this server is not root: every environment gets a user namespace.
    userns: Option<IdMap>,
    notes: Vec<String>,
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
        // Root makes the namespace here; an unprivileged init makes its own
        // inside its user namespace and sends the listeners back.
        let own_netns = !host_network && self.userns.is_some();
        let (ns, host_runtime_api) = if host_network {
            (None, Some(std::net::TcpListener::bind("127.0.0.1:0")?))
        } else if own_netns {
            (None, None)
        } else {
            (Some(netns::create().map_err(Error::Setup)?), None)
        };
        let netns_ms = t.elapsed().as_secs_f64() * 1000.0;
        let name = random_name();
        let t = Instant::now();
        let cgroup = match &self.cgroups {
            Some(h) => Some(
                Cgroup::create(h, &self.instance, &name, SHELL_MEMORY_MB).map_err(Error::Setup)?,
            ),
            None => None,
        };
        let cgroup_ms = t.elapsed().as_secs_f64() * 1000.0;
        let root = self.roots.join(&name);
        std::fs::create_dir_all(&root)?;
        let (marks_r, marks_w) = std::io::pipe()?;
        let me = std::process::id();
        let early = InitSpec {
            root: root.display().to_string(),
            cgroup_procs: cgroup
                .iter()
                .flat_map(|c| c.procs_files())
                .map(|p| p.display().to_string())
                .collect(),
            netns_path: ns
                .as_ref()
                .map(|ns| format!("/proc/{me}/fd/{}", ns.fd.as_raw_fd())),
            marks_path: Some(format!("/proc/{me}/fd/{}", marks_w.as_raw_fd())),
            userns: self.userns,
            own_netns,
            ..Default::default()
        };
        let early =
            serde_json::to_string(&early).map_err(|e| Error::Setup(std::io::Error::other(e)))?;
        // No pre_exec hook: without one the standard library spawns with
        // posix_spawn (vfork) instead of forking this large, threaded process.
        // Init sets its own die-with-parent signal and opens the namespace and
        // the stage pipe through /proc, so nothing needs to be inherited.
        // Descriptors cannot be opened through /proc from inside a user
        // namespace, so the log pipe (and the listeners of an init that makes its
        // own network namespace) travel over this socket.
        let (control, init_end) = std::os::unix::net::UnixStream::pair()?;
        let init_out = if own_netns {
            Stdio::from(OwnedFd::from(init_end.try_clone()?))
        } else {
            Stdio::null()
        };
        let mut cmd = tokio::process::Command::new(&self.init_program);
        cmd.arg("__sandbox-init")
            .env_clear()
            .env(SPEC_ENV, early)
            .current_dir("/")
            .stdin(Stdio::from(OwnedFd::from(init_end)))
            .stdout(init_out)
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = self.spawner.spawn(cmd).map_err(|source| Error::Spawn {
            program: self.init_program.display().to_string(),
            source,
        })?;
        let listeners = match ns {
            _ if own_netns => Some(receive_listeners(&control, &mut child)?),
            Some(ns) => Some((ns.listeners, Some(ns.fd))),
            None => None,
        };
        let (listeners, netns_fd) = match listeners {
            Some((l, fd)) => (Some(l), fd),
            None => (None, None),
        };
        Ok(Shell {
            listeners,
            netns_fd,
            host_runtime_api,
            cgroup: cgroup.map(Arc::new),
            child,
            control,
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

/// The listeners an unprivileged init made in its network namespace (with no
/// namespace descriptor: the host never joins it).
#[allow(clippy::type_complexity)]
fn receive_listeners(
    rx: &std::os::unix::net::UnixStream,
    child: &mut tokio::process::Child,
) -> Result<(netns::Listeners, Option<OwnedFd>), Error> {
    rx.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    match crate::fdpass::recv(rx.as_raw_fd(), 3) {
        Ok(fds) => {
            let mut it = fds.into_iter();
            let (Some(api), Some(endpoint), Some(daemon)) = (it.next(), it.next(), it.next())
            else {
                unreachable!("recv returns exactly the descriptors asked for");
            };
            Ok((
                netns::Listeners {
                    runtime_api: std::net::TcpListener::from(api),
                    endpoint: std::net::TcpListener::from(endpoint),
                    trace_daemon: std::net::UdpSocket::from(daemon),
                },
                None,
            ))
        }
        Err(e) => {
            let status = child
                .try_wait()
                .ok()
                .flatten()
                .map(|s| format!(" (init {s})"))
                .unwrap_or_default();
            Err(Error::Setup(std::io::Error::other(format!(
                "the sandbox init did not set up its network namespace: {e}{status}"
            ))))
        }
    }
}

/// Run `nimbus __sandbox-probe`: can this user make an environment's namespaces?
fn user_namespaces_supported(init_program: &std::path::Path) -> Result<(), String> {
    let out = std::process::Command::new(init_program)
        .arg("__sandbox-probe")
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("run {} __sandbox-probe: {e}", init_program.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(format!(
        "this unprivileged user cannot make the namespaces an environment needs ({why}); \
         the kernel must allow unprivileged user namespaces (user.max_user_namespaces > 0, \
         and no AppArmor or sysctl restriction), or run Nimbus as root"
    ))
}

/// Hand a waiting init its function: the log pipe's write end (with the first
/// byte), then the spec as JSON, then end of stream. The spec is a few KiB at
/// most and the socket is fresh, so the writes complete at once.
fn send_spec(
    control: &std::os::unix::net::UnixStream,
    log: std::os::fd::RawFd,
    late: &[u8],
) -> Result<(), Error> {
    use std::io::Write;
    control.set_write_timeout(Some(std::time::Duration::from_secs(5)))?;
    crate::fdpass::send(control.as_raw_fd(), &[log])?;
    (&*control).write_all(late)?;
    control.shutdown(std::net::Shutdown::Write)?;
    Ok(())
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
    if let Some(cgroup) = cgroup
        && let Err(e) = cgroup.destroy()
    {
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
        let rootless = unsafe { libc::geteuid() } != 0;
        let instance = Hierarchy::instance_name();
        let mut notes = Vec::new();
        let userns = if rootless {
            user_namespaces_supported(&init_program)?;
            Some(IdMap::to_current(FUNCTION_UID, FUNCTION_GID))
        } else {
            netns::supported()?;
            None
        };
        let cgroups = match Hierarchy::detect() {
            Some(h) => match h.make_instance(&instance) {
                Ok(()) => Some(h),
                Err(e) if rootless => {
                    notes.push(format!(
                        "this unprivileged server cannot manage cgroups ({e}): memory and pids \
                         limits, CPU shares, `Max Memory Used` from the cgroup and freezing of idle \
                         environments are not enforced. Run as root, or on a cgroup v2 host \
                         delegate a subtree to this user"
                    ));
                    None
                }
                Err(e) => return Err(format!("cannot create this server's cgroups: {e}")),
            },
            None if rootless => {
                notes.push(
                    "no usable cgroup hierarchy: memory and pids limits, CPU shares and freezing \
                     are not enforced"
                        .into(),
                );
                None
            }
            None => return Err(
                "no usable cgroup hierarchy (need memory, cpu, pids and freezer on v1, or memory, cpu and pids on v2)".into(),
            ),
        };
        let roots = state_dir.join("roots");
        std::fs::create_dir_all(&roots).map_err(|e| format!("create {}: {e}", roots.display()))?;
        // Roots of a crashed earlier run are empty directories (mounts were private).
        if let Ok(entries) = std::fs::read_dir(&roots) {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path());
            }
        }
        if let Some(h) = &cgroups {
            h.sweep();
        }
        let inner = Arc::new(Inner {
            init_program,
            roots,
            cgroups,
            userns,
            notes,
            instance,
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

    /// The cgroup version in use, if this server manages cgroups.
    pub fn cgroup_version(&self) -> Option<u8> {
        self.inner.cgroups.as_ref().map(Hierarchy::version)
    }

    /// Whether environments get a user namespace (the server is not root).
    pub fn rootless(&self) -> bool {
        self.inner.userns.is_some()
    }
}

impl Sandbox for Namespaces {
    fn isolation(&self) -> &'static str {
        "namespaces"
    }

    fn notes(&self) -> Vec<String> {
        self.inner.notes.clone()
    }

    fn layout(&self) -> Layout {
        Layout {
            task_root: Some("/var/task".into()),
            runtime_dir: Some("/var/runtime".into()),
            opt: Some("/opt".into()),
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
        if let Some(h) = &self.inner.cgroups {
            h.remove_instance(&self.inner.instance);
        }
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
        if let Some(cg) = &shell.cgroup {
            cg.set_limits(memory_mb).map_err(Error::Setup)?;
        }
        let limit_ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut parts = std::mem::take(&mut shell.parts);
        parts[1].1 += limit_ms;
        let prepared = match (&shell.listeners, &shell.host_runtime_api) {
            (Some(l), _) => Prepared {
                runtime_api: l.runtime_api.try_clone()?,
                runtime_api_addr: netns::RUNTIME_API_ADDR.into(),
                platform_endpoint: Some(l.endpoint.try_clone()?),
                endpoint_url: Some(format!("http://{}", netns::ENDPOINT_ADDR)),
                trace_daemon: Some(l.trace_daemon.try_clone()?),
                shell: None,
                parts,
            },
            (None, Some(listener)) => Prepared {
                runtime_api: listener.try_clone()?,
                runtime_api_addr: listener.local_addr()?.to_string(),
                // The host's network: the environment uses the server's own
                // endpoint and trace daemon.
                platform_endpoint: None,
                endpoint_url: None,
                trace_daemon: None,
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
        if let Some(opt) = &spec.opt {
            binds.push((opt.display().to_string(), "/opt".to_string()));
        }
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
        };
        let late = serde_json::to_vec(&late).map_err(|e| Error::Setup(std::io::Error::other(e)))?;
        let Shell {
            netns_fd,
            cgroup,
            child,
            control,
            marks_r,
            marks_w,
            root,
            ..
        } = shell;
        let sent_ns = crate::init::monotonic_ns();
        send_spec(&control, spec.log.as_raw_fd(), &late)?;
        let pid = child.id().unwrap_or(0);
        Ok(Process {
            child,
            pid,
            cgroup,
            root: Some(root),
            marks: Some((sent_ns, marks_r)),
            // Init opens these through /proc; they stay open until it has.
            held: vec![Box::new(netns_fd), Box::new(marks_w)],
        })
    }
}

/// One line of `nimbus doctor`: what was checked, and what was found.
pub struct Check {
    pub what: &'static str,
    pub result: Result<String, String>,
}

/// Everything isolation `namespaces` needs, checked on this host. `program` is
/// the `nimbus` binary (it probes user namespaces when not run as root).
pub fn diagnose(program: &std::path::Path) -> Vec<Check> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let rootless = euid != 0;
    let mut checks = vec![Check {
        what: "privileges",
        result: Ok(if rootless {
            format!("unprivileged (euid {euid}): every environment gets its own user namespace")
        } else {
            "root".into()
        }),
    }];
    if rootless {
        checks.push(Check {
            what: "user namespaces",
            result: user_namespaces_supported(program)
                .map(|()| "can make user, mount, PID, IPC, UTS and network namespaces with a private /proc".into()),
        });
    }
    let instance = format!("doctor-{}", std::process::id());
    checks.push(Check {
        what: "cgroups",
        result: match Hierarchy::detect() {
            Some(h) => {
                let made = h.make_instance(&instance);
                h.remove_instance(&instance);
                match made {
                    Ok(()) => Ok(format!("v{} with memory, cpu, pids{}", h.version(), if h.version() == 1 { ", freezer" } else { "" })),
                    Err(e) if rootless => Ok(format!(
                        "v{} present but not writable by this user ({e}): environments will run \
                         without memory, CPU and pids limits and without freezing",
                        h.version()
                    )),
                    Err(e) => Err(format!("v{} present but cannot create cgroups: {e}", h.version())),
                }
            }
            None if rootless => Ok("none usable: environments will run without memory, CPU and pids limits and without freezing".into()),
            None => Err("no cgroup v2 with memory, cpu and pids, and no v1 with memory, cpu, pids and freezer".into()),
        },
    });
    if rootless {
        return finish_checks(checks);
    }
    checks.push(Check {
        what: "network namespaces",
        result: netns::supported().map(|()| "can create one with loopback and listeners".into()),
    });
    finish_checks(checks)
}

fn finish_checks(mut checks: Vec<Check>) -> Vec<Check> {
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
