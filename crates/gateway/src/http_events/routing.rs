//! HTTP API route keys: validation (as CreateRoute) and request matching.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::util::percent_decode;

const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RouteKey {
    Default,
    Path {
        /// None for ANY.
        method: Option<String>,
        segments: Vec<Segment>,
    },
}

fn valid_param_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn parse_route_key(key: &str) -> Result<RouteKey, String> {
    if key == "$default" {
        return Ok(RouteKey::Default);
    }
    let Some((method, path)) = key.split_once(' ') else {
        return Err(format!(
            "Invalid route key '{key}': expected '$default' or 'METHOD /path'"
        ));
    };
    if !METHODS.contains(&method) {
        return Err(format!(
            "Invalid route key '{key}': unsupported method '{method}' (expected one of {})",
            METHODS.join(", ")
        ));
    }
    if !path.starts_with('/') {
        return Err(format!(
            "Invalid route key '{key}': the path must start with '/'"
        ));
    }
    if let Some(c) = path
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
    {
        return Err(format!(
            "Invalid route key '{key}': invalid character {c:?} in path"
        ));
    }
    let mut segments = Vec::new();
    if path != "/" {
        let parts: Vec<&str> = path[1..].split('/').collect();
        let count = parts.len();
        for (i, part) in parts.into_iter().enumerate() {
            if part.is_empty() {
                return Err(format!("Invalid route key '{key}': empty path segment"));
            }
            if !part.contains(['{', '}']) {
                segments.push(Segment::Literal(part.to_string()));
                continue;
            }
            let inner = part
                .strip_prefix('{')
                .and_then(|p| p.strip_suffix('}'))
                .ok_or_else(|| {
                    format!(
                        "Invalid route key '{key}': path variable '{part}' must be a whole segment '{{name}}'"
                    )
                })?;
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if !valid_param_name(name) {
                return Err(format!(
                    "Invalid route key '{key}': invalid path variable name in '{part}'"
                ));
            }
            let taken = segments.iter().any(|s| match s {
                Segment::Param(n) | Segment::Greedy(n) => n == name,
                Segment::Literal(_) => false,
            });
            if taken {
                return Err(format!(
                    "Invalid route key '{key}': duplicate path variable '{name}'"
                ));
            }
            if greedy {
                if i + 1 != count {
                    return Err(format!(
                        "Invalid route key '{key}': greedy path variable '{part}' must be the last segment"
                    ));
                }
                segments.push(Segment::Greedy(name.to_string()));
            } else {
                segments.push(Segment::Param(name.to_string()));
            }
        }
    }
    Ok(RouteKey::Path {
        method: (method != "ANY").then(|| method.to_string()),
        segments,
    })
}

/// Validates a route key as CreateRoute does: `$default`, or `METHOD /path`
/// with METHOD one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY, the
/// path starting with '/', no empty segments, each `{param}` a whole,
/// well-named segment (letters, digits, `_`, `-`, `.`), names unique, and a
/// greedy `{name+}` only as the last segment.
pub fn check_route_key(key: &str) -> Result<(), String> {
    parse_route_key(key).map(|_| ())
}

/// Splits a raw path into percent-decoded segments ("/" → no segments).
fn request_segments(raw_path: &str) -> Vec<String> {
    let path = raw_path.split(['?', '#']).next().unwrap_or("");
    let path = path.strip_prefix('/').unwrap_or(path);
    if path.is_empty() {
        return Vec::new();
    }
    path.split('/').map(percent_decode).collect()
}

/// Matches `segments` against a route; returns the path parameters.
fn match_segments(route: &[Segment], segments: &[String]) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    let greedy_last = matches!(route.last(), Some(Segment::Greedy(_)));
    if greedy_last {
        if segments.len() < route.len() {
            return None;
        }
    } else if segments.len() != route.len() {
        return None;
    }
    for (i, seg) in route.iter().enumerate() {
        match seg {
            Segment::Literal(lit) => {
                if *lit != segments[i] {
                    return None;
                }
            }
            Segment::Param(name) => {
                if segments[i].is_empty() {
                    return None;
                }
                params.insert(name.clone(), segments[i].clone());
            }
            Segment::Greedy(name) => {
                let rest = segments[i..].join("/");
                if rest.is_empty() {
                    return None;
                }
                params.insert(name.clone(), rest);
            }
        }
    }
    Some(params)
}

/// Specificity of a matched route; greater is preferred.
#[derive(PartialEq, Eq)]
struct Rank {
    no_greedy: bool,
    /// Per route segment: literal 2, variable 1, greedy 0 (compared left to right).
    shape: Vec<u8>,
    specific_method: bool,
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> Ordering {
        self.no_greedy
            .cmp(&other.no_greedy)
            .then_with(|| self.shape.cmp(&other.shape))
            .then_with(|| self.specific_method.cmp(&other.specific_method))
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// API Gateway HTTP API route selection. Returns the index into `route_keys`
/// of the selected route and its (decoded) path parameters.
///
/// Priority: routes without a greedy variable before greedy ones; then, going
/// segment by segment from the left, a literal beats a `{var}` which beats a
/// `{greedy+}` (so exact paths win and longer literal prefixes win among greedy
/// routes); then a specific method beats ANY; then the earlier key. `$default`
/// is chosen only when nothing else matches. Invalid keys are ignored.
pub fn match_route(
    route_keys: &[&str],
    method: &str,
    raw_path: &str,
) -> Option<(usize, BTreeMap<String, String>)> {
    let segments = request_segments(raw_path);
    let mut best: Option<(Rank, usize, BTreeMap<String, String>)> = None;
    let mut default = None;
    for (idx, key) in route_keys.iter().enumerate() {
        let Ok(parsed) = parse_route_key(key) else {
            continue;
        };
        match parsed {
            RouteKey::Default => {
                default.get_or_insert(idx);
            }
            RouteKey::Path {
                method: route_method,
                segments: route_segments,
            } => {
                if route_method.as_deref().is_some_and(|m| m != method) {
                    continue;
                }
                let Some(params) = match_segments(&route_segments, &segments) else {
                    continue;
                };
                let rank = Rank {
                    no_greedy: !matches!(route_segments.last(), Some(Segment::Greedy(_))),
                    shape: route_segments
                        .iter()
                        .map(|s| match s {
                            Segment::Literal(_) => 2,
                            Segment::Param(_) => 1,
                            Segment::Greedy(_) => 0,
                        })
                        .collect(),
                    specific_method: route_method.is_some(),
                };
                if best.as_ref().is_none_or(|(b, _, _)| rank > *b) {
                    best = Some((rank, idx, params));
                }
            }
        }
    }
    match best {
        Some((_, idx, params)) => Some((idx, params)),
        None => default.map(|idx| (idx, BTreeMap::new())),
    }
}
