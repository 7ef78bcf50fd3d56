//! DynamoDB's PartiQL subset for `ExecuteStatement`: a statement and its
//! positional `?` parameters are parsed and translated into DynamoDB's
//! expression language (ConditionExpression, UpdateExpression,
//! ProjectionExpression), so the existing expression engine runs them.
//!
//! Every attribute name in the output is a generated `#nK` placeholder (one
//! per distinct name), every literal or parameter a generated `:vK`
//! placeholder, so reserved words never matter and every placeholder is
//! used. Parsing never panics: the lexer and parser index nothing blindly and
//! nesting (parentheses, `NOT`, nested literals, update functions) is capped
//! at [`MAX_DEPTH`].
//!
//! Semantics of note:
//! - `x IS NULL` is `attribute_type(x, 'NULL')` (a missing attribute is not NULL),
//!   `x IS NOT NULL` its negation; `IS MISSING` / `IS NOT MISSING` are
//!   `attribute_not_exists` / `attribute_exists`.
//! - `SET a = set_add(a, <<...>>)` and `set_delete` become `ADD` / `DELETE`
//!   actions; their first argument must be the attribute being set.
//! - UPDATE and DELETE need a WHERE clause; whether it names the whole key is
//!   for the caller to check with [`Where::equalities`].

mod lexer;
mod parser;
mod render;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use crate::value::{AttributeValue, Item};
use std::collections::HashMap;
use std::fmt;

/// The deepest nesting of parentheses, `NOT`s, nested literals and update functions accepted.
pub const MAX_DEPTH: usize = 100;

/// A ValidationException message, complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartiqlError(pub String);

impl fmt::Display for PartiqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PartiqlError {}

/// A syntax error.
fn malformed(why: impl fmt::Display) -> PartiqlError {
    PartiqlError(format!(
        "Statement wasn't well formed, can't be processed: {why}"
    ))
}

/// A valid construct DynamoDB's PartiQL does not support.
fn unsupported(what: impl fmt::Display) -> PartiqlError {
    PartiqlError(format!("Unsupported operation: {what}"))
}

/// A WHERE clause rendered as a DynamoDB ConditionExpression, with the
/// placeholders it uses, plus the equalities on top-level attributes that
/// are joined by AND at the top level (to find the key / choose Query).
#[derive(Debug, Clone, PartialEq)]
pub struct Where {
    /// e.g. `#n0 = :v0 AND begins_with(#n1, :v1)`
    pub condition: String,
    /// Top-level `attr = literal` conjuncts (attr name unquoted), in source order.
    pub equalities: Vec<(String, AttributeValue)>,
    /// Top-level conjuncts usable as a sort-key condition, rendered like equalities: (attr, op, values)
    /// where op is one of "<", "<=", ">", ">=", "BETWEEN", "begins_with" (values has 1 or 2 entries).
    pub ranges: Vec<(String, String, Vec<AttributeValue>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Select {
        table: String,
        index: Option<String>,
        /// ProjectionExpression text, `None` for `*`.
        projection: Option<String>,
        filter: Option<Where>,
    },
    Insert {
        table: String,
        item: Item,
    },
    Update {
        table: String,
        /// UpdateExpression text.
        update: String,
        filter: Where,
    },
    Delete {
        table: String,
        filter: Where,
    },
}

/// The statement with its expression texts, and the ExpressionAttributeNames/Values they use.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub statement: Statement,
    /// `"#n0" -> "attr"`
    pub names: HashMap<String, String>,
    /// `":v0" -> value`
    pub values: HashMap<String, AttributeValue>,
}

/// Parses one PartiQL statement (an optional trailing `;` allowed), substituting
/// `parameters` for its `?` placeholders in order.
pub fn parse(statement: &str, parameters: &[AttributeValue]) -> Result<Parsed, PartiqlError> {
    let toks = lexer::lex(statement)?;
    let wanted = toks.iter().filter(|t| t.tok == lexer::Tok::Param).count();
    if wanted != parameters.len() {
        return Err(PartiqlError(
            "Number of parameters in request and statement don't match.".to_string(),
        ));
    }
    let ast = parser::Parser::new(statement, toks, parameters).statement()?;
    let mut r = render::Renderer::default();
    let statement = match ast {
        parser::Ast::Select {
            table,
            index,
            projection,
            filter,
        } => {
            let projection = projection.map(|p| r.projection(&p));
            let filter = filter.map(|c| r.filter(&c));
            Statement::Select {
                table,
                index,
                projection,
                filter,
            }
        }
        parser::Ast::Insert { table, item } => Statement::Insert { table, item },
        parser::Ast::Update {
            table,
            actions,
            filter,
        } => {
            let update = r.update(&actions);
            let filter = r.filter(&filter);
            Statement::Update {
                table,
                update,
                filter,
            }
        }
        parser::Ast::Delete { table, filter } => Statement::Delete {
            table,
            filter: r.filter(&filter),
        },
    };
    Ok(Parsed {
        statement,
        names: r.names,
        values: r.values,
    })
}
