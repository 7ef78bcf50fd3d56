//! `nimbus bench <service>`: measurements against a running server, each beside
//! the floor or the peer its issue names, with one signed HTTP client
//! ([`client`]) for all of them. Results and the exact commands are recorded in
//! `docs/benchmarks.md`.

pub(crate) use crate::client;
pub mod dynamodb;
pub mod events;
pub mod functions;
pub mod gateway;
pub mod iam;
pub mod s3;
pub mod sqs;
pub mod stepfunctions;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Cold starts (split into their parts), warm latency and throughput of the Invoke API.
    Functions(functions::Args),
    /// S3 small-object ops/s and large-object MB/s, beside a peer endpoint.
    S3(s3::Args),
    /// SQS throughput, latency and long-poll wake-up, beside a peer endpoint.
    Sqs(sqs::Args),
    /// DynamoDB item latency and throughput beside a peer, and stream delivery.
    Dynamodb(dynamodb::Args),
    /// What an HTTP API and a function URL add over the Invoke API.
    Gateway(gateway::Args),
    /// Step Functions state transitions/s (express and durable) and Task latency.
    Stepfunctions(stepfunctions::Args),
    /// What IAM enforcement adds to a request (in process, on the real store).
    Iam(iam::Args),
    /// EventBridge PutEvents throughput over 100 rules, event-to-target latency, SNS fan-out.
    Events(events::Args),
}

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Functions(a) => functions::run(a),
        Command::S3(a) => s3::run(a),
        Command::Sqs(a) => sqs::run(a),
        Command::Dynamodb(a) => dynamodb::run(a),
        Command::Gateway(a) => gateway::run(a),
        Command::Stepfunctions(a) => stepfunctions::run(a),
        Command::Iam(a) => iam::run(a),
        Command::Events(a) => events::run(a),
    }
}
