//! The EventBridge event pattern language, pure: no I/O, no clock. One
//! engine serves EventBridge rules (and `TestEventPattern`), Lambda event
//! source mapping `FilterCriteria` and SNS subscription filter policies;
//! [`Flavour`] says whose rules a pattern is read by, where they differ.
//!
//! - [`Pattern::parse`] compiles a pattern, refusing what AWS refuses with
//!   AWS's reason and where the parser was ([`PatternError`]).
//! - [`Pattern::matches`] tells whether a JSON event matches it, as
//!   EventBridge matches: leaves are lists of matchers (any may match), fields
//!   must all match, arrays in the event match when any element does, values
//!   taken from one array of objects must come from the same element, and
//!   `$or` takes alternatives.
//! - [`PatternSet`] holds many patterns under keys and tells which an event
//!   matches, trying only the patterns an index of their exact values
//!   leaves (for a bus's rules at `PutEvents`).
//! - [`sns`] turns SNS message attributes into what a filter policy with
//!   `FilterPolicyScope: MessageAttributes` is matched against.
//!
//! The design, and where AWS's services differ: `docs/adr/0018-event-patterns.md`.
//!
//! ```
//! use nimbus_patterns::Pattern;
//! use serde_json::json;
//!
//! let p = Pattern::parse(r#"{"source": ["aws.s3"], "detail": {"size": [{"numeric": [">", 1024]}]}}"#).unwrap();
//! assert!(p.matches(&json!({"source": "aws.s3", "detail": {"size": 2048}})));
//! assert!(!p.matches(&json!({"source": "aws.s3", "detail": {"size": 12}})));
//! let e = Pattern::parse(r#"{"source": "aws.s3"}"#).unwrap_err();
//! assert_eq!(e.reason(), r#""source" must be an object or an array"#);
//! ```

mod compile;
mod event;
mod index;
mod matcher;
mod reader;
pub mod sns;

#[cfg(test)]
pub(crate) mod corpus;
#[cfg(test)]
mod robust;

use std::fmt;

pub use index::PatternSet;
pub use matcher::Matcher;

/// Whose rules a pattern is read by. The language is one; the services
/// differ in what they refuse and how they word it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavour {
    /// An EventBridge rule or archive pattern, or `TestEventPattern`.
    #[default]
    EventBridge,
    /// A Lambda event source mapping's `FilterCriteria` pattern (or a
    /// Pipe's): no `wildcard`, no `cidr`, and `anything-but` of values only
    /// (not of a prefix, suffix, wildcard or ignoring case).
    Lambda,
    /// An SNS filter policy with `FilterPolicyScope: MessageAttributes`:
    /// flat (no nested objects), no `wildcard`, at most five keys and 150
    /// combinations of values.
    SnsAttributes,
    /// An SNS filter policy with `FilterPolicyScope: MessageBody`: nested,
    /// no `wildcard`, at most five keys and 150 combinations of values.
    SnsBody,
}

impl Flavour {
    fn is_sns(self) -> bool {
        matches!(self, Flavour::SnsAttributes | Flavour::SnsBody)
    }
}

/// A pattern AWS would refuse: the reason, where the parser had got to, and
/// the text it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    reason: String,
    line: usize,
    column: usize,
    source: String,
    flavour: Flavour,
    located: bool,
}

/// Jackson shows at most this many characters of the source in a location.
const SNIPPET: usize = 500;

impl PatternError {
    /// Why the pattern is refused, without the location.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Where the parser was: 1-based line and column.
    pub fn location(&self) -> (usize, usize) {
        (self.line, self.column)
    }

    /// The location as Jackson appends it: ` at [Source: (String)"..."; line: 1, column: 9]`.
    fn located_at(&self) -> String {
        format!(
            " at {}",
            source_location(&self.source, self.line, self.column)
        )
    }

    /// The whole message the service answers with, in its words:
    /// EventBridge's `InvalidEventPatternException`, SNS's `InvalidParameter`.
    /// Lambda wraps [`reason`](Self::reason) in its own sentence.
    pub fn message(&self) -> String {
        match self.flavour {
            Flavour::EventBridge | Flavour::Lambda if self.located => format!(
                "Event pattern is not valid. Reason: {}{}",
                self.reason,
                self.located_at()
            ),
            Flavour::EventBridge | Flavour::Lambda => {
                format!("Event pattern is not valid. Reason: {}", self.reason)
            }
            Flavour::SnsAttributes | Flavour::SnsBody if self.located => format!(
                "Invalid parameter: FilterPolicy: {}{}",
                self.reason,
                self.located_at()
            ),
            Flavour::SnsAttributes | Flavour::SnsBody => {
                format!("Invalid parameter: FilterPolicy: {}", self.reason)
            }
        }
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for PatternError {}

/// A place in a pattern as Jackson writes it:
/// `[Source: (String)"..."; line: 1, column: 9]`, the source cut at 500 characters.
pub(crate) fn source_location(source: &str, line: usize, column: usize) -> String {
    let n = source.chars().count();
    let shown: String = source.chars().take(SNIPPET).collect();
    let more = if n > SNIPPET {
        format!("[truncated {} chars]", n - SNIPPET)
    } else {
        String::new()
    };
    format!("[Source: (String)\"{shown}\"{more}; line: {line}, column: {column}]")
}

/// A compiled pattern: what [`Pattern::matches`] runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    rule: Rule,
}

/// A conjunction: every item must hold (with consistent array elements).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Rule {
    pub(crate) items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// A leaf: the dotted path from the event's root, and its matchers (any).
    Field {
        path: String,
        matchers: Vec<Matcher>,
    },
    /// `$or`: any one of the alternatives.
    Or(Vec<Rule>),
}

impl Pattern {
    /// Compile an EventBridge pattern.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        Self::parse_as(text, Flavour::EventBridge)
    }

    /// Compile a pattern as `flavour`'s service reads it.
    pub fn parse_as(text: &str, flavour: Flavour) -> Result<Pattern, PatternError> {
        compile::compile(text, flavour).map(|rule| Pattern { rule })
    }

    /// Whether `event` matches.
    pub fn matches(&self, event: &serde_json::Value) -> bool {
        event::matches(&self.rule, event)
    }
}
