//! Intrinsic functions (`States.Format('{} and {}', $.a, $.b)` ...) used in
//! `.$` fields of `Parameters`, `ResultSelector` and `ItemSelector`.
//! Arguments are string literals in single quotes (with `\'`, `\{`, `\}` and
//! `\\` escapes), numbers, `true`/`false`/`null`, paths and nested calls.

use crate::path::Path;
use base64::Engine as _;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Literal(Value),
    Path(Path),
    Call(Call),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Arg>,
}

const NAMES: &[&str] = &[
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.JsonMerge",
    "States.MathRandom",
    "States.MathAdd",
    "States.StringSplit",
    "States.UUID",
];

pub fn is_call(s: &str) -> bool {
    s.starts_with("States.")
}

pub fn parse(text: &str) -> Result<Call, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
        depth: 0,
    };
    let call = p.call()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!(
            "The value for the field '{text}' must be a valid intrinsic function"
        ));
    }
    Ok(call)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self) -> String {
        format!(
            "The value for the field must be a valid intrinsic function: '{}' (at character {})",
            self.text, self.i
        )
    }
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn call(&mut self) -> Result<Call, String> {
        self.depth += 1;
        if self.depth > 32 {
            return Err(format!(
                "Intrinsic functions are nested too deeply in '{}'",
                self.text
            ));
        }
        let r = self.call_inner();
        self.depth -= 1;
        r
    }

    fn call_inner(&mut self) -> Result<Call, String> {
        self.ws();
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.')
        {
            self.i += 1;
        }
        let name = &self.text[start..self.i];
        if !NAMES.contains(&name) {
            return Err(format!(
                "Unsupported intrinsic function '{name}' in '{}'",
                self.text
            ));
        }
        if self.s.get(self.i) != Some(&b'(') {
            return Err(self.err());
        }
        self.i += 1;
        let mut args = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b')') {
            self.i += 1;
            return Ok(Call {
                name: name.into(),
                args,
            });
        }
        loop {
            args.push(self.arg()?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b')') => {
                    self.i += 1;
                    return Ok(Call {
                        name: name.into(),
                        args,
                    });
                }
                _ => return Err(self.err()),
            }
        }
    }
    fn arg(&mut self) -> Result<Arg, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'\'') => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    match self.s.get(self.i) {
                        None => return Err(self.err()),
                        Some(b'\\') => {
                            let c = self.text[self.i + 1..]
                                .chars()
                                .next()
                                .ok_or_else(|| self.err())?;
                            // Braces stay escaped: they are literal in States.Format's template.
                            if c == '{' || c == '}' {
                                out.push('\\');
                            }
                            out.push(c);
                            self.i += 1 + c.len_utf8();
                        }
                        Some(b'\'') => {
                            self.i += 1;
                            break;
                        }
                        Some(_) => {
                            let c = self.text[self.i..]
                                .chars()
                                .next()
                                .ok_or_else(|| self.err())?;
                            out.push(c);
                            self.i += c.len_utf8();
                        }
                    }
                }
                Ok(Arg::Literal(Value::String(out)))
            }
            Some(b'$') => {
                let start = self.i;
                let mut depth = 0;
                while let Some(&c) = self.s.get(self.i) {
                    match c {
                        b'[' => depth += 1,
                        b']' => depth -= 1,
                        b',' | b')' if depth == 0 => break,
                        _ => {}
                    }
                    self.i += 1;
                }
                Path::parse(self.text[start..self.i].trim()).map(Arg::Path)
            }
            Some(b'S') => self.call().map(Arg::Call),
            Some(_) => {
                let start = self.i;
                while self.s.get(self.i).is_some_and(|c| *c != b',' && *c != b')') {
                    self.i += 1;
                }
                let lit = self.text[start..self.i].trim();
                serde_json::from_str::<Value>(lit)
                    .ok()
                    .filter(|v| v.is_number() || v.is_boolean() || v.is_null())
                    .map(Arg::Literal)
                    .ok_or_else(|| self.err())
            }
            None => Err(self.err()),
        }
    }
}

/// Evaluate `call`: `input` for `$` paths, `context` for `$$` paths. Errors
/// are `States.IntrinsicFailure` messages.
pub fn eval(call: &Call, input: &Value, context: &Value) -> Result<Value, String> {
    eval_with(call, &|p: &Path| {
        p.select(if p.context { context } else { input })
    })
}

/// Evaluate `call`, resolving its paths (input, context, variables) with `pick`.
pub fn eval_with(call: &Call, pick: &dyn Fn(&Path) -> Option<Value>) -> Result<Value, String> {
    let mut args = Vec::with_capacity(call.args.len());
    for (i, a) in call.args.iter().enumerate() {
        args.push(match a {
            Arg::Literal(Value::String(s)) if !(i == 0 && call.name == "States.Format") => {
                Value::String(s.replace("\\{", "{").replace("\\}", "}"))
            }
            Arg::Literal(v) => v.clone(),
            Arg::Path(p) => pick(p)
                .ok_or_else(|| format!("Invalid path '{}': no value at that path", p.text))?,
            Arg::Call(c) => eval_with(c, pick)?,
        });
    }
    apply(&Args {
        name: call.name.as_str(),
        args,
    })
}

/// A call's name and evaluated arguments, with the checks every function uses.
struct Args<'a> {
    name: &'a str,
    args: Vec<Value>,
}

impl Args<'_> {
    fn want(&self, n: usize) -> Result<(), String> {
        if self.args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{} takes {n} argument(s), {} given",
                self.name,
                self.args.len()
            ))
        }
    }

    fn string(&self, v: &Value) -> Result<String, String> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{}: expected a string, got {v}", self.name))
    }

    /// An integer argument; a number with a fraction is rounded to the
    /// nearest integer (halves up), as Step Functions does.
    fn int(&self, v: &Value) -> Result<i64, String> {
        v.as_i64()
            .or_else(|| {
                v.as_f64()
                    .map(|f| (f + 0.5).floor())
                    .filter(|f| f.is_finite() && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| format!("{}: expected an integer, got {v}", self.name))
    }

    fn array(&self, v: &Value) -> Result<Vec<Value>, String> {
        v.as_array()
            .cloned()
            .ok_or_else(|| format!("{}: expected an array, got {v}", self.name))
    }
}

/// Run one intrinsic function on its evaluated arguments.
fn apply(x: &Args) -> Result<Value, String> {
    let name = x.name;
    if name.starts_with("States.Array") {
        return apply_array(x);
    }
    Ok(match name {
        "States.Format" => {
            if x.args.is_empty() {
                return Err("States.Format needs a template".into());
            }
            let template = x.string(&x.args[0])?;
            let mut out = String::new();
            let mut rest = x.args[1..].iter();
            let mut chars = template.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '\\' && matches!(chars.peek(), Some('{' | '}')) {
                    out.extend(chars.next());
                } else if c == '{' && chars.peek() == Some(&'}') {
                    chars.next();
                    let v = rest.next().ok_or("States.Format: more {} than arguments")?;
                    match v {
                        Value::String(s) => out.push_str(s),
                        Value::Object(_) | Value::Array(_) => {
                            return Err("States.Format: arguments must be strings, numbers, booleans or null".into());
                        }
                        other => out.push_str(&other.to_string()),
                    }
                } else {
                    out.push(c);
                }
            }
            if rest.next().is_some() {
                return Err("States.Format: more arguments than {}".into());
            }
            Value::String(out)
        }
        "States.StringToJson" => {
            x.want(1)?;
            serde_json::from_str(&x.string(&x.args[0])?)
                .map_err(|e| format!("States.StringToJson: not JSON: {e}"))?
        }
        "States.JsonToString" => {
            x.want(1)?;
            Value::String(x.args[0].to_string())
        }
        "States.Base64Encode" => {
            x.want(1)?;
            Value::String(base64::engine::general_purpose::STANDARD.encode(x.string(&x.args[0])?))
        }
        "States.Base64Decode" => {
            x.want(1)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(x.string(&x.args[0])?)
                .map_err(|e| format!("States.Base64Decode: {e}"))?;
            Value::String(
                String::from_utf8(bytes).map_err(|_| "States.Base64Decode: not UTF-8 text")?,
            )
        }
        "States.Hash" => {
            x.want(2)?;
            let data = match &x.args[0] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let alg = x.string(&x.args[1])?;
            use sha2::Digest;
            let d = data.as_bytes();
            Value::String(match alg.as_str() {
                "MD5" => hex::encode(md5::Md5::digest(d)),
                "SHA-1" => hex::encode(sha1::Sha1::digest(d)),
                "SHA-256" => hex::encode(sha2::Sha256::digest(d)),
                "SHA-384" => hex::encode(sha2::Sha384::digest(d)),
                "SHA-512" => hex::encode(sha2::Sha512::digest(d)),
                _ => {
                    return Err(format!(
                        "States.Hash: unknown algorithm '{alg}' (MD5, SHA-1, SHA-256, SHA-384, SHA-512)"
                    ));
                }
            })
        }
        "States.JsonMerge" => {
            x.want(3)?;
            if x.args[2] != Value::Bool(false) {
                return Err("States.JsonMerge: only shallow merges (false) are supported, as on Step Functions".into());
            }
            let (Value::Object(a), Value::Object(b)) = (&x.args[0], &x.args[1]) else {
                return Err("States.JsonMerge: both arguments must be objects".into());
            };
            let mut out: Map<String, Value> = a.clone();
            out.extend(b.clone());
            Value::Object(out)
        }
        "States.MathRandom" => {
            if x.args.len() != 2 && x.args.len() != 3 {
                return Err("States.MathRandom takes 2 or 3 arguments".into());
            }
            let (lo, hi) = (x.int(&x.args[0])?, x.int(&x.args[1])?);
            if hi <= lo {
                return Err("States.MathRandom: end must be greater than start".into());
            }
            let mut b = [0u8; 8];
            getrandom::fill(&mut b).map_err(|e| e.to_string())?;
            let span = hi
                .checked_sub(lo)
                .ok_or("States.MathRandom: the range is too large")? as u64;
            json!(lo + (u64::from_le_bytes(b) % span) as i64)
        }
        "States.MathAdd" => {
            x.want(2)?;
            json!(
                x.int(&x.args[0])?
                    .checked_add(x.int(&x.args[1])?)
                    .ok_or("States.MathAdd: the sum is out of range")?
            )
        }
        "States.StringSplit" => {
            x.want(2)?;
            let s = x.string(&x.args[0])?;
            let d = x.string(&x.args[1])?;
            let parts: Vec<Value> = if d.is_empty() {
                vec![Value::String(s)]
            } else {
                s.split(|c| d.contains(c))
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.into()))
                    .collect()
            };
            Value::Array(parts)
        }
        "States.UUID" => {
            x.want(0)?;
            Value::String(uuid::Uuid::new_v4().to_string())
        }

        _ => return Err(format!("Unsupported intrinsic function '{name}'")),
    })
}

/// The `States.Array*` functions.
fn apply_array(x: &Args) -> Result<Value, String> {
    let name = x.name;
    Ok(match name {
        "States.Array" => Value::Array(x.args.clone()),
        "States.ArrayPartition" => {
            x.want(2)?;
            let a = x.array(&x.args[0])?;
            let n = x.int(&x.args[1])?;
            if n <= 0 {
                return Err("States.ArrayPartition: chunk size must be positive".into());
            }
            Value::Array(
                a.chunks(n as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            )
        }
        "States.ArrayContains" => {
            x.want(2)?;
            Value::Bool(x.array(&x.args[0])?.contains(&x.args[1]))
        }
        "States.ArrayRange" => {
            x.want(3)?;
            let (start, end, step) = (x.int(&x.args[0])?, x.int(&x.args[1])?, x.int(&x.args[2])?);
            if step == 0 {
                return Err("States.ArrayRange: step must not be 0".into());
            }
            let mut out = Vec::new();
            let mut i = start;
            while (step > 0 && i <= end) || (step < 0 && i >= end) {
                out.push(json!(i));
                if out.len() > 1000 {
                    return Err("States.ArrayRange: more than 1000 items".into());
                }
                let Some(next) = i.checked_add(step) else {
                    break;
                };
                i = next;
            }
            Value::Array(out)
        }
        "States.ArrayGetItem" => {
            x.want(2)?;
            let a = x.array(&x.args[0])?;
            let i = x.int(&x.args[1])?;
            usize::try_from(i)
                .ok()
                .and_then(|i| a.get(i).cloned())
                .ok_or_else(|| format!("States.ArrayGetItem: index {i} out of bounds"))?
        }
        "States.ArrayLength" => {
            x.want(1)?;
            json!(x.array(&x.args[0])?.len())
        }
        "States.ArrayUnique" => {
            x.want(1)?;
            let mut out: Vec<Value> = Vec::new();
            for v in x.array(&x.args[0])? {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Value::Array(out)
        }
        _ => return Err(format!("Unsupported intrinsic function '{name}'")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str, input: Value) -> Result<Value, String> {
        eval(&parse(s)?, &input, &json!({"Execution": {"Name": "x"}}))
    }

    #[test]
    fn each_function() {
        let i = json!({"a": "A", "n": 3, "list": [1, 2, 2, 3], "o": {"k": 1}});
        assert_eq!(
            run("States.Format('{} is {}', $.a, $.n)", i.clone()).unwrap(),
            json!("A is 3")
        );
        assert_eq!(
            run(r"States.Format('\{\} {}', $$.Execution.Name)", i.clone()).unwrap(),
            json!("{} x")
        );
        assert_eq!(
            run("States.StringToJson('{\"x\": 1}')", i.clone()).unwrap(),
            json!({"x": 1})
        );
        assert_eq!(
            run("States.JsonToString($.o)", i.clone()).unwrap(),
            json!("{\"k\":1}")
        );
        assert_eq!(
            run("States.Array(1, 'b', $.n, null)", i.clone()).unwrap(),
            json!([1, "b", 3, null])
        );
        assert_eq!(
            run("States.ArrayPartition($.list, 3)", i.clone()).unwrap(),
            json!([[1, 2, 2], [3]])
        );
        assert_eq!(
            run("States.ArrayContains($.list, 3)", i.clone()).unwrap(),
            json!(true)
        );
        assert_eq!(
            run("States.ArrayRange(1.4, 9.4, 3)", i.clone()).unwrap(),
            json!([1, 4, 7])
        );
        assert_eq!(
            run("States.ArrayGetItem($.list, 3)", i.clone()).unwrap(),
            json!(3)
        );
        assert_eq!(
            run("States.ArrayLength($.list)", i.clone()).unwrap(),
            json!(4)
        );
        assert_eq!(
            run("States.ArrayUnique($.list)", i.clone()).unwrap(),
            json!([1, 2, 3])
        );
        assert_eq!(
            run("States.Base64Encode('hi')", i.clone()).unwrap(),
            json!("aGk=")
        );
        assert_eq!(
            run("States.Base64Decode(States.Base64Encode('hi'))", i.clone()).unwrap(),
            json!("hi")
        );
        assert_eq!(
            run("States.Hash('input data', 'SHA-1')", i.clone()).unwrap(),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(
            run(
                "States.JsonMerge($.o, States.StringToJson('{\"z\":2}'), false)",
                i.clone()
            )
            .unwrap(),
            json!({"k": 1, "z": 2})
        );
        let r = run("States.MathRandom(1, 5)", i.clone())
            .unwrap()
            .as_i64()
            .unwrap();
        assert!((1..5).contains(&r));
        assert_eq!(
            run("States.MathAdd($.n, -4)", i.clone()).unwrap(),
            json!(-1)
        );
        // Numbers with fractions are rounded, halves up.
        assert_eq!(
            run("States.MathAdd(1.5, 2.4)", i.clone()).unwrap(),
            json!(4)
        );
        assert_eq!(
            run("States.MathAdd(-2.5, 0)", i.clone()).unwrap(),
            json!(-2)
        );
        assert_eq!(
            run("States.StringSplit('a,b;c', ',;')", i.clone()).unwrap(),
            json!(["a", "b", "c"])
        );
        assert_eq!(
            run("States.UUID()", i.clone())
                .unwrap()
                .as_str()
                .unwrap()
                .len(),
            36
        );
    }

    #[test]
    fn bad_calls_are_refused() {
        assert!(parse("States.Nope(1)").is_err());
        assert!(parse("States.Format('x'").is_err());
        assert!(parse("States.Array(1) extra").is_err());
        assert!(run("States.Format('{}')", json!({})).is_err());
        assert!(run("States.ArrayGetItem($.x, 0)", json!({})).is_err());
    }
}
