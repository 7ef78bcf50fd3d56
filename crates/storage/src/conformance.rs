//! The conformance suite: behaviour every engine must show. Each engine's tests call
//! [`kv_suite`] and [`blob_suite`] with a fresh instance.

use crate::{BlobStore, KvEngine, Table, WriteBatch};

const T1: Table = Table("conformance_one");
const T2: Table = Table("conformance_two");

/// Run every key-value check against a fresh engine; panics with the failing check.
/// Commits from many threads at once all land, each whole.
pub fn kv_concurrent_suite(engine: std::sync::Arc<dyn KvEngine>) {
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for i in 0..25u8 {
                    let mut b = WriteBatch::new();
                    b.put(T1, vec![b'c', t, i, 0], vec![t])
                        .put(T1, vec![b'c', t, i, 1], vec![i]);
                    engine.commit(b).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = engine.scan_prefix(T1, b"c").unwrap();
    assert_eq!(all.len(), 8 * 25 * 2);

    // Submitted batches commit in submission order, whoever waits first.
    let mut tickets = Vec::new();
    for v in 0..5u8 {
        let mut b = WriteBatch::new();
        b.put(T1, b"ordered".to_vec(), vec![v]);
        tickets.push(engine.submit(b));
    }
    let waiters: Vec<_> = tickets
        .into_iter()
        .rev()
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || engine.wait(t).unwrap())
        })
        .collect();
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(engine.get(T1, b"ordered").unwrap(), Some(vec![4]));
}

pub fn kv_suite(engine: &dyn KvEngine) {
    // Missing keys and tables read as absent, not as errors.
    assert_eq!(engine.get(T1, b"missing").unwrap(), None);
    assert!(engine.scan_prefix(T2, b"").unwrap().is_empty());

    // A batch spanning tables lands whole.
    let mut b = WriteBatch::new();
    b.put(T1, b"a/1".to_vec(), b"one".to_vec())
        .put(T1, b"a/2".to_vec(), b"two".to_vec())
        .put(T1, b"b/1".to_vec(), b"other".to_vec())
        .put(T2, b"x".to_vec(), b"ex".to_vec());
    engine.commit(b).unwrap();
    assert_eq!(
        engine.get(T1, b"a/1").unwrap().as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(engine.get(T2, b"x").unwrap().as_deref(), Some(&b"ex"[..]));

    // Pages: bounded, ordered, resumable after a key, within the prefix.
    let page = engine.scan_page(T1, b"a/", None, 1).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].0, b"a/1");
    let page = engine.scan_page(T1, b"a/", Some(b"a/1"), 10).unwrap();
    let keys: Vec<&[u8]> = page.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(keys, vec![&b"a/2"[..]]);
    assert!(
        engine
            .scan_page(T1, b"a/", Some(b"a/2"), 10)
            .unwrap()
            .is_empty()
    );
    // An `after` before the prefix starts at the prefix.
    assert_eq!(
        engine.scan_page(T1, b"b/", Some(b"a/9"), 10).unwrap().len(),
        1
    );
    assert!(engine.scan_page(T2, b"", None, 0).unwrap().is_empty());

    // Prefix scans are ordered and bounded by the prefix.
    let scanned = engine.scan_prefix(T1, b"a/").unwrap();
    let keys: Vec<&[u8]> = scanned.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(keys, vec![&b"a/1"[..], &b"a/2"[..]]);

    // Overwrite and delete in one batch; later ops in a batch win.
    let mut b = WriteBatch::new();
    b.put(T1, b"a/1".to_vec(), b"uno".to_vec())
        .delete(T1, b"a/2".to_vec())
        .put(T1, b"c".to_vec(), b"first".to_vec())
        .put(T1, b"c".to_vec(), b"second".to_vec());
    engine.commit(b).unwrap();
    assert_eq!(
        engine.get(T1, b"a/1").unwrap().as_deref(),
        Some(&b"uno"[..])
    );
    assert_eq!(engine.get(T1, b"a/2").unwrap(), None);
    assert_eq!(
        engine.get(T1, b"c").unwrap().as_deref(),
        Some(&b"second"[..])
    );

    // Deleting an absent key is not an error; empty batches are fine.
    let mut b = WriteBatch::new();
    b.delete(T2, b"never".to_vec());
    engine.commit(b).unwrap();
    engine.commit(WriteBatch::new()).unwrap();

    // Binary keys, including 0xFF bytes at the prefix boundary.
    let mut b = WriteBatch::new();
    b.put(T2, vec![0xff, 0x00], b"lo".to_vec())
        .put(T2, vec![0xff, 0xff], b"hi".to_vec())
        .put(T2, vec![0xfe], b"no".to_vec());
    engine.commit(b).unwrap();
    assert_eq!(engine.scan_prefix(T2, &[0xff]).unwrap().len(), 2);
}

/// Run every blob check against a fresh store.
pub fn blob_suite(store: &dyn BlobStore) {
    let d = store.put(b"hello").unwrap();
    assert_eq!(
        d,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert!(store.exists(&d).unwrap());
    assert_eq!(store.get(&d).unwrap(), b"hello");
    // Idempotent: the same content is the same blob.
    assert_eq!(store.put(b"hello").unwrap(), d);
    store.delete(&d).unwrap();
    assert!(!store.exists(&d).unwrap());
    assert!(store.get(&d).is_err());
    // Names that are not digests are refused rather than resolved to paths.
    assert!(store.get("../../etc/passwd").is_err());
    assert!(!store.exists("zz").unwrap());
}
