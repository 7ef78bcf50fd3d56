//! Echoes its event with what the runtime told it, so tests can check the
//! Runtime API from the official Rust client's point of view.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, ctx) = event.into_parts();
    // `nimbus bench` measures a true no-op: no log line, an empty answer.
    if payload.get("noop").is_some() {
        return Ok(Value::Null);
    }
    if payload.get("fail").is_some() {
        return Err("asked to fail".into());
    }
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    println!("rust-echo handling {}", ctx.request_id);
    Ok(json!({
        "echo": payload,
        "request_id": ctx.request_id,
        "function_arn": ctx.invoked_function_arn,
        "deadline": ctx.deadline,
        "function_name": ctx.env_config.function_name,
        "memory": ctx.env_config.memory,
        "version": ctx.env_config.version,
        "log_stream": ctx.env_config.log_stream,
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
