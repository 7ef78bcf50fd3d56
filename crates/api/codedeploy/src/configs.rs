//! Deployment configurations of the Lambda platform: CodeDeploy's
//! predefined ones (`CodeDeployDefault.LambdaCanary10Percent5Minutes`, ...)
//! and custom ones (`trafficRoutingConfig`), as the steps a deployment
//! shifts traffic in.

use serde_json::{Value, json};

/// CodeDeploy's predefined Lambda configurations and their routing.
pub const PREDEFINED: [(&str, &str, u64, u64); 9] = [
    ("CodeDeployDefault.LambdaAllAtOnce", "AllAtOnce", 0, 0),
    (
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        "TimeBasedCanary",
        10,
        5,
    ),
    (
        "CodeDeployDefault.LambdaCanary10Percent10Minutes",
        "TimeBasedCanary",
        10,
        10,
    ),
    (
        "CodeDeployDefault.LambdaCanary10Percent15Minutes",
        "TimeBasedCanary",
        10,
        15,
    ),
    (
        "CodeDeployDefault.LambdaCanary10Percent30Minutes",
        "TimeBasedCanary",
        10,
        30,
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        "TimeBasedLinear",
        10,
        1,
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
        "TimeBasedLinear",
        10,
        2,
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
        "TimeBasedLinear",
        10,
        3,
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
        "TimeBasedLinear",
        10,
        10,
    ),
];

/// A predefined configuration's `trafficRoutingConfig`.
pub fn predefined(name: &str) -> Option<Value> {
    let (_, kind, percent, minutes) = PREDEFINED.iter().find(|(n, ..)| *n == name)?;
    Some(match *kind {
        "TimeBasedCanary" => json!({"type": kind, "timeBasedCanary": {
            "canaryPercentage": percent, "canaryInterval": minutes}}),
        "TimeBasedLinear" => json!({"type": kind, "timeBasedLinear": {
            "linearPercentage": percent, "linearInterval": minutes}}),
        _ => json!({"type": kind}),
    })
}

/// Check a custom `trafficRoutingConfig`; why not, in CodeDeploy's words.
pub fn check(routing: &Value) -> Result<(), String> {
    let kind = routing
        .get("type")
        .and_then(Value::as_str)
        .ok_or("The traffic routing config type is missing")?;
    let number = |outer: &str, k: &str| {
        routing
            .get(outer)
            .and_then(|o| o.get(k))
            .and_then(Value::as_u64)
    };
    match kind {
        "AllAtOnce" => Ok(()),
        "TimeBasedCanary" | "TimeBasedLinear" => {
            let (outer, p, i) = if kind == "TimeBasedCanary" {
                ("timeBasedCanary", "canaryPercentage", "canaryInterval")
            } else {
                ("timeBasedLinear", "linearPercentage", "linearInterval")
            };
            match (number(outer, p), number(outer, i)) {
                (Some(pct), Some(min)) if (1..=99).contains(&pct) && (1..=2880).contains(&min) => {
                    Ok(())
                }
                _ => Err(format!(
                    "The {outer} of the traffic routing config needs a {p} from 1 to 99 and a {i} in minutes from 1 to 2880"
                )),
            }
        }
        other => Err(format!(
            "The traffic routing config type {other} is not valid"
        )),
    }
}

/// The steps of a routing: the target version's share of the traffic (in
/// percent) and the minutes to wait before the next step; the last is 100.
pub fn steps(routing: &Value) -> Vec<(u32, u64)> {
    let get = |outer: &str, k: &str| {
        routing
            .get(outer)
            .and_then(|o| o.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    match routing.get("type").and_then(Value::as_str) {
        Some("TimeBasedCanary") => {
            let p = get("timeBasedCanary", "canaryPercentage").clamp(1, 99) as u32;
            vec![(p, get("timeBasedCanary", "canaryInterval")), (100, 0)]
        }
        Some("TimeBasedLinear") => {
            let p = get("timeBasedLinear", "linearPercentage").clamp(1, 99) as u32;
            let wait = get("timeBasedLinear", "linearInterval");
            let mut out: Vec<(u32, u64)> = (1..)
                .map(|k| k * p)
                .take_while(|share| *share < 100)
                .map(|share| (share, wait))
                .collect();
            out.push((100, 0));
            out
        }
        _ => vec![(100, 0)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_configurations_shift_as_named() {
        let canary = predefined("CodeDeployDefault.LambdaCanary10Percent5Minutes").unwrap();
        assert_eq!(steps(&canary), [(10, 5), (100, 0)]);
        let linear = predefined("CodeDeployDefault.LambdaLinear10PercentEvery1Minute").unwrap();
        assert_eq!(steps(&linear).len(), 10);
        assert_eq!(steps(&linear)[8], (90, 1));
        let all = predefined("CodeDeployDefault.LambdaAllAtOnce").unwrap();
        assert_eq!(steps(&all), [(100, 0)]);
        assert!(predefined("CodeDeployDefault.OneAtATime").is_none());
    }

    #[test]
    fn custom_configurations_are_checked() {
        let ok = json!({"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 30, "linearInterval": 2}});
        assert!(check(&ok).is_ok());
        assert_eq!(steps(&ok), [(30, 2), (60, 2), (90, 2), (100, 0)]);
        let bad = json!({"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 100, "canaryInterval": 2}});
        assert!(check(&bad).is_err());
        assert!(check(&json!({"type": "Sometimes"})).is_err());
    }
}
