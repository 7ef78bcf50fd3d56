use super::*;
use crate::value::{AttributeValue as V, Number, item_from_json};
use serde_json::{Value, json};

fn num(s: &str) -> V {
    V::N(Number::parse(s).unwrap())
}

fn st(s: &str) -> V {
    V::S(s.to_string())
}

fn item(j: Value) -> Item {
    item_from_json(&j).unwrap()
}

fn av(j: Value) -> V {
    V::from_json(&j).unwrap()
}

/// A context with a few names and values most tests use.
fn ctx() -> Context {
    let names = [("#n", "name"), ("#a", "a"), ("#dot", "x.y"), ("#k", "pk")];
    let values = [
        (":zero", num("0")),
        (":one", num("1")),
        (":two", num("2")),
        (":three", num("3")),
        (":ten", num("10")),
        (":s", st("abc")),
        (":ab", st("ab")),
        (":z", st("z")),
        (":b", V::B(vec![1, 2])),
        (":b1", V::B(vec![1])),
        (":m2", av(json!({"M": {"q": {"S": "r"}}}))),
        (":ss", av(json!({"SS": ["x", "y"]}))),
        (":ns", av(json!({"NS": ["1", "5"]}))),
        (":bs", av(json!({"BS": ["AQ=="]}))),
        (":l", av(json!({"L": [{"N": "9"}]}))),
        (":m", av(json!({"M": {"k": {"S": "v"}}}))),
        (":t", st("N")),
        (":tS", st("S")),
        (":badt", st("FOO")),
        (":true", V::Bool(true)),
        (":null", V::Null),
    ];
    Context::new(
        names
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        values
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn cond(src: &str) -> Result<Condition, ExprError> {
    parse_condition(src, "ConditionExpression", &mut ctx())
}

fn cond_err(src: &str) -> String {
    cond(src).unwrap_err().0
}

/// Evaluates `src` against the item.
fn holds(src: &str, it: &Item) -> bool {
    cond(src).unwrap_or_else(|e| panic!("{src}: {e}")).eval(it)
}

fn sample() -> Item {
    item(json!({
        "a": {"N": "1"},
        "b": {"N": "2"},
        "c": {"N": "3"},
        "name": {"S": "abcdef"},
        "x.y": {"S": "dotted"},
        "bin": {"B": "AQID"},
        "ss": {"SS": ["x", "y", "z"]},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": ["AQ==", "Ag=="]},
        "l": {"L": [{"S": "p"}, {"N": "9"}, {"M": {"q": {"S": "r"}}}]},
        "m": {"M": {"k": {"S": "v"}, "nest": {"M": {"deep": {"N": "10"}}}}},
        "t": {"BOOL": true},
        "nul": {"NULL": true},
        "e": {"S": "ab"},
    }))
}

// ---------------------------------------------------------------- conditions

#[test]
fn comparisons_on_each_type() {
    let it = sample();
    assert!(holds("a = :one", &it));
    assert!(!holds("a = :two", &it));
    assert!(holds("a <> :two", &it));
    assert!(holds("a < :two", &it));
    assert!(holds("a <= :one", &it));
    assert!(holds("b > :one", &it));
    assert!(holds("b >= :two", &it));
    assert!(!holds("b > :two", &it));
    assert!(holds("#n > :s", &it));
    assert!(holds("e < :s", &it));
    assert!(holds("bin > :b", &it));
    // Paths on both sides.
    assert!(holds("a < b", &it));
    assert!(holds("m.nest.deep = :ten", &it));
    assert!(holds("l[1] = :ten OR l[1] > :three", &it));
    // Different types: ordering false, equality false, inequality true.
    assert!(!holds("a < :s", &it));
    assert!(!holds("a >= :s", &it));
    assert!(!holds("a = :s", &it));
    assert!(holds("a <> :s", &it));
    // Ordering of non-key types is false; equality compares by value.
    assert!(!holds("t < :true", &it));
    assert!(holds("t = :true", &it));
    assert!(holds("nul = :null", &it));
    // Sets compare without order.
    let it2 = item(json!({"s": {"SS": ["y", "x"]}, "ns": {"NS": ["5", "1.0"]}}));
    assert!(holds("s = :ss", &it2));
    assert!(holds("ns = :ns", &it2));
    assert!(holds(
        "m.k = :z OR m = :m",
        &item(json!({"m": {"M": {"k": {"S": "v"}}}}))
    ));
}

#[test]
fn missing_attributes() {
    let it = sample();
    assert!(!holds("nope = :one", &it));
    assert!(!holds("nope < :one", &it));
    assert!(!holds("nope >= :one", &it));
    // `<>` with a missing attribute holds (nothing equals a missing value).
    assert!(holds("nope <> :one", &it));
    assert!(holds("NOT nope = :one", &it));
    assert!(!holds("nope BETWEEN :one AND :two", &it));
    assert!(!holds("nope IN (:one, :two)", &it));
    assert!(!holds("m.nope = :one", &it));
    assert!(!holds("l[7] = :one", &it));
    assert!(!holds("a.b = :one", &it));
    assert!(!holds("m[0] = :one", &it));
    // A missing item is an empty one.
    let empty = Item::new();
    assert!(holds("attribute_not_exists(a)", &empty));
    assert!(!holds("a = :one", &empty));
}

#[test]
fn between_and_in() {
    let it = sample();
    assert!(holds("b BETWEEN :one AND :three", &it));
    assert!(holds("b BETWEEN :two AND :two", &it));
    assert!(!holds("c BETWEEN :one AND :two", &it));
    assert!(!holds("b BETWEEN :s AND :z", &it));
    assert!(holds("#n BETWEEN :s AND :z", &it));
    assert!(holds("b IN (:one, :two)", &it));
    assert!(!holds("b IN (:one, :three)", &it));
    assert!(holds(
        "ss IN (:ss, :one)",
        &item(json!({"ss": {"SS": ["y", "x"]}}))
    ));
    // The case of keywords does not matter.
    assert!(holds("b between :one and :three", &it));
    assert!(holds("b in (:two) or not a = :one", &it));
    let e = cond_err("b BETWEEN :three AND :one");
    assert_eq!(
        e,
        "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower operand: AttributeValue: {N:3}, upper operand: AttributeValue: {N:1}"
    );
    let many: Vec<String> = (0..101).map(|_| ":one".to_string()).collect();
    let e = cond_err(&format!("a IN ({})", many.join(",")));
    assert_eq!(
        e,
        "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"
    );
    let hundred: Vec<String> = (0..100).map(|_| ":one".to_string()).collect();
    assert!(holds(&format!("a IN ({})", hundred.join(",")), &it));
    assert!(cond_err("a IN ()").contains("Syntax error; token: \")\""));
}

#[test]
fn precedence_not_and_or() {
    // a = 1, b = 2, c = 3.
    let it = sample();
    // OR binds loosest: true OR (false AND ...).
    assert!(holds("a = :one OR b = :one AND c = :one", &it));
    // (false OR true) AND false would be false; AND binds tighter so it is false OR (true AND false) = false.
    assert!(!holds("a = :two OR b = :two AND c = :one", &it));
    assert!(holds("(a = :two OR b = :two) AND c = :three", &it));
    assert!(!holds("(a = :two OR b = :two) AND c = :one", &it));
    // NOT binds tighter than AND.
    assert!(holds("NOT a = :two AND b = :two", &it));
    assert!(!holds("NOT (a = :one AND b = :one) AND c = :one", &it));
    assert!(holds("NOT NOT a = :one", &it));
    assert!(holds("NOT a = :one OR b = :two", &it));
    assert!(!holds("NOT (a = :one OR b = :one)", &it));
    assert!(holds("((((a = :one))))", &it));
}

#[test]
fn functions() {
    let it = sample();
    assert!(holds("attribute_exists(a)", &it));
    assert!(holds("attribute_exists(m.nest.deep)", &it));
    assert!(holds("attribute_exists(l[2].q)", &it));
    assert!(holds("attribute_exists(#dot)", &it));
    assert!(!holds("attribute_exists(x.y)", &it));
    assert!(holds("attribute_not_exists(nope)", &it));
    assert!(!holds("attribute_not_exists(a)", &it));
    assert!(holds("attribute_type(a, :t)", &it));
    assert!(!holds("attribute_type(#n, :t)", &it));
    assert!(holds("attribute_type(#n, :tS)", &it));
    assert!(!holds("attribute_type(nope, :t)", &it));
    assert!(holds("begins_with(#n, :ab)", &it));
    assert!(!holds("begins_with(#n, :z)", &it));
    assert!(holds("begins_with(bin, :b)", &it));
    assert!(!holds("begins_with(a, :ab)", &it));
    assert!(holds("begins_with(#n, e)", &it));
    assert!(holds("contains(#n, :s)", &it));
    assert!(!holds("contains(#n, :z)", &it));
    assert!(holds("contains(ss, :z)", &it));
    assert!(!holds("contains(ss, :s)", &it));
    assert!(holds("contains(ns, :one)", &it));
    assert!(!holds("contains(ns, :three)", &it));
    assert!(holds("contains(l, l[0])", &it));
    assert!(holds("contains(bs, :b1)", &it));
    assert!(!holds("contains(bs, :b)", &it));
    assert!(holds("contains(l, :ten) OR contains(l, :m2)", &it));
    assert!(holds("contains(bin, :b)", &it));
    assert!(!holds("contains(a, :one)", &it));
    // size: bytes of strings and binaries, elements of collections.
    assert!(holds("size(#n) = :ten OR size(#n) > :three", &it));
    assert!(holds("size(bin) = :three", &it));
    assert!(holds("size(ss) = :three", &it));
    assert!(holds("size(l) = :three", &it));
    assert!(holds("size(m) = :two", &it));
    assert!(holds("size(e) BETWEEN :one AND :two", &it));
    assert!(holds("size(e) IN (:two)", &it));
    assert!(holds(":two = size(e)", &it));
    assert!(!holds("size(a) = :one", &it));
    assert!(!holds("size(nope) = :zero", &it));
    assert!(holds("size(nope) <> :zero", &it));
    let u = item(json!({"u": {"S": "é€"}}));
    assert!(holds("size(u) = :three OR size(u) > :three", &u));
}

#[test]
fn function_errors() {
    let k = "Invalid ConditionExpression: ";
    assert_eq!(
        cond_err("foo(a)"),
        format!("{k}Invalid function name; function: foo")
    );
    assert_eq!(
        cond_err("ATTRIBUTE_EXISTS(a)"),
        format!("{k}Invalid function name; function: ATTRIBUTE_EXISTS")
    );
    assert_eq!(
        cond_err("size(a)"),
        format!(
            "{k}The function is not allowed to be used this way in an expression; function: size"
        )
    );
    assert_eq!(
        cond_err("attribute_exists(a) = :one"),
        format!(
            "{k}The function is not allowed to be used this way in an expression; function: attribute_exists"
        )
    );
    assert_eq!(
        cond_err("a = if_not_exists(a, :one)"),
        format!(
            "{k}The function is not allowed to be used this way in an expression; function: if_not_exists"
        )
    );
    assert_eq!(
        cond_err("attribute_exists(:one)"),
        format!(
            "{k}Operator or function requires a document path; operator or function: attribute_exists"
        )
    );
    assert_eq!(
        cond_err("size(:s) = :one"),
        format!("{k}Operator or function requires a document path; operator or function: size")
    );
    assert_eq!(
        cond_err("attribute_exists(a, b)"),
        format!(
            "{k}Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"
        )
    );
    assert_eq!(
        cond_err("contains()"),
        format!(
            "{k}Incorrect number of operands for operator or function; operator or function: contains, number of operands: 0"
        )
    );
    assert_eq!(
        cond_err("attribute_type(a, :one)"),
        format!(
            "{k}Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N"
        )
    );
    assert_eq!(
        cond_err("attribute_type(a, :badt)"),
        format!(
            "{k}Invalid attribute type name found; type: FOO, valid types: {{ B,NULL,SS,BOOL,L,BS,N,NS,S,M }}"
        )
    );
    assert_eq!(
        cond_err("begins_with(a, :one)"),
        format!(
            "{k}Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
        )
    );
    assert_eq!(
        cond_err("contains(a, size(b))"),
        format!(
            "{k}The function is not allowed to be used this way in an expression; function: size"
        )
    );
    assert_eq!(
        cond_err("a = a"),
        format!(
            "{k}The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]"
        )
    );
    assert!(cond_err("a BETWEEN :one AND a").contains("operator: BETWEEN, first operand: [a]"));
    assert!(cond_err("a.b IN (:one, a.b)").contains("operator: IN, first operand: [a, b]"));
    // attribute_type with a path as its type is checked when evaluated.
    let it = item(json!({"a": {"N": "1"}, "t": {"S": "N"}}));
    assert!(holds("attribute_type(a, t)", &it));
}

#[test]
fn names_values_and_reserved_words() {
    let k = "Invalid ConditionExpression: ";
    assert_eq!(
        cond_err("#zz = :one"),
        format!(
            "{k}An expression attribute name used in the document path is not defined; attribute name: #zz"
        )
    );
    assert_eq!(
        cond_err("a = :nope"),
        format!(
            "{k}An expression attribute value used in expression is not defined; attribute value: :nope"
        )
    );
    assert_eq!(
        cond_err("name = :one"),
        format!("{k}Attribute name is a reserved keyword; reserved keyword: name")
    );
    assert_eq!(
        cond_err("a.Status = :one"),
        format!("{k}Attribute name is a reserved keyword; reserved keyword: Status")
    );
    for w in [
        "DATA", "date", "Year", "user", "COUNT", "size", "ttl", "zone", "abort",
    ] {
        assert!(
            cond_err(&format!("{w} = :one")).contains("reserved keyword"),
            "{w}"
        );
    }
    for ok in ["a", "name1", "my_attr", "Named", "x9", "sizes"] {
        assert!(cond(&format!("{ok} = :one")).is_ok(), "{ok}");
    }
    // The filter kind names itself.
    let e = parse_filter_err("#zz = :one");
    assert!(e.starts_with("Invalid FilterExpression: An expression attribute name"));
    // The list is sorted for binary search and complete.
    assert!(reserved::RESERVED.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(reserved::RESERVED.len(), 573);
}

fn parse_filter_err(src: &str) -> String {
    parse_condition(src, "FilterExpression", &mut ctx())
        .unwrap_err()
        .0
}

#[test]
fn syntax_errors() {
    let k = "Invalid ConditionExpression: ";
    assert_eq!(
        cond_err("a = "),
        format!("{k}Syntax error; token: \"<EOF>\", near: \"= \"")
    );
    assert_eq!(
        cond_err("a = = :one"),
        format!("{k}Syntax error; token: \"=\", near: \"= = :one\"")
    );
    assert_eq!(
        cond_err("a"),
        format!("{k}Syntax error; token: \"<EOF>\", near: \"a\"")
    );
    assert_eq!(
        cond_err(":one"),
        format!("{k}Syntax error; token: \"<EOF>\", near: \":one\"")
    );
    assert_eq!(
        cond_err("my-attr = :one"),
        format!("{k}Syntax error; token: \"-\", near: \"my-attr\"")
    );
    assert_eq!(
        cond_err("a = :one AND"),
        format!("{k}Syntax error; token: \"<EOF>\", near: \"AND\"")
    );
    assert_eq!(
        cond_err("a = :one b = :two"),
        format!("{k}Syntax error; token: \"b\", near: \":one b =\"")
    );
    assert!(cond_err("(a = :one").contains("token: \"<EOF>\""));
    assert!(cond_err("a = :one)").contains("token: \")\""));
    assert!(cond_err("a = :one = :two").contains("token: \"=\""));
    assert!(cond_err("a = $").contains("token: \"$\""));
    assert!(cond_err("a = é").contains("token: \"é\""));
    assert!(cond_err("a != :one").contains("token: \"!\""));
    assert!(cond_err("_a = :one").contains("token: \"_\""));
    assert!(cond_err("a[x] = :one").contains("token: \"x\""));
    assert!(cond_err("a[99999999999999999999] = :one").contains("Syntax error"));
    assert!(cond_err("a = : one").contains("token: \":\""));
    assert!(cond_err("a = :one AND AND").contains("token: \"AND\""));
    assert!(cond_err("a BETWEEN :one OR :two").contains("token: \"OR\""));
    assert!(cond_err("a IN :one").contains("token: \":one\""));
    assert!(cond_err("a = :one OR or = :one").contains("token: \"or\""));
    assert!(cond_err("a. = :one").contains("token: \"=\""));
    assert!(cond_err("NOT").contains("token: \"<EOF>\""));
    assert!(cond_err("()").contains("token: \")\""));
}

#[test]
fn empty_long_and_deep_expressions() {
    assert_eq!(
        cond_err(""),
        "Invalid ConditionExpression: The expression can not be empty;"
    );
    assert_eq!(
        cond_err("  \n "),
        "Invalid ConditionExpression: The expression can not be empty;"
    );
    let long = format!("a = :one{}", " ".repeat(4100));
    assert_eq!(
        cond_err(&long),
        format!(
            "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: {}",
            long.len()
        )
    );
    let ok_len = format!("a = :one{}", " ".repeat(4096 - 8));
    assert!(cond(&ok_len).is_ok());
    let nest = |d: usize| format!("{}a = :one{}", "(".repeat(d), ")".repeat(d));
    assert!(holds(&nest(100), &sample()));
    assert!(cond_err(&nest(101)).contains("maximum nesting depth"));
    assert!(holds(&format!("{}a = :one", "NOT ".repeat(100)), &sample()));
    assert!(cond_err(&format!("{}a = :one", "NOT ".repeat(101))).contains("maximum nesting depth"));
    let path: Vec<String> = (0..33).map(|i| format!("p{i}")).collect();
    assert_eq!(
        cond_err(&format!("{} = :one", path.join("."))),
        "Invalid ConditionExpression: The document path has too many nesting levels; nesting levels: 33"
    );
    assert!(cond(&format!("{} = :one", path[..32].join("."))).is_ok());
}

#[test]
fn conditions_mark_names_and_values_used() {
    let mut c = ctx();
    parse_condition(
        "#n = :s AND #a IN (:one, :two)",
        "ConditionExpression",
        &mut c,
    )
    .unwrap();
    let e = c.check_unused().unwrap_err().0;
    assert_eq!(
        e,
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#dot, #k}"
    );
    let mut c = Context::new(
        [("#a".to_string(), "a".to_string())].into(),
        [
            (":x".to_string(), num("1")),
            (":y".to_string(), num("2")),
            (":z".to_string(), num("3")),
        ]
        .into(),
    );
    parse_condition("#a = :y", "ConditionExpression", &mut c).unwrap();
    assert_eq!(
        c.check_unused().unwrap_err().0,
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:x, :z}"
    );
    parse_update("SET b = :x ADD c :z", &mut c).unwrap();
    assert_eq!(c.check_unused(), Ok(()));
    assert_eq!(Context::default().check_unused(), Ok(()));
}

// ---------------------------------------------------------------- paths

#[test]
fn paths_get_and_display() {
    let it = sample();
    let p = Path(vec![
        PathElem::Attr("l".into()),
        PathElem::Index(2),
        PathElem::Attr("q".into()),
    ]);
    assert_eq!(p.top(), "l");
    assert_eq!(p.get(&it), Some(&st("r")));
    assert_eq!(p.to_string(), "l[2].q");
    assert_eq!(p.bracketed(), "[l, [2], q]");
    assert_eq!(Path::attr("nope").get(&it), None);
    assert_eq!(
        Path(vec![PathElem::Attr("a".into()), PathElem::Index(0)]).get(&it),
        None
    );
}

// ---------------------------------------------------------------- updates

fn upd(src: &str) -> Update {
    parse_update(src, &mut ctx()).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn upd_err(src: &str) -> String {
    parse_update(src, &mut ctx()).unwrap_err().0
}

fn applied(src: &str, it: &Item) -> Result<Item, ExprError> {
    let mut out = it.clone();
    upd(src).apply(&mut out)?;
    Ok(out)
}

fn apply_ok(src: &str, it: &Item) -> Item {
    applied(src, it).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn update_set() {
    let it = sample();
    let out = apply_ok(
        "SET z = :one, #n = :z, m.k = :s, m.fresh = :two, l[0] = :ten",
        &it,
    );
    assert_eq!(out["z"], num("1"));
    assert_eq!(out["name"], st("z"));
    assert_eq!(
        Path(vec![PathElem::Attr("m".into()), PathElem::Attr("k".into())]).get(&out),
        Some(&st("abc"))
    );
    assert_eq!(
        Path(vec![
            PathElem::Attr("m".into()),
            PathElem::Attr("fresh".into())
        ])
        .get(&out),
        Some(&num("2"))
    );
    assert_eq!(
        out["l"],
        av(json!({"L": [{"N": "10"}, {"N": "9"}, {"M": {"q": {"S": "r"}}}]}))
    );
    // Copying a path, arithmetic, functions.
    let out = apply_ok(
        "SET d = a, s = b + c, t = c - :ten, u = if_not_exists(nope, :two), v = if_not_exists(a, :two), w = list_append(l, :l), x = list_append(:l, l)",
        &it,
    );
    assert_eq!(out["d"], num("1"));
    assert_eq!(out["s"], num("5"));
    assert_eq!(out["t"], num("-7"));
    assert_eq!(out["u"], num("2"));
    assert_eq!(out["v"], num("1"));
    let V::L(w) = &out["w"] else { panic!() };
    assert_eq!((w.len(), &w[3]), (4, &num("9")));
    let V::L(x) = &out["x"] else { panic!() };
    assert_eq!((x.len(), &x[0], &x[1]), (4, &num("9"), &st("p")));
    // Nested functions and counters.
    let empty = Item::new();
    let out = apply_ok(
        "SET cnt = if_not_exists(cnt, :zero) + :one, l = list_append(if_not_exists(l, :l), :l)",
        &empty,
    );
    assert_eq!(out["cnt"], num("1"));
    assert_eq!(out["l"], av(json!({"L": [{"N": "9"}, {"N": "9"}]})));
    // Keywords in any case; clauses in any order.
    let out = apply_ok("remove a set b = :ten add c :one delete ss :ss", &it);
    assert!(!out.contains_key("a"));
    assert_eq!(out["b"], num("10"));
    assert_eq!(out["c"], num("4"));
    assert_eq!(out["ss"], av(json!({"SS": ["z"]})));
}

#[test]
fn update_evaluates_against_the_before_image() {
    let it = sample();
    let out = apply_ok("SET a = b, b = a", &it);
    assert_eq!((&out["a"], &out["b"]), (&num("2"), &num("1")));
    let out = apply_ok("SET a = a + :one, b = a", &it);
    assert_eq!((&out["a"], &out["b"]), (&num("2"), &num("1")));
    // An attribute removed by the same update is still readable.
    let out = apply_ok("SET z = c REMOVE c", &it);
    assert_eq!(out["z"], num("3"));
    assert!(!out.contains_key("c"));
}

#[test]
fn update_lists() {
    let it =
        item(json!({"l": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}, {"N": "3"}, {"N": "4"}]}}));
    let list = |out: &Item| -> Vec<String> {
        let V::L(l) = &out["l"] else { panic!() };
        l.iter()
            .map(|v| match v {
                V::N(n) => n.to_string(),
                V::S(s) => s.clone(),
                _ => "?".into(),
            })
            .collect()
    };
    // Removing several indexes removes the elements they named before the update.
    assert_eq!(list(&apply_ok("REMOVE l[1], l[3]", &it)), ["0", "2", "4"]);
    assert_eq!(list(&apply_ok("REMOVE l[3], l[1], l[0]", &it)), ["2", "4"]);
    // Missing indexes are nothing to remove.
    assert_eq!(
        list(&apply_ok("REMOVE l[9]", &it)),
        ["0", "1", "2", "3", "4"]
    );
    // SET beyond the end appends, in index order.
    assert_eq!(
        list(&apply_ok("SET l[11] = :z, l[10] = :s", &it)),
        ["0", "1", "2", "3", "4", "abc", "z"]
    );
    // SET in place with REMOVE of an earlier index, and a REMOVE past the old end with an append.
    assert_eq!(
        list(&apply_ok("SET l[2] = :s REMOVE l[0]", &it)),
        ["1", "abc", "3", "4"]
    );
    assert_eq!(
        list(&apply_ok("SET l[7] = :s REMOVE l[5]", &it)),
        ["0", "1", "2", "3", "4", "abc"]
    );
    // Writing into a non-list, or below a missing one, is invalid.
    let msg = "The document path provided in the update expression is invalid for update";
    assert_eq!(applied("SET a[0] = :one", &sample()).unwrap_err().0, msg);
    assert_eq!(applied("SET nope[0] = :one", &sample()).unwrap_err().0, msg);
    assert_eq!(applied("SET l.x = :one", &it).unwrap_err().0, msg);
    assert_eq!(applied("REMOVE l[9].x", &it).unwrap_err().0, msg);
}

#[test]
fn update_remove_and_nested_paths() {
    let it = sample();
    let out = apply_ok("REMOVE a, m.k, nope, m.nope, l[2].q", &it);
    assert!(!out.contains_key("a"));
    assert_eq!(
        out["m"],
        av(json!({"M": {"nest": {"M": {"deep": {"N": "10"}}}}}))
    );
    assert_eq!(
        out["l"],
        av(json!({"L": [{"S": "p"}, {"N": "9"}, {"M": {}}]}))
    );
    let msg = "The document path provided in the update expression is invalid for update";
    assert_eq!(applied("SET nope.x = :one", &it).unwrap_err().0, msg);
    assert_eq!(applied("SET a.x = :one", &it).unwrap_err().0, msg);
    assert_eq!(applied("REMOVE nope.x", &it).unwrap_err().0, msg);
    assert_eq!(applied("ADD nope.x :one", &it).unwrap_err().0, msg);
    let out = apply_ok("SET m.nest.deep = :one, m.nest.more = :two, #dot = :z", &it);
    assert_eq!(
        out["m"],
        av(
            json!({"M": {"k": {"S": "v"}, "nest": {"M": {"deep": {"N": "1"}, "more": {"N": "2"}}}}})
        )
    );
    assert_eq!(out["x.y"], st("z"));
}

#[test]
fn update_add_and_delete() {
    let it = sample();
    let out = apply_ok(
        "ADD a :two, newn :three, ss :ss, newset :ns, ns :ns, bs :bs",
        &it,
    );
    assert_eq!(out["a"], num("3"));
    assert_eq!(out["newn"], num("3"));
    assert_eq!(out["ss"], av(json!({"SS": ["x", "y", "z"]})));
    assert_eq!(out["newset"], av(json!({"NS": ["1", "5"]})));
    assert_eq!(out["ns"], av(json!({"NS": ["1", "2", "5"]})));
    let out = apply_ok("ADD m.nest.deep :one", &it);
    assert_eq!(
        Path(vec![
            PathElem::Attr("m".into()),
            PathElem::Attr("nest".into()),
            PathElem::Attr("deep".into())
        ])
        .get(&out),
        Some(&num("11"))
    );
    let out = apply_ok("DELETE ss :ss, ns :ns, nope :ns", &it);
    assert_eq!(out["ss"], av(json!({"SS": ["z"]})));
    assert_eq!(out["ns"], av(json!({"NS": ["2"]})));
    assert!(!out.contains_key("nope"));
    // A set left empty is removed.
    let two = item(json!({"s": {"SS": ["x", "y"]}}));
    assert!(!apply_ok("DELETE s :ss", &two).contains_key("s"));
    // Runtime type mismatches.
    let msg = "An operand in the update expression has an incorrect data type";
    assert_eq!(applied("ADD #n :one", &it).unwrap_err().0, msg);
    assert_eq!(applied("ADD a :ss", &it).unwrap_err().0, msg);
    assert_eq!(applied("ADD ss :ns", &it).unwrap_err().0, msg);
    assert_eq!(applied("DELETE ss :ns", &it).unwrap_err().0, msg);
    assert_eq!(applied("DELETE a :ns", &it).unwrap_err().0, msg);
    // Parse-time operand types.
    assert_eq!(
        upd_err("ADD a :s"),
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING, typeSet: ALLOWED_FOR_ADD_OPERAND"
    );
    assert_eq!(
        upd_err("DELETE a :one"),
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER, typeSet: ALLOWED_FOR_DELETE_OPERAND"
    );
    assert!(upd_err("ADD a b").contains("Syntax error; token: \"b\""));
    assert!(upd_err("ADD a").contains("token: \"<EOF>\""));
    assert!(upd_err("DELETE a = :ss").contains("token: \"=\""));
}

#[test]
fn update_arithmetic_errors() {
    let it = sample();
    let k = "Invalid UpdateExpression: ";
    assert_eq!(
        applied("SET a = #n + :one", &it).unwrap_err().0,
        format!(
            "{k}Incorrect operand type for operator or function; operator or function: +, operand type: S"
        )
    );
    assert_eq!(
        applied("SET a = :one - ss", &it).unwrap_err().0,
        format!(
            "{k}Incorrect operand type for operator or function; operator or function: -, operand type: SS"
        )
    );
    assert_eq!(
        upd_err("SET a = b + :s"),
        format!(
            "{k}Incorrect operand type for operator or function; operator or function: +, operand type: S"
        )
    );
    assert_eq!(
        applied("SET a = list_append(l, #n)", &it).unwrap_err().0,
        format!(
            "{k}Incorrect operand type for operator or function; operator or function: list_append, operand type: S"
        )
    );
    assert_eq!(
        upd_err("SET a = list_append(:one, l)"),
        format!(
            "{k}Incorrect operand type for operator or function; operator or function: list_append, operand type: N"
        )
    );
    assert_eq!(
        applied("SET a = nope", &it).unwrap_err().0,
        "The provided expression refers to an attribute that does not exist in the item"
    );
    assert_eq!(
        applied("SET a = nope + :one", &it).unwrap_err().0,
        "The provided expression refers to an attribute that does not exist in the item"
    );
    let big = item(json!({"big": {"N": "9E+125"}}));
    assert_eq!(
        applied("SET big = big + big", &big).unwrap_err().0,
        crate::value::NumberError::Overflow.message()
    );
    let prec = item(json!({"p": {"N": "1e40"}}));
    assert_eq!(
        applied("ADD p :one", &prec).unwrap_err().0,
        crate::value::NumberError::Precision.message()
    );
}

#[test]
fn update_parse_errors() {
    let k = "Invalid UpdateExpression: ";
    assert_eq!(upd_err(""), format!("{k}The expression can not be empty;"));
    assert_eq!(
        upd_err("SET a = :one SET b = :two"),
        format!("{k}The \"SET\" section can only be used once in an update expression;")
    );
    assert_eq!(
        upd_err("REMOVE a remove b"),
        format!("{k}The \"REMOVE\" section can only be used once in an update expression;")
    );
    assert_eq!(
        upd_err("SET a = :one, a.b = :two"),
        format!(
            "{k}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
        )
    );
    assert_eq!(
        upd_err("SET a = :one REMOVE #a"),
        format!(
            "{k}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"
        )
    );
    assert_eq!(
        upd_err("SET l[1].x = :one ADD l[1] :one"),
        format!(
            "{k}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [l, [1], x], path two: [l, [1]]"
        )
    );
    assert_eq!(
        upd_err("SET a.b = :one REMOVE a[0]"),
        format!(
            "{k}Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [0]]"
        )
    );
    assert!(parse_update("SET a.b = :one, a.c = :two REMOVE l[0], l[1]", &mut ctx()).is_ok());
    assert_eq!(
        upd_err("a = :one"),
        format!("{k}Syntax error; token: \"a\", near: \"a =\"")
    );
    assert_eq!(
        upd_err("SET"),
        format!("{k}Syntax error; token: \"<EOF>\", near: \"SET\"")
    );
    assert!(upd_err("SET a = :one,").contains("token: \"<EOF>\""));
    assert!(upd_err("SET a = b + c + :one").contains("token: \"+\""));
    assert!(upd_err("SET a = (b)").contains("token: \"(\""));
    assert!(upd_err("SET a :one").contains("token: \":one\""));
    assert!(upd_err("SET a = :one, REMOVE b").contains("token: \"REMOVE\""));
    assert!(upd_err("UPDATE a = :one").contains("token: \"UPDATE\""));
    assert!(upd_err("REMOVE :one").contains("token: \":one\""));
    assert_eq!(
        upd_err("SET a = foo(b)"),
        format!("{k}Invalid function name; function: foo")
    );
    assert_eq!(
        upd_err("SET a = size(b)"),
        format!("{k}The function is not allowed in an update expression; function: size")
    );
    assert_eq!(
        upd_err("SET a = if_not_exists(:one, :two)"),
        format!(
            "{k}Operator or function requires a document path; operator or function: if_not_exists"
        )
    );
    assert_eq!(
        upd_err("SET a = list_append(l)"),
        format!(
            "{k}Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 1"
        )
    );
    assert_eq!(
        upd_err("SET #zz = :one"),
        format!(
            "{k}An expression attribute name used in the document path is not defined; attribute name: #zz"
        )
    );
    assert_eq!(
        upd_err("SET a = :nope"),
        format!(
            "{k}An expression attribute value used in expression is not defined; attribute value: :nope"
        )
    );
    assert_eq!(
        upd_err("SET data = :one"),
        format!("{k}Attribute name is a reserved keyword; reserved keyword: data")
    );
}

#[test]
fn update_paths() {
    let u = upd("SET a = :one, m.k = b REMOVE l[1] ADD c :one DELETE ss :ss");
    let shown: Vec<String> = u.paths().iter().map(Path::to_string).collect();
    assert_eq!(shown, ["a", "m.k", "l[1]", "c", "ss"]);
}

// ---------------------------------------------------------------- projections

fn proj(src: &str) -> Vec<Path> {
    parse_projection(src, &mut ctx()).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn projections() {
    let it = sample();
    let out = project(&it, &proj("a, #n, nope"));
    assert_eq!(out, item(json!({"a": {"N": "1"}, "name": {"S": "abcdef"}})));
    let out = project(&it, &proj("m.k, m.nope, m.nest.deep"));
    assert_eq!(
        out,
        item(json!({"m": {"M": {"k": {"S": "v"}, "nest": {"M": {"deep": {"N": "10"}}}}}}))
    );
    // Several indexes keep list order, whatever the order asked in.
    let out = project(&it, &proj("l[2], l[0], l[9]"));
    assert_eq!(
        out,
        item(json!({"l": {"L": [{"S": "p"}, {"M": {"q": {"S": "r"}}}]}}))
    );
    let out = project(&it, &proj("l[2].q, #dot"));
    assert_eq!(
        out,
        item(json!({"l": {"L": [{"M": {"q": {"S": "r"}}}]}, "x.y": {"S": "dotted"}}))
    );
    // Paths into the wrong type or past the end give nothing.
    assert!(project(&it, &proj("a.b, l[9], m.nope.deeper")).is_empty());
    assert!(project(&it, &proj("m[0]")).is_empty());
    assert!(project(&Item::new(), &proj("a")).is_empty());
    // An empty map that exists is projected as such.
    let e = item(json!({"m": {"M": {}}}));
    assert_eq!(project(&e, &proj("m")), e);
}

#[test]
fn projection_errors() {
    let k = "Invalid ProjectionExpression: ";
    let err = |s: &str| parse_projection(s, &mut ctx()).unwrap_err().0;
    assert_eq!(err(""), format!("{k}The expression can not be empty;"));
    assert_eq!(
        err("a, a.b"),
        format!(
            "{k}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
        )
    );
    assert_eq!(
        err("a, #a"),
        format!(
            "{k}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"
        )
    );
    assert_eq!(
        err("a, name"),
        format!("{k}Attribute name is a reserved keyword; reserved keyword: name")
    );
    assert_eq!(
        err("a,"),
        format!("{k}Syntax error; token: \"<EOF>\", near: \",\"")
    );
    assert_eq!(
        err("a b"),
        format!("{k}Syntax error; token: \"b\", near: \"a b\"")
    );
    assert!(err("a[-1]").contains("token: \"-\""));
    assert!(err(":v").contains("token: \":v\""));
    assert!(err("foo(a)").contains("token: \"(\""));
    assert_eq!(
        err("#q"),
        format!(
            "{k}An expression attribute name used in the document path is not defined; attribute name: #q"
        )
    );
}

// ---------------------------------------------------------------- key conditions

fn key(src: &str) -> Result<Vec<(String, KeyOp)>, ExprError> {
    parse_key_condition(src, &mut ctx())
}

fn key_err(src: &str) -> String {
    key(src).unwrap_err().0
}

#[test]
fn key_conditions() {
    assert_eq!(
        key("pk = :one").unwrap(),
        [("pk".to_string(), KeyOp::Eq(num("1")))]
    );
    assert_eq!(
        key("#k = :one AND sk < :two").unwrap(),
        [
            ("pk".to_string(), KeyOp::Eq(num("1"))),
            ("sk".to_string(), KeyOp::Lt(num("2")))
        ]
    );
    assert_eq!(
        key("(sk >= :s) and (pk = :one)").unwrap(),
        [
            ("sk".to_string(), KeyOp::Ge(st("abc"))),
            ("pk".to_string(), KeyOp::Eq(num("1")))
        ]
    );
    assert_eq!(key("sk <= :one").unwrap()[0].1, KeyOp::Le(num("1")));
    assert_eq!(key("sk > :one").unwrap()[0].1, KeyOp::Gt(num("1")));
    assert_eq!(key(":one < sk").unwrap()[0].1, KeyOp::Gt(num("1")));
    assert_eq!(
        key("sk BETWEEN :one AND :two").unwrap()[0].1,
        KeyOp::Between(num("1"), num("2"))
    );
    assert_eq!(
        key("pk = :one AND begins_with(sk, :ab)").unwrap()[1],
        ("sk".to_string(), KeyOp::BeginsWith(st("ab")))
    );
    assert_eq!(key("((pk = :one AND (sk = :two)))").unwrap().len(), 2);
}

#[test]
fn key_condition_errors() {
    let op = |o: &str| format!("Invalid operator used in KeyConditionExpression: {o}");
    assert_eq!(key_err("pk = :one OR sk = :two"), op("OR"));
    assert_eq!(key_err("NOT pk = :one"), op("NOT"));
    assert_eq!(key_err("pk <> :one"), op("<>"));
    assert_eq!(key_err("pk IN (:one, :two)"), op("IN"));
    assert_eq!(key_err("attribute_exists(pk)"), op("attribute_exists"));
    assert_eq!(key_err("pk = :one AND contains(sk, :s)"), op("contains"));
    assert_eq!(key_err("size(pk) = :one"), op("size"));
    assert_eq!(
        key_err("pk = :one AND pk = :two"),
        "KeyConditionExpressions must only contain one condition per key"
    );
    assert_eq!(
        key_err(
            "a = :one AND b = :one AND c = :one AND d = :one AND e = :one AND f = :one AND g = :one AND h = :one AND i = :one"
        ),
        "Conditions can be of length 1 or 2 only"
    );
    assert!(key_err("a.b = :one").starts_with(
        "Invalid KeyConditionExpression: Key conditions may only use top-level attributes"
    ));
    assert!(key_err("l[0] = :one").contains("path: l[0]"));
    assert!(key_err("pk = sk").starts_with("Invalid KeyConditionExpression: Each key condition"));
    assert!(
        key_err("sk BETWEEN :one AND pk")
            .starts_with("Invalid KeyConditionExpression: Each key condition")
    );
    assert!(
        key_err("begins_with(sk, pk)")
            .starts_with("Invalid KeyConditionExpression: Each key condition")
    );
    assert_eq!(
        key_err("sk BETWEEN :z AND :s"),
        "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower operand: AttributeValue: {S:z}, upper operand: AttributeValue: {S:abc}"
    );
    assert_eq!(
        key_err(""),
        "Invalid KeyConditionExpression: The expression can not be empty;"
    );
    assert_eq!(
        key_err("pk = :one AND"),
        "Invalid KeyConditionExpression: Syntax error; token: \"<EOF>\", near: \"AND\""
    );
    assert_eq!(
        key_err("#zz = :one"),
        "Invalid KeyConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #zz"
    );
    assert_eq!(
        key_err("pk = :nope"),
        "Invalid KeyConditionExpression: An expression attribute value used in expression is not defined; attribute value: :nope"
    );
    assert_eq!(
        key_err("name = :one"),
        "Invalid KeyConditionExpression: Attribute name is a reserved keyword; reserved keyword: name"
    );
}

// ---------------------------------------------------------------- robustness

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn parse_everything(src: &str) {
    let mut c = ctx();
    let _ = parse_condition(src, "FilterExpression", &mut c);
    if let Ok(u) = parse_update(src, &mut c) {
        let mut it = sample();
        let _ = u.apply(&mut it);
        let _ = u.paths();
    }
    if let Ok(p) = parse_projection(src, &mut c) {
        let _ = project(&sample(), &p);
    }
    let _ = parse_key_condition(src, &mut c);
    let _ = c.check_unused();
    if let Ok(cnd) = parse_condition(src, "ConditionExpression", &mut c) {
        let _ = cnd.eval(&sample());
    }
}

#[test]
fn garbage_never_panics() {
    const PIECES: &[&str] = &[
        "a",
        "b",
        "#n",
        "#a",
        "#zz",
        ":one",
        ":s",
        ":l",
        ":ss",
        ":nope",
        "(",
        ")",
        "[",
        "]",
        "[0]",
        "[99]",
        ",",
        ".",
        "=",
        "<>",
        "<",
        "<=",
        ">",
        ">=",
        "+",
        "-",
        " ",
        " AND ",
        " OR ",
        " NOT ",
        " BETWEEN ",
        " IN ",
        "SET ",
        "REMOVE ",
        "ADD ",
        "DELETE ",
        "size",
        "contains",
        "begins_with",
        "attribute_exists",
        "attribute_type",
        "if_not_exists",
        "list_append",
        "name",
        "l",
        "m",
        "ss",
        "é",
        "#",
        ":",
        "\u{0}",
        "9999999999999999999999",
        "_",
        "$",
        "\"",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2500 {
        let n = rng.below(16) + 1;
        let s: String = (0..n).map(|_| PIECES[rng.below(PIECES.len())]).collect();
        parse_everything(&s);
    }
    for _ in 0..500 {
        let n = rng.below(40);
        let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        parse_everything(&String::from_utf8_lossy(&bytes));
    }
    for deep in [
        "(".repeat(10_000),
        format!("{}a = :one{}", "(".repeat(4000), ")".repeat(4000)),
        "NOT ".repeat(1000),
        format!("SET a = {}", "list_append(".repeat(1000)),
        "size(".repeat(2000),
        "a.".repeat(2000),
        "l[0]".repeat(1000),
        format!("{}a = :one", "a = :one AND ".repeat(300)),
    ] {
        parse_everything(&deep);
    }
    // Deep but within limits: nested update functions.
    let mut f = ":l".to_string();
    for _ in 0..99 {
        f = format!("list_append({f}, :l)");
    }
    let out = apply_ok(&format!("SET x = {f}"), &Item::new());
    let V::L(l) = &out["x"] else { panic!() };
    assert_eq!(l.len(), 100);
}
