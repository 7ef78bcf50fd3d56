//! One execution environment's cgroup, on cgroup v1 (one directory per controller)
//! or v2 (one unified directory): memory limit and peak, CPU weight, pids limit,
//! freezing, and killing everything inside.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Which cgroup hierarchy the host offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// v1: `root/<controller>/...` for memory, cpu, pids and freezer.
    V1 { root: PathBuf },
    /// v2: one tree at `root`, with these controllers delegated.
    V2 { root: PathBuf },
}

const V1_CONTROLLERS: [&str; 4] = ["memory", "cpu", "pids", "freezer"];
/// Lambda gives one vCPU at 1,769 MB; CPU weight is proportional to memory.
const MB_PER_VCPU: u64 = 1769;
/// Lambda's limit on processes and threads in one environment.
pub const PIDS_MAX: u32 = 1024;

impl Hierarchy {
    /// Find a usable hierarchy under `/sys/fs/cgroup`, preferring v2 with the
    /// controllers we need, else v1 with memory, cpu, pids and freezer mounted.
    pub fn detect() -> Option<Hierarchy> {
        let base = Path::new("/sys/fs/cgroup");
        if let Ok(c) = fs::read_to_string(base.join("cgroup.controllers"))
            && ["memory", "cpu", "pids"]
                .iter()
                .all(|k| c.split_whitespace().any(|x| x == *k))
        {
            return Some(Hierarchy::V2 {
                root: base.to_path_buf(),
            });
        }
        if V1_CONTROLLERS
            .iter()
            .all(|c| base.join(c).join("cgroup.procs").exists())
        {
            return Some(Hierarchy::V1 {
                root: base.to_path_buf(),
            });
        }
        None
    }

    pub fn version(&self) -> u8 {
        match self {
            Hierarchy::V1 { .. } => 1,
            Hierarchy::V2 { .. } => 2,
        }
    }

    /// The `nimbus` directories, one per controller (v1) or one (v2).
    fn parents(&self) -> Vec<PathBuf> {
        match self {
            Hierarchy::V1 { root } => V1_CONTROLLERS
                .iter()
                .map(|c| root.join(c).join("nimbus"))
                .collect(),
            Hierarchy::V2 { root } => vec![root.join("nimbus")],
        }
    }

    /// Directories that make up the cgroup `nimbus/<instance>/<name>`.
    fn dirs(&self, instance: &str, name: &str) -> Vec<PathBuf> {
        self.parents()
            .into_iter()
            .map(|p| p.join(instance).join(name))
            .collect()
    }

    /// This server's own subtree name, `srv-<pid>-<start>-<pidns>`: its pid, the
    /// process's start time (clock ticks since boot) and its PID namespace, so
    /// concurrent servers never touch each other's environments and a later
    /// process that reuses a dead server's pid cannot pass for it.
    pub fn instance_name() -> String {
        let pid = std::process::id();
        format!(
            "srv-{pid}-{}-{}",
            process_start(pid).unwrap_or(0),
            pid_namespace("self").unwrap_or(0)
        )
    }

    /// Remove everything that servers no longer running left behind: their
    /// environments' processes (idle ones sit frozen, where the SIGKILL their
    /// server's death sent them cannot land), then their cgroups. Subtrees of
    /// servers in another PID namespace are left alone: from here their
    /// liveness cannot be told. Subtrees named the older way, or by other
    /// commands (`doctor`, `bench`), only lose their empty directories.
    pub fn sweep(&self) {
        let mut seen = std::collections::BTreeMap::new();
        for parent in self.parents() {
            let Ok(entries) = fs::read_dir(&parent) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let name = e.file_name().to_string_lossy().to_string();
                    let state = instance_state(&name);
                    seen.insert(name, state);
                }
            }
        }
        for (instance, state) in seen {
            let dirs: Vec<PathBuf> = self.parents().iter().map(|p| p.join(&instance)).collect();
            match state {
                Instance::Gone => {
                    if let Err(e) = reap(self, &dirs) {
                        tracing::warn!(instance = %instance, error = %e, "could not remove what a dead server left");
                    }
                }
                Instance::Unknown => dirs.iter().for_each(|d| remove_tree(d)),
                Instance::Alive => {}
            }
        }
    }

    /// Make this server's subtree: fails where this process may not manage
    /// cgroups (an unprivileged server without a delegated hierarchy).
    pub fn make_instance(&self, instance: &str) -> std::io::Result<()> {
        for parent in self.parents() {
            let dir = parent.join(instance);
            fs::create_dir_all(&dir).map_err(|e| {
                std::io::Error::new(e.kind(), format!("create {}: {e}", dir.display()))
            })?;
        }
        Ok(())
    }

    /// Remove this server's subtree (its environments must be gone).
    pub fn remove_instance(&self, instance: &str) {
        for parent in self.parents() {
            remove_tree(&parent.join(instance));
        }
    }
}

/// What can be told of the server that made a subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Instance {
    /// Running (or of another PID namespace, where that cannot be told).
    Alive,
    /// Its pid is free or now a process started at another time: what it
    /// left may be killed.
    Gone,
    /// Not named by a server of this version: only empty directories go.
    Unknown,
}

fn instance_state(name: &str) -> Instance {
    let Some(rest) = name.strip_prefix("srv-") else {
        return Instance::Unknown;
    };
    let mut parts = rest.split('-').map(str::parse::<u64>);
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        // A start time of 0 means the server could not read its own: cannot tell.
        (Some(Ok(_)), Some(Ok(0)), _, _) => Instance::Alive,
        (Some(Ok(pid)), Some(Ok(start)), Some(Ok(ns)), None) => {
            let ours = pid_namespace("self") == Some(ns);
            if ours && process_start(pid as u32) != Some(start) {
                Instance::Gone
            } else {
                Instance::Alive
            }
        }
        _ => Instance::Unknown,
    }
}

/// A process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The inode of a process's PID namespace (`self` or a pid).
fn pid_namespace(pid: &str) -> Option<u64> {
    let link = fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
    let link = link.to_string_lossy();
    link.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

/// Every cgroup directory under (and including) `dir`, children before parents.
fn subtree(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                subtree(&e.path(), out);
            }
        }
    }
    out.push(dir.to_path_buf());
}

/// Kill every process in a dead server's subtree (`dirs`: the subtree in each
/// controller), thaw what is frozen so the kills land, wait (bounded) until the
/// cgroups are empty, and remove them.
fn reap(hierarchy: &Hierarchy, dirs: &[PathBuf]) -> std::io::Result<()> {
    let mut cgroups = Vec::new();
    for d in dirs {
        subtree(d, &mut cgroups);
    }
    let procs = |cgroups: &[PathBuf]| -> Vec<i32> {
        cgroups
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|t| {
                t.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            // 0: a process of another PID namespace; never signal 0, 1 or groups.
            .filter(|&p| p > 1)
            .collect()
    };
    // Frozen, no process can exit and have its pid reused between reading it
    // and signalling it; the thaw after lets the kills land.
    let set_frozen = |frozen: bool| {
        for d in &cgroups {
            match hierarchy {
                Hierarchy::V1 { .. } => {
                    let state = d.join("freezer.state");
                    if state.exists() {
                        let _ = fs::write(state, if frozen { "FROZEN" } else { "THAWED" });
                    }
                }
                Hierarchy::V2 { .. } => {
                    let _ = fs::write(d.join("cgroup.freeze"), if frozen { "1" } else { "0" });
                }
            }
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Hierarchy::V2 { .. } = hierarchy {
            for d in &cgroups {
                let kill = d.join("cgroup.kill");
                if kill.exists() {
                    let _ = fs::write(kill, "1");
                }
            }
        }
        set_frozen(true);
        let pids = procs(&cgroups);
        if pids.is_empty() {
            set_frozen(false);
            break;
        }
        for pid in pids {
            // SAFETY: kill(2) with a positive pid read from the frozen cgroup; touches no memory.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        set_frozen(false);
        if Instant::now() > deadline {
            return Err(std::io::Error::other(
                "processes of a dead server survived SIGKILL",
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cgroups.iter().try_for_each(|d| remove_emptied(d))
}

/// rmdir a cgroup whose processes are gone: the kernel may take a moment to
/// let go of the last exiting task, so retry for about a second.
fn remove_emptied(d: &Path) -> std::io::Result<()> {
    let mut tries = 0;
    while let Err(e) = fs::remove_dir(d) {
        if e.kind() == std::io::ErrorKind::NotFound {
            break;
        }
        tries += 1;
        if tries > 500 {
            return Err(std::io::Error::new(
                e.kind(),
                format!("remove {}: {e}", d.display()),
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// rmdir a cgroup directory and its child cgroups (empty ones only).
fn remove_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    fs::write(path, value)
        .map_err(|e| std::io::Error::new(e.kind(), format!("write {}: {e}", path.display())))
}

/// An environment's cgroup. Created before the environment starts; removed by
/// [`Cgroup::destroy`] once it is empty.
#[derive(Debug)]
pub struct Cgroup {
    hierarchy: Hierarchy,
    dirs: Vec<PathBuf>,
    /// The peak-memory file, kept open: it is read after every invocation, and a
    /// path lookup through the cgroup filesystem each time shows in profiles.
    peak: std::sync::OnceLock<Option<fs::File>>,
}

impl Cgroup {
    /// Create `nimbus/<instance>/<name>` with Lambda's limits for `memory_mb`.
    pub fn create(
        hierarchy: &Hierarchy,
        instance: &str,
        name: &str,
        memory_mb: u32,
    ) -> std::io::Result<Cgroup> {
        let cg = Cgroup::make(hierarchy, instance, name, true)?;
        cg.set_limits(memory_mb)?;
        Ok(cg)
    }

    /// Make the directories; on v2 with `controllers`, delegate memory, cpu and
    /// pids down to them first.
    fn make(
        hierarchy: &Hierarchy,
        instance: &str,
        name: &str,
        controllers: bool,
    ) -> std::io::Result<Cgroup> {
        let dirs = hierarchy.dirs(instance, name);
        if let Hierarchy::V2 { root } = hierarchy
            && controllers
        {
            // Delegate the controllers down to the environments' level.
            let controllers = "+memory +cpu +pids";
            fs::create_dir_all(root.join("nimbus").join(instance))?;
            let _ = write(&root.join("cgroup.subtree_control"), controllers);
            write(&root.join("nimbus/cgroup.subtree_control"), controllers)?;
            write(
                &root
                    .join("nimbus")
                    .join(instance)
                    .join("cgroup.subtree_control"),
                controllers,
            )?;
        }
        for d in &dirs {
            fs::create_dir_all(d)?;
        }
        Ok(Cgroup {
            hierarchy: hierarchy.clone(),
            dirs,
            peak: std::sync::OnceLock::new(),
        })
    }

    /// Set Lambda's limits for `memory_mb`: memory (no swap beyond it), CPU weight
    /// proportional to memory, and the pids limit.
    pub fn set_limits(&self, memory_mb: u32) -> std::io::Result<()> {
        let bytes = (memory_mb as u64) * 1024 * 1024;
        let mb = (memory_mb as u64).max(1);
        match &self.hierarchy {
            Hierarchy::V1 { .. } => {
                let mem = self.dir("memory");
                let memsw = mem.join("memory.memsw.limit_in_bytes");
                // memsw must stay >= the memory limit: order the writes accordingly.
                let current: u64 = fs::read_to_string(mem.join("memory.limit_in_bytes"))
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(u64::MAX);
                if bytes > current && memsw.exists() {
                    write(&memsw, &bytes.to_string())?;
                }
                write(&mem.join("memory.limit_in_bytes"), &bytes.to_string())?;
                if memsw.exists() {
                    write(&memsw, &bytes.to_string())?;
                }
                let shares = (1024 * mb / MB_PER_VCPU).max(2);
                write(&self.dir("cpu").join("cpu.shares"), &shares.to_string())?;
                write(&self.dir("pids").join("pids.max"), &PIDS_MAX.to_string())?;
            }
            Hierarchy::V2 { .. } => {
                let d = &self.dirs[0];
                write(&d.join("memory.max"), &bytes.to_string())?;
                let _ = write(&d.join("memory.swap.max"), "0");
                let weight = (100 * mb / MB_PER_VCPU).clamp(1, 10_000);
                write(&d.join("cpu.weight"), &weight.to_string())?;
                write(&d.join("pids.max"), &PIDS_MAX.to_string())?;
            }
        }
        Ok(())
    }

    fn dir(&self, controller: &str) -> &Path {
        match self.hierarchy {
            Hierarchy::V1 { .. } => {
                let i = V1_CONTROLLERS
                    .iter()
                    .position(|c| *c == controller)
                    .expect("known controller");
                &self.dirs[i]
            }
            Hierarchy::V2 { .. } => &self.dirs[0],
        }
    }

    /// The files a process writes its pid into to join this cgroup.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Peak memory use in bytes since creation.
    pub fn peak_bytes(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let file = self.peak.get_or_init(|| {
            let path = match self.hierarchy {
                Hierarchy::V1 { .. } => self.dir("memory").join("memory.max_usage_in_bytes"),
                Hierarchy::V2 { .. } => self.dirs[0].join("memory.peak"),
            };
            fs::File::open(path).ok()
        });
        let mut buf = [0u8; 32];
        let n = file.as_ref()?.read_at(&mut buf, 0).ok()?;
        std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
    }

    /// How many times the kernel's OOM killer struck inside this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let (file, key) = match self.hierarchy {
            Hierarchy::V1 { .. } => (self.dir("memory").join("memory.oom_control"), "oom_kill"),
            Hierarchy::V2 { .. } => (self.dirs[0].join("memory.events"), "oom_kill"),
        };
        fs::read_to_string(file)
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse().ok()))
            })
            .unwrap_or(0)
    }

    /// Freeze (`true`) or thaw every process inside. Returns once the kernel
    /// reports the new state, or after a short bound.
    pub fn set_frozen(&self, frozen: bool) -> std::io::Result<()> {
        match self.hierarchy {
            Hierarchy::V1 { .. } => {
                let f = self.dir("freezer").join("freezer.state");
                write(&f, if frozen { "FROZEN" } else { "THAWED" })
            }
            Hierarchy::V2 { .. } => write(
                &self.dirs[0].join("cgroup.freeze"),
                if frozen { "1" } else { "0" },
            ),
        }
    }

    pub fn is_frozen(&self) -> bool {
        match self.hierarchy {
            Hierarchy::V1 { .. } => fs::read_to_string(self.dir("freezer").join("freezer.state"))
                .is_ok_and(|s| s.trim() == "FROZEN"),
            Hierarchy::V2 { .. } => fs::read_to_string(self.dirs[0].join("cgroup.events"))
                .is_ok_and(|s| s.lines().any(|l| l == "frozen 1")),
        }
    }

    pub fn pids(&self) -> Vec<i32> {
        let file = match self.hierarchy {
            Hierarchy::V1 { .. } => self.dir("pids").join("cgroup.procs"),
            Hierarchy::V2 { .. } => self.dirs[0].join("cgroup.procs"),
        };
        fs::read_to_string(file)
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// SIGKILL everything inside, including processes forked while we look:
    /// freeze first so nothing can fork, kill, then thaw so the kills land.
    pub fn kill_all(&self) {
        if let Hierarchy::V2 { .. } = self.hierarchy {
            let kill = self.dirs[0].join("cgroup.kill");
            if kill.exists() && write(&kill, "1").is_ok() {
                return;
            }
        }
        let _ = self.set_frozen(true);
        for pid in self.pids() {
            // SAFETY: kill(2) with a pid read from the cgroup; touches no memory.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        let _ = self.set_frozen(false);
    }

    /// Kill what is left, wait (bounded) until the cgroup is empty, and remove it.
    pub fn destroy(&self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.pids().is_empty() {
                break;
            }
            self.kill_all();
            if Instant::now() > deadline {
                return Err(std::io::Error::other(
                    "processes survived SIGKILL in the environment's cgroup",
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = self.set_frozen(false);
        self.dirs.iter().try_for_each(|d| remove_emptied(d))
    }

    /// Whether every directory of this cgroup is gone (for tests).
    pub fn is_removed(&self) -> bool {
        self.dirs.iter().all(|d| !d.exists())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_server_is_told_from_a_gone_one() {
        let me = Hierarchy::instance_name();
        assert_eq!(instance_state(&me), Instance::Alive, "{me}");
        let pid = std::process::id();
        let start = process_start(pid).expect("own start time");
        let ns = pid_namespace("self").expect("own pid namespace");
        // The same pid started at another time: a reused pid, the server is gone.
        let reused = format!("srv-{pid}-{}-{ns}", start + 1);
        assert_eq!(instance_state(&reused), Instance::Gone);
        // Another PID namespace, or no start time: cannot tell, left alone.
        let foreign = format!("srv-{pid}-{}-{}", start + 1, ns + 1);
        assert_eq!(instance_state(&foreign), Instance::Alive);
        let unknown_start = format!("srv-{pid}-0-{ns}");
        assert_eq!(instance_state(&unknown_start), Instance::Alive);
        // Older names and other commands' subtrees: only empty directories go.
        for name in [
            "other",
            "srv-",
            "srv-1234",
            "srv-x-1-2",
            "srv-1-2-3-4",
            "doctor-5",
        ] {
            assert_eq!(instance_state(name), Instance::Unknown, "{name}");
        }
    }

    /// Runs only where cgroups can be managed (root with a usable hierarchy), as
    /// on CI; elsewhere it says why it did nothing.
    #[test]
    fn limits_freeze_kill_and_remove() {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let Some(h) = Hierarchy::detect().filter(|_| root) else {
            eprintln!("skipped: needs root and a usable cgroup hierarchy");
            return;
        };
        let instance = format!("test-{}", std::process::id());
        let cg = Cgroup::create(&h, &instance, "env", 128).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        for f in cg.procs_files() {
            fs::write(f, child.id().to_string()).unwrap();
        }
        assert_eq!(cg.pids(), vec![child.id() as i32]);
        // Readable (a process that moves in keeps its old charges, so it may be 0).
        assert!(cg.peak_bytes().is_some());
        assert_eq!(cg.oom_kills(), 0);
        cg.set_frozen(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !cg.is_frozen() {
            assert!(Instant::now() < deadline, "never froze");
            std::thread::sleep(Duration::from_millis(1));
        }
        // Killing works on a frozen cgroup too, and nothing is left.
        cg.kill_all();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        cg.destroy().unwrap();
        assert!(cg.is_removed());
        h.remove_instance(&instance);
    }

    /// A mounted cgroup v2 hierarchy, if any (on a v1 host, the hybrid `unified` one).
    fn v2_mount() -> Option<PathBuf> {
        let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
        info.lines().find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            if right.split_whitespace().next()? != "cgroup2" {
                return None;
            }
            left.split_whitespace().nth(4).map(PathBuf::from)
        })
    }

    /// The v2 paths of freezing (`cgroup.freeze`, `cgroup.events`), killing
    /// (`cgroup.kill`) and removal, on the real kernel. Runs wherever a v2
    /// hierarchy is mounted and writable, even with no controllers in it (as on
    /// this project's v1 machines, whose controllers are all bound to v1).
    #[test]
    fn v2_freeze_kill_and_remove() {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let Some(mount) = v2_mount().filter(|_| root) else {
            eprintln!("skipped: needs root and a mounted cgroup v2 hierarchy");
            return;
        };
        let h = Hierarchy::V2 { root: mount };
        let instance = format!("test-v2-{}", std::process::id());
        let cg = Cgroup::make(&h, &instance, "env", false).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        for f in cg.procs_files() {
            fs::write(f, child.id().to_string()).unwrap();
        }
        assert_eq!(cg.pids(), vec![child.id() as i32]);
        assert!(!cg.is_frozen());
        cg.set_frozen(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !cg.is_frozen() {
            assert!(Instant::now() < deadline, "never froze");
            std::thread::sleep(Duration::from_millis(1));
        }
        let state = fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
        assert!(cg.is_frozen(), "{state}");
        cg.set_frozen(false).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while cg.is_frozen() {
            assert!(Instant::now() < deadline, "never thawed");
            std::thread::sleep(Duration::from_millis(1));
        }
        // cgroup.kill (kernel 5.14+) or freeze-kill-thaw: either way, nothing is left.
        cg.kill_all();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        cg.destroy().unwrap();
        assert!(cg.is_removed());
        h.remove_instance(&instance);
        assert!(!h.parents()[0].join(&instance).exists());
    }
}
