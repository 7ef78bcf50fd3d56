//! Property tests of the pure interpreters: intrinsic functions and JSONata
//! against simple invariants over random inputs, and no text that makes their
//! parsers panic. Fixed seeds: failures reproduce.

use serde_json::{Map, Value, json};

/// xorshift64*: small, deterministic, good enough to pick shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn int(&mut self, span: i64) -> i64 {
        self.below((2 * span + 1) as usize) as i64 - span
    }
}

fn intrinsic(text: &str) -> Result<Value, String> {
    let call = crate::intrinsics::parse(text)?;
    crate::intrinsics::eval(&call, &json!({}), &json!({}))
}

#[test]
fn intrinsic_functions_keep_their_invariants() {
    let mut rng = Rng(0x5eed_0011);
    for _ in 0..2000 {
        let xs: Vec<i64> = (0..rng.below(8)).map(|_| rng.int(50)).collect();
        let list = xs.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let array = format!("States.Array({list})");
        assert_eq!(
            intrinsic(&format!("States.ArrayLength({array})")).unwrap(),
            json!(xs.len())
        );
        let probe = rng.int(50);
        assert_eq!(
            intrinsic(&format!("States.ArrayContains({array}, {probe})")).unwrap(),
            json!(xs.contains(&probe))
        );
        let unique = intrinsic(&format!("States.ArrayUnique({array})")).unwrap();
        let mut seen = Vec::new();
        for x in &xs {
            if !seen.contains(x) {
                seen.push(*x);
            }
        }
        assert_eq!(unique, json!(seen));
        let size = 1 + rng.below(4);
        let parts = intrinsic(&format!("States.ArrayPartition({array}, {size})")).unwrap();
        let flat: Vec<Value> = parts
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p.as_array().unwrap().clone())
            .collect();
        assert_eq!(flat, xs.iter().map(|x| json!(x)).collect::<Vec<_>>());
        let (a, b) = (rng.int(1_000_000), rng.int(1_000_000));
        assert_eq!(
            intrinsic(&format!("States.MathAdd({a}, {b})")).unwrap(),
            json!(a + b)
        );
        let word: String = (0..rng.below(12))
            .map(|_| (b'a' + rng.below(26) as u8) as char)
            .collect();
        assert_eq!(
            intrinsic(&format!(
                "States.Base64Decode(States.Base64Encode('{word}'))"
            ))
            .unwrap(),
            json!(word)
        );
    }
}

/// A random integer arithmetic expression in JSONata and its value.
fn arithmetic(rng: &mut Rng, depth: u32) -> (String, i64) {
    if depth == 0 || rng.below(3) == 0 {
        let n = rng.int(20);
        return (format!("({n})"), n);
    }
    let (a, x) = arithmetic(rng, depth - 1);
    let (b, y) = arithmetic(rng, depth - 1);
    match rng.below(3) {
        0 => (format!("({a} + {b})"), x + y),
        1 => (format!("({a} - {b})"), x - y),
        _ => (format!("({a} * {b})"), x * y),
    }
}

fn jsonata(src: &str) -> Option<Value> {
    let expr = crate::jsonata::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    crate::jsonata::evaluate(&expr, &json!({}), &Map::new())
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn jsonata_arithmetic_and_strings_agree_with_rust() {
    let mut rng = Rng(0x5eed_0012);
    for _ in 0..2000 {
        let (src, value) = arithmetic(&mut rng, 4);
        let got = jsonata(&src).and_then(|v| v.as_f64());
        assert_eq!(got, Some(value as f64), "{src}");
        let words: Vec<String> = (0..1 + rng.below(4))
            .map(|_| {
                (0..rng.below(6))
                    .map(|_| (b'a' + rng.below(26) as u8) as char)
                    .collect()
            })
            .collect();
        let concat = words
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(" & ");
        assert_eq!(jsonata(&concat), Some(json!(words.concat())), "{concat}");
        assert_eq!(
            jsonata(&format!(
                "$count([{}])",
                words
                    .iter()
                    .map(|w| format!("\"{w}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(json!(words.len()))
        );
    }
}

#[test]
fn no_text_makes_the_languages_panic() {
    const PIECES: &[&str] = &[
        "States.Format",
        "States.Array",
        "States.MathAdd",
        "States.StringSplit",
        "(",
        ")",
        ",",
        "'a'",
        "'{}'",
        "$.x",
        "$$.Execution",
        "1",
        "-1.5",
        "\\",
        "$",
        "$count",
        "$map",
        "[",
        "]",
        "{",
        "}",
        "\"k\"",
        ":",
        "&",
        "+",
        "*",
        "?",
        "function",
        "=>",
        ".",
        "$$",
        "%",
        "é",
    ];
    let mut rng = Rng(0x5eed_0013);
    for _ in 0..5000 {
        let n = rng.below(12);
        let text = (0..n)
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect::<Vec<_>>()
            .join(if rng.below(2) == 0 { " " } else { "" });
        if let Ok(call) = crate::intrinsics::parse(&text) {
            let _ = crate::intrinsics::eval(&call, &json!({"x": 1}), &json!({}));
        }
        if let Ok(expr) = crate::jsonata::parse(&text) {
            let _ = crate::jsonata::evaluate(&expr, &json!({"x": 1}), &Map::new());
        }
    }
}
