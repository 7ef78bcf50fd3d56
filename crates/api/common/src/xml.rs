//! XML for the restXml and query protocols: escaping for the documents we
//! write, and a small reader that turns the documents clients send (S3's
//! `CreateBucketConfiguration`, `CompleteMultipartUpload`, `Delete`, ...)
//! into a tree of elements.

use quick_xml::events::Event;

pub const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Escape text for an element body or attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are legal in keys but not as raw XML 1.0 text.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// `<name>escaped text</name>`.
pub fn el(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

/// One element: its local name, its text and its child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Largest request document we parse, and how deep it may nest.
pub const MAX_DOCUMENT: usize = 2 * 1024 * 1024;
const MAX_DEPTH: usize = 16;

/// Parse a document into its root element. Errors are the message of
/// `MalformedXML` (S3's name for a document it cannot read).
pub fn parse(doc: &[u8]) -> Result<Element, String> {
    const MALFORMED: &str =
        "The XML you provided was not well-formed or did not validate against our published schema";
    if doc.len() > MAX_DOCUMENT {
        return Err(MALFORMED.into());
    }
    let text = std::str::from_utf8(doc).map_err(|_| MALFORMED.to_string())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let ev = reader.read_event().map_err(|_| MALFORMED.to_string())?;
        match ev {
            Event::Start(e) => {
                if stack.len() == MAX_DEPTH || root.is_some() {
                    return Err(MALFORMED.into());
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push(Element {
                    name,
                    ..Default::default()
                });
            }
            Event::Empty(e) => {
                let el = Element {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Default::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(MALFORMED.into()),
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| MALFORMED.to_string())?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                if let Some(cur) = stack.last_mut() {
                    cur.text
                        .push_str(&t.xml_content().map_err(|_| MALFORMED.to_string())?);
                }
            }
            Event::CData(t) => {
                if let Some(cur) = stack.last_mut() {
                    cur.text.push_str(&String::from_utf8_lossy(&t.into_inner()));
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(String::from)
                } else {
                    r.decode()
                        .ok()
                        .and_then(|n| quick_xml::escape::resolve_predefined_entity(&n))
                        .map(String::from)
                };
                let resolved = resolved.ok_or_else(|| MALFORMED.to_string())?;
                if let Some(cur) = stack.last_mut() {
                    cur.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(MALFORMED.into());
    }
    root.ok_or_else(|| MALFORMED.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_delete_document() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a&amp;b &#x41;</Key></Object><Object><Key>c</Key></Object><Quiet>true</Quiet></Delete>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Delete");
        let keys: Vec<_> = root
            .children_named("Object")
            .map(|o| o.child_text("Key").unwrap())
            .collect();
        assert_eq!(keys, ["a&b A", "c"]);
        assert_eq!(root.child_text("Quiet"), Some("true"));
    }

    #[test]
    fn refuses_broken_documents() {
        for bad in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"",
            b"<a/><b/>",
            b"<a>&nope;</a>",
            b"\xff\xfe",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn escapes_what_xml_cannot_hold() {
        assert_eq!(escape("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;&#x1;");
    }
}
