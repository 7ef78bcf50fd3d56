//! DynamoDB's data types: attribute values, its 38-digit decimal numbers, their
//! JSON wire form (`{"S": "x"}`, `{"N": "1.5"}`, ...), ordering and item sizes.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

/// An item: attribute names to values.
pub type Item = BTreeMap<String, AttributeValue>;

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// A DynamoDB number: `mantissa * 10^exponent`, at most 38 significant digits,
/// normalized (no trailing zeros in the mantissa; zero is `0 * 10^0`), so equal
/// numbers have equal representations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Number {
    mantissa: i128,
    exponent: i32,
}

const MAX_DIGITS: u32 = 38;

fn digits(mut m: u128) -> u32 {
    let mut n = 1;
    while m >= 10 {
        m /= 10;
        n += 1;
    }
    n
}

/// Why a number is not one DynamoDB stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberError {
    Syntax,
    /// More than 38 significant digits.
    Precision,
    /// Magnitude above 9.99..E+125.
    Overflow,
    /// Magnitude below 1E-130.
    Underflow,
}

impl NumberError {
    /// DynamoDB's message for the error.
    pub fn message(&self) -> &'static str {
        match self {
            NumberError::Syntax => "A value provided cannot be converted into a number",
            NumberError::Precision => {
                "Attempting to store more than 38 significant digits in a Number"
            }
            NumberError::Overflow => {
                "Number overflow. Attempting to store a number with magnitude larger than supported range"
            }
            NumberError::Underflow => {
                "Number underflow. Attempting to store a number with magnitude smaller than supported range"
            }
        }
    }
}

impl Number {
    pub const ZERO: Number = Number {
        mantissa: 0,
        exponent: 0,
    };

    fn new(mantissa: i128, exponent: i64) -> Result<Number, NumberError> {
        let (mut m, mut e) = (mantissa, exponent);
        if m == 0 {
            return Ok(Number::ZERO);
        }
        while m % 10 == 0 {
            m /= 10;
            e += 1;
        }
        let d = digits(m.unsigned_abs());
        if d > MAX_DIGITS {
            return Err(NumberError::Precision);
        }
        // The magnitude's decimal exponent (position of the leading digit).
        let lead = e + i64::from(d) - 1;
        if lead > 125 {
            return Err(NumberError::Overflow);
        }
        if lead < -130 {
            return Err(NumberError::Underflow);
        }
        Ok(Number {
            mantissa: m,
            exponent: e as i32,
        })
    }

    /// Parse DynamoDB's number syntax: `-12`, `1.50`, `.5`, `1e3`, `+7`.
    pub fn parse(s: &str) -> Result<Number, NumberError> {
        let t = s.trim();
        let (neg, rest) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (num, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int, frac) = match num.split_once('.') {
            Some((a, b)) => (a, b),
            None => (num, ""),
        };
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(NumberError::Syntax);
        }
        let mut e: i64 = match exp {
            Some(x) => {
                let (sign, digits) = match x.as_bytes().first() {
                    Some(b'-') => (-1, &x[1..]),
                    Some(b'+') => (1, &x[1..]),
                    _ => (1, x),
                };
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(NumberError::Syntax);
                }
                // Absurd exponents are out of range whatever the digits.
                let v: i64 = digits.parse().unwrap_or(i64::MAX);
                if v > 100_000 {
                    return Err(if sign > 0 {
                        NumberError::Overflow
                    } else {
                        NumberError::Underflow
                    });
                }
                sign * v
            }
            None => 0,
        };
        e -= frac.len() as i64;
        let all = format!("{int}{frac}");
        let sig = all.trim_start_matches('0');
        // Trailing zeros are exponent, not precision.
        let trimmed = sig.trim_end_matches('0');
        e += (sig.len() - trimmed.len()) as i64;
        if trimmed.is_empty() {
            return Ok(Number::ZERO);
        }
        if trimmed.len() > MAX_DIGITS as usize {
            return Err(NumberError::Precision);
        }
        let m: i128 = trimmed.parse().map_err(|_| NumberError::Syntax)?;
        Number::new(if neg { -m } else { m }, e)
    }

    pub fn from_i64(v: i64) -> Number {
        Number::new(i128::from(v), 0).expect("an i64 fits")
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// The value as an `i64` when it is a whole number in range.
    pub fn to_i64(&self) -> Option<i64> {
        if self.exponent < 0 {
            return None;
        }
        let scale = 10i128.checked_pow(self.exponent as u32)?;
        i64::try_from(self.mantissa.checked_mul(scale)?).ok()
    }

    /// An approximation, for sizes and TTL seconds.
    pub fn to_f64(&self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.exponent)
    }

    pub fn neg(&self) -> Number {
        Number {
            mantissa: -self.mantissa,
            exponent: self.exponent,
        }
    }

    /// Exact sum; an error when it needs more than 38 digits or leaves the range.
    pub fn add(&self, other: &Number) -> Result<Number, NumberError> {
        if self.is_zero() {
            return Ok(*other);
        }
        if other.is_zero() {
            return Ok(*self);
        }
        let e = self.exponent.min(other.exponent);
        // Magnitudes at the common exponent, in u128: the term with the smaller
        // exponent is below 10^38, so when the other overflows u128 the sum
        // needs more than 38 digits anyway.
        let scale = |n: &Number| -> Result<u128, NumberError> {
            let shift = (n.exponent - e) as u32;
            10u128
                .checked_pow(shift)
                .and_then(|p| n.mantissa.unsigned_abs().checked_mul(p))
                .ok_or(NumberError::Precision)
        };
        let (a, b) = (scale(self)?, scale(other)?);
        let (magnitude, negative) = if self.is_negative() == other.is_negative() {
            (
                a.checked_add(b).ok_or(NumberError::Precision)?,
                self.is_negative(),
            )
        } else if a >= b {
            (a - b, self.is_negative())
        } else {
            (b - a, other.is_negative())
        };
        let m = i128::try_from(magnitude).map_err(|_| NumberError::Precision)?;
        Number::new(if negative { -m } else { m }, i64::from(e))
    }

    pub fn sub(&self, other: &Number) -> Result<Number, NumberError> {
        self.add(&other.neg())
    }

    /// Significant digits, for DynamoDB's size accounting.
    fn significant_digits(&self) -> usize {
        if self.is_zero() {
            1
        } else {
            digits(self.mantissa.unsigned_abs()) as usize
        }
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Number) -> Ordering {
        let sign = |n: &Number| n.mantissa.signum();
        match sign(self).cmp(&sign(other)) {
            Ordering::Equal => {}
            o => return o,
        }
        if self.mantissa == 0 {
            return Ordering::Equal;
        }
        // Same sign: compare magnitudes by leading-digit position, then digits.
        let lead =
            |n: &Number| i64::from(n.exponent) + i64::from(digits(n.mantissa.unsigned_abs()));
        let magnitude = lead(self).cmp(&lead(other)).then_with(|| {
            let pad = |n: &Number| {
                let d = digits(n.mantissa.unsigned_abs());
                n.mantissa.unsigned_abs() * 10u128.pow(MAX_DIGITS - d)
            };
            pad(self).cmp(&pad(other))
        });
        if self.mantissa < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Number {
    /// Plain decimal notation, as DynamoDB returns numbers: `100`, `0.001`, `-1.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.mantissa < 0;
        let m = self.mantissa.unsigned_abs().to_string();
        let s = if self.exponent >= 0 {
            format!("{m}{}", "0".repeat(self.exponent as usize))
        } else {
            let point = m.len() as i64 + i64::from(self.exponent);
            if point > 0 {
                format!("{}.{}", &m[..point as usize], &m[point as usize..])
            } else {
                format!("0.{}{m}", "0".repeat((-point) as usize))
            }
        };
        if neg {
            write!(f, "-{s}")
        } else {
            f.write_str(&s)
        }
    }
}

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(BTreeMap<String, AttributeValue>),
    L(Vec<AttributeValue>),
    /// Sets keep their elements in the order given, without duplicates.
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

/// A malformed attribute value (a `ValidationException` message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError(pub String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn verr(m: impl Into<String>) -> ValueError {
    ValueError(m.into())
}

fn b64(v: &Value) -> Result<Vec<u8>, ValueError> {
    let s = v
        .as_str()
        .ok_or_else(|| verr("Invalid binary value: a base64 string is expected"))?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| verr(format!("Invalid binary value: '{s}' is not valid base64")))
}

fn number(v: &Value) -> Result<Number, ValueError> {
    let s = v
        .as_str()
        .ok_or_else(|| verr("NUMBER_VALUE cannot be converted to String"))?;
    Number::parse(s).map_err(|e| verr(e.message()))
}

fn string(v: &Value) -> Result<String, ValueError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| verr("STRING_VALUE cannot be converted to String"))
}

fn no_duplicates<T: PartialEq + fmt::Debug>(
    v: &[T],
    show: impl Fn(&T) -> String,
) -> Result<(), ValueError> {
    for (i, a) in v.iter().enumerate() {
        if v[..i].contains(a) {
            let all: Vec<String> = v.iter().map(&show).collect();
            return Err(verr(format!(
                "One or more parameter values were invalid: Input collection [{}] contains duplicates.",
                all.join(", ")
            )));
        }
    }
    Ok(())
}

impl AttributeValue {
    /// Read DynamoDB's JSON form, checking it as DynamoDB does.
    pub fn from_json(v: &Value) -> Result<AttributeValue, ValueError> {
        let obj = v
            .as_object()
            .ok_or_else(|| verr("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"))?;
        let set: Vec<(&String, &Value)> = obj.iter().filter(|(_, v)| !v.is_null()).collect();
        let (ty, inner) = match set.as_slice() {
            [one] => *one,
            [] => {
                return Err(verr(
                    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
                ));
            }
            _ => {
                return Err(verr(
                    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                ));
            }
        };
        let list = |what: &str| {
            inner
                .as_array()
                .ok_or_else(|| verr(format!("Invalid {what}: a list is expected")))
        };
        let empty_set = |what: &str| {
            verr(format!(
                "One or more parameter values were invalid: An {what} set  may not be empty"
            ))
        };
        Ok(match ty.as_str() {
            "S" => AttributeValue::S(string(inner)?),
            "N" => AttributeValue::N(number(inner)?),
            "B" => AttributeValue::B(b64(inner)?),
            "BOOL" => AttributeValue::Bool(
                inner
                    .as_bool()
                    .ok_or_else(|| verr("BOOL_VALUE cannot be converted to Boolean"))?,
            ),
            "NULL" => match inner.as_bool() {
                Some(true) => AttributeValue::Null,
                _ => {
                    return Err(verr(
                        "One or more parameter values were invalid: Null attribute value types must have the value of true",
                    ));
                }
            },
            "M" => {
                let m = inner
                    .as_object()
                    .ok_or_else(|| verr("Invalid M: a map is expected"))?;
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    out.insert(k.clone(), AttributeValue::from_json(v)?);
                }
                AttributeValue::M(out)
            }
            "L" => AttributeValue::L(
                list("L")?
                    .iter()
                    .map(AttributeValue::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            "SS" => {
                let v: Vec<String> = list("SS")?.iter().map(string).collect::<Result<_, _>>()?;
                if v.is_empty() {
                    return Err(empty_set("string"));
                }
                no_duplicates(&v, |s| s.clone())?;
                AttributeValue::Ss(v)
            }
            "NS" => {
                let v: Vec<Number> = list("NS")?.iter().map(number).collect::<Result<_, _>>()?;
                if v.is_empty() {
                    return Err(empty_set("number"));
                }
                no_duplicates(&v, |n| n.to_string())?;
                AttributeValue::Ns(v)
            }
            "BS" => {
                let v: Vec<Vec<u8>> = list("BS")?.iter().map(b64).collect::<Result<_, _>>()?;
                if v.is_empty() {
                    return Err(empty_set("binary"));
                }
                no_duplicates(&v, |b| base64::engine::general_purpose::STANDARD.encode(b))?;
                AttributeValue::Bs(v)
            }
            other => {
                return Err(verr(format!(
                    "Supplied AttributeValue has an unknown datatype {other}, must contain exactly one of the supported datatypes"
                )));
            }
        })
    }

    /// DynamoDB's JSON form.
    pub fn to_json(&self) -> Value {
        let b64 = |b: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(b));
        match self {
            AttributeValue::S(s) => json!({ "S": s }),
            AttributeValue::N(n) => json!({ "N": n.to_string() }),
            AttributeValue::B(b) => json!({ "B": b64(b) }),
            AttributeValue::Bool(b) => json!({ "BOOL": b }),
            AttributeValue::Null => json!({ "NULL": true }),
            AttributeValue::M(m) => {
                let inner: Map<String, Value> =
                    m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
                json!({ "M": inner })
            }
            AttributeValue::L(l) => {
                json!({ "L": l.iter().map(AttributeValue::to_json).collect::<Vec<_>>() })
            }
            AttributeValue::Ss(v) => json!({ "SS": v }),
            AttributeValue::Ns(v) => {
                json!({ "NS": v.iter().map(|n| n.to_string()).collect::<Vec<_>>() })
            }
            AttributeValue::Bs(v) => json!({ "BS": v.iter().map(|b| b64(b)).collect::<Vec<_>>() }),
        }
    }

    /// The type's name as `attribute_type` and error messages spell it.
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Bool(_) => "BOOL",
            AttributeValue::Null => "NULL",
            AttributeValue::M(_) => "M",
            AttributeValue::L(_) => "L",
            AttributeValue::Ss(_) => "SS",
            AttributeValue::Ns(_) => "NS",
            AttributeValue::Bs(_) => "BS",
        }
    }

    /// DynamoDB's size of the value in bytes (its documented accounting).
    pub fn size(&self) -> usize {
        match self {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.significant_digits().div_ceil(2) + 1,
            AttributeValue::B(b) => b.len(),
            AttributeValue::Bool(_) | AttributeValue::Null => 1,
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>()
            }
            AttributeValue::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
            AttributeValue::Ns(v) => v
                .iter()
                .map(|n| n.significant_digits().div_ceil(2) + 1)
                .sum(),
            AttributeValue::Bs(v) => v.iter().map(Vec::len).sum(),
        }
    }

    /// The order of key values (S and B by bytes, N numerically); `None` across
    /// types or for types that are not key types.
    pub fn key_cmp(&self, other: &AttributeValue) -> Option<Ordering> {
        match (self, other) {
            (AttributeValue::S(a), AttributeValue::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (AttributeValue::N(a), AttributeValue::N(b)) => Some(a.cmp(b)),
            (AttributeValue::B(a), AttributeValue::B(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// Set equality ignores order, as DynamoDB's comparisons do.
    pub fn same(&self, other: &AttributeValue) -> bool {
        fn set_eq<T: PartialEq>(a: &[T], b: &[T]) -> bool {
            a.len() == b.len() && a.iter().all(|x| b.contains(x))
        }
        match (self, other) {
            (AttributeValue::Ss(a), AttributeValue::Ss(b)) => set_eq(a, b),
            (AttributeValue::Ns(a), AttributeValue::Ns(b)) => set_eq(a, b),
            (AttributeValue::Bs(a), AttributeValue::Bs(b)) => set_eq(a, b),
            (AttributeValue::L(a), AttributeValue::L(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
            }
            (AttributeValue::M(a), AttributeValue::M(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v.same(w)))
            }
            _ => self == other,
        }
    }
}

/// An item from DynamoDB's JSON (`{"name": {"S": "x"}, ...}`).
pub fn item_from_json(v: &Value) -> Result<Item, ValueError> {
    let obj = v
        .as_object()
        .ok_or_else(|| verr("An item must be a map of attribute names to values"))?;
    obj.iter()
        .map(|(k, v)| Ok((k.clone(), AttributeValue::from_json(v)?)))
        .collect()
}

pub fn item_to_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// DynamoDB's size of an item: each attribute's name and value.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn numbers_parse_normalize_and_print_as_dynamodb_does() {
        assert_eq!(n("1.50").to_string(), "1.5");
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("-0.00120").to_string(), "-0.0012");
        assert_eq!(n(".5").to_string(), "0.5");
        assert_eq!(n("+7").to_string(), "7");
        assert_eq!(n("-0").to_string(), "0");
        assert_eq!(n("000123").to_string(), "123");
        assert_eq!(n("1.5E-2").to_string(), "0.015");
        let big = "12345678901234567890123456789012345678";
        assert_eq!(n(big).to_string(), big);
        assert_eq!(
            Number::parse(&format!("{big}9")),
            Err(NumberError::Precision)
        );
        assert_eq!(Number::parse("1e126"), Err(NumberError::Overflow));
        assert_eq!(Number::parse("1e-131"), Err(NumberError::Underflow));
        assert_eq!(
            Number::parse("1e-99999999999999999999"),
            Err(NumberError::Underflow)
        );
        assert_eq!(
            Number::parse("1e99999999999999999999"),
            Err(NumberError::Overflow)
        );
        assert!(Number::parse("9.9999999999999999999999999999999999999E+125").is_ok());
        for bad in ["", "-", ".", "1e", "abc", "1.2.3", "0x10", "1e+", " "] {
            assert_eq!(Number::parse(bad), Err(NumberError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn numbers_order_and_add_exactly() {
        let mut v: Vec<Number> = ["10", "-1.5", "0", "2", "-10", "0.001", "1e20", "-1e-5"]
            .iter()
            .map(|s| n(s))
            .collect();
        v.sort();
        let shown: Vec<String> = v.iter().map(Number::to_string).collect();
        assert_eq!(
            shown,
            [
                "-10",
                "-1.5",
                "-0.00001",
                "0",
                "0.001",
                "2",
                "10",
                "100000000000000000000"
            ]
        );
        assert_eq!(n("0.1").add(&n("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(n("5").sub(&n("7.25")).unwrap().to_string(), "-2.25");
        assert_eq!(n("1e100").add(&n("1")), Err(NumberError::Precision));
        // A term whose scaled mantissa exceeds i128 can still give a 38-digit sum.
        let nines = "-99999999999999999999999999999999999999";
        assert_eq!(
            n("18e37").add(&n(nines)).unwrap().to_string(),
            "80000000000000000000000000000000000001"
        );
        assert_eq!(
            n(nines).add(&n("18e37")).unwrap().to_string(),
            "80000000000000000000000000000000000001"
        );
        assert_eq!(n("9e125").add(&n("9e125")), Err(NumberError::Overflow));
        assert_eq!(n("-5").add(&n("5")).unwrap(), Number::ZERO);
        assert_eq!(n("-5").add(&n("2")).unwrap().to_string(), "-3");
        assert_eq!(n("123").to_i64(), Some(123));
        assert_eq!(n("1.5").to_i64(), None);
    }

    #[test]
    fn attribute_values_round_trip_and_are_checked() {
        let j = json!({"M": {"a": {"L": [{"N": "1"}, {"S": ""}, {"NULL": true}]},
                             "b": {"SS": ["x", "y"]}, "c": {"B": "AAE="}, "d": {"BOOL": false}}});
        let v = AttributeValue::from_json(&j).unwrap();
        assert_eq!(v.to_json(), j);
        let bad = |j: Value| AttributeValue::from_json(&j).unwrap_err().0;
        assert!(bad(json!({})).contains("empty"));
        assert!(bad(json!({"S": "a", "N": "1"})).contains("more than one"));
        assert!(bad(json!({"SS": ["a", "a"]})).contains("duplicates"));
        assert!(bad(json!({"SS": []})).contains("may not be empty"));
        assert!(bad(json!({"NULL": false})).contains("must have the value of true"));
        assert!(bad(json!({"N": "x"})).contains("cannot be converted"));
        assert!(bad(json!({"B": "!!"})).contains("base64"));
        assert!(
            AttributeValue::from_json(&json!({"NS": ["1", "1.0"]}))
                .unwrap_err()
                .0
                .contains("duplicates")
        );
    }

    #[test]
    fn sizes_follow_dynamodb() {
        let item = item_from_json(&json!({"pk": {"S": "abc"}, "n": {"N": "12345"}})).unwrap();
        // "pk" + "abc" = 5; "n" + (ceil(5/2) + 1 = 4) = 5.
        assert_eq!(item_size(&item), 10);
    }
}
