//! `GetRandomPassword`: a password from the character classes asked for,
//! with at least one character of each when `RequireEachIncludedType`.

use crate::{Error, Result};

pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// What `GetRandomPassword` takes.
#[derive(Debug, Clone)]
pub struct PasswordOptions {
    pub length: i64,
    pub exclude_characters: String,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub include_space: bool,
    pub require_each_included_type: bool,
}

impl Default for PasswordOptions {
    fn default() -> PasswordOptions {
        PasswordOptions {
            length: 32,
            exclude_characters: String::new(),
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            include_space: false,
            require_each_included_type: true,
        }
    }
}

fn random_below(n: usize) -> Result<usize> {
    let mut b = [0u8; 8];
    nimbus_kms::crypto::random(&mut b).map_err(|e| Error::Internal(e.to_string()))?;
    // 64 random bits over a class of at most 95 characters: the bias is negligible.
    Ok((u64::from_le_bytes(b) % n as u64) as usize)
}

pub fn random_password(o: &PasswordOptions) -> Result<String> {
    if !(1..=4096).contains(&o.length) {
        return Err(Error::InvalidParameter(format!(
            "1 validation error detected: Value '{}' at 'passwordLength' failed to satisfy constraint: Member must have value between 1 and 4096",
            o.length
        )));
    }
    let keep = |c: &char| !o.exclude_characters.contains(*c);
    let mut classes: Vec<Vec<char>> = Vec::new();
    let mut add = |on: bool, chars: &mut dyn Iterator<Item = char>| {
        if on {
            let class: Vec<char> = chars.filter(keep).collect();
            if !class.is_empty() {
                classes.push(class);
            }
        }
    };
    add(!o.exclude_lowercase, &mut ('a'..='z'));
    add(!o.exclude_uppercase, &mut ('A'..='Z'));
    add(!o.exclude_numbers, &mut ('0'..='9'));
    add(!o.exclude_punctuation, &mut PUNCTUATION.chars());
    add(o.include_space, &mut std::iter::once(' '));
    let all: Vec<char> = classes.iter().flatten().copied().collect();
    if all.is_empty() {
        return Err(Error::InvalidParameter(
            "The password can't be generated: every character is excluded".into(),
        ));
    }
    let length = o.length as usize;
    let required = if o.require_each_included_type {
        classes.len()
    } else {
        0
    };
    if required > length {
        return Err(Error::InvalidParameter(format!(
            "The password length {length} is too short to include a character of each of the {required} included types"
        )));
    }
    let mut out: Vec<char> = Vec::with_capacity(length);
    for class in classes.iter().take(required) {
        out.push(class[random_below(class.len())?]);
    }
    while out.len() < length {
        out.push(all[random_below(all.len())?]);
    }
    // Shuffle so the required characters are not always first.
    for i in (1..out.len()).rev() {
        out.swap(i, random_below(i + 1)?);
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_follow_their_options() {
        let p = random_password(&PasswordOptions::default()).unwrap();
        assert_eq!(p.chars().count(), 32);
        for c in [
            char::is_ascii_lowercase,
            char::is_ascii_uppercase,
            char::is_ascii_digit,
        ] {
            assert!(p.chars().any(|x| c(&x)), "{p}");
        }
        assert!(p.chars().any(|x| PUNCTUATION.contains(x)));
        let o = PasswordOptions {
            length: 50,
            exclude_punctuation: true,
            exclude_uppercase: true,
            exclude_characters: "abc".into(),
            include_space: true,
            ..PasswordOptions::default()
        };
        let p = random_password(&o).unwrap();
        assert!(p.contains(' '));
        assert!(
            p.chars()
                .all(|c| c == ' ' || c.is_ascii_digit() || ('d'..='z').contains(&c)),
            "{p}"
        );
        for length in [0, 4097] {
            let o = PasswordOptions {
                length,
                ..PasswordOptions::default()
            };
            assert!(random_password(&o).is_err());
        }
        let none = PasswordOptions {
            exclude_lowercase: true,
            exclude_uppercase: true,
            exclude_numbers: true,
            exclude_punctuation: true,
            ..PasswordOptions::default()
        };
        assert!(random_password(&none).is_err());
    }
}
