//! JSONata's regular expressions (`/pattern/flags`, flags `i` and `m`), as
//! `$match`, `$contains`, `$split` and `$replace` take them. A regular
//! expression is a function value, named by its flags and pattern; it is
//! compiled to a bounded Pike VM (linear in the text, limited in size), so a
//! hostile pattern costs neither time nor memory. Positions count characters.

use regex_automata::nfa::thompson::{self, pikevm::PikeVM};
use regex_automata::util::syntax;
use serde_json::{Value, json};

/// What names a regular expression among the builtins.
const PREFIX: &str = "\u{0}regex/";

/// The builtin's name of `/pattern/flags`.
pub(super) fn name(pattern: &str, flags: &str) -> String {
    format!("{PREFIX}{flags}/{pattern}")
}

/// The flags and pattern a builtin's name holds, if it is a regular expression.
pub(super) fn parse_name(name: &str) -> Option<(&str, &str)> {
    name.strip_prefix(PREFIX)?.split_once('/')
}

pub(super) fn compile(pattern: &str, flags: &str) -> Result<PikeVM, String> {
    if pattern.len() > 4096 {
        return Err("a regular expression may be at most 4,096 characters".into());
    }
    PikeVM::builder()
        .syntax(
            syntax::Config::new()
                .case_insensitive(flags.contains('i'))
                .multi_line(flags.contains('m')),
        )
        .thompson(thompson::Config::new().nfa_size_limit(Some(1 << 20)))
        .build(pattern)
        .map_err(|e| format!("invalid regular expression /{pattern}/: {e}"))
}

/// One match: its byte span and its groups' spans.
pub(super) struct Found {
    pub start: usize,
    pub end: usize,
    pub groups: Vec<Option<(usize, usize)>>,
}

/// The matches of `re` in `text`, at most `limit`.
pub(super) fn find_all(re: &PikeVM, text: &str, limit: Option<usize>) -> Vec<Found> {
    let mut cache = re.create_cache();
    let mut out = Vec::new();
    for caps in re.captures_iter(&mut cache, text.as_bytes()) {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let Some(m) = caps.get_match() else {
            continue;
        };
        let groups = (1..caps.group_len())
            .map(|g| caps.get_group(g).map(|s| (s.start, s.end)))
            .collect();
        out.push(Found {
            start: m.start(),
            end: m.end(),
            groups,
        });
    }
    out
}

fn chars_before(text: &str, byte: usize) -> usize {
    text[..byte].chars().count()
}

/// `$match`'s object for one match: `match`, `index`, `groups`.
pub(super) fn match_object(text: &str, f: &Found) -> Value {
    let groups: Vec<Value> = f
        .groups
        .iter()
        .map(|g| json!(g.map_or("", |(s, e)| &text[s..e])))
        .collect();
    json!({
        "match": &text[f.start..f.end],
        "index": chars_before(text, f.start),
        "groups": groups,
    })
}

/// The object a regular expression called on `text` answers: its first
/// match with `start`, `end` and `groups`.
pub(super) fn call_object(text: &str, f: &Found) -> Value {
    let mut o = match_object(text, f);
    o["start"] = o["index"].clone();
    o["end"] = json!(chars_before(text, f.end));
    if let Some(m) = o.as_object_mut() {
        m.remove("index");
    }
    o
}

/// `replacement` with `$0` (the match), `$1`... (groups) and `$$` put in.
pub(super) fn expand(replacement: &str, text: &str, f: &Found) -> String {
    let mut out = String::new();
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some(d) if d.is_ascii_digit() => {
                let n = d.to_digit(10).unwrap_or(0) as usize;
                chars.next();
                let span = if n == 0 {
                    Some((f.start, f.end))
                } else {
                    f.groups.get(n - 1).copied().flatten()
                };
                if let Some((s, e)) = span {
                    out.push_str(&text[s..e]);
                }
            }
            _ => out.push('$'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_groups_and_replacements() {
        let re = compile("a(b+)", "").unwrap();
        let text = "ébabbab";
        let found = find_all(&re, text, None);
        assert_eq!(found.len(), 2);
        assert_eq!(
            match_object(text, &found[0]),
            json!({"match": "abb", "index": 2, "groups": ["bb"]})
        );
        assert_eq!(expand("[$1|$0|$$]", text, &found[1]), "[b|ab|$]");
        assert_eq!(find_all(&re, text, Some(1)).len(), 1);
        let ci = compile("AB", "i").unwrap();
        assert_eq!(find_all(&ci, "xab", None).len(), 1);
        assert!(compile("(", "").is_err());
        assert!(compile("(?:\\w{1000}){1000}", "").is_err(), "too large");
        assert_eq!(parse_name(&name("a/b", "i")), Some(("i", "a/b")));
    }
}
