//! The runtimes Nimbus ships: bootstraps for `python3.*` and `nodejs*` run on the
//! host's interpreters, and `provided.*`, whose bootstrap is in the package.

use nimbus_model::{Runtime, RuntimeFamily};
use std::fs;
use std::path::{Path, PathBuf};

const PYTHON_BOOTSTRAP: &str = include_str!("../../../runtimes/python/bootstrap.py");
const PYTHON_RUNTIME: &str = include_str!("../../../runtimes/python/_nimbus_runtime.py");
const NODE_BOOTSTRAP: &str = include_str!("../../../runtimes/node/bootstrap.js");

/// How to start one runtime, or why it cannot start (Lambda's error type and message).
#[derive(Debug)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// A line for the function's log, e.g. a runtime version mismatch.
    pub warning: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LaunchError {
    pub error_type: &'static str,
    pub message: String,
}

/// The host's interpreters and the installed bootstraps.
#[derive(Debug, Clone)]
pub struct Runtimes {
    /// `LAMBDA_RUNTIME_DIR` analogue: where the shipped bootstraps live.
    pub dir: PathBuf,
    python: Option<(PathBuf, u32)>,
    node: Option<PathBuf>,
}

/// Rewrite a file only when its content differs, so Python's cached bytecode for
/// it (keyed by modification time) stays valid across restarts.
fn write_if_changed(path: &Path, content: &str) -> std::io::Result<()> {
    if fs::read(path).is_ok_and(|old| old == content.as_bytes()) {
        return Ok(());
    }
    fs::write(path, content)
}

/// Find `program` on `PATH` unless it is already a path.
pub fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// Ask the interpreter for its real executable (skipping wrapper scripts such as
/// pyenv shims, which cost a cold start tens of milliseconds) and minor version.
fn probe_python(python: &Path) -> Option<(PathBuf, u32)> {
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1], sys.executable)",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut it = text.trim().splitn(3, ' ');
    (it.next()? == "3").then_some(())?;
    let minor = it.next()?.parse().ok()?;
    let exe = PathBuf::from(it.next()?);
    Some((
        if exe.is_file() {
            exe
        } else {
            python.to_path_buf()
        },
        minor,
    ))
}

impl Runtimes {
    /// Write the shipped bootstraps under `dir` and find the host interpreters.
    pub fn install(dir: &Path, python: &str, node: &str) -> std::io::Result<Runtimes> {
        fs::create_dir_all(dir.join("python"))?;
        fs::create_dir_all(dir.join("node"))?;
        write_if_changed(&dir.join("python/bootstrap.py"), PYTHON_BOOTSTRAP)?;
        write_if_changed(&dir.join("python/_nimbus_runtime.py"), PYTHON_RUNTIME)?;
        write_if_changed(&dir.join("node/bootstrap.js"), NODE_BOOTSTRAP)?;
        let python = which(python).and_then(|p| probe_python(&p));
        Ok(Runtimes {
            dir: dir.to_path_buf(),
            python,
            node: which(node),
        })
    }

    pub fn python(&self) -> Option<(&Path, u32)> {
        self.python.as_ref().map(|(p, m)| (p.as_path(), *m))
    }

    pub fn node(&self) -> Option<&Path> {
        self.node.as_deref()
    }

    /// How to start `runtime` for code unpacked at `task_root`.
    pub fn launch(&self, runtime: &Runtime, task_root: &Path) -> Result<Launch, LaunchError> {
        match runtime.family {
            RuntimeFamily::Python { minor } => {
                let Some((python, host_minor)) = &self.python else {
                    return Err(LaunchError {
                        error_type: "Runtime.Unavailable",
                        message: "No python3 interpreter was found on this host; install Python 3 or start nimbus with --python PATH".into(),
                    });
                };
                let warning = (minor != *host_minor).then(|| {
                    format!(
                        "[WARNING] Nimbus: function runtime {} runs on this host's Python 3.{host_minor}",
                        runtime.id
                    )
                });
                Ok(Launch {
                    program: python.clone(),
                    args: vec![self.dir.join("python/bootstrap.py").display().to_string()],
                    warning,
                })
            }
            RuntimeFamily::Node { .. } => {
                let Some(node) = &self.node else {
                    return Err(LaunchError {
                        error_type: "Runtime.Unavailable",
                        message: "No node interpreter was found on this host; install Node.js or start nimbus with --node PATH".into(),
                    });
                };
                Ok(Launch {
                    program: node.clone(),
                    args: vec![self.dir.join("node/bootstrap.js").display().to_string()],
                    warning: None,
                })
            }
            RuntimeFamily::Provided => {
                let bootstrap = task_root.join("bootstrap");
                if !bootstrap.is_file() {
                    return Err(LaunchError {
                        error_type: "Runtime.InvalidEntrypoint",
                        message:
                            "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
                                .into(),
                    });
                }
                Ok(Launch {
                    program: bootstrap,
                    args: vec![],
                    warning: None,
                })
            }
        }
    }
}
