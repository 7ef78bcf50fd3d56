//! `nimbus doctor`: what this host can do for Nimbus, and what to do about what it cannot.

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Python interpreter to check (as `nimbus up --python`).
    #[arg(long, default_value = "python3", env = "NIMBUS_PYTHON")]
    python: String,
    /// Node.js interpreter to check (as `nimbus up --node`).
    #[arg(long, default_value = "node", env = "NIMBUS_NODE")]
    node: String,
    /// Java launcher to check (as `nimbus up --java`).
    #[arg(long, default_value = "java", env = "NIMBUS_JAVA")]
    java: String,
    /// Ruby interpreter to check (as `nimbus up --ruby`).
    #[arg(long, default_value = "ruby", env = "NIMBUS_RUBY")]
    ruby: String,
}

pub fn run(args: Args) -> Result<()> {
    let mut ok = true;
    println!("isolation = namespaces needs:");
    let exe = std::env::current_exe()?;
    for c in nimbus_sandbox::namespaces::diagnose(&exe) {
        match c.result {
            Ok(found) => println!("  [ok]   {}: {found}", c.what),
            Err(why) => {
                ok = false;
                println!("  [FAIL] {}: {why}", c.what);
            }
        }
    }
    println!("runtimes:");
    for (what, program) in [
        ("python3.* functions", &args.python),
        ("nodejs* functions", &args.node),
        ("java* functions", &args.java),
        ("ruby3.* functions", &args.ruby),
    ] {
        match nimbus_functions::runtimes::which(program) {
            Some(p) => println!("  [ok]   {what}: {}", p.display()),
            None => println!("  [warn] {what}: '{program}' not found on PATH"),
        }
    }
    if ok {
        println!("This host can isolate execution environments: `nimbus up` will use namespaces.");
    } else {
        println!(
            "This host cannot isolate execution environments: `nimbus up` refuses to start unless given --isolation none."
        );
    }
    Ok(())
}
