//! IAM's list paging: `MaxItems` (1 to 1000, default 100) and an opaque
//! `Marker` naming where the next page starts.

use crate::{Error, Result};

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page (`IsTruncated` false).
    pub marker: Option<String>,
}

/// The page of `items` (in their listing order, each named by `key`) that
/// starts at `marker` and holds at most `max_items`.
pub fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    marker: Option<&str>,
    max_items: Option<u32>,
) -> Result<Page<T>> {
    let max = max_items.unwrap_or(100);
    if !(1..=1000).contains(&max) {
        return Err(Error::Validation(format!(
            "1 validation error detected: Value '{max}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000"
        )));
    }
    let start = match marker {
        None => 0,
        Some(m) => items
            .iter()
            .position(|i| key(i).as_str() >= m)
            .unwrap_or(items.len()),
    };
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let marker = if rest.len() > max as usize {
        let next = key(&rest[max as usize]);
        rest.truncate(max as usize);
        Some(next)
    } else {
        None
    };
    Ok(Page {
        items: rest,
        marker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_whole_list_once() {
        let items: Vec<String> = (0..7).map(|i| format!("k{i}")).collect();
        let mut seen = Vec::new();
        let mut marker = None;
        loop {
            let p = page(items.clone(), String::clone, marker.as_deref(), Some(3)).unwrap();
            seen.extend(p.items);
            match p.marker {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        assert_eq!(seen, items);
        assert!(page(items.clone(), String::clone, None, Some(0)).is_err());
        let all = page(items.clone(), String::clone, None, None).unwrap();
        assert_eq!((all.items.len(), all.marker), (7, None));
        assert!(
            page(items, String::clone, Some("zz"), None)
                .unwrap()
                .items
                .is_empty()
        );
    }
}
