//! Wildcard patterns (`*`, `?`) as IAM matches actions, ARNs and `StringLike`
//! values, and policy variables (`${aws:username}`) inside them.
//!
//! A pattern is compiled once into [`Unit`]s; matching walks the units against
//! the request's string without allocating. Only a pattern that holds a policy
//! variable is resolved per request (the variable's value is literal text: a
//! `*` in a user name is not a wildcard).

use crate::context::Context;

/// One step of a compiled pattern. A wildcard that may not `cross` stops at
/// `:`: in an ARN, wildcards stay inside their segment for the first five.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Char(char),
    Star { cross: bool },
    One { cross: bool },
}

/// A piece of text that may hold policy variables.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    /// Written text: its `*` and `?` are wildcards where the text is a pattern.
    Text(String),
    /// `${*}`, `${?}`, `${$}`: the character itself, never a wildcard.
    Literal(char),
    /// `${key}` or `${key, 'default'}`; the key lower-cased.
    Var {
        key: String,
        default: Option<String>,
    },
}

/// Text with at least one policy variable.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// The template in `s`, or `None` when `s` holds no variable.
    pub(crate) fn parse(s: &str) -> Option<Template> {
        if !s.contains("${") {
            return None;
        }
        let mut pieces = Vec::new();
        let mut rest = s;
        let mut text = String::new();
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start + 2..].find('}') else {
                break;
            };
            text.push_str(&rest[..start]);
            let inner = rest[start + 2..start + 2 + len].trim();
            rest = &rest[start + 3 + len..];
            let piece = match inner {
                "*" => Piece::Literal('*'),
                "?" => Piece::Literal('?'),
                "$" => Piece::Literal('$'),
                _ => {
                    let (key, default) = match inner.split_once(',') {
                        Some((k, d)) => {
                            let d = d.trim();
                            let d = d
                                .strip_prefix('\'')
                                .and_then(|d| d.strip_suffix('\''))
                                .unwrap_or(d);
                            (k.trim(), Some(d.to_string()))
                        }
                        None => (inner, None),
                    };
                    Piece::Var {
                        key: key.to_ascii_lowercase(),
                        default,
                    }
                }
            };
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(piece);
        }
        text.push_str(rest);
        if pieces.is_empty() {
            return None;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Some(Template { pieces })
    }

    /// The text with every variable replaced, or `None` when a variable has
    /// no value in the request and no default (the text then matches nothing).
    pub(crate) fn resolve(&self, ctx: &Context) -> Option<String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Literal(c) => out.push(*c),
                Piece::Var { key, default } => out.push_str(variable(key, default, ctx)?),
            }
        }
        Some(out)
    }
}

/// A variable's value: the context key's only value (a multivalued key cannot
/// be a variable), else the default.
fn variable<'a>(key: &str, default: &'a Option<String>, ctx: &'a Context) -> Option<&'a str> {
    match ctx.values(key) {
        Some([one]) => Some(one.as_str()),
        _ => default.as_deref(),
    }
}

/// How a pattern's text is read.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Syntax {
    /// ARN segments bound the wildcards of the first five.
    pub(crate) arn: bool,
    /// Match case-insensitively (the pattern is lower-cased; the caller
    /// lower-cases what it matches).
    pub(crate) lowercase: bool,
    /// `${...}` is a policy variable (policy Version 2012-10-17).
    pub(crate) variables: bool,
}

/// A compiled wildcard pattern.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Glob {
    units: Vec<Unit>,
    /// The text before the first wildcard (all of it for a pattern without
    /// any): a string must start with it, and equal it when `exact`.
    prefix: String,
    exact: bool,
    template: Option<Template>,
    arn: bool,
    lowercase: bool,
}

impl Glob {
    pub(crate) fn new(src: &str, syntax: Syntax) -> Glob {
        let template = if syntax.variables {
            Template::parse(src)
        } else {
            None
        };
        let mut units = Vec::new();
        if template.is_none() {
            push_pattern(&mut units, src, syntax.lowercase);
            mark_segments(&mut units, syntax.arn);
        }
        let prefix: String = units
            .iter()
            .map_while(|u| match u {
                Unit::Char(c) => Some(*c),
                _ => None,
            })
            .collect();
        let exact = template.is_none() && prefix.chars().count() == units.len();
        Glob {
            units,
            prefix,
            exact,
            template,
            arn: syntax.arn,
            lowercase: syntax.lowercase,
        }
    }

    /// Whether the pattern matches `s` in this request.
    pub(crate) fn matches(&self, s: &str, ctx: &Context) -> bool {
        let Some(template) = &self.template else {
            // Most patterns are literal, or literal up to a final `*`: most
            // strings are told apart by their first characters.
            if self.exact {
                return s == self.prefix;
            }
            return s.starts_with(&self.prefix) && match_units(&self.units, s);
        };
        let mut units = Vec::new();
        for piece in &template.pieces {
            match piece {
                Piece::Text(t) => push_pattern(&mut units, t, self.lowercase),
                Piece::Literal(c) => push_literal(&mut units, *c, self.lowercase),
                Piece::Var { key, default } => match variable(key, default, ctx) {
                    Some(v) => v
                        .chars()
                        .for_each(|c| push_literal(&mut units, c, self.lowercase)),
                    None => return false,
                },
            }
        }
        mark_segments(&mut units, self.arn);
        match_units(&units, s)
    }
}

fn push_pattern(units: &mut Vec<Unit>, text: &str, lowercase: bool) {
    for c in text.chars() {
        match c {
            '*' => units.push(Unit::Star { cross: true }),
            '?' => units.push(Unit::One { cross: true }),
            c => push_literal(units, c, lowercase),
        }
    }
}

fn push_literal(units: &mut Vec<Unit>, c: char, lowercase: bool) {
    if lowercase {
        units.extend(c.to_lowercase().map(Unit::Char));
    } else {
        units.push(Unit::Char(c));
    }
}

/// In an ARN pattern, the wildcards before the fifth `:` stay inside their
/// segment; those in the resource part match anything, and so does a pattern
/// of nothing but `*`.
fn mark_segments(units: &mut [Unit], arn: bool) {
    let free = !arn || units.iter().all(|u| matches!(u, Unit::Star { .. }));
    let mut seen = 0;
    for u in units.iter_mut() {
        let cross = free || seen >= 5;
        match u {
            Unit::Char(':') => seen += 1,
            Unit::Star { cross: c } | Unit::One { cross: c } => *c = cross,
            Unit::Char(_) => {}
        }
    }
}

/// The classic linear wildcard match with one back-track point (the last
/// `*`). Segment-bound wildcards keep it exact: the `:` of the first five
/// segments can only meet the pattern's own `:`, so segments align one to one.
fn match_units(p: &[Unit], s: &str) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut back: Option<(usize, usize)> = None;
    loop {
        let next = s[si..].chars().next();
        match (p.get(pi), next) {
            (Some(Unit::Star { .. }), _) => {
                back = Some((pi, si));
                pi += 1;
                continue;
            }
            (Some(Unit::One { cross }), Some(c)) if *cross || c != ':' => {
                pi += 1;
                si += c.len_utf8();
                continue;
            }
            (Some(Unit::Char(pc)), Some(c)) if *pc == c => {
                pi += 1;
                si += c.len_utf8();
                continue;
            }
            (None, None) => return true,
            _ => {}
        }
        // Mismatch: the last `*` takes one more character, if it may.
        let Some((sp, ss)) = back else {
            return false;
        };
        let Some(c) = s[ss..].chars().next() else {
            return false;
        };
        if c == ':' && p[sp] == (Unit::Star { cross: false }) {
            return false;
        }
        back = Some((sp, ss + c.len_utf8()));
        pi = sp + 1;
        si = ss + c.len_utf8();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Context, Principal};

    fn ctx() -> Context {
        let p = Principal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
        Context::new("s3:GetObject", "arn:aws:s3:::b/k", p)
    }

    fn glob(p: &str, s: &str) -> bool {
        Glob::new(p, Syntax::default()).matches(s, &ctx())
    }

    fn arn(p: &str, s: &str) -> bool {
        let syntax = Syntax {
            arn: true,
            variables: true,
            ..Syntax::default()
        };
        Glob::new(p, syntax).matches(s, &ctx())
    }

    #[test]
    fn wildcards() {
        assert!(glob("*", ""));
        assert!(glob("*", "anything:at/all"));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a*c", "ac"));
        assert!(!glob("a*c", "acb"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*b*b*", "abcabcab"));
        assert!(!glob("abc", "ABC"));
        assert!(glob("héllo?", "héllo✓"));
    }

    #[test]
    fn arn_segments() {
        assert!(arn("arn:aws:s3:::*", "arn:aws:s3:::bucket/a/b:c"));
        assert!(arn("arn:aws:*:*:*:x", "arn:aws:s3:us-east-1:1:x"));
        assert!(!arn("arn:aws:*:x", "arn:aws:s3:us-east-1:1:x"));
        assert!(!arn("arn:aws:s3*:::x", "arn:aws:s3:us:::x"));
        assert!(arn(
            "arn:aws:lambda:*:*:function:f*",
            "arn:aws:lambda:r:1:function:fn:live"
        ));
        assert!(!arn(
            "arn:aws:lambda:??:*:function:f",
            "arn:aws:lambda:r:1:function:f"
        ));
        assert!(arn("*", "arn:aws:s3:::b"));
    }

    #[test]
    fn variables() {
        assert!(arn(
            "arn:aws:s3:::b/${aws:username}/*",
            "arn:aws:s3:::b/alice/x"
        ));
        assert!(!arn(
            "arn:aws:s3:::b/${aws:username}/*",
            "arn:aws:s3:::b/bob/x"
        ));
        assert!(!arn("arn:aws:s3:::b/${aws:nope}/*", "arn:aws:s3:::b/x/y"));
        assert!(arn(
            "arn:aws:s3:::b/${aws:nope, 'd'}/*",
            "arn:aws:s3:::b/d/y"
        ));
        assert!(arn("arn:aws:s3:::b/${*}", "arn:aws:s3:::b/*"));
        assert!(!arn("arn:aws:s3:::b/${*}", "arn:aws:s3:::b/x"));
        assert!(arn("arn:aws:s3:::b/${$}{x", "arn:aws:s3:::b/${x"));
        assert!(arn(
            "arn:aws:s3:::b/${unclosed",
            "arn:aws:s3:::b/${unclosed"
        ));
    }
}
