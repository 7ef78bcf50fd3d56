//! CBOR (RFC 8949) as the Smithy RPC v2 CBOR protocol uses it, read into
//! and written from JSON values so that a service serves it and awsJson
//! from one set of handlers. Reading: integers, floats (half, single,
//! double), text, byte strings (as base64 text), arrays, maps with text
//! keys, booleans, null, and tag 1 (epoch-seconds timestamps, read as
//! numbers); indefinite lengths too. Writing: the same, with the members
//! the caller names written as tag-1 timestamps.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

/// Deepest nesting read (a hostile document cannot exhaust the stack).
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CborError(pub String);

impl std::fmt::Display for CborError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, CborError>;

fn err<T>(m: impl Into<String>) -> Result<T> {
    Err(CborError(m.into()))
}

/// Read one CBOR item (the whole input) as a JSON value.
pub fn decode(bytes: &[u8]) -> Result<Value> {
    let mut r = Reader { bytes, at: 0 };
    let v = r.item(0)?;
    if r.at != bytes.len() {
        return err(format!("{} bytes after the CBOR item", bytes.len() - r.at));
    }
    Ok(v)
}

struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

/// What one head says: major type, its argument, or an indefinite length.
enum Head {
    Definite(u8, u64),
    Indefinite(u8),
    /// Major type 7: a simple value or float, with its additional info.
    Simple(u8, u64),
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| CborError("the CBOR item ends early".into()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn head(&mut self) -> Result<Head> {
        let b = self.take(1)?[0];
        let (major, info) = (b >> 5, b & 0x1f);
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(
                self.take(2)?.try_into().expect("2 bytes"),
            )),
            26 => u64::from(u32::from_be_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            )),
            27 => u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")),
            31 if matches!(major, 2..=5) => return Ok(Head::Indefinite(major)),
            31 if major == 7 => return Ok(Head::Simple(7, 31)),
            _ => {
                return err(format!(
                    "a CBOR head with additional info {info} is not valid"
                ));
            }
        };
        if major == 7 {
            return Ok(Head::Simple(info, arg));
        }
        Ok(Head::Definite(major, arg))
    }

    fn len(n: u64) -> Result<usize> {
        usize::try_from(n).map_err(|_| CborError("a CBOR length too large".into()))
    }

    fn item(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return err("CBOR nested too deeply");
        }
        match self.head()? {
            Head::Definite(0, n) => Ok(Value::Number(n.into())),
            Head::Definite(1, n) => {
                let v = -1i128 - i128::from(n);
                Ok(match i64::try_from(v) {
                    Ok(i) => Value::Number(i.into()),
                    Err(_) => float(v as f64),
                })
            }
            Head::Definite(2, n) => {
                let b = self.take(Self::len(n)?)?;
                Ok(Value::String(
                    base64::engine::general_purpose::STANDARD.encode(b),
                ))
            }
            Head::Definite(3, n) => {
                let b = self.take(Self::len(n)?)?;
                std::str::from_utf8(b)
                    .map(|s| Value::String(s.to_string()))
                    .map_err(|_| CborError("CBOR text that is not UTF-8".into()))
            }
            Head::Definite(4, n) => {
                let n = Self::len(n)?;
                // Each item is at least one byte: a length beyond the input is a lie.
                if n > self.bytes.len() - self.at {
                    return err("a CBOR array longer than its input");
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.item(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            Head::Definite(5, n) => {
                let n = Self::len(n)?;
                if n > (self.bytes.len() - self.at) / 2 {
                    return err("a CBOR map longer than its input");
                }
                let mut m = Map::new();
                for _ in 0..n {
                    let (k, v) = self.entry(depth)?;
                    m.insert(k, v);
                }
                Ok(Value::Object(m))
            }
            Head::Definite(6, tag) => {
                let v = self.item(depth + 1)?;
                match (tag, &v) {
                    (1, Value::Number(_)) => Ok(v),
                    (1, _) => err("a CBOR timestamp (tag 1) that is not a number"),
                    _ => Ok(v),
                }
            }
            Head::Indefinite(major) => self.indefinite(major, depth),
            Head::Simple(info, arg) => match (info, arg) {
                (20, _) => Ok(Value::Bool(false)),
                (21, _) => Ok(Value::Bool(true)),
                (22 | 23, _) => Ok(Value::Null),
                (25, bits) => Ok(float(half(u16::try_from(bits).unwrap_or(0)))),
                (26, bits) => Ok(float(f64::from(f32::from_bits(
                    u32::try_from(bits).unwrap_or(0),
                )))),
                (27, bits) => Ok(float(f64::from_bits(bits))),
                _ => err(format!("the CBOR simple value {arg} is not supported")),
            },
            Head::Definite(major, _) => err(format!("CBOR major type {major} is not valid")),
        }
    }

    fn entry(&mut self, depth: usize) -> Result<(String, Value)> {
        let Value::String(k) = self.item(depth + 1)? else {
            return err("a CBOR map key that is not text");
        };
        Ok((k, self.item(depth + 1)?))
    }

    fn at_break(&mut self) -> Result<bool> {
        if self.bytes.get(self.at) == Some(&0xff) {
            self.at += 1;
            return Ok(true);
        }
        if self.at >= self.bytes.len() {
            return err("an indefinite CBOR item without its end");
        }
        Ok(false)
    }

    fn indefinite(&mut self, major: u8, depth: usize) -> Result<Value> {
        match major {
            2 | 3 => {
                let mut joined: Vec<u8> = Vec::new();
                while !self.at_break()? {
                    match self.head()? {
                        Head::Definite(m, n) if m == major => {
                            joined.extend_from_slice(self.take(Self::len(n)?)?);
                        }
                        _ => return err("a CBOR string chunk of another type"),
                    }
                }
                if major == 2 {
                    Ok(Value::String(
                        base64::engine::general_purpose::STANDARD.encode(&joined),
                    ))
                } else {
                    String::from_utf8(joined)
                        .map(Value::String)
                        .map_err(|_| CborError("CBOR text that is not UTF-8".into()))
                }
            }
            4 => {
                let mut items = Vec::new();
                while !self.at_break()? {
                    items.push(self.item(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            _ => {
                let mut m = Map::new();
                while !self.at_break()? {
                    let (k, v) = self.entry(depth)?;
                    m.insert(k, v);
                }
                Ok(Value::Object(m))
            }
        }
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// An IEEE half-precision float.
fn half(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Write `v` as CBOR; members named in `timestamps` (numbers, epoch
/// seconds) as tag-1 timestamps, in lists too.
pub fn encode(v: &Value, timestamps: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, v, timestamps, false);
    out
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | u8::try_from(n).expect("under 24"));
    } else if let Ok(b) = u8::try_from(n) {
        out.extend_from_slice(&[m | 24, b]);
    } else if let Ok(s) = u16::try_from(n) {
        out.push(m | 25);
        out.extend_from_slice(&s.to_be_bytes());
    } else if let Ok(w) = u32::try_from(n) {
        out.push(m | 26);
        out.extend_from_slice(&w.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn write(out: &mut Vec<u8>, v: &Value, timestamps: &[&str], stamp: bool) {
    match v {
        Value::Null => out.push(0xf6),
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Number(n) => {
            if stamp {
                out.push(0xc1); // tag 1: whole seconds as an integer, else a double
            }
            if let Some(u) = n.as_u64() {
                head(out, 0, u);
            } else if let Some(i) = n.as_i64() {
                head(out, 1, u64::try_from(-1 - i).unwrap_or(0));
            } else {
                out.push(0xfb);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_bits().to_be_bytes());
            }
        }
        Value::String(s) => {
            head(out, 3, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            head(out, 4, items.len() as u64);
            for x in items {
                write(out, x, timestamps, stamp);
            }
        }
        Value::Object(m) => {
            head(out, 5, m.len() as u64);
            for (k, x) in m {
                head(out, 3, k.len() as u64);
                out.extend_from_slice(k.as_bytes());
                write(out, x, timestamps, timestamps.contains(&k.as_str()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_go_round() {
        let v = json!({"Namespace": "App", "MetricData": [{"MetricName": "Latency", "Value": 12.5,
            "Count": 3, "Neg": -7, "Big": 1u64 << 40, "Ok": true, "None": null, "Text": "é"}]});
        assert_eq!(decode(&encode(&v, &[])).unwrap(), v);
    }

    #[test]
    fn timestamps_are_tagged_and_read_as_numbers() {
        let v = json!({"Timestamps": [1700000000.5], "Timestamp": 1700000001u64, "Other": 2});
        let bytes = encode(&v, &["Timestamps", "Timestamp"]);
        assert_eq!(bytes.iter().filter(|b| **b == 0xc1).count(), 2);
        assert_eq!(decode(&bytes).unwrap(), v);
    }

    #[test]
    fn what_other_encoders_write_is_read() {
        // {"a": [1, 2.5 (half), "x"], "b": h'0102'} with an indefinite array and half float.
        let bytes = [
            0xa2, 0x61, b'a', 0x9f, 0x01, 0xf9, 0x41, 0x00, 0x61, b'x', 0xff, 0x61, b'b', 0x42,
            0x01, 0x02,
        ];
        assert_eq!(
            decode(&bytes).unwrap(),
            json!({"a": [1, 2.5, "x"], "b": "AQI="})
        );
        // Tag 1 with an integer, a float32, and a negative number.
        let bytes = [
            0x83, 0xc1, 0x1a, 0x65, 0x53, 0xf1, 0x00, 0xfa, 0x3f, 0xc0, 0x00, 0x00, 0x38, 0x63,
        ];
        assert_eq!(decode(&bytes).unwrap(), json!([1700000000u64, 1.5, -100]));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            &[][..],
            &[0x61],
            &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0xbf, 0x01, 0x02, 0xff],
            &[0x9f, 0x01],
            &[0x1c],
            &[0x01, 0x02],
            &[0x62, 0xff, 0xfe],
        ] {
            assert!(decode(bad).is_err(), "{bad:02x?}");
        }
        let deep = vec![0x81; 1000];
        assert!(decode(&deep).is_err());
    }
}
