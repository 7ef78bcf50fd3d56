//! The runtimes Nimbus ships: bootstraps for `python3.*`, `nodejs*` and `ruby3.*` run
//! on the host's interpreters, a Java runtime client (compiled by `build.rs`) for
//! `java*` on the host's JDKs, and `provided.*`, whose bootstrap is in the package.

use nimbus_model::{Runtime, RuntimeFamily};
use std::fs;
use std::path::{Path, PathBuf};

const PYTHON_BOOTSTRAP: &str = include_str!("../../../runtimes/python/bootstrap.py");
const PYTHON_RUNTIME: &str = include_str!("../../../runtimes/python/_nimbus_runtime.py");
const PYTHON_SNAPSHOT_HOOKS: &str = include_str!("../../../runtimes/python/snapshot_restore_py.py");
const NODE_BOOTSTRAP: &str = include_str!("../../../runtimes/node/bootstrap.js");
const RUBY_BOOTSTRAP: &str = include_str!("../../../runtimes/ruby/bootstrap.rb");
include!(concat!(env!("OUT_DIR"), "/java_classes.rs"));

/// What the environment being started is for, as far as its runtime's flags go.
#[derive(Debug, Clone, Copy)]
pub struct LaunchOptions {
    pub memory_mb: u32,
    /// Initialized ahead of its invocations (provisioned concurrency, SnapStart).
    pub prewarmed: bool,
}

/// The host programs `nimbus up` was told to run functions with.
#[derive(Debug, Clone, Copy)]
pub struct Interpreters<'a> {
    pub python: &'a str,
    pub node: &'a str,
    pub java: &'a str,
    pub ruby: &'a str,
}

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
    /// The host's Ruby and its minor version (3.x).
    ruby: Option<(PathBuf, u32)>,
    /// The JDK `--java` names, then any other in `/usr/lib/jvm`.
    jdks: Vec<Jdk>,
    /// Host directories every sandbox must see for the interpreters to run.
    interpreter_dirs: Vec<PathBuf>,
}

/// Rewrite a file only when its content differs, so Python's cached bytecode for
/// it (keyed by modification time) stays valid across restarts.
fn write_if_changed(path: &Path, content: impl AsRef<[u8]>) -> std::io::Result<()> {
    let content = content.as_ref();
    if fs::read(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    fs::write(path, content)
}

/// A JDK on the host: its home (`bin/java` inside) and feature version.
#[derive(Debug, Clone)]
struct Jdk {
    home: PathBuf,
    major: u32,
}

/// The feature version in a JDK's `release` file: `JAVA_VERSION="17.0.15"` is 17,
/// `"1.8.0_392"` is 8.
fn jdk_major(release: &str) -> Option<u32> {
    let line = release
        .lines()
        .find_map(|l| l.strip_prefix("JAVA_VERSION="))?;
    let v = line.trim().trim_matches('"');
    let mut parts = v.split(['.', '_', '-', '+']);
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 {
        return parts.next()?.parse().ok();
    }
    Some(first)
}

fn probe_jdk(home: &Path) -> Option<Jdk> {
    let home = fs::canonicalize(home).ok()?;
    home.join("bin/java").is_file().then_some(())?;
    let major = jdk_major(&fs::read_to_string(home.join("release")).ok()?)?;
    Some(Jdk { home, major })
}

/// The JDK for a `javaN` function: version N, else the oldest newer one (class files
/// for N load there), else `--java`'s. JDKs before 11 cannot run the runtime client.
fn pick_jdk(jdks: &[Jdk], major: u32) -> Option<&Jdk> {
    let usable = || jdks.iter().filter(|j| j.major >= 11);
    usable()
        .find(|j| j.major == major)
        .or_else(|| usable().filter(|j| j.major > major).min_by_key(|j| j.major))
        .or_else(|| usable().next())
}

/// The JDK of the `java` command first, then the others installed side by side.
fn find_jdks(java: &str) -> Vec<Jdk> {
    let mut jdks: Vec<Jdk> = which(java)
        .and_then(|p| install_prefix(&p))
        .and_then(|home| probe_jdk(&home))
        .into_iter()
        .collect();
    let mut others: Vec<PathBuf> = fs::read_dir("/usr/lib/jvm")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    others.sort();
    for home in others {
        if let Some(jdk) = probe_jdk(&home)
            && !jdks.iter().any(|j| j.home == jdk.home)
        {
            jdks.push(jdk);
        }
    }
    jdks
}

/// The JVM's command line for a `javaN` function, with Lambda's defaults: the serial
/// collector, a heap of 85% of the function's memory, and tiered compilation stopped at
/// C1 for java17 and later (java25 keeps full tiering for prewarmed environments).
fn jvm_args(
    runtime_major: u32,
    host_major: u32,
    opts: LaunchOptions,
    classes: &Path,
) -> Vec<String> {
    let heap_kb = u64::from(opts.memory_mb) * 1024 * 85 / 100;
    let mut args = vec![
        format!("-XX:MaxHeapSize={heap_kb}k"),
        "-XX:+UseSerialGC".into(),
        "-Xshare:auto".into(),
        "-XX:-UsePerfData".into(),
        "-Djava.net.preferIPv4Stack=true".into(),
        "-Dfile.encoding=UTF-8".into(),
    ];
    if runtime_major >= 17 && !(runtime_major >= 25 && opts.prewarmed) {
        args.push("-XX:+TieredCompilation".into());
        args.push("-XX:TieredStopAtLevel=1".into());
    }
    if host_major >= 9 {
        args.push("--add-opens=java.base/java.util=ALL-UNNAMED".into());
    }
    args.push("-cp".into());
    args.push(classes.display().to_string());
    args.push("nimbus.lambda.Main".into());
    args
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

/// The minor version of a Ruby 3 interpreter.
fn probe_ruby(ruby: &Path) -> Option<u32> {
    let out = std::process::Command::new(ruby)
        .args(["--disable-gems", "-e", "print RUBY_VERSION"])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut parts = text.trim().split('.');
    (parts.next()? == "3").then_some(())?;
    parts.next()?.parse().ok()
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
    pub fn install(dir: &Path, hosts: &Interpreters<'_>) -> std::io::Result<Runtimes> {
        fs::create_dir_all(dir.join("python"))?;
        fs::create_dir_all(dir.join("node"))?;
        fs::create_dir_all(dir.join("ruby"))?;
        write_if_changed(&dir.join("python/bootstrap.py"), PYTHON_BOOTSTRAP)?;
        write_if_changed(&dir.join("python/_nimbus_runtime.py"), PYTHON_RUNTIME)?;
        write_if_changed(
            &dir.join("python/snapshot_restore_py.py"),
            PYTHON_SNAPSHOT_HOOKS,
        )?;
        write_if_changed(&dir.join("node/bootstrap.js"), NODE_BOOTSTRAP)?;
        write_if_changed(&dir.join("ruby/bootstrap.rb"), RUBY_BOOTSTRAP)?;
        for (name, bytes) in JAVA_CLASSES {
            let path = dir.join("java/classes").join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            write_if_changed(&path, bytes)?;
        }
        let python = which(hosts.python).and_then(|p| probe_python(&p));
        let node = which(hosts.node);
        let ruby = which(hosts.ruby)
            .and_then(|p| fs::canonicalize(p).ok())
            .and_then(|p| probe_ruby(&p).map(|minor| (p, minor)));
        let jdks = find_jdks(hosts.java);
        let mut interpreter_dirs: Vec<PathBuf> =
            python.iter().flat_map(|p| p.dirs.clone()).collect();
        interpreter_dirs.extend(node.as_deref().and_then(install_prefix));
        interpreter_dirs.extend(ruby.as_ref().and_then(|(p, _)| install_prefix(p)));
        interpreter_dirs.extend(jdks.iter().map(|j| j.home.clone()));
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
            ruby,
            jdks,
            interpreter_dirs,
        })
    }

    /// The host's JDKs, the default first: (home, feature version).
    pub fn jdks(&self) -> impl Iterator<Item = (&Path, u32)> {
        self.jdks.iter().map(|j| (j.home.as_path(), j.major))
    }

    pub fn ruby(&self) -> Option<&Path> {
        self.ruby.as_ref().map(|(p, _)| p.as_path())
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
        inside: (&Path, &Path),
        opts: LaunchOptions,
    ) -> Result<Launch, LaunchError> {
        let (inside_task_root, inside_runtime_dir) = inside;
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
            RuntimeFamily::Java { major } => {
                if JAVA_CLASSES.is_empty() {
                    return Err(LaunchError {
                        error_type: "Runtime.Unavailable",
                        message: "This nimbus was built without a JDK, so it has no Java runtime client; install a JDK (javac) and rebuild nimbus".into(),
                    });
                }
                let Some(jdk) = pick_jdk(&self.jdks, major) else {
                    return Err(LaunchError {
                        error_type: "Runtime.Unavailable",
                        message: "No Java runtime was found on this host; install a JDK or start nimbus with --java PATH".into(),
                    });
                };
                let warning = (jdk.major != major).then(|| {
                    format!(
                        "[WARNING] Nimbus: function runtime {} runs on this host's Java {}",
                        runtime.id, jdk.major
                    )
                });
                Ok(Launch {
                    program: jdk.home.join("bin/java"),
                    args: jvm_args(
                        major,
                        jdk.major,
                        opts,
                        &inside_runtime_dir.join("java/classes"),
                    ),
                    warning,
                })
            }
            RuntimeFamily::Ruby { minor } => {
                let Some((ruby, host_minor)) = &self.ruby else {
                    return Err(LaunchError {
                        error_type: "Runtime.Unavailable",
                        message: "No ruby interpreter was found on this host; install Ruby or start nimbus with --ruby PATH".into(),
                    });
                };
                Ok(Launch {
                    program: ruby.clone(),
                    args: vec![
                        "--disable-gems".into(),
                        inside_runtime_dir
                            .join("ruby/bootstrap.rb")
                            .display()
                            .to_string(),
                    ],
                    warning: (minor != *host_minor).then(|| {
                        format!(
                            "[WARNING] Nimbus: function runtime {} runs on this host's Ruby 3.{host_minor}",
                            runtime.id
                        )
                    }),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jdk_release_versions() {
        assert_eq!(jdk_major("JAVA_VERSION=\"17.0.15\"\n"), Some(17));
        assert_eq!(
            jdk_major("IMPLEMENTOR=x\nJAVA_VERSION=\"1.8.0_392\""),
            Some(8)
        );
        assert_eq!(jdk_major("JAVA_VERSION=\"25\""), Some(25));
        assert_eq!(jdk_major("JAVA_VERSION=\"x\""), None);
        assert_eq!(jdk_major(""), None);
    }

    #[test]
    fn picks_the_matching_jdk_else_the_oldest_newer_one() {
        let jdk = |major| Jdk {
            home: PathBuf::from(format!("/jvm/{major}")),
            major,
        };
        let host = [jdk(17), jdk(8), jdk(25), jdk(21)];
        assert_eq!(pick_jdk(&host, 21).unwrap().major, 21);
        assert_eq!(pick_jdk(&host, 11).unwrap().major, 17);
        assert_eq!(
            pick_jdk(&host, 8).unwrap().major,
            17,
            "the client needs 11+"
        );
        assert_eq!(pick_jdk(&[jdk(17), jdk(25)], 21).unwrap().major, 25);
        assert_eq!(
            pick_jdk(&[jdk(17)], 25).unwrap().major,
            17,
            "else the default"
        );
        assert!(pick_jdk(&[jdk(8)], 8).is_none());
    }

    #[test]
    fn jvm_flags_follow_lambda_defaults() {
        let opts = |prewarmed| LaunchOptions {
            memory_mb: 512,
            prewarmed,
        };
        let classes = Path::new("/rt/java/classes");
        let j17 = jvm_args(17, 17, opts(false), classes);
        assert!(j17.contains(&"-XX:TieredStopAtLevel=1".to_string()));
        assert!(j17.contains(&"-XX:MaxHeapSize=445644k".to_string()));
        assert_eq!(j17.last().unwrap(), "nimbus.lambda.Main");
        assert!(
            !jvm_args(11, 17, opts(false), classes)
                .contains(&"-XX:TieredStopAtLevel=1".to_string())
        );
        assert!(
            !jvm_args(25, 25, opts(true), classes).contains(&"-XX:TieredStopAtLevel=1".to_string())
        );
        assert!(
            jvm_args(25, 25, opts(false), classes).contains(&"-XX:TieredStopAtLevel=1".to_string())
        );
        assert!(
            !jvm_args(8, 8, opts(false), classes)
                .iter()
                .any(|a| a.starts_with("--add-opens"))
        );
    }
}
