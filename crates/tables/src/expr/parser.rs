//! The parts of the parser every expression kind shares: the token cursor,
//! error messages, document paths, `#name`/`:value` resolution and raw
//! operands (paths, values and function calls, checked by each grammar).

use super::lexer::{Tok, Token, lex};
use super::reserved::reserved;
use super::{Context, ExprError, MAX_DEPTH, MAX_EXPRESSION_BYTES, Path, PathElem};
use crate::value::AttributeValue;
use std::fmt::Display;

/// Words the grammars use as keywords: a syntax error where a name is expected.
const KEYWORDS: &[&str] = &[
    "ADD", "AND", "BETWEEN", "DELETE", "IN", "NOT", "OR", "REMOVE", "SET",
];

/// The most elements a document path may have (DynamoDB nests documents
/// at most 32 levels deep).
const MAX_PATH_DEPTH: usize = 32;

/// An operand before the grammar checks what it may be.
#[derive(Debug, Clone)]
pub(super) enum Raw {
    Path(Path),
    Value(AttributeValue),
    /// A function call: its name as written and its arguments.
    Call(String, Vec<Raw>),
}

pub(super) struct Parser<'s, 'c> {
    pub src: &'s str,
    pub kind: &'s str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    pub ctx: &'c mut Context,
}

impl<'s, 'c> Parser<'s, 'c> {
    /// Checks the expression's size and emptiness, then tokenizes it.
    pub fn new(
        src: &'s str,
        kind: &'s str,
        ctx: &'c mut Context,
    ) -> Result<Parser<'s, 'c>, ExprError> {
        let invalid = |m: String| ExprError(format!("Invalid {kind}: {m}"));
        if src.len() > MAX_EXPRESSION_BYTES {
            return Err(invalid(format!(
                "Expression size has exceeded the maximum allowed size; expression size: {}",
                src.len()
            )));
        }
        if src.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
            return Err(invalid("The expression can not be empty;".to_string()));
        }
        Ok(Parser {
            src,
            kind,
            toks: lex(src),
            pos: 0,
            depth: 0,
            ctx,
        })
    }

    /// A validation error about this expression.
    pub fn err(&self, msg: impl Display) -> ExprError {
        ExprError(format!("Invalid {}: {msg}", self.kind))
    }

    pub fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    pub fn peek2(&self) -> &Tok {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)].tok
    }

    pub fn advance(&mut self) {
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
    }

    /// Whether the current token is the keyword `kw` (any case).
    pub fn at_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    /// A syntax error at the current token.
    pub fn syntax(&self) -> ExprError {
        let i = self.pos;
        let t = &self.toks[i];
        let token = if t.tok == Tok::Eof {
            "<EOF>"
        } else {
            &self.src[t.start..t.end]
        };
        let start = if i > 0 {
            self.toks[i - 1].start
        } else {
            t.start
        };
        let end = self.toks.get(i + 1).map_or(t.end, |n| n.end);
        let near = &self.src[start..end];
        self.err(format!(
            "Syntax error; token: \"{token}\", near: \"{near}\""
        ))
    }

    pub fn expect(&mut self, tok: Tok) -> Result<(), ExprError> {
        if *self.peek() == tok {
            self.advance();
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    pub fn expect_end(&self) -> Result<(), ExprError> {
        if *self.peek() == Tok::Eof {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// One more level of nesting, refused beyond [`MAX_DEPTH`].
    pub fn enter(&mut self) -> Result<(), ExprError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err(format!(
                "The expression has exceeded the maximum nesting depth; maximum depth: {MAX_DEPTH}"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// One path element's name: a bare identifier or a `#name`.
    fn name_elem(&mut self) -> Result<String, ExprError> {
        let name = match self.peek().clone() {
            Tok::Ident(word) => {
                if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&word)) {
                    return Err(self.syntax());
                }
                if reserved(&word) {
                    return Err(self.err(format!(
                        "Attribute name is a reserved keyword; reserved keyword: {word}"
                    )));
                }
                word
            }
            Tok::Name(key) => self.ctx.name(&key).ok_or_else(|| {
                self.err(format!(
                    "An expression attribute name used in the document path is not defined; attribute name: {key}"
                ))
            })?,
            _ => return Err(self.syntax()),
        };
        self.advance();
        Ok(name)
    }

    /// A document path: `a`, `#a.b[3].#c`.
    pub fn path(&mut self) -> Result<Path, ExprError> {
        let mut elems = vec![PathElem::Attr(self.name_elem()?)];
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.advance();
                    elems.push(PathElem::Attr(self.name_elem()?));
                }
                Tok::LBracket => {
                    self.advance();
                    let index = match self.peek() {
                        Tok::Num(n) => n.parse::<usize>().ok().filter(|&i| i <= u32::MAX as usize),
                        _ => None,
                    };
                    let Some(index) = index else {
                        return Err(self.syntax());
                    };
                    self.advance();
                    self.expect(Tok::RBracket)?;
                    elems.push(PathElem::Index(index));
                }
                _ => return Ok(Path(elems)),
            }
            if elems.len() > MAX_PATH_DEPTH {
                return Err(self.err(format!(
                    "The document path has too many nesting levels; nesting levels: {}",
                    elems.len()
                )));
            }
        }
    }

    /// The current `:value` token's value.
    pub fn value(&mut self) -> Result<(String, AttributeValue), ExprError> {
        let Tok::Value(key) = self.peek().clone() else {
            return Err(self.syntax());
        };
        let v = self.ctx.value(&key).ok_or_else(|| {
            self.err(format!(
                "An expression attribute value used in expression is not defined; attribute value: {key}"
            ))
        })?;
        self.advance();
        Ok((key, v))
    }

    /// A path, a value or a function call `name(operand, ...)`.
    pub fn raw_operand(&mut self) -> Result<Raw, ExprError> {
        match self.peek() {
            Tok::Value(_) => {
                let (_, v) = self.value()?;
                Ok(Raw::Value(v))
            }
            Tok::Ident(name) if *self.peek2() == Tok::LParen => {
                let name = name.clone();
                self.advance();
                self.advance();
                self.enter()?;
                let mut args = Vec::new();
                if *self.peek() != Tok::RParen {
                    args.push(self.raw_operand()?);
                    while *self.peek() == Tok::Comma {
                        self.advance();
                        args.push(self.raw_operand()?);
                    }
                }
                self.expect(Tok::RParen)?;
                self.leave();
                Ok(Raw::Call(name, args))
            }
            _ => Ok(Raw::Path(self.path()?)),
        }
    }

    /// DynamoDB's error for a call with the wrong number of arguments.
    pub fn arity(&self, name: &str, args: &[Raw], want: usize) -> Result<(), ExprError> {
        if args.len() == want {
            Ok(())
        } else {
            Err(self.err(format!(
                "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}",
                args.len()
            )))
        }
    }

    /// DynamoDB's error for a function argument that must be a document path.
    pub fn needs_path(&self, name: &str) -> ExprError {
        self.err(format!(
            "Operator or function requires a document path; operator or function: {name}"
        ))
    }

    /// DynamoDB's error for an operand of the wrong type.
    pub fn operand_type(&self, name: &str, v: &AttributeValue) -> ExprError {
        self.err(format!(
            "Incorrect operand type for operator or function; operator or function: {name}, operand type: {}",
            v.type_name()
        ))
    }
}
