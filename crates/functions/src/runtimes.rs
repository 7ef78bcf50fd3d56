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
    python: Option<Interpreter>,
    node: Option<PathBuf>,
    /// Host directories every sandbox must see for the interpreters to run.
    interpreter_dirs: Vec<PathBuf>,
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
/// pyenv shims, which cost a cold start tens of milliseconds), minor version, and
/// the prefixes a sandbox must show for it to run (a venv and its base install).
fn probe_python(python: &Path) -> Option<Interpreter> {
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1]); print(sys.executable); print(sys.prefix); print(sys.base_prefix)",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut lines = text.lines();
    let mut version = lines.next()?.split_whitespace();
    (version.next()? == "3").then_some(())?;
    let minor = version.next()?.parse().ok()?;
    let exe = PathBuf::from(lines.next()?);
    let dirs = lines.map(PathBuf::from).filter(|p| p.is_dir()).collect();
    Some(Interpreter {
        path: if exe.is_file() {
            exe
        } else {
            python.to_path_buf()
        },
        minor,
        dirs,
    })
}

/// A host interpreter and the directories it needs to be visible in a sandbox.
#[derive(Debug, Clone)]
struct Interpreter {
    path: PathBuf,
    minor: u32,
    dirs: Vec<PathBuf>,
}

/// The installation prefix of a program: `/usr` for `/usr/bin/node`.
fn install_prefix(program: &Path) -> Option<PathBuf> {
    let real = fs::canonicalize(program).ok()?;
    Some(real.parent()?.parent()?.to_path_buf())
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
        let node = which(node);
        let mut interpreter_dirs: Vec<PathBuf> =
            python.iter().flat_map(|p| p.dirs.clone()).collect();
        interpreter_dirs.extend(node.as_deref().and_then(install_prefix));
        interpreter_dirs.sort();
        interpreter_dirs.dedup();
        if let Some(p) = &python {
            // Cache the runtime's bytecode now: inside a sandbox its directory is read-only.
            let _ = std::process::Command::new(&p.path)
                .args(["-m", "py_compile"])
                .arg(dir.join("python/_nimbus_runtime.py"))
                .status();
        }
        Ok(Runtimes {
            dir: dir.to_path_buf(),
            python,
            node,
            interpreter_dirs,
        })
    }

    pub fn python(&self) -> Option<(&Path, u32)> {
        self.python.as_ref().map(|p| (p.path.as_path(), p.minor))
    }

    /// Host directories the interpreters live in (bound read-only into sandboxes).
    pub fn interpreter_dirs(&self) -> &[PathBuf] {
        &self.interpreter_dirs
    }

    pub fn node(&self) -> Option<&Path> {
        self.node.as_deref()
    }

    /// How to start `runtime` for code unpacked at `task_root` on the host, seen by
    /// the environment at `inside_task_root`, with the runtimes at `inside_runtime_dir`.
    pub fn launch(
        &self,
        runtime: &Runtime,
        task_root: &Path,
        inside_task_root: &Path,
        inside_runtime_dir: &Path,
    ) -> Result<Launch, LaunchError> {
        match runtime.family {
            RuntimeFamily::Python { minor } => {
                let Some(Interpreter {
                    path: python,
                    minor: host_minor,
                    ..
                }) = &self.python
                else {
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
                    args: vec![
                        inside_runtime_dir
                            .join("python/bootstrap.py")
                            .display()
                            .to_string(),
                    ],
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
                    args: vec![
                        inside_runtime_dir
                            .join("node/bootstrap.js")
                            .display()
                            .to_string(),
                    ],
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
                    program: inside_task_root.join("bootstrap"),
                    args: vec![],
                    warning: None,
                })
            }
        }
    }
}
