//! Unit tests of `jsonata`.

use super::*;

fn ev(src: &str, input: Value) -> Option<Value> {
    let vars = Map::from_iter([(
        "states".to_string(),
        json!({"input": input.clone(), "context": {"Execution": {"Name": "e"}}}),
    )]);
    evaluate(
        &parse(src).unwrap_or_else(|e| panic!("{src}: {e}")),
        &input,
        &vars,
    )
    .unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn paths_sequences_and_predicates() {
    let o = json!({"a": [1], "orders": [{"id": 1, "items": [{"p": 2}, {"p": 3}]}, {"id": 2, "items": [{"p": 5}]}], "x": {"y": "z"}});
    assert_eq!(ev("a", o.clone()), Some(json!([1])));
    assert_eq!(ev("x.y", o.clone()), Some(json!("z")));
    assert_eq!(ev("orders.items.p", o.clone()), Some(json!([2, 3, 5])));
    assert_eq!(ev("orders[0].id", o.clone()), Some(json!(1)));
    assert_eq!(ev("orders[-1].id", o.clone()), Some(json!(2)));
    assert_eq!(ev("orders[id = 2].items.p", o.clone()), Some(json!(5)));
    assert_eq!(ev("orders.items[p > 2].p", o.clone()), Some(json!([3, 5])));
    assert_eq!(ev("$count(orders.items)", o.clone()), Some(json!(3)));
    assert_eq!(ev("missing", o.clone()), None);
    assert_eq!(ev("x.*", o.clone()), Some(json!("z")));
    assert_eq!(ev("$states.input.x.y", o.clone()), Some(json!("z")));
    assert_eq!(
        ev("$states.context.Execution.Name", o.clone()),
        Some(json!("e"))
    );
    assert_eq!(
        ev("orders.id[]", json!({"orders": [{"id": 7}]})),
        Some(json!([7]))
    );
}

#[test]
fn operators_and_constructors() {
    let i = json!({"n": 4, "s": "ab", "list": [3, 1, 2]});
    assert_eq!(ev("n * 2 + 1", i.clone()), Some(json!(9)));
    assert_eq!(ev("n / 8", i.clone()), Some(json!(0.5)));
    assert_eq!(ev("-n % 3", i.clone()), Some(json!(-1)));
    assert_eq!(ev("s & '-' & n", i.clone()), Some(json!("ab-4")));
    assert_eq!(ev("n > 3 and s = 'ab'", i.clone()), Some(json!(true)));
    assert_eq!(ev("n < 3 or false", i.clone()), Some(json!(false)));
    assert_eq!(ev("2 in list", i.clone()), Some(json!(true)));
    assert_eq!(
        ev("n > 10 ? 'big' : 'small'", i.clone()),
        Some(json!("small"))
    );
    assert_eq!(ev("[1..3, 9]", i.clone()), Some(json!([1, 2, 3, 9])));
    assert_eq!(
        ev("{'total': $sum(list), 'first': list[0]}", i.clone()),
        Some(json!({"total": 6, "first": 3}))
    );
    assert_eq!(
        ev("($x := n + 1; $y := $x * 2; [$x, $y])", i.clone()),
        Some(json!([5, 10]))
    );
    assert_eq!(
        ev("list ~> $sort() ~> $reverse()", i.clone()),
        Some(json!([3, 2, 1]))
    );
    assert_eq!(
        ev("/* a comment */ \"quoted \\\"x\\\"\"", i.clone()),
        Some(json!("quoted \"x\""))
    );
}

#[test]
fn functions() {
    let i = json!({"items": [{"price": 2, "qty": 3}, {"price": 5, "qty": 1}], "name": " Ada  Lovelace "});
    assert_eq!(ev("$sum(items.(price * qty))", i.clone()), Some(json!(11)));
    assert_eq!(
        ev("$map(items, function($v) { $v.price })", i.clone()),
        Some(json!([2, 5]))
    );
    assert_eq!(
        ev(
            "$filter(items, function($v) { $v.qty > 1 }).price",
            i.clone()
        ),
        Some(json!(2))
    );
    assert_eq!(
        ev("$reduce([1,2,3], function($a, $b) { $a + $b })", i.clone()),
        Some(json!(6))
    );
    assert_eq!(ev("$trim(name)", i.clone()), Some(json!("Ada Lovelace")));
    assert_eq!(
        ev("$uppercase($substring($trim(name), 0, 3))", i.clone()),
        Some(json!("ADA"))
    );
    assert_eq!(
        ev("$split('a,b,c', ',')", i.clone()),
        Some(json!(["a", "b", "c"]))
    );
    assert_eq!(ev("$join(['a','b'], '+')", i.clone()), Some(json!("a+b")));
    assert_eq!(ev("$string({'a': 1})", i.clone()), Some(json!("{\"a\":1}")));
    assert_eq!(ev("$number('12.5') + 1", i.clone()), Some(json!(13.5)));
    assert_eq!(
        ev("$round(2.5) & $round(3.5) & $round(1.2345, 2)", i.clone()),
        Some(json!("241.23"))
    );
    assert_eq!(ev("$max([1, 9, 3])", i.clone()), Some(json!(9)));
    assert_eq!(
        ev("$keys({'a': 1, 'b': 2})", i.clone()),
        Some(json!(["a", "b"]))
    );
    assert_eq!(
        ev("$merge([{'a': 1}, {'b': 2}])", i.clone()),
        Some(json!({"a": 1, "b": 2}))
    );
    assert_eq!(ev("$exists(nothing)", i.clone()), Some(json!(false)));
    assert_eq!(ev("$type(items)", i.clone()), Some(json!("array")));
    assert_eq!(
        ev("$partition([1,2,3], 2)", i.clone()),
        Some(json!([[1, 2], [3]]))
    );
    assert_eq!(ev("$range(0, 10, 5)", i.clone()), Some(json!([0, 5, 10])));
    assert_eq!(ev("$parse('{\"k\": [1]}').k", i.clone()), Some(json!([1])));
    assert_eq!(
        ev("$hash('input data', 'SHA-1')", i.clone()),
        Some(json!("aaff4a450a104cd177d28d18d74485e8cae074b7"))
    );
    assert_eq!(
        ev("$toMillis('1970-01-01T00:00:01Z')", i.clone()),
        Some(json!(1000))
    );
    assert_eq!(
        ev("$fromMillis(0)", i.clone()),
        Some(json!("1970-01-01T00:00:00.000Z"))
    );
    assert_eq!(ev("$length($uuid())", i.clone()), Some(json!(36)));
    assert_eq!(
        ev(
            "$sort(items, function($a, $b) { $a.price < $b.price }).price",
            i.clone()
        ),
        Some(json!([5, 2]))
    );
}

#[test]
fn bad_expressions_are_errors_not_panics() {
    for bad in [
        "(",
        "a.",
        "1 +",
        "{'a' 1}",
        "$x :=",
        "[1..",
        "'open",
        "function($x) {",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    let vars = Map::new();
    for bad in [
        "'a' + 1",
        "$nope()",
        "$number('x')",
        "1 / 0",
        "$range(0, 1, 0)",
    ] {
        assert!(
            evaluate(&parse(bad).unwrap(), &json!({}), &vars).is_err(),
            "{bad}"
        );
    }
    for bad in [
        "$pad('x', -1e300)",
        "[1e300..1e300]",
        "($f := function($s, $n) { $n = 0 ? $s : $f($s & $s, $n - 1) }; $f('ab', 40))",
    ] {
        assert!(
            evaluate(&parse(bad).unwrap(), &json!({}), &vars).is_err(),
            "{bad}"
        );
    }
    let chain = vec!["1"; 5000].join("+");
    assert!(parse(&chain).is_err());
    // Runaway recursion is stopped.
    let deep = "($f := function($n) { $f($n + 1) }; $f(0))";
    assert!(evaluate(&parse(deep).unwrap(), &json!({}), &vars).is_err());
}

#[test]
fn regular_expressions() {
    let o = json!({"s": "ababbabbcc", "n": 10});
    assert_eq!(
        ev("$match(s, /a(b+)/)", o.clone()),
        Some(json!([
            {"match": "ab", "index": 0, "groups": ["b"]},
            {"match": "abb", "index": 2, "groups": ["bb"]},
            {"match": "abb", "index": 5, "groups": ["bb"]}
        ]))
    );
    assert_eq!(
        ev("$match(s, /A(B+)/i, 1)[0].match", o.clone()),
        Some(json!("ab"))
    );
    assert_eq!(ev("$contains(s, /bbc/)", o.clone()), Some(json!(true)));
    assert_eq!(ev("$contains(s, /^b/)", o.clone()), Some(json!(false)));
    assert_eq!(
        ev("$split('a1b22c', /[0-9]+/)", o.clone()),
        Some(json!(["a", "b", "c"]))
    );
    assert_eq!(
        ev(
            "$replace('John Smith', /(\\w+)\\s(\\w+)/, '$2, $1')",
            o.clone()
        ),
        Some(json!("Smith, John"))
    );
    assert_eq!(
        ev("$replace('a.b.c', /\\./, '-', 1)", o.clone()),
        Some(json!("a-b.c"))
    );
    assert_eq!(ev("/b+c/('abbc').start", o.clone()), Some(json!(1)));
    // Division is still division.
    assert_eq!(ev("n / 2 / 5", o.clone()), Some(json!(1)));
    assert_eq!(ev("(n) / 2", o.clone()), Some(json!(5)));
    assert!(parse("$match(s, /(/)").is_err());
    assert!(parse("$match(s, /unterminated)").is_err());
}
