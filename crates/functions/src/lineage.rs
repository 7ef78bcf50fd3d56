//! Recursive loop detection, as Lambda does it: every asynchronous invocation
//! carries in its X-Ray trace header (`X-Amzn-Trace-Id`, `_X_AMZN_TRACE_ID` inside
//! the function, which the AWS SDKs send back on their requests) a `Lineage` of
//! the functions the chain of events has passed through and how often. An event
//! that would run a function for more than [`LIMIT`] times in one chain is
//! stopped instead of run (S3 → function → S3 → same function ..., or a function
//! invoking itself asynchronously).

/// Lambda stops a chain after about 16 invocations of the same function.
pub const LIMIT: u32 = 16;

/// A short stable tag for a function ARN (FNV-1a, 32 bits).
pub fn tag(function_arn: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in function_arn.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The `Lineage` entries of a trace header: (function tag, count).
pub fn parse(trace: &str) -> Vec<(String, u32)> {
    let Some(l) = trace
        .split(';')
        .find_map(|f| f.trim().strip_prefix("Lineage="))
    else {
        return Vec::new();
    };
    l.split(',')
        .filter_map(|e| {
            let (t, c) = e.split_once(':')?;
            (t.len() == 8 && t.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| Some((t.to_string(), c.parse().ok()?)))?
        })
        .take(32)
        .collect()
}

/// How many times `function_arn` already ran in the chain `trace` belongs to.
pub fn depth(trace: Option<&str>, function_arn: &str) -> u32 {
    let t = tag(function_arn);
    trace
        .map(parse)
        .unwrap_or_default()
        .into_iter()
        .find(|(x, _)| *x == t)
        .map_or(0, |(_, c)| c)
}

/// The trace header of an invocation of `function_arn` caused by a request that
/// carried `incoming` (if any): the incoming trace continued (its root, parent
/// and sampling decision; a new root when it had none), with the incoming
/// lineage and this function counted once more.
pub fn child(incoming: Option<&str>, function_arn: &str) -> String {
    let mut lineage = incoming.map(parse).unwrap_or_default();
    let t = tag(function_arn);
    match lineage.iter_mut().find(|(x, _)| *x == t) {
        Some((_, c)) => *c += 1,
        None => lineage.push((t, 1)),
    }
    let mut h = incoming
        .map(nimbus_traces::TraceHeader::parse)
        .unwrap_or_default();
    if h.root.is_none() {
        h.root = Some(nimbus_traces::header::new_trace_id());
    }
    let entries: Vec<String> = lineage.iter().map(|(t, c)| format!("{t}:{c}")).collect();
    h.rest.retain(|(k, _)| k != "Lineage");
    h.rest.push(("Lineage".into(), entries.join(",")));
    h.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_grow_along_a_chain_per_function() {
        let a = "arn:aws:lambda:us-east-1:000000000000:function:a";
        let b = "arn:aws:lambda:us-east-1:000000000000:function:b";
        let t1 = child(None, a);
        assert_eq!(depth(Some(&t1), a), 1);
        assert_eq!(depth(Some(&t1), b), 0);
        let t2 = child(Some(&t1), b);
        let t3 = child(Some(&t2), a);
        assert_eq!((depth(Some(&t3), a), depth(Some(&t3), b)), (2, 1));
        assert!(t3.starts_with("Root=1-") && t3.contains(";Lineage="));
        // The trace goes on: same root, the caller's sampling decision kept.
        let sampled = "Root=1-5e1b4151-5ac6c58f5b5daa6532e4f2ad;Parent=53995c3f42cd8ad8;Sampled=1";
        let t4 = child(Some(sampled), a);
        assert!(t4.starts_with(sampled), "{t4}");
    }

    #[test]
    fn foreign_or_broken_headers_are_ignored() {
        let a = "arn:aws:lambda:us-east-1:000000000000:function:a";
        assert_eq!(
            depth(
                Some("Root=1-5e1b4151-5ac6c58f5b5daa6532e4f2ad;Sampled=1"),
                a
            ),
            0
        );
        assert!(parse("Lineage=zz:1,12345678:x,1234567:3").is_empty());
        assert_eq!(
            parse("Root=x;Lineage=0000abcd:3"),
            vec![("0000abcd".to_string(), 3)]
        );
        assert_eq!(depth(None, a), 0);
    }
}
