//! A pull reader of JSON tokens that knows where it is, as Jackson's
//! streaming parser does: AWS's pattern errors name the line and column the
//! parser had reached, so the compiler reads tokens one at a time (not a
//! parsed tree) and asks the reader for its position when it refuses.
//!
//! Not a general JSON parser: values are handed over as tokens, and what
//! follows the pattern's closing brace is never read (AWS ignores it too).

/// One JSON token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    StartObject,
    EndObject,
    StartArray,
    EndArray,
    Field(String),
    Str(String),
    /// A number: its text as written, and its value.
    Num(String, f64),
    True,
    False,
    Null,
    /// The end of the input.
    End,
}

impl Token {
    /// The token's text, as Jackson's `getText()` gives it.
    pub(crate) fn text(&self) -> String {
        match self {
            Token::StartObject => "{".into(),
            Token::EndObject => "}".into(),
            Token::StartArray => "[".into(),
            Token::EndArray => "]".into(),
            Token::Field(s) | Token::Str(s) | Token::Num(s, _) => s.clone(),
            Token::True => "true".into(),
            Token::False => "false".into(),
            Token::Null => "null".into(),
            Token::End => "null".into(),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    /// In an object: expecting a field name (or `}`) next.
    ObjectKey {
        first: bool,
    },
    /// In an object: a field name was read, its value comes next.
    ObjectValue,
    Array {
        first: bool,
    },
}

/// A failure to read the next token: the reason, in Jackson's words.
pub(crate) type ReadError = String;

pub(crate) struct Reader<'a> {
    text: &'a str,
    /// Where each open object or array began, for "start marker" messages.
    starts: Vec<(usize, usize)>,
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    column: usize,
    stack: Vec<Ctx>,
    done: bool,
    /// Where Jackson would say it is: after the last token, but just inside
    /// the opening quote of a string value (it reads strings lazily), and
    /// after a field name it has already started on the value.
    at: (usize, usize),
    /// A field's value, read along with its name (as Jackson does).
    pending: Option<Token>,
}

/// How deep objects and arrays may nest (Jackson's default limit).
const MAX_DEPTH: usize = 1000;

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Reader {
            text,
            starts: Vec::new(),
            chars: text.chars().peekable(),
            line: 1,
            column: 1,
            stack: Vec::new(),
            done: false,
            at: (1, 1),
            pending: None,
        }
    }

    /// Where the reader is, as Jackson reports it: 1-based line and column.
    pub(crate) fn location(&self) -> (usize, usize) {
        self.at
    }

    /// The next token, or why there is none.
    pub(crate) fn next_token(&mut self) -> Result<Token, ReadError> {
        if let Some(t) = self.pending.take() {
            return Ok(t);
        }
        let t = self.raw_next();
        let t = match t {
            Ok(Token::Field(name)) => {
                self.pending = Some(
                    self.raw_next()
                        .inspect_err(|_| self.at = (self.line, self.column))?,
                );
                Ok(Token::Field(name))
            }
            other => other,
        };
        if t.is_err() {
            self.at = (self.line, self.column);
        }
        t
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_space(&mut self) -> Option<char> {
        while let Some(&c) = self.chars.peek() {
            if matches!(c, ' ' | '\t' | '\r' | '\n') {
                self.bump();
            } else {
                return Some(c);
            }
        }
        None
    }

    fn unexpected(c: char, expecting: &str) -> ReadError {
        format!(
            "Unexpected character ('{c}' (code {})): {expecting}",
            c as u32
        )
    }

    fn end_of_input(&self) -> ReadError {
        let kind = match self.stack.last() {
            Some(Ctx::Array { .. }) => "Array",
            Some(_) => "Object",
            None => return "Unexpected end-of-input".into(),
        };
        let (line, column) = self.starts.last().copied().unwrap_or((1, 1));
        format!(
            "Unexpected end-of-input: expected close marker for {kind} (start marker at {})",
            crate::source_location(self.text, line, column)
        )
    }

    fn raw_next(&mut self) -> Result<Token, ReadError> {
        let t = self.raw_token();
        if !matches!(t, Ok(Token::Str(_))) {
            self.at = (self.line, self.column);
        }
        t
    }

    fn raw_token(&mut self) -> Result<Token, ReadError> {
        if self.done {
            return Ok(Token::End);
        }
        let Some(top) = self.stack.last().copied() else {
            // Top level: one value, then nothing more is read.
            return match self.skip_space() {
                None => {
                    self.done = true;
                    Ok(Token::End)
                }
                Some(_) => self.value(),
            };
        };
        let Some(c) = self.skip_space() else {
            return Err(self.end_of_input());
        };
        match top {
            Ctx::ObjectKey { first } => {
                if c == '}' {
                    self.bump();
                    return Ok(self.close());
                }
                if !first {
                    if c != ',' {
                        return Err(Self::unexpected(
                            c,
                            "was expecting comma to separate Object entries",
                        ));
                    }
                    self.bump();
                    match self.skip_space() {
                        None => return Err(self.end_of_input()),
                        Some('"') => {}
                        Some(c) => {
                            return Err(Self::unexpected(
                                c,
                                "was expecting double-quote to start field name",
                            ));
                        }
                    }
                } else if c != '"' {
                    return Err(Self::unexpected(
                        c,
                        "was expecting double-quote to start field name",
                    ));
                }
                self.bump();
                let name = self.string()?;
                match self.skip_space() {
                    Some(':') => {
                        self.bump();
                    }
                    Some(c) => {
                        return Err(Self::unexpected(
                            c,
                            "was expecting a colon to separate field name and value",
                        ));
                    }
                    None => return Err(self.end_of_input()),
                }
                if let Some(t) = self.stack.last_mut() {
                    *t = Ctx::ObjectValue;
                }
                Ok(Token::Field(name))
            }
            Ctx::ObjectValue => {
                if let Some(t) = self.stack.last_mut() {
                    *t = Ctx::ObjectKey { first: false };
                }
                self.value()
            }
            Ctx::Array { first } => {
                if c == ']' {
                    self.bump();
                    return Ok(self.close());
                }
                if !first {
                    if c != ',' {
                        return Err(Self::unexpected(
                            c,
                            "was expecting comma to separate Array entries",
                        ));
                    }
                    self.bump();
                    if self.skip_space().is_none() {
                        return Err(self.end_of_input());
                    }
                }
                if let Some(t) = self.stack.last_mut() {
                    *t = Ctx::Array { first: false };
                }
                self.value()
            }
        }
    }

    fn close(&mut self) -> Token {
        self.starts.pop();
        let t = match self.stack.pop() {
            Some(Ctx::Array { .. }) => Token::EndArray,
            _ => Token::EndObject,
        };
        if self.stack.is_empty() {
            self.done = true;
        }
        t
    }

    fn open(&mut self, ctx: Ctx) -> Result<(), ReadError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!(
                "Document nesting depth ({}) exceeds the maximum allowed ({MAX_DEPTH})",
                self.stack.len() + 1
            ));
        }
        self.stack.push(ctx);
        // The opening character was just read: it sits one column back.
        self.starts.push((self.line, self.column - 1));
        Ok(())
    }

    /// A value starts at the next (non-space) character.
    fn value(&mut self) -> Result<Token, ReadError> {
        let Some(c) = self.skip_space() else {
            return Err(self.end_of_input());
        };
        match c {
            '{' => {
                self.bump();
                self.open(Ctx::ObjectKey { first: true })?;
                Ok(Token::StartObject)
            }
            '[' => {
                self.bump();
                self.open(Ctx::Array { first: true })?;
                Ok(Token::StartArray)
            }
            '"' => {
                self.bump();
                self.at = (self.line, self.column);
                let s = self.string()?;
                self.after_scalar();
                Ok(Token::Str(s))
            }
            '-' | '0'..='9' => {
                let t = self.number()?;
                self.after_scalar();
                Ok(t)
            }
            c if c.is_alphabetic() => {
                let mut word = String::new();
                while let Some(&c) = self.chars.peek() {
                    if c.is_alphanumeric() || c == '_' {
                        word.push(c);
                        self.bump();
                    } else {
                        break;
                    }
                }
                let t = match word.as_str() {
                    "true" => Token::True,
                    "false" => Token::False,
                    "null" => Token::Null,
                    _ => {
                        return Err(format!(
                            "Unrecognized token '{word}': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
                        ));
                    }
                };
                self.after_scalar();
                Ok(t)
            }
            c => Err(Self::unexpected(c, "expected a value")),
        }
    }

    fn after_scalar(&mut self) {
        if self.stack.is_empty() {
            self.done = true;
        }
    }

    /// A string's body, after its opening quote.
    fn string(&mut self) -> Result<String, ReadError> {
        let mut s = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(
                    "Unexpected end-of-input: was expecting closing quote for a string value"
                        .into(),
                );
            };
            match c {
                '"' => return Ok(s),
                '\\' => {
                    let Some(e) = self.bump() else {
                        return Err("Unexpected end-of-input in character escape sequence".into());
                    };
                    match e {
                        '"' | '\\' | '/' => s.push(e),
                        'b' => s.push('\u{8}'),
                        'f' => s.push('\u{c}'),
                        'n' => s.push('\n'),
                        'r' => s.push('\r'),
                        't' => s.push('\t'),
                        'u' => s.push(self.unicode_escape()?),
                        other => {
                            return Err(format!(
                                "Unrecognized character escape '{other}' (code {})",
                                other as u32
                            ));
                        }
                    }
                }
                c if (c as u32) < 0x20 => {
                    return Err(format!(
                        "Illegal unquoted character ((CTRL-CHAR, code {})): has to be escaped using backslash to be included in string value",
                        c as u32
                    ));
                }
                c => s.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, ReadError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self
                .bump()
                .ok_or("Unexpected end-of-input in character escape sequence")?;
            let d = c.to_digit(16).ok_or_else(|| {
                format!(
                    "Unexpected character ('{c}' (code {})): expected a hex-digit for character escape sequence",
                    c as u32
                )
            })?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, ReadError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.chars.peek() == Some(&'\\') {
            // A surrogate pair: `\uD83D\uDE00`.
            self.bump();
            if self.bump() != Some('u') {
                return Err("Invalid surrogate pair in character escape sequence".into());
            }
            let lo = self.hex4()?;
            let code = 0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF);
            return Ok(char::from_u32(code).unwrap_or('\u{FFFD}'));
        }
        Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }

    fn number(&mut self) -> Result<Token, ReadError> {
        let mut text = String::new();
        while let Some(&c) = self.chars.peek() {
            if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E') {
                text.push(c);
                self.bump();
            } else {
                break;
            }
        }
        // JSON's number grammar; serde_json checks it and gives the value.
        match serde_json::from_str::<serde_json::Number>(&text) {
            Ok(n) => Ok(Token::Num(text, n.as_f64().unwrap_or(f64::NAN))),
            Err(_) => Err(format!("Invalid numeric value: '{text}'")),
        }
    }
}
