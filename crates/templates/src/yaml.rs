//! YAML templates to the JSON tree CloudFormation sees, with the short-form
//! tags (`!Ref x`, `!GetAtt a.b`, `!Sub ...`) turned into their long forms
//! (`{"Ref": "x"}`, `{"Fn::GetAtt": ["a", "b"]}`).
//!
//! The tree is built from `yaml-rust2`'s event parser because its document
//! loader drops tags. Scalars follow YAML 1.2's core schema, except that
//! numbers with leading zeros (account ids) stay strings. Aliases are refused,
//! as CloudFormation refuses them.

use crate::Error;
use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Nesting deeper than this is refused (the evaluator recurses).
pub(crate) const MAX_DEPTH: usize = 128;

/// The functions a `!Name` tag may name, and the long form each becomes.
const SHORT_FORMS: &[(&str, &str)] = &[
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("GetAtt", "Fn::GetAtt"),
    ("Sub", "Fn::Sub"),
    ("Join", "Fn::Join"),
    ("Select", "Fn::Select"),
    ("Split", "Fn::Split"),
    ("If", "Fn::If"),
    ("Equals", "Fn::Equals"),
    ("And", "Fn::And"),
    ("Or", "Fn::Or"),
    ("Not", "Fn::Not"),
    ("FindInMap", "Fn::FindInMap"),
    ("ImportValue", "Fn::ImportValue"),
    ("GetAZs", "Fn::GetAZs"),
    ("Base64", "Fn::Base64"),
    ("Cidr", "Fn::Cidr"),
    ("Length", "Fn::Length"),
    ("ToJsonString", "Fn::ToJsonString"),
    ("Transform", "Fn::Transform"),
];

enum Frame {
    Seq {
        items: Vec<Value>,
        tag: Option<Tag>,
    },
    Map {
        entries: Map<String, Value>,
        key: Option<String>,
        tag: Option<Tag>,
    },
}

fn malformed(at: Marker) -> Error {
    Error::Format(format!(
        "YAML not well-formed. (line {}, column {})",
        at.line(),
        at.col() + 1
    ))
}

/// Reads one YAML document into a JSON tree with long-form intrinsics.
pub(crate) fn parse(text: &str) -> Result<Value, Error> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Value> = None;
    loop {
        let (event, at) = parser.next_token().map_err(|e| malformed(*e.marker()))?;
        let done = match event {
            Event::StreamEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => {
                continue;
            }
            Event::Alias(_) => {
                return Err(Error::Format(
                    "YAML aliases are not allowed in CloudFormation templates".into(),
                ));
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                return Err(malformed(at));
            }
            Event::SequenceStart(_, tag) => {
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    tag,
                });
                continue;
            }
            Event::MappingStart(_, tag) => {
                stack.push(Frame::Map {
                    entries: Map::new(),
                    key: None,
                    tag,
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq { items, tag }) => (tagged(tag, Value::Array(items), at)?, None),
                Some(Frame::Map { entries, tag, .. }) => {
                    (tagged(tag, Value::Object(entries), at)?, None)
                }
                None => return Err(malformed(at)),
            },
            Event::Scalar(text, style, _, tag) => {
                let value = match &tag {
                    Some(t) if t.handle == "!" => {
                        tagged(tag.clone(), Value::String(text.clone()), at)?
                    }
                    Some(t) => core_tagged(t, &text, at)?,
                    None if style == TScalarStyle::Plain => plain(&text),
                    None => Value::String(text.clone()),
                };
                (value, Some(text))
            }
        };
        let (value, raw) = done;
        match stack.last_mut() {
            None => {
                if root.is_some() {
                    return Err(malformed(at));
                }
                root = Some(value);
            }
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => match raw {
                    Some(k) if !entries.contains_key(&k) => *key = Some(k),
                    _ => return Err(malformed(at)),
                },
                Some(k) => {
                    entries.insert(k, value);
                }
            },
        }
    }
    root.ok_or_else(|| Error::Format("YAML not well-formed. (empty document)".into()))
}

/// Applies a `!Name` short-form tag to the node it tags.
fn tagged(tag: Option<Tag>, value: Value, at: Marker) -> Result<Value, Error> {
    let Some(tag) = tag else { return Ok(value) };
    if tag.handle != "!" {
        return Ok(value);
    }
    let Some((_, long)) = SHORT_FORMS.iter().find(|(short, _)| *short == tag.suffix) else {
        return Err(Error::Format(format!(
            "YAML not well-formed. Unknown tag !{} (line {}, column {})",
            tag.suffix,
            at.line(),
            at.col() + 1
        )));
    };
    let value = match (*long, value) {
        // `!GetAtt Res.Attr` splits at the first dot; attribute names hold dots.
        ("Fn::GetAtt", Value::String(s)) => match s.split_once('.') {
            Some((res, attr)) => Value::Array(vec![res.into(), attr.into()]),
            None => Value::String(s),
        },
        (_, v) => v,
    };
    let mut map = Map::new();
    map.insert((*long).to_string(), value);
    Ok(Value::Object(map))
}

/// A scalar with a `!!type` tag.
fn core_tagged(tag: &Tag, text: &str, at: Marker) -> Result<Value, Error> {
    Ok(match tag.suffix.as_str() {
        "str" | "tag:yaml.org,2002:str" => Value::String(text.to_string()),
        "int" | "float" | "bool" | "null" => match plain(text) {
            Value::String(_) => return Err(malformed(at)),
            v => v,
        },
        _ => Value::String(text.to_string()),
    })
}

/// A plain (unquoted) scalar under YAML 1.2's core schema.
fn plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let canonical = !digits.is_empty()
        && digits.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && !(digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0."));
    if !canonical {
        return Value::String(text.to_string());
    }
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
        return Value::String(text.to_string());
    }
    let floaty = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    match text
        .parse::<f64>()
        .ok()
        .filter(|_| floaty)
        .and_then(Number::from_f64)
    {
        Some(n) => Value::Number(n),
        None => Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_forms_become_long_forms() {
        let v = parse(
            "A: !Ref X\nB: !GetAtt R.Arn\nC: !GetAtt [R, Arn]\nD: !Sub 'a-${X}'\n\
             E: !Join ['-', [!Ref X, b]]\nF: !If [C, !Ref X, !Ref 'AWS::NoValue']\n\
             G: !Not [!Condition C]\nH: !GetAZs ''\nI: !Select [0, !Split [',', 'a,b']]\n",
        )
        .unwrap();
        assert_eq!(v["A"], json!({"Ref": "X"}));
        assert_eq!(v["B"], json!({"Fn::GetAtt": ["R", "Arn"]}));
        assert_eq!(v["C"], json!({"Fn::GetAtt": ["R", "Arn"]}));
        assert_eq!(v["D"], json!({"Fn::Sub": "a-${X}"}));
        assert_eq!(v["E"], json!({"Fn::Join": ["-", [{"Ref": "X"}, "b"]]}));
        assert_eq!(
            v["F"],
            json!({"Fn::If": ["C", {"Ref": "X"}, {"Ref": "AWS::NoValue"}]})
        );
        assert_eq!(v["G"], json!({"Fn::Not": [{"Condition": "C"}]}));
        assert_eq!(v["H"], json!({"Fn::GetAZs": ""}));
        assert_eq!(
            v["I"],
            json!({"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]})
        );
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let v =
            parse("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: 012345678901\ng: 2010-09-09\n").unwrap();
        assert_eq!(
            v,
            json!({"a": 1, "b": 1.5, "c": true, "d": null, "e": "1",
                   "f": "012345678901", "g": "2010-09-09"})
        );
    }

    #[test]
    fn malformed_yaml_names_the_position() {
        let e = parse("a: [1, 2\nb: c").unwrap_err().to_string();
        assert!(
            e.starts_with("Template format error: YAML not well-formed. (line"),
            "{e}"
        );
        let e = parse("a: &x 1\nb: *x\n").unwrap_err().to_string();
        assert!(e.contains("aliases"), "{e}");
        assert!(parse("a: 1\na: 2\n").is_err());
        assert!(parse("a: !Bogus x\n").is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "[".repeat(1000);
        assert!(parse(&deep).is_err());
    }
}
