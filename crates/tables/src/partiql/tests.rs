use super::*;
use crate::expr::{Context, parse_condition, parse_projection, parse_update};
use crate::value::Number;
use std::collections::BTreeMap;

fn s(x: &str) -> AttributeValue {
    AttributeValue::S(x.to_string())
}

fn n(x: &str) -> AttributeValue {
    AttributeValue::N(Number::parse(x).unwrap())
}

fn ok(stmt: &str) -> Parsed {
    ok_with(stmt, &[])
}

/// Parses, then checks every rendered expression with the expression engine
/// (sharing one context, as a request would) and that no placeholder is unused.
fn ok_with(stmt: &str, params: &[AttributeValue]) -> Parsed {
    let p = parse(stmt, params).unwrap_or_else(|e| panic!("{stmt:?}: {}", e.0));
    let mut ctx = Context::new(p.names.clone(), p.values.clone());
    let cond = |w: &Where, ctx: &mut Context| {
        parse_condition(&w.condition, "ConditionExpression", ctx)
            .unwrap_or_else(|e| panic!("{stmt:?} -> {:?}: {}", w.condition, e.0));
    };
    match &p.statement {
        Statement::Select {
            projection, filter, ..
        } => {
            if let Some(pr) = projection {
                parse_projection(pr, &mut ctx)
                    .unwrap_or_else(|e| panic!("{stmt:?} -> {pr:?}: {}", e.0));
            }
            if let Some(w) = filter {
                cond(w, &mut ctx);
            }
        }
        Statement::Insert { .. } => {
            assert!(p.names.is_empty() && p.values.is_empty());
        }
        Statement::Update { update, filter, .. } => {
            parse_update(update, &mut ctx)
                .unwrap_or_else(|e| panic!("{stmt:?} -> {update:?}: {}", e.0));
            cond(filter, &mut ctx);
        }
        Statement::Delete { filter, .. } => cond(filter, &mut ctx),
    }
    ctx.check_unused()
        .unwrap_or_else(|e| panic!("{stmt:?}: {}", e.0));
    p
}

fn err(stmt: &str) -> String {
    err_with(stmt, &[])
}

fn err_with(stmt: &str, params: &[AttributeValue]) -> String {
    match parse(stmt, params) {
        Ok(p) => panic!("{stmt:?} parsed: {p:?}"),
        Err(e) => e.0,
    }
}

fn filter(p: &Parsed) -> &Where {
    match &p.statement {
        Statement::Select {
            filter: Some(w), ..
        }
        | Statement::Update { filter: w, .. }
        | Statement::Delete { filter: w, .. } => w,
        other => panic!("no filter: {other:?}"),
    }
}

/// The condition with placeholders replaced by names and values, for readable assertions.
fn expand(p: &Parsed, text: &str) -> String {
    let mut keys: Vec<(&String, String)> = p
        .names
        .iter()
        .map(|(k, v)| (k, v.clone()))
        .chain(p.values.iter().map(|(k, v)| (k, v.to_json().to_string())))
        .collect();
    // Longest first, so #n10 is replaced before #n1.
    keys.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    let mut out = text.to_string();
    for (k, v) in keys {
        out = out.replace(k.as_str(), &v);
    }
    out
}

fn cond_text(stmt: &str) -> String {
    let p = ok(stmt);
    expand(&p, &filter(&p).condition)
}

// ----- SELECT -----

#[test]
fn select_star_without_where() {
    let p = ok("SELECT * FROM \"my-table\"");
    assert_eq!(
        p.statement,
        Statement::Select {
            table: "my-table".into(),
            index: None,
            projection: None,
            filter: None
        }
    );
    assert!(p.names.is_empty() && p.values.is_empty());
}

#[test]
fn select_with_keyword_case_and_semicolon() {
    let p = ok("select * from Music where Artist = 'Acme';");
    let w = filter(&p);
    assert_eq!(w.condition, "#n0 = :v0");
    assert_eq!(p.names["#n0"], "Artist");
    assert_eq!(p.values[":v0"], s("Acme"));
    assert_eq!(w.equalities, vec![("Artist".to_string(), s("Acme"))]);
    assert!(w.ranges.is_empty());
}

#[test]
fn select_projection_and_index() {
    let p = ok("SELECT a, b.c, d[0], \"e\".\"f\", g['h'][1] FROM \"t\".\"idx\" WHERE pk = 1");
    let Statement::Select {
        table,
        index,
        projection,
        ..
    } = &p.statement
    else {
        panic!()
    };
    assert_eq!(table, "t");
    assert_eq!(index.as_deref(), Some("idx"));
    let pr = projection.as_deref().unwrap();
    assert_eq!(pr, "#n0, #n1.#n2, #n3[0], #n4.#n5, #n6.#n7[1]");
    assert_eq!(expand(&p, pr), "a, b.c, d[0], e.f, g.h[1]");
    let bare = ok("SELECT x FROM t.idx");
    let Statement::Select { table, index, .. } = &bare.statement else {
        panic!()
    };
    assert_eq!((table.as_str(), index.as_deref()), ("t", Some("idx")));
}

#[test]
fn reserved_words_are_safe_as_placeholders() {
    let p = ok("SELECT \"status\", \"name\" FROM t WHERE \"size\" > 3 AND \"value\" = 'x'");
    assert_eq!(
        expand(&p, &filter(&p).condition),
        "size > {\"N\":\"3\"} AND value = {\"S\":\"x\"}"
    );
    // Names are deduplicated: one placeholder per distinct attribute name.
    let p = ok("SELECT a FROM t WHERE a = 1 OR a = 2");
    assert_eq!(p.names.len(), 1);
    assert_eq!(p.values.len(), 2);
}

// ----- WHERE -----

#[test]
fn comparison_operators() {
    for (op, want) in [
        ("=", "="),
        ("<>", "<>"),
        ("!=", "<>"),
        ("<", "<"),
        ("<=", "<="),
        (">", ">"),
        (">=", ">="),
    ] {
        let p = ok(&format!("SELECT * FROM t WHERE a {op} 5"));
        assert_eq!(filter(&p).condition, format!("#n0 {want} :v0"));
    }
}

#[test]
fn logic_and_parentheses_render_with_the_right_precedence() {
    assert_eq!(
        cond_text("SELECT * FROM t WHERE (a = 1 OR b = 2) AND NOT (c = 3 AND d = 4)"),
        "(a = {\"N\":\"1\"} OR b = {\"N\":\"2\"}) AND NOT (c = {\"N\":\"3\"} AND d = {\"N\":\"4\"})"
    );
    assert_eq!(
        cond_text("SELECT * FROM t WHERE a = 1 OR b = 2 AND c = 3"),
        "a = {\"N\":\"1\"} OR b = {\"N\":\"2\"} AND c = {\"N\":\"3\"}"
    );
    assert_eq!(
        cond_text("SELECT * FROM t WHERE ((a = 1)) AND (b = 2 AND (c = 3))"),
        "a = {\"N\":\"1\"} AND b = {\"N\":\"2\"} AND c = {\"N\":\"3\"}"
    );
    assert_eq!(
        cond_text("SELECT * FROM t WHERE NOT NOT a = 1"),
        "NOT NOT a = {\"N\":\"1\"}"
    );
}

#[test]
fn between_in_and_functions() {
    let p = ok("SELECT * FROM t WHERE a BETWEEN 1 AND 10 AND b IN [1, 'x', c] AND d IN ('p', 'q')");
    assert_eq!(
        filter(&p).condition,
        "#n0 BETWEEN :v0 AND :v1 AND #n1 IN (:v2, :v3, #n2) AND #n3 IN (:v4, :v5)"
    );
    let p = ok(
        "SELECT * FROM t WHERE begins_with(sk, 'A#') AND contains(tags, 'x') AND attribute_type(a, 'S') AND size(b) >= 2 AND 3 < size(c.d)",
    );
    assert_eq!(
        filter(&p).condition,
        "begins_with(#n0, :v0) AND contains(#n1, :v1) AND attribute_type(#n2, :v2) AND size(#n3) >= :v3 AND :v4 < size(#n4.#n5)"
    );
    let p = ok_with(
        "SELECT * FROM t WHERE BEGINS_WITH(\"sk\", ?) AND Contains(l, m)",
        &[s("x")],
    );
    assert_eq!(
        filter(&p).condition,
        "begins_with(#n0, :v0) AND contains(#n1, #n2)"
    );
    assert_eq!(
        filter(&p).ranges,
        vec![("sk".to_string(), "begins_with".to_string(), vec![s("x")])]
    );
}

#[test]
fn not_between_and_not_in() {
    assert_eq!(
        ok("SELECT * FROM t WHERE a NOT BETWEEN 1 AND 2").statement,
        ok("SELECT * FROM t WHERE NOT a BETWEEN 1 AND 2").statement
    );
    let p = ok("SELECT * FROM t WHERE a NOT IN [1, 2]");
    assert_eq!(filter(&p).condition, "NOT #n0 IN (:v0, :v1)");
}

#[test]
fn missing_and_null() {
    let p = ok(
        "SELECT * FROM t WHERE a IS MISSING AND b IS NOT MISSING AND c IS NULL AND d.e IS NOT NULL",
    );
    let w = filter(&p);
    assert_eq!(
        w.condition,
        "attribute_not_exists(#n0) AND attribute_exists(#n1) AND attribute_type(#n2, :v0) AND NOT attribute_type(#n3.#n4, :v1)"
    );
    assert_eq!(p.values[":v0"], s("NULL"));
    assert_eq!(p.values[":v1"], s("NULL"));
    // A comparison with the null literal is a comparison with a NULL value.
    let p = ok("SELECT * FROM t WHERE a = null");
    assert_eq!(p.values[":v0"], AttributeValue::Null);
}

#[test]
fn equalities_and_ranges_come_only_from_top_level_conjuncts() {
    let p = ok(
        "SELECT * FROM t WHERE pk = 'x' AND 'y' = sk2 AND a.b = 1 AND (c = 2 OR d = 3) AND NOT e = 4 AND f = g AND sk BETWEEN 1 AND 5 AND 7 > r AND begins_with(s, 'p') AND size(z) = 3 AND q <> 1",
    );
    let w = filter(&p);
    assert_eq!(
        w.equalities,
        vec![("pk".to_string(), s("x")), ("sk2".to_string(), s("y"))]
    );
    assert_eq!(
        w.ranges,
        vec![
            (
                "sk".to_string(),
                "BETWEEN".to_string(),
                vec![n("1"), n("5")]
            ),
            ("r".to_string(), "<".to_string(), vec![n("7")]),
            ("s".to_string(), "begins_with".to_string(), vec![s("p")]),
        ]
    );
    // Under OR: nothing.
    let p = ok("SELECT * FROM t WHERE pk = 'x' OR sk = 'y'");
    assert!(filter(&p).equalities.is_empty());
    // A single condition is a conjunct; parenthesized ANDs flatten.
    let p = ok("SELECT * FROM t WHERE (pk = 'x' AND (sk >= 3))");
    assert_eq!(filter(&p).equalities, vec![("pk".to_string(), s("x"))]);
    assert_eq!(
        filter(&p).ranges,
        vec![("sk".to_string(), ">=".to_string(), vec![n("3")])]
    );
    // Quoted names are unquoted.
    let p = ok_with("SELECT * FROM t WHERE \"my key\" = ?", &[n("1")]);
    assert_eq!(filter(&p).equalities, vec![("my key".to_string(), n("1"))]);
}

#[test]
fn parameters_fill_in_order() {
    let params = [s("k"), n("3"), AttributeValue::B(vec![1, 2])];
    let p = ok_with("SELECT * FROM t WHERE pk = ? AND sk > ? AND b = ?", &params);
    let w = filter(&p);
    assert_eq!(
        w.equalities,
        vec![("pk".into(), s("k")), ("b".into(), params[2].clone())]
    );
    assert_eq!(w.ranges, vec![("sk".into(), ">".into(), vec![n("3")])]);
    assert_eq!(p.values[":v1"], n("3"));
}

#[test]
fn parameter_count_must_match() {
    let msg = "Number of parameters in request and statement don't match.";
    assert_eq!(err_with("SELECT * FROM t WHERE a = ?", &[]), msg);
    assert_eq!(err_with("SELECT * FROM t WHERE a = 1", &[s("x")]), msg);
    assert_eq!(
        err_with("SELECT * FROM t WHERE a = ? AND b = ?", &[s("x")]),
        msg
    );
    // A '?' inside a string is not a parameter.
    ok("SELECT * FROM t WHERE a = '?'");
    ok_with("SELECT * FROM t WHERE a = '?' AND b = ?", &[s("x")]);
}

// ----- literals -----

#[test]
fn literal_types() {
    let p = ok(
        "INSERT INTO t VALUE {'pk': 'it''s', 'n': -1.50, 'e': 1e3, 'big': 12345678901234567890123456789012345678, 'tiny': .5, 'b': true, 'f': FALSE, 'z': null, 'l': [1, 'a', [], {}], 'm': {'x': [true], 'y': {'q': <<1, 2.0>>}}, 'ss': <<'a', 'b'>>}",
    );
    let Statement::Insert { table, item } = &p.statement else {
        panic!()
    };
    assert_eq!(table, "t");
    let mut want: Item = BTreeMap::new();
    want.insert("pk".into(), s("it's"));
    want.insert("n".into(), n("-1.5"));
    want.insert("e".into(), n("1000"));
    want.insert("big".into(), n("12345678901234567890123456789012345678"));
    want.insert("tiny".into(), n("0.5"));
    want.insert("b".into(), AttributeValue::Bool(true));
    want.insert("f".into(), AttributeValue::Bool(false));
    want.insert("z".into(), AttributeValue::Null);
    want.insert(
        "l".into(),
        AttributeValue::L(vec![
            n("1"),
            s("a"),
            AttributeValue::L(vec![]),
            AttributeValue::M(BTreeMap::new()),
        ]),
    );
    let mut y = BTreeMap::new();
    y.insert(
        "q".to_string(),
        AttributeValue::Ns(vec![
            Number::parse("1").unwrap(),
            Number::parse("2").unwrap(),
        ]),
    );
    let mut m = BTreeMap::new();
    m.insert(
        "x".to_string(),
        AttributeValue::L(vec![AttributeValue::Bool(true)]),
    );
    m.insert("y".to_string(), AttributeValue::M(y));
    want.insert("m".into(), AttributeValue::M(m));
    want.insert(
        "ss".into(),
        AttributeValue::Ss(vec!["a".into(), "b".into()]),
    );
    assert_eq!(item, &want);
}

#[test]
fn binary_sets_come_from_parameters() {
    let p = ok_with(
        "INSERT INTO t VALUE {'pk': ?, 'bs': <<?, ?>>}",
        &[
            s("k"),
            AttributeValue::B(vec![1]),
            AttributeValue::B(vec![2]),
        ],
    );
    let Statement::Insert { item, .. } = &p.statement else {
        panic!()
    };
    assert_eq!(item["bs"], AttributeValue::Bs(vec![vec![1], vec![2]]));
    assert_eq!(item["pk"], s("k"));
}

#[test]
fn bad_sets_and_numbers() {
    assert!(err("SELECT * FROM t WHERE a = <<>>").contains("may not be empty"));
    assert!(err("SELECT * FROM t WHERE a = <<1, 'a'>>").contains("same type"));
    assert!(err("SELECT * FROM t WHERE a = <<true>>").contains("strings, numbers or binaries"));
    assert!(err("SELECT * FROM t WHERE a = <<1, 1.0>>").contains("duplicates"));
    assert!(err("SELECT * FROM t WHERE a = <<[1]>>").contains("not L"));
    assert_eq!(
        err("SELECT * FROM t WHERE a = 123456789012345678901234567890123456789"),
        "Attempting to store more than 38 significant digits in a Number"
    );
    assert!(err("SELECT * FROM t WHERE a = 1e999").contains("overflow"));
    assert!(err("SELECT * FROM t WHERE a = 1e").starts_with("Statement wasn't well formed"));
    assert!(err("INSERT INTO t VALUE {'a': 1, 'a': 2}").contains("Duplicate key"));
    assert!(err("INSERT INTO t VALUE {\"a\": 1}").starts_with("Statement wasn't well formed"));
    assert!(err("INSERT INTO t VALUE {'a' 1}").starts_with("Statement wasn't well formed"));
    assert!(err("INSERT INTO t VALUE {'a': 1,}").starts_with("Statement wasn't well formed"));
    assert!(err("SELECT * FROM t WHERE a = 'open").contains("Unterminated string"));
    assert!(err("SELECT * FROM \"open WHERE").contains("Unterminated quoted identifier"));
}

// ----- INSERT -----

#[test]
fn insert_value_from_a_parameter() {
    let mut m = BTreeMap::new();
    m.insert("pk".to_string(), s("x"));
    let p = ok_with("INSERT INTO \"t\" VALUE ?", &[AttributeValue::M(m.clone())]);
    assert_eq!(
        p.statement,
        Statement::Insert {
            table: "t".into(),
            item: m
        }
    );
    assert!(err_with("INSERT INTO t VALUE ?", &[s("x")]).contains("must be a tuple"));
    assert!(err("INSERT INTO t VALUE [1]").starts_with("Statement wasn't well formed"));
    assert!(err("INSERT INTO t VALUES {'a': 1}").starts_with("Unsupported operation"));
    assert!(err("INSERT INTO t.i VALUE {'a': 1}").starts_with("Statement wasn't well formed"));
    assert!(
        err("INSERT INTO t VALUE {'a': 1} WHERE a = 1").starts_with("Statement wasn't well formed")
    );
}

// ----- UPDATE -----

#[test]
fn update_set_and_remove_clauses() {
    let p = ok(
        "UPDATE \"t\" SET a = 1 SET b = b + 1 REMOVE d SET c = list_append(c, [1]) SET \"e\".\"k\" = 'x', f = if_not_exists(f, 0) - 2 REMOVE g[3], h.i WHERE pk = 'x' AND sk = 'y' AND attribute_type(a, 'N')",
    );
    let Statement::Update {
        table,
        update,
        filter,
    } = &p.statement
    else {
        panic!()
    };
    assert_eq!(table, "t");
    assert_eq!(
        update,
        "SET #n0 = :v0, #n1 = #n1 + :v1, #n3 = list_append(#n3, :v2), #n4.#n5 = :v3, #n6 = if_not_exists(#n6, :v4) - :v5 REMOVE #n2, #n7[3], #n8.#n9"
    );
    assert_eq!(
        expand(&p, update),
        "SET a = {\"N\":\"1\"}, b = b + {\"N\":\"1\"}, c = list_append(c, {\"L\":[{\"N\":\"1\"}]}), e.k = {\"S\":\"x\"}, f = if_not_exists(f, {\"N\":\"0\"}) - {\"N\":\"2\"} REMOVE d, g[3], h.i"
    );
    assert_eq!(
        filter.equalities,
        vec![("pk".into(), s("x")), ("sk".into(), s("y"))]
    );
    assert_eq!(
        filter.condition,
        "#n10 = :v6 AND #n11 = :v7 AND attribute_type(#n0, :v8)"
    );
}

#[test]
fn update_bracket_string_map_access() {
    let p = ok("UPDATE t SET e['k'] = 'x' WHERE pk = 1");
    let Statement::Update { update, .. } = &p.statement else {
        panic!()
    };
    assert_eq!(expand(&p, update), "SET e.k = {\"S\":\"x\"}");
}

#[test]
fn update_set_add_and_set_delete() {
    let p = ok(
        "UPDATE t SET s = set_add(s, <<'x', 'y'>>) SET n = SET_DELETE(n, <<1>>) SET v = 1 REMOVE w WHERE pk = 'k'",
    );
    let Statement::Update { update, .. } = &p.statement else {
        panic!()
    };
    assert_eq!(
        update,
        "SET #n2 = :v2 REMOVE #n3 ADD #n0 :v0 DELETE #n1 :v1"
    );
    assert_eq!(
        p.values[":v0"],
        AttributeValue::Ss(vec!["x".into(), "y".into()])
    );
    assert_eq!(
        p.values[":v1"],
        AttributeValue::Ns(vec![Number::parse("1").unwrap()])
    );
    let p = ok_with(
        "UPDATE t SET s = set_add(s, ?) WHERE pk = ?",
        &[AttributeValue::Bs(vec![vec![0]]), s("k")],
    );
    assert_eq!(p.values.len(), 2);
    assert!(
        err("UPDATE t SET s = set_add(other, <<'x'>>) WHERE pk = 1")
            .starts_with("Unsupported operation")
    );
    assert!(err("UPDATE t SET s = set_add(s, 'x') WHERE pk = 1").contains("must be a set"));
    assert!(err("UPDATE t SET s = set_delete(s, 1) WHERE pk = 1").contains("must be a set"));
}

#[test]
fn update_negative_literals_and_subtraction() {
    let p = ok("UPDATE t SET a = -1, b = b - 1, c = c - -2, d = d+1 WHERE pk = 1");
    let Statement::Update { update, .. } = &p.statement else {
        panic!()
    };
    assert_eq!(
        expand(&p, update),
        "SET a = {\"N\":\"-1\"}, b = b - {\"N\":\"1\"}, c = c - {\"N\":\"-2\"}, d = d + {\"N\":\"1\"}"
    );
}

#[test]
fn update_errors() {
    let key = "Where clause does not contain a mandatory equality on all key attributes";
    assert_eq!(err("UPDATE t SET a = 1"), key);
    assert_eq!(err("UPDATE t SET a = 1;"), key);
    assert!(err("UPDATE t WHERE pk = 1").starts_with("Statement wasn't well formed"));
    assert!(err("UPDATE t SET a = 1 + 2 + 3 WHERE pk = 1").starts_with("Unsupported operation"));
    assert!(err("UPDATE t SET a = size(b) WHERE pk = 1").starts_with("Unsupported operation"));
    assert!(err("UPDATE t SET a = upper(b) WHERE pk = 1").starts_with("Unsupported operation"));
    assert!(err("UPDATE t SET a WHERE pk = 1").starts_with("Statement wasn't well formed"));
    assert!(err("UPDATE t SET a = 1 WHERE").starts_with("Statement wasn't well formed"));
    assert!(err("UPDATE t.i SET a = 1 WHERE pk = 1").starts_with("Statement wasn't well formed"));
    assert!(
        err("UPDATE t SET a = if_not_exists(1, 2) WHERE pk = 1")
            .starts_with("Statement wasn't well formed")
    );
}

// ----- DELETE -----

#[test]
fn delete_statements() {
    let p = ok("DELETE FROM \"t\" WHERE pk = 'x' AND sk = 2 AND attribute_type(x, 'S');");
    let Statement::Delete { table, filter } = &p.statement else {
        panic!()
    };
    assert_eq!(table, "t");
    assert_eq!(
        filter.equalities,
        vec![("pk".into(), s("x")), ("sk".into(), n("2"))]
    );
    assert_eq!(
        err("DELETE FROM t"),
        "Where clause does not contain a mandatory equality on all key attributes"
    );
    assert!(err("DELETE t WHERE pk = 1").starts_with("Statement wasn't well formed"));
    assert!(err("DELETE FROM t.i WHERE pk = 1").starts_with("Statement wasn't well formed"));
}

// ----- errors -----

#[test]
fn unsupported_constructs() {
    for stmt in [
        "SELECT * FROM a JOIN b ON a.x = b.x",
        "SELECT * FROM a, b",
        "SELECT * FROM t ORDER BY sk",
        "SELECT * FROM t WHERE pk = 1 ORDER BY sk DESC",
        "SELECT * FROM t WHERE pk = 1 LIMIT 5",
        "SELECT * FROM t AS x",
        "SELECT * FROM t x",
        "SELECT * FROM (SELECT * FROM t)",
        "SELECT * FROM t WHERE a IN (SELECT b FROM u)",
        "SELECT * FROM t WHERE a = (SELECT b FROM u)",
        "SELECT COUNT(*) FROM t",
        "SELECT DISTINCT a FROM t",
        "SELECT * FROM t WHERE upper(a) = 'X'",
        "SELECT * FROM t WHERE attribute_exists(a)",
        "SELECT * FROM t WHERE a LIKE 'x%'",
        "SELECT * FROM t WHERE a = MISSING",
        "SELECT a.* FROM t",
        "SELECT a[*] FROM t",
        "SELECT * FROM t WHERE a[?] = 1",
        "SELECT * FROM t WHERE a IS TRUE",
        "EXISTS(SELECT * FROM t WHERE pk = 1)",
        "CREATE TABLE t",
        "SELECT * FROM t WHERE pk = 1 GROUP BY a",
    ] {
        let params = vec![s("x"); stmt.matches('?').count()];
        let e = parse(stmt, &params).expect_err(stmt).0;
        assert!(e.starts_with("Unsupported operation: "), "{stmt:?}: {e}");
    }
}

#[test]
fn malformed_statements() {
    for stmt in [
        "",
        "   ",
        ";",
        "SELECT",
        "SELECT * FROM",
        "SELECT FROM t",
        "SELECT *, a FROM t",
        "SELECT a, * FROM t",
        "SELECT * FROM t WHERE",
        "SELECT * FROM t WHERE a",
        "SELECT * FROM t WHERE a =",
        "SELECT * FROM t WHERE a = 1 AND",
        "SELECT * FROM t WHERE (a = 1",
        "SELECT * FROM t WHERE a = 1)",
        "SELECT * FROM t WHERE a BETWEEN 1",
        "SELECT * FROM t WHERE a IN []",
        "SELECT * FROM t WHERE a IN 1",
        "SELECT * FROM t WHERE a IS",
        "SELECT * FROM t WHERE 1 IS NULL",
        "SELECT * FROM t WHERE begins_with('a', 'b')",
        "SELECT * FROM t WHERE begins_with(a)",
        "SELECT * FROM t WHERE a = 1; SELECT * FROM t",
        "SELECT * FROM t;;",
        "SELECT * FROM t WHERE a = - 'x'",
        "SELECT * FROM t WHERE a[1.5] = 1",
        "SELECT * FROM t WHERE a[99999999999] = 1",
        "SELECT * FROM t WHERE a = 1 # x",
        "SELECT * FROM t WHERE a ! 1",
        "SELECT * FROM t WHERE where = 1",
        "SELECT * FROM \"\"",
        "SELECT \"\" FROM t",
        "FOO BAR",
        "SELECT * FROM t WHERE a = 1 b = 2",
    ] {
        let e = parse(stmt, &[]).expect_err(stmt).0;
        assert!(
            e.starts_with("Statement wasn't well formed, can't be processed: "),
            "{stmt:?}: {e}"
        );
    }
}

#[test]
fn nesting_is_capped() {
    let deep = |open: &str, close: &str, k: usize| {
        format!(
            "SELECT * FROM t WHERE {}a = 1{}",
            open.repeat(k),
            close.repeat(k)
        )
    };
    ok(&deep("(", ")", 50));
    assert!(err(&deep("(", ")", 150)).contains("nesting depth"));
    assert!(err(&deep("NOT ", "", 150)).contains("nesting depth"));
    let lists = format!(
        "INSERT INTO t VALUE {{'a': {}1{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(err(&lists).contains("nesting depth"));
    let maps = format!(
        "INSERT INTO t VALUE {}{}",
        "{'a': ".repeat(200),
        "}".repeat(200)
    );
    assert!(err(&maps).contains("nesting depth"));
    let appends = format!(
        "UPDATE t SET a = {}[1]{} WHERE pk = 1",
        "list_append([1], ".repeat(200),
        ")".repeat(200)
    );
    assert!(err(&appends).contains("nesting depth"));
    // Enormous inputs without closing brackets don't overflow the stack either.
    for open in [
        "(",
        "[",
        "{'a':",
        "NOT ",
        "<<",
        "list_append(",
        "begins_with(",
    ] {
        let _ = parse(
            &format!("SELECT * FROM t WHERE {}", open.repeat(100_000)),
            &[],
        );
        let _ = parse(&format!("UPDATE t SET a = {}", open.repeat(100_000)), &[]);
    }
}

#[test]
fn identifiers_and_escapes() {
    let p = ok("SELECT * FROM \"a\"\"b\" WHERE \"x\"\"y\" = 'it''s' AND _u1 = 'é'");
    let Statement::Select { table, .. } = &p.statement else {
        panic!()
    };
    assert_eq!(table, "a\"b");
    let w = filter(&p);
    assert_eq!(
        w.equalities,
        vec![("x\"y".into(), s("it's")), ("_u1".into(), s("é"))]
    );
    // Keywords after a dot are plain names.
    let p = ok("SELECT a.value, a.\"from\" FROM t");
    let Statement::Select { projection, .. } = &p.statement else {
        panic!()
    };
    assert_eq!(
        expand(&p, projection.as_deref().unwrap()),
        "a.value, a.from"
    );
}

#[test]
fn rendered_operands_cover_literal_comparisons() {
    // Lists, maps and sets as comparison values; literal on both sides.
    ok("SELECT * FROM t WHERE a = [1, 2] AND b = {'x': 1} AND c = <<'a'>> AND 1 = 1");
    ok("SELECT * FROM t WHERE contains(a, b.c) AND begins_with(a2, 'x')");
}

// ----- robustness -----

/// A small deterministic PRNG (xorshift64*).
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
}

/// Parses `stmt` with parameters for every '?', and when it succeeds, runs the
/// rendered expressions through the expression engine (which must not panic either).
fn exercise(stmt: &str, rng: &mut Rng) -> bool {
    let count = stmt.matches('?').count();
    let pool = [
        s("p"),
        n("1"),
        AttributeValue::B(vec![1]),
        AttributeValue::Ss(vec!["x".into()]),
        AttributeValue::L(vec![]),
        AttributeValue::M(BTreeMap::new()),
    ];
    let params: Vec<AttributeValue> = (0..count)
        .map(|_| pool[rng.below(pool.len())].clone())
        .collect();
    let _ = parse(stmt, &params[..count.saturating_sub(rng.below(2))]);
    let Ok(p) = parse(stmt, &params) else {
        return false;
    };
    // The rendered texts may fail the engine's semantic checks (a parameter of
    // the wrong type, say), never its syntax or placeholder checks.
    let mut ctx = Context::new(p.names.clone(), p.values.clone());
    let mut all_ok = true;
    let mut check = |r: Result<(), crate::expr::ExprError>, text: &str| {
        if let Err(e) = r {
            all_ok = false;
            for bad in [
                "Syntax error",
                "not defined",
                "reserved keyword",
                "can not be empty",
            ] {
                assert!(!e.0.contains(bad), "{stmt:?} -> {text:?}: {}", e.0);
            }
        }
    };
    match &p.statement {
        Statement::Select {
            projection, filter, ..
        } => {
            if let Some(pr) = projection {
                check(parse_projection(pr, &mut ctx).map(drop), pr);
            }
            if let Some(w) = filter {
                let r = parse_condition(&w.condition, "ConditionExpression", &mut ctx);
                check(r.map(drop), &w.condition);
            }
        }
        Statement::Update { update, filter, .. } => {
            check(parse_update(update, &mut ctx).map(drop), update);
            let r = parse_condition(&filter.condition, "ConditionExpression", &mut ctx);
            check(r.map(drop), &filter.condition);
        }
        Statement::Delete { filter, .. } => {
            let r = parse_condition(&filter.condition, "ConditionExpression", &mut ctx);
            check(r.map(drop), &filter.condition);
        }
        Statement::Insert { .. } => {}
    }
    if all_ok {
        assert_eq!(ctx.check_unused(), Ok(()), "{stmt:?}");
    }
    true
}

const SEEDS: &[&str] = &[
    "SELECT * FROM \"t\" WHERE pk = 'x' AND sk BETWEEN 1 AND 5",
    "SELECT a, b.c, d[0] FROM \"t\".\"idx\" WHERE begins_with(sk, ?) OR size(x) > 2",
    "INSERT INTO t VALUE {'pk': 'x', 'n': 1, 'l': [1, 'a'], 's': <<'a', 'b'>>, 'm': {'k': null}}",
    "UPDATE t SET a = 1 SET b = b + 1 SET c = list_append(c, [1]) REMOVE d SET e = set_add(e, <<'x'>>) WHERE pk = 'x' AND sk = ?",
    "DELETE FROM t WHERE pk = 'x' AND NOT (a IS MISSING OR b IS NOT NULL) AND c IN [1, 2, ?];",
    "SELECT * FROM t WHERE a <> 1 AND b != 2 AND c IN (3, 4) AND contains(d, 'x') AND attribute_type(e, 'S')",
];

const FRAGMENTS: &[&str] = &[
    "SELECT",
    "INSERT",
    "INTO",
    "VALUE",
    "UPDATE",
    "DELETE",
    "FROM",
    "WHERE",
    "SET",
    "REMOVE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "MISSING",
    "NULL",
    "BETWEEN",
    "true",
    "false",
    "*",
    ",",
    ".",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "<<",
    ">>",
    "=",
    "<>",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "?",
    ";",
    ":",
    "'s'",
    "''",
    "\"q\"",
    "1",
    "-2.5",
    "1e3",
    "a",
    "b",
    "pk",
    "size(",
    "begins_with(",
    "contains(",
    "attribute_type(",
    "list_append(",
    "if_not_exists(",
    "set_add(",
    "set_delete(",
    "'k':",
    " ",
    "é",
    "\u{0}",
    "\"",
    "'",
];

#[test]
fn random_garbage_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    // Token soup.
    for _ in 0..3000 {
        let len = rng.below(30);
        let stmt: Vec<&str> = (0..len)
            .map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())])
            .collect();
        if exercise(&stmt.join(" "), &mut rng) {
            parsed += 1;
        }
        // Without spaces too, so tokens run together.
        let _ = exercise(&stmt.concat(), &mut rng);
    }
    // Raw bytes (lossily decoded) and random chars.
    for _ in 0..2000 {
        let len = rng.below(40);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = exercise(&String::from_utf8_lossy(&bytes), &mut rng);
        let chars: String = (0..len)
            .map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or('x'))
            .collect();
        let _ = exercise(&chars, &mut rng);
    }
    // Mutations of valid statements: deletions, insertions, truncations.
    for _ in 0..3000 {
        let seed = SEEDS[rng.below(SEEDS.len())];
        let mut chars: Vec<char> = seed.chars().collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(chars.len() + 1);
            match rng.below(3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 => {
                    let frag = FRAGMENTS[rng.below(FRAGMENTS.len())];
                    for (i, c) in frag.chars().enumerate() {
                        chars.insert(at + i, c);
                    }
                }
                _ => chars.truncate(at),
            }
        }
        let stmt: String = chars.into_iter().collect();
        if exercise(&stmt, &mut rng) {
            parsed += 1;
        }
    }
    // The seeds themselves parse, and the loop did reach the renderer.
    for seed in SEEDS {
        assert!(exercise(seed, &mut rng), "{seed}");
    }
    assert!(parsed > 50, "only {parsed} random statements parsed");
}

#[test]
fn parameters_in_in_lists_between_and_collections() {
    let params = [n("1"), n("2"), s("a"), s("b"), s("e"), n("9")];
    let p = ok_with(
        "SELECT * FROM t WHERE a IN [?, ?] AND sk BETWEEN ? AND ? AND l = [?, {'k': ?}]",
        &params,
    );
    let w = filter(&p);
    assert_eq!(
        w.condition,
        "#n0 IN (:v0, :v1) AND #n1 BETWEEN :v2 AND :v3 AND #n2 = :v4"
    );
    assert_eq!(
        w.ranges,
        vec![("sk".into(), "BETWEEN".into(), vec![s("a"), s("b")])]
    );
    let mut m = BTreeMap::new();
    m.insert("k".to_string(), n("9"));
    assert_eq!(
        p.values[":v4"],
        AttributeValue::L(vec![s("e"), AttributeValue::M(m)])
    );
    assert!(
        err_with(
            "SELECT * FROM t WHERE a = <<?>>",
            &[AttributeValue::Bool(true)]
        )
        .contains("strings, numbers or binaries")
    );
}

#[test]
fn errors_display_their_message() {
    let e = parse("SELEC * FROM t", &[]).unwrap_err();
    assert_eq!(e.to_string(), e.0);
    assert!(e.0.contains("'SELEC'"), "{}", e.0);
}
