//! Property tests of PartiQL: a SELECT with random names and equalities parses
//! into the table and the key equalities it names, parameters stand for
//! literals, and no input makes the parser panic. Fixed seed: failures
//! reproduce.

use super::*;

use crate::test_rng::Rng;

#[test]
fn selects_name_their_table_and_equalities() {
    let mut rng = Rng(0x5eed_0003);
    for _ in 0..2000 {
        let table = format!("t_{}", rng.word());
        let n = 1 + rng.below(3);
        let pairs: Vec<(String, String)> = (0..n)
            .map(|i| (format!("a{i}_{}", rng.word()), rng.word()))
            .collect();
        let by_parameter = rng.below(2) == 0;
        let mut params = Vec::new();
        let conds: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                if by_parameter {
                    params.push(AttributeValue::S(v.clone()));
                    format!("\"{k}\" = ?")
                } else {
                    format!("\"{k}\" = '{v}'")
                }
            })
            .collect();
        let sql = format!("SELECT * FROM \"{table}\" WHERE {}", conds.join(" AND "));
        let parsed = parse(&sql, &params).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        let Statement::Select {
            table: t, filter, ..
        } = parsed.statement
        else {
            panic!("{sql}: not a SELECT");
        };
        assert_eq!(t, table, "{sql}");
        let filter = filter.expect("a WHERE clause");
        for (k, v) in &pairs {
            assert!(
                filter
                    .equalities
                    .iter()
                    .any(|(n, x)| n == k && *x == AttributeValue::S(v.clone())),
                "{sql}: {:?}",
                filter.equalities
            );
        }
    }
}

#[test]
fn no_statement_makes_the_parser_panic() {
    const PIECES: &[&str] = &[
        "SELECT",
        "INSERT",
        "INTO",
        "UPDATE",
        "DELETE",
        "FROM",
        "WHERE",
        "SET",
        "REMOVE",
        "VALUE",
        "AND",
        "OR",
        "NOT",
        "IS",
        "MISSING",
        "NULL",
        "BETWEEN",
        "IN",
        "*",
        ",",
        "=",
        "<>",
        "?",
        "'x'",
        "\"t\"",
        "\"t\".\"i\"",
        "a",
        "b.c",
        "[0]",
        "{",
        "}",
        "'k'",
        ":",
        "1",
        "-2.5e3",
        "(",
        ")",
        "<<",
        ">>",
        ";",
        "begins_with",
        "contains",
        "size",
        "é",
    ];
    let mut rng = Rng(0x5eed_0004);
    for _ in 0..5000 {
        let n = rng.below(14);
        let text = (0..n)
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect::<Vec<_>>()
            .join(" ");
        let params = vec![AttributeValue::S("p".into()); rng.below(3)];
        let _ = parse(&text, &params);
    }
}
