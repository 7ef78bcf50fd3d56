//! User metadata values outside US-ASCII, as S3 treats them: a header value
//! is read as UTF-8 (or, failing that, Latin-1, HTTP's own charset) and any
//! RFC 2047 encoded words in it (`=?UTF-8?B?...?=`, `=?utf-8?Q?...?=`) are
//! decoded before the value is stored; a stored value with anything beyond
//! ASCII goes back out as one `=?UTF-8?B?...?=` word, so it stays a legal
//! header. Plain ASCII goes through as is.

use base64::Engine as _;
use std::borrow::Cow;

/// A metadata header's value as stored.
pub fn decode(raw: &[u8]) -> String {
    let text = match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => raw.iter().map(|&b| b as char).collect(),
    };
    if !text.contains("=?") {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    // Whitespace between two encoded words is not part of the value.
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, from) = rest.split_at(start);
        match word(from) {
            Some((decoded, len)) => {
                if !(after_word && before.chars().all(char::is_whitespace)) {
                    out.push_str(before);
                }
                out.push_str(&decoded);
                rest = &from[len..];
                after_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &from[2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// One encoded word at the start of `s`: its text and its length in `s`.
fn word(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix("=?")?;
    let (charset, body) = body.split_once('?')?;
    let (encoding, body) = body.split_once('?')?;
    let end = body.find("?=")?;
    let len = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    let payload = &body[..end];
    if payload.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => base64::engine::general_purpose::STANDARD
            .decode(payload)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(payload))
            .ok()?,
        "Q" | "q" => q_decode(payload)?,
        _ => return None,
    };
    // RFC 2231's language suffix (`UTF-8*en`) does not change the charset.
    let charset = charset.split('*').next().unwrap_or("").to_ascii_lowercase();
    let text = match charset.as_str() {
        "utf-8" | "utf8" | "us-ascii" => String::from_utf8(bytes).ok()?,
        "iso-8859-1" | "latin1" => bytes.iter().map(|&b| b as char).collect(),
        _ => return None,
    };
    Some((text, len))
}

fn q_decode(payload: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(payload.len());
    let mut bytes = payload.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'_' => out.push(b' '),
            b'=' => {
                let hi = (bytes.next()? as char).to_digit(16)?;
                let lo = (bytes.next()? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
            }
            _ => out.push(b),
        }
    }
    Some(out)
}

/// A stored value as a header carries it.
pub fn encode(value: &str) -> Cow<'_, str> {
    if value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_are_decoded_and_ascii_is_left_alone() {
        for (raw, stored) in [
            (&b"plain value"[..], "plain value"),
            ("café".as_bytes(), "café"),
            (b"caf\xe9", "café"),
            (b"=?UTF-8?B?Y2Fmw6k=?=", "café"),
            (b"=?utf-8?q?caf=C3=A9_au_lait?=", "café au lait"),
            (b"=?UTF-8?B?Y2Fm?= =?UTF-8?B?w6k=?=", "café"),
            (b"x =?UTF-8?B?w6k=?= y", "x é y"),
            (b"=?ISO-8859-1?Q?caf=E9?=", "café"),
            (b"=?UTF-8*en?Q?=C3=A9?=!", "é!"),
            (b"=?UTF-8?X?abc?=", "=?UTF-8?X?abc?="),
            (b"=?UTF-8?B?not base64!?=", "=?UTF-8?B?not base64!?="),
            (b"50% =? off", "50% =? off"),
            (b"=?", "=?"),
        ] {
            assert_eq!(decode(raw), stored, "{raw:?}");
        }
    }

    #[test]
    fn values_beyond_ascii_go_out_as_one_b_word() {
        assert_eq!(encode("plain"), "plain");
        assert_eq!(encode("café"), "=?UTF-8?B?Y2Fmw6k=?=");
        assert_eq!(decode(encode("ünï ✓").as_bytes()), "ünï ✓");
    }
}
