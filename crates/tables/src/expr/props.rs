//! Property tests of the expression language: randomly built conditions
//! evaluate as the boolean algebra of their parts says, and no input makes a
//! parser panic. The generator has a fixed seed, so a failure reproduces.

use super::*;
use crate::value::{AttributeValue as V, Number, item_from_json};

use crate::test_rng::Rng;

/// Conditions whose truth on [`item`] is known.
const ATOMS: &[(&str, bool)] = &[
    ("qty = :one", true),
    ("qty = :two", false),
    ("qty <> :two", true),
    ("price > :one", true),
    ("price <= :one", false),
    ("price BETWEEN :one AND :two", true),
    ("qty IN (:two, :one)", true),
    ("begins_with(label, :ab)", true),
    ("contains(label, :zz)", false),
    ("attribute_exists(qty)", true),
    ("attribute_not_exists(qty)", false),
    ("size(label) = :three", true),
    ("attribute_type(label, :tn)", false),
];

fn item() -> Item {
    item_from_json(&serde_json::json!({
        "pk": {"S": "k"}, "qty": {"N": "1"}, "price": {"N": "2"}, "label": {"S": "abc"}
    }))
    .unwrap()
}

fn context() -> Context {
    let n = |s: &str| V::N(Number::parse(s).unwrap());
    Context::new(
        Default::default(),
        [
            (":one", n("1")),
            (":two", n("2")),
            (":three", n("3")),
            (":ab", V::S("ab".into())),
            (":zz", V::S("zz".into())),
            (":tn", V::S("N".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    )
}

/// A random condition and its truth.
fn condition(rng: &mut Rng, depth: u32) -> (String, bool) {
    if depth == 0 || rng.below(3) == 0 {
        let (text, truth) = ATOMS[rng.below(ATOMS.len())];
        return (text.to_string(), truth);
    }
    match rng.below(4) {
        0 => {
            let (t, v) = condition(rng, depth - 1);
            (format!("NOT ({t})"), !v)
        }
        1 => {
            let (a, x) = condition(rng, depth - 1);
            let (b, y) = condition(rng, depth - 1);
            (format!("({a}) AND ({b})"), x && y)
        }
        2 => {
            let (a, x) = condition(rng, depth - 1);
            let (b, y) = condition(rng, depth - 1);
            (format!("({a}) OR ({b})"), x || y)
        }
        _ => {
            let (t, v) = condition(rng, depth - 1);
            (format!("({t})"), v)
        }
    }
}

#[test]
fn random_conditions_follow_boolean_algebra() {
    let mut rng = Rng(0x5eed_0001);
    let it = item();
    for _ in 0..3000 {
        let (text, truth) = condition(&mut rng, 5);
        let c = parse_condition(&text, "ConditionExpression", &mut context())
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(c.eval(&it), truth, "{text}");
    }
}

#[test]
fn no_input_makes_a_parser_panic() {
    const PIECES: &[&str] = &[
        "qty",
        "label",
        ":one",
        ":ab",
        "#n",
        "=",
        "<>",
        "<",
        ">=",
        "(",
        ")",
        ",",
        "AND",
        "OR",
        "NOT",
        "BETWEEN",
        "IN",
        "SET",
        "REMOVE",
        "ADD",
        "DELETE",
        "+",
        "-",
        "[",
        "]",
        "0",
        ".",
        "size",
        "if_not_exists",
        "list_append",
        "begins_with",
        "attribute_exists",
        " ",
        "\"",
        "é",
        "\u{0}",
    ];
    let mut rng = Rng(0x5eed_0002);
    for _ in 0..5000 {
        let n = rng.below(12);
        let text: String = (0..n)
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect::<Vec<_>>()
            .join(" ");
        let _ = parse_condition(&text, "ConditionExpression", &mut context());
        let _ = parse_update(&text, &mut context());
        let _ = parse_projection(&text, &mut context());
        let _ = parse_key_condition(&text, &mut context());
    }
}
