//! `nimbus`: run the platform (`up`), read function logs (`logs`), deploy
//! templates (`deploy`), price functions' use (`cost`) and measure it
//! (`bench`). One file per subcommand.

mod bench;
mod client;
mod cost;
mod deploy;
mod doctor;
mod logs;
mod up;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "nimbus",
    version,
    about = "AWS Lambda and friends, self-hosted in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the platform: every API on one port, state in the data directory.
    Up(up::Args),
    /// Print a function's log (START / END / REPORT and the function's output).
    Logs(logs::Args),
    /// Measure a service against a running server: `nimbus bench functions|s3|sqs|dynamodb|gateway|stepfunctions`.
    #[command(subcommand)]
    Bench(bench::Command),
    /// Check what this host offers: isolation (namespaces, cgroups, seccomp) and runtimes.
    Doctor(doctor::Args),
    /// Build, upload and deploy a SAM or CloudFormation template as a stack.
    Deploy(deploy::Args),
    /// What the functions' requests, duration and provisioned concurrency would cost on AWS Lambda.
    Cost(cost::Args),
}

fn main() -> anyhow::Result<()> {
    // The sandbox re-executes this binary as each environment's init, before any
    // thread exists; it never returns.
    match std::env::args_os().nth(1) {
        Some(a) if a == "__sandbox-init" => nimbus_sandbox::init::main(),
        Some(a) if a == "__sandbox-probe" => nimbus_sandbox::init::probe(),
        _ => {}
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Up(a) => up::run(a),
        Command::Logs(a) => logs::run(a),
        Command::Bench(c) => bench::run(c),
        Command::Doctor(a) => doctor::run(a),
        Command::Deploy(a) => deploy::main(a),
        Command::Cost(a) => cost::run(a),
    }
}
