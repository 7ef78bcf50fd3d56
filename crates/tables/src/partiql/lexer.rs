//! Tokens of DynamoDB's PartiQL subset. Unlike the expression language's
//! lexer, this one fails on characters that start no token (and on
//! unterminated strings), since PartiQL reports those as malformed statements.

use super::{PartiqlError, malformed};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// A bare identifier or keyword: `[A-Za-z_][A-Za-z0-9_]*`.
    Word(String),
    /// A double-quoted identifier, unescaped (`""` is one `"`).
    Quoted(String),
    /// A single-quoted string literal, unescaped (`''` is one `'`).
    Str(String),
    /// An unsigned number literal as written: `42`, `1.5`, `.5`, `1e3`.
    Num(String),
    /// `?`
    Param,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    /// `<<`
    LSet,
    /// `>>`
    RSet,
    Comma,
    Dot,
    Semi,
    Colon,
    Star,
    Plus,
    Minus,
    Eq,
    /// `<>` or `!=`
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Eof,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub tok: Tok,
    /// Byte span in the statement.
    pub start: usize,
    pub end: usize,
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The end of a quoted run starting at `open` (the quote's index) and its
/// unescaped content; a doubled quote stands for one.
fn quoted(src: &str, open: usize, q: char) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = src[open + 1..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == q {
            if chars.peek().map(|&(_, n)| n) == Some(q) {
                out.push(q);
                chars.next();
            } else {
                return Some((out, open + 1 + i + 1));
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// The end of a number starting at `i` (a digit, or a `.` before a digit).
fn number_end(b: &[u8], mut i: usize) -> usize {
    let digits = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    i = digits(i);
    if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i = digits(i + 1);
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            i = digits(j);
        }
    }
    i
}

/// The tokens of `src`, ending with one `Eof`.
pub(super) fn lex(src: &str) -> Result<Vec<Token>, PartiqlError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = src[i..].chars().next() {
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let next = b.get(i + 1).copied();
        let (tok, end) = match c {
            'a'..='z' | 'A'..='Z' | '_' => {
                let len = src[i..].find(|c| !word_char(c)).unwrap_or(src.len() - i);
                (Tok::Word(src[i..i + len].to_string()), i + len)
            }
            '0'..='9' => {
                let end = number_end(b, i);
                (Tok::Num(src[i..end].to_string()), end)
            }
            '.' if next.is_some_and(|n| n.is_ascii_digit()) => {
                let end = number_end(b, i);
                (Tok::Num(src[i..end].to_string()), end)
            }
            '\'' | '"' => {
                let Some((text, end)) = quoted(src, i, c) else {
                    let what = if c == '\'' {
                        "string literal"
                    } else {
                        "quoted identifier"
                    };
                    return Err(malformed(format!("Unterminated {what} at position {i}")));
                };
                let tok = if c == '\'' {
                    Tok::Str(text)
                } else {
                    Tok::Quoted(text)
                };
                (tok, end)
            }
            '?' => (Tok::Param, i + 1),
            '(' => (Tok::LParen, i + 1),
            ')' => (Tok::RParen, i + 1),
            '[' => (Tok::LBracket, i + 1),
            ']' => (Tok::RBracket, i + 1),
            '{' => (Tok::LBrace, i + 1),
            '}' => (Tok::RBrace, i + 1),
            ',' => (Tok::Comma, i + 1),
            '.' => (Tok::Dot, i + 1),
            ';' => (Tok::Semi, i + 1),
            ':' => (Tok::Colon, i + 1),
            '*' => (Tok::Star, i + 1),
            '+' => (Tok::Plus, i + 1),
            '-' => (Tok::Minus, i + 1),
            '=' => (Tok::Eq, i + 1),
            '!' if next == Some(b'=') => (Tok::Ne, i + 2),
            '<' => match next {
                Some(b'<') => (Tok::LSet, i + 2),
                Some(b'>') => (Tok::Ne, i + 2),
                Some(b'=') => (Tok::Le, i + 2),
                _ => (Tok::Lt, i + 1),
            },
            '>' => match next {
                Some(b'>') => (Tok::RSet, i + 2),
                Some(b'=') => (Tok::Ge, i + 2),
                _ => (Tok::Gt, i + 1),
            },
            other => {
                return Err(malformed(format!(
                    "Unexpected character '{other}' at position {i}"
                )));
            }
        };
        out.push(Token { tok, start: i, end });
        i = end;
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    Ok(out)
}
