//! Isolation level `namespaces`: each environment in its own mount, PID, IPC, UTS
//! and network namespace, its own cgroup, as an unprivileged user without
//! capabilities under a seccomp filter. The host side lives here; what runs inside
//! is [`crate::init`].

use crate::cgroup::{Cgroup, Hierarchy};
use crate::init::{InitSpec, SPEC_ENV};
use crate::{Error, LaunchSpec, Layout, Prepared, Process, Sandbox, netns};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

/// The uid and gid functions run as (Lambda's `sbx_user1051` is 993).
pub const FUNCTION_UID: u32 = 993;
pub const FUNCTION_GID: u32 = 990;

pub struct Namespaces {
    /// The `nimbus` binary, re-executed as `__sandbox-init`.
    init_program: PathBuf,
    /// Where empty root directories for environments are made.
    roots: PathBuf,
    cgroups: Hierarchy,
    instance: String,
}

impl Namespaces {
    /// Check that this host can isolate, and prepare. Fails with the reason.
    pub fn new(init_program: PathBuf, state_dir: PathBuf) -> Result<Namespaces, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(
                "isolation 'namespaces' needs root for now (user namespaces are not supported yet)"
                    .into(),
            );
        }
        let cgroups = Hierarchy::detect().ok_or("no usable cgroup hierarchy (need memory, cpu, pids and freezer on v1, or memory, cpu and pids on v2)")?;
        netns::supported()?;
        let roots = state_dir.join("roots");
        std::fs::create_dir_all(&roots).map_err(|e| format!("create {}: {e}", roots.display()))?;
        cgroups.sweep();
        Ok(Namespaces {
            init_program,
            roots,
            cgroups,
            instance: Hierarchy::instance_name(),
        })
    }

    pub fn cgroup_version(&self) -> u8 {
        self.cgroups.version()
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
        self.cgroups.remove_instance(&self.instance);
    }

    fn prepare(&self, env_id: &str, memory_mb: u32) -> Result<Prepared, Error> {
        let t = Instant::now();
        let ns = netns::create().map_err(Error::Setup)?;
        let netns_ms = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let cgroup = Cgroup::create(&self.cgroups, &self.instance, env_id, memory_mb)
            .map_err(Error::Setup)?;
        let cgroup_ms = t.elapsed().as_secs_f64() * 1000.0;
        Ok(Prepared {
            runtime_api: ns.runtime_api,
            runtime_api_addr: netns::RUNTIME_API_ADDR.into(),
            platform_endpoint: Some(ns.endpoint),
            endpoint_url: Some(format!("http://{}", netns::ENDPOINT_ADDR)),
            netns: Some(ns.fd),
            cgroup: Some(Arc::new(cgroup)),
            parts: vec![("netns", netns_ms), ("cgroup", cgroup_ms)],
        })
    }

    fn launch(&self, spec: LaunchSpec, prepared: &mut Prepared) -> Result<Process, Error> {
        let root = self.roots.join(&spec.env_id);
        std::fs::create_dir_all(&root)?;
        let cgroup = prepared.cgroup.clone();
        let netns: Option<OwnedFd> = prepared.netns.take();
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
        let (marks_r, marks_w) = std::io::pipe()?;
        let init = InitSpec {
            program: spec.program.display().to_string(),
            args: spec.args.clone(),
            env: spec.env.clone(),
            cwd: "/var/task".into(),
            root: root.display().to_string(),
            binds,
            tmp_mb: spec.ephemeral_storage_mb,
            cgroup_procs: cgroup
                .as_ref()
                .map(|c| {
                    c.procs_files()
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            netns_path: netns
                .as_ref()
                .map(|f| format!("/proc/{}/fd/{}", std::process::id(), f.as_raw_fd())),
            marks_path: Some(format!(
                "/proc/{}/fd/{}",
                std::process::id(),
                marks_w.as_raw_fd()
            )),
            marks_fd: None,
            uid: FUNCTION_UID,
            gid: FUNCTION_GID,
        };
        let spec_json =
            serde_json::to_string(&init).map_err(|e| Error::Setup(std::io::Error::other(e)))?;
        let stderr = spec.log.try_clone()?;
        let mut cmd = tokio::process::Command::new(&self.init_program);
        cmd.arg("__sandbox-init")
            .env_clear()
            .env(SPEC_ENV, spec_json)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::from(spec.log))
            .stderr(Stdio::from(stderr))
            .process_group(0)
            .kill_on_drop(true);
        // No pre_exec hook: without one the standard library spawns with
        // posix_spawn (vfork) instead of forking this large, threaded process.
        // Init sets its own die-with-parent signal and opens the namespace and
        // the stage pipe through /proc, so nothing needs to be inherited.
        let spawned_ns = crate::init::monotonic_ns();
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            program: self.init_program.display().to_string(),
            source,
        })?;

        let pid = child.id().unwrap_or(0);
        Ok(Process {
            child,
            pid,
            cgroup,
            root: Some(root),
            marks: Some((spawned_ns, marks_r)),
            // Init opens these through /proc; they stay open until it has.
            held: vec![Box::new(netns), Box::new(marks_w)],
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
