//! Unit tests of `layers`.

use super::*;
use nimbus_storage_embedded::{EmbeddedKv, FileBlobs};
use std::io::Write;

fn zip(files: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn open(dir: &std::path::Path) -> Layers {
    let kv = Arc::new(EmbeddedKv::open(&dir.join("m.redb")).unwrap());
    let blobs = Arc::new(FileBlobs::open(&dir.join("blobs")).unwrap());
    let code = Arc::new(CodeCache::new(dir.join("code")).unwrap());
    Layers::open(kv, blobs, code, Identity::default()).unwrap()
}

fn publish(l: &Layers, name: &str, runtimes: &[&str]) -> Arc<LayerRecord> {
    l.publish(PublishLayer {
        name: name.into(),
        zip: zip(&[("python/m.py", "x = 1\n")]),
        compatible_runtimes: runtimes.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn versions_count_up_and_survive_deletes_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let l = open(dir.path());
        assert_eq!(publish(&l, "a", &["python3.12"]).version, 1);
        assert_eq!(publish(&l, "a", &["nodejs20.x"]).version, 2);
        l.delete("a", 1).unwrap();
        l.delete("a", 2).unwrap();
        assert!(l.versions("a").is_empty());
    }
    let l = open(dir.path());
    // Numbers are never reused.
    assert_eq!(publish(&l, "a", &[]).version, 3);
    assert_eq!(l.get("a", 3).unwrap().unzipped_size, 6);
    assert!(matches!(l.get("a", 1), Err(Error::NotFound(_))));
}

#[test]
fn latest_matching_version_per_layer() {
    let dir = tempfile::tempdir().unwrap();
    let l = open(dir.path());
    publish(&l, "a", &["python3.12"]);
    publish(&l, "a", &["nodejs20.x"]);
    publish(&l, "b", &["python3.12"]);
    let all: Vec<_> = l
        .latest(None, None)
        .iter()
        .map(|r| (r.name.clone(), r.version))
        .collect();
    assert_eq!(all, [("a".to_string(), 2), ("b".to_string(), 1)]);
    let py: Vec<_> = l
        .latest(Some("python3.12"), None)
        .iter()
        .map(|r| (r.name.clone(), r.version))
        .collect();
    assert_eq!(py, [("a".to_string(), 1), ("b".to_string(), 1)]);
    assert_eq!(l.versions("a")[0].version, 2);
}

#[test]
fn refuses_what_lambda_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let l = open(dir.path());
    let bad = |req: PublishLayer| l.publish(req).unwrap_err();
    let ok = zip(&[("a", "b")]);
    assert!(matches!(
        bad(PublishLayer {
            name: "bad name".into(),
            zip: ok.clone(),
            ..Default::default()
        }),
        Error::Validation(_)
    ));
    assert!(matches!(
        bad(PublishLayer {
            name: "l".into(),
            zip: ok.clone(),
            compatible_runtimes: vec!["cobol".into()],
            ..Default::default()
        }),
        Error::Validation(_)
    ));
    assert!(matches!(
        bad(PublishLayer {
            name: "l".into(),
            zip: b"junk".to_vec(),
            ..Default::default()
        }),
        Error::InvalidParameter(_)
    ));
    publish(&l, "l", &[]);
    let arn = |v: u32| format!("arn:aws:lambda:us-east-1:000000000000:layer:l:{v}");
    assert_eq!(
        l.resolve(&[arn(1)]).unwrap()[0].code_size,
        l.get("l", 1).unwrap().code.size
    );
    let missing = l.resolve(&[arn(9)]).unwrap_err().to_string();
    assert_eq!(missing, format!("Layer version {} does not exist.", arn(9)));
    assert!(matches!(
        l.resolve(&["arn:aws:lambda:us-east-1:000000000000:layer:l".into()]),
        Err(Error::Validation(_))
    ));
    let six: Vec<String> = (0..6).map(|_| arn(1)).collect();
    assert_eq!(
        l.resolve(&six).unwrap_err().to_string(),
        "Cannot reference more than 5 layers."
    );
}

#[test]
fn permissions_make_a_policy() {
    let dir = tempfile::tempdir().unwrap();
    let l = open(dir.path());
    publish(&l, "l", &[]);
    assert!(matches!(l.policy("l", 1), Err(Error::NotFound(_))));
    let g = LayerGrant {
        statement_id: "all".into(),
        action: "lambda:GetLayerVersion".into(),
        principal: "123456789012".into(),
        ..Default::default()
    };
    let (st, _) = l.add_permission("l", 1, &g).unwrap();
    assert_eq!(st["Principal"]["AWS"], "arn:aws:iam::123456789012:root");
    assert!(matches!(
        l.add_permission("l", 1, &g),
        Err(Error::Conflict(_))
    ));
    let (policy, rev) = l.policy("l", 1).unwrap();
    assert_eq!(policy["Statement"][0]["Sid"], "all");
    assert!(matches!(
        l.remove_permission("l", 1, "all", Some("stale")),
        Err(Error::PreconditionFailed(_))
    ));
    l.remove_permission("l", 1, "all", Some(&rev)).unwrap();
    assert!(matches!(
        l.remove_permission("l", 1, "all", None),
        Err(Error::NotFound(_))
    ));
}
