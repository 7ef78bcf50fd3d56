//! Compiles Nimbus's Java runtime client (`runtimes/java/src`) with the host's JDK and
//! embeds the class files, which `runtimes` writes out at startup. Without a working
//! `javac` 11+ (or `NIMBUS_JAVAC`), the build still succeeds, with a warning, and Java
//! functions fail to start with `Runtime.Unavailable`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "java") {
            out.push(p);
        }
    }
}

fn classes(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            classes(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "class") {
            let rel = p.strip_prefix(root).expect("under root");
            out.push((rel.to_string_lossy().replace('\\', "/"), p));
        }
    }
}

fn javac() -> Option<PathBuf> {
    if let Some(p) = env::var_os("NIMBUS_JAVAC") {
        return Some(PathBuf::from(p));
    }
    env::split_paths(&env::var_os("PATH")?)
        .map(|d| d.join("javac"))
        .find(|p| p.is_file())
}

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let src = manifest.join("../../runtimes/java/src");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-env-changed=NIMBUS_JAVAC");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let class_dir = out_dir.join("java-classes");
    let _ = fs::remove_dir_all(&class_dir);
    let mut found = Vec::new();
    if let Some(javac) = javac() {
        let mut files = Vec::new();
        sources(&src, &mut files);
        files.sort();
        fs::create_dir_all(&class_dir).expect("create the class directory");
        let out = Command::new(&javac)
            .args([
                "--release",
                "11",
                "-encoding",
                "UTF-8",
                "-g:source,lines",
                "-d",
            ])
            .arg(&class_dir)
            .args(&files)
            .output();
        match out {
            Ok(o) if o.status.success() => classes(&class_dir, &class_dir, &mut found),
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr);
                println!(
                    "cargo:warning=javac at {} could not compile runtimes/java (Java functions will not start): {}",
                    javac.display(),
                    why.lines().next().unwrap_or_default()
                );
            }
            Err(e) => println!(
                "cargo:warning=javac at {} did not run ({e}); Java functions will not start",
                javac.display()
            ),
        }
    } else {
        println!("cargo:warning=no javac found; Java functions will not start");
    }
    found.sort();
    let mut code = String::from("/// The Java runtime client's class files, by path.\n");
    code.push_str("pub const JAVA_CLASSES: &[(&str, &[u8])] = &[\n");
    for (name, path) in &found {
        let _ = writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    fs::write(out_dir.join("java_classes.rs"), code).expect("write java_classes.rs");
}
