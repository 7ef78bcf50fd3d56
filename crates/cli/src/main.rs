//! `nimbus`: run the platform (`up`), read function logs (`logs`), and measure it
//! (`bench`). One file per subcommand.

mod bench;
mod bench_client;
mod bench_dynamodb;
mod bench_gateway;
mod bench_s3;
mod bench_sqs;
mod bench_stepfunctions;
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
    /// Measure cold starts, warm latency and throughput against a running server.
    Bench(bench::Args),
    /// Measure S3 small-object ops/s and large-object MB/s, beside a peer endpoint.
    #[command(name = "bench-s3")]
    BenchS3(bench_s3::Args),
    /// Measure SQS throughput, latency and long-poll wake-up, beside a peer endpoint.
    #[command(name = "bench-sqs")]
    BenchSqs(bench_sqs::Args),
    /// Measure DynamoDB item latency and throughput beside a peer, and stream delivery.
    #[command(name = "bench-dynamodb")]
    BenchDynamodb(bench_dynamodb::Args),
    /// Measure what an HTTP API and a function URL add over the Invoke API.
    #[command(name = "bench-gateway")]
    BenchGateway(bench_gateway::Args),
    /// Measure Step Functions state transitions/s (express and durable) and Task latency.
    #[command(name = "bench-stepfunctions")]
    BenchStepfunctions(bench_stepfunctions::Args),
    /// Check what this host offers: isolation (namespaces, cgroups, seccomp) and runtimes.
    Doctor(doctor::Args),
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
        Command::Bench(a) => bench::run(a),
        Command::BenchS3(a) => bench_s3::run(a),
        Command::BenchSqs(a) => bench_sqs::run(a),
        Command::BenchDynamodb(a) => bench_dynamodb::run(a),
        Command::BenchGateway(a) => bench_gateway::run(a),
        Command::BenchStepfunctions(a) => bench_stepfunctions::run(a),
        Command::Doctor(a) => doctor::run(a),
    }
}
