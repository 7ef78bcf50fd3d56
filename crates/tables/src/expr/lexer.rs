//! Tokens of the expression language. Lexing never fails: a character that
//! starts no token becomes an `Unknown` token, which no grammar rule accepts,
//! so the parser reports it as a syntax error in source order.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// A bare identifier `[A-Za-z][A-Za-z0-9_]*` (keywords and function names too).
    Ident(String),
    /// `#name`, as written.
    Name(String),
    /// `:value`, as written.
    Value(String),
    /// Digits (list indexes).
    Num(String),
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Plus,
    Minus,
    Unknown,
    Eof,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub tok: Tok,
    /// Byte span in the source.
    pub start: usize,
    pub end: usize,
}

fn word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The tokens of `src`, always ending with one `Eof`.
pub(super) fn lex(src: &str) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
            continue;
        }
        let start = i;
        let run = |from: usize, pred: fn(u8) -> bool| {
            let mut j = from;
            while j < bytes.len() && pred(bytes[j]) {
                j += 1;
            }
            j
        };
        let (tok, end) = match b {
            b'a'..=b'z' | b'A'..=b'Z' => {
                let end = run(i, word_byte);
                (Tok::Ident(src[i..end].to_string()), end)
            }
            b'0'..=b'9' => {
                let end = run(i, |b| b.is_ascii_digit());
                (Tok::Num(src[i..end].to_string()), end)
            }
            b'#' | b':' => {
                let end = run(i + 1, word_byte);
                if end == i + 1 {
                    (Tok::Unknown, i + 1)
                } else if b == b'#' {
                    (Tok::Name(src[i..end].to_string()), end)
                } else {
                    (Tok::Value(src[i..end].to_string()), end)
                }
            }
            b'=' => (Tok::Eq, i + 1),
            b'<' => match bytes.get(i + 1) {
                Some(b'>') => (Tok::Ne, i + 2),
                Some(b'=') => (Tok::Le, i + 2),
                _ => (Tok::Lt, i + 1),
            },
            b'>' => match bytes.get(i + 1) {
                Some(b'=') => (Tok::Ge, i + 2),
                _ => (Tok::Gt, i + 1),
            },
            b'(' => (Tok::LParen, i + 1),
            b')' => (Tok::RParen, i + 1),
            b'[' => (Tok::LBracket, i + 1),
            b']' => (Tok::RBracket, i + 1),
            b',' => (Tok::Comma, i + 1),
            b'.' => (Tok::Dot, i + 1),
            b'+' => (Tok::Plus, i + 1),
            b'-' => (Tok::Minus, i + 1),
            _ => {
                // One whole character, so spans stay on char boundaries.
                let len = src[i..].chars().next().map_or(1, char::len_utf8);
                (Tok::Unknown, i + len)
            }
        };
        out.push(Token { tok, start, end });
        i = end;
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    out
}
