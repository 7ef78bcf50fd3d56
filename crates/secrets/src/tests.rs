use super::*;
use nimbus_storage_embedded::EmbeddedKv;
use std::path::Path;

fn open(dir: &Path) -> (Arc<EmbeddedKv>, Secrets) {
    let kv = Arc::new(EmbeddedKv::open(&dir.join("m.redb")).unwrap());
    let kms = Kms::open(
        kv.clone(),
        &dir.join("kms-master.key"),
        "000000000000",
        "us-east-1",
    )
    .unwrap();
    let s = Secrets::open(kv.clone(), Arc::new(kms)).unwrap();
    (kv, s)
}

fn string(s: &str) -> Option<SecretValue> {
    Some(SecretValue::String(s.into()))
}

fn new(name: &str, value: &str) -> NewSecret {
    NewSecret {
        name: name.into(),
        value: string(value),
        ..NewSecret::default()
    }
}

#[test]
fn values_are_encrypted_at_rest_and_found_by_any_name() {
    let d = tempfile::tempdir().unwrap();
    let (kv, s) = open(d.path());
    let w = s.create(new("db/password", "hunter2-very-secret")).unwrap();
    assert!(
        w.arn
            .starts_with("arn:aws:secretsmanager:us-east-1:000000000000:secret:db/password-")
    );
    assert_eq!(
        w.arn.len(),
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:db/password-".len() + 6
    );
    let partial = w.arn[..w.arn.len() - 7].to_string();
    for id in ["db/password", w.arn.as_str(), partial.as_str()] {
        assert_eq!(
            s.get_value(id, None, None).unwrap().value,
            string("hunter2-very-secret").unwrap()
        );
    }
    assert!(matches!(
        s.get_value("db/nope", None, None),
        Err(Error::NotFound(_))
    ));
    let rows = nimbus_storage::KvEngine::scan_prefix(&*kv, SECRETS, b"").unwrap();
    assert!(!String::from_utf8_lossy(&rows[0].1).contains("hunter2"));
    drop((s, rows, kv));
    let (_, s) = open(d.path());
    assert_eq!(
        s.get_value("db/password", None, None).unwrap().value,
        string("hunter2-very-secret").unwrap()
    );
}

#[test]
fn stages_move_with_new_versions() {
    let d = tempfile::tempdir().unwrap();
    let (_, s) = open(d.path());
    let first = s.create(new("app", "v1")).unwrap().version_id.unwrap();
    let second = s
        .put_value("app", None, SecretValue::String("v2".into()), None)
        .unwrap();
    let second = second.version_id.unwrap();
    let rec = s.describe("app").unwrap();
    assert_eq!(rec.version(&first).unwrap().stages, [PREVIOUS]);
    assert_eq!(rec.version(&second).unwrap().stages, [CURRENT]);
    assert_eq!(
        s.get_value("app", None, Some(PREVIOUS)).unwrap().value,
        string("v1").unwrap()
    );
    assert_eq!(
        s.get_value("app", Some(&first), None).unwrap().value,
        string("v1").unwrap()
    );
    assert!(matches!(
        s.get_value("app", Some(&first), Some(CURRENT)),
        Err(Error::NotFound(_))
    ));
    // Moving AWSCURRENT back needs the version it comes from.
    assert!(matches!(
        s.update_stage("app", CURRENT, Some(&first), None),
        Err(Error::InvalidParameter(_))
    ));
    s.update_stage("app", CURRENT, Some(&first), Some(&second))
        .unwrap();
    let rec = s.describe("app").unwrap();
    assert_eq!(rec.version(&first).unwrap().stages, [CURRENT]);
    assert_eq!(rec.version(&second).unwrap().stages, [PREVIOUS]);
    // A custom label, then an idempotent retry and a conflicting one.
    let t = "0123456789abcdef0123456789abcdef".to_string();
    let w = s
        .put_value(
            "app",
            Some(t.clone()),
            SecretValue::Binary(vec![1, 2]),
            Some(vec!["blue".into()]),
        )
        .unwrap();
    assert_eq!(w.stages, ["blue"]);
    assert!(
        s.put_value(
            "app",
            Some(t.clone()),
            SecretValue::Binary(vec![1, 2]),
            Some(vec!["blue".into()])
        )
        .is_ok()
    );
    assert!(matches!(
        s.put_value("app", Some(t), SecretValue::Binary(vec![3]), None),
        Err(Error::Exists(_))
    ));
    assert_eq!(
        s.get_value("app", None, Some("blue")).unwrap().value,
        SecretValue::Binary(vec![1, 2])
    );
}

#[test]
fn deleted_secrets_refuse_reads_until_restored() {
    let d = tempfile::tempdir().unwrap();
    let (_, s) = open(d.path());
    s.create(new("gone", "x")).unwrap();
    assert!(matches!(
        s.delete("gone", Some(3), false),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        s.delete("gone", Some(7), true),
        Err(Error::InvalidParameter(_))
    ));
    s.delete("gone", Some(7), false).unwrap();
    assert!(
        matches!(s.get_value("gone", None, None), Err(Error::InvalidRequest(m)) if m.contains("marked for deletion"))
    );
    assert!(matches!(
        s.create(new("gone", "y")),
        Err(Error::InvalidRequest(_))
    ));
    assert!(s.describe("gone").unwrap().deletion_date.is_some());
    let q = ListQuery::default();
    assert!(s.list(&q).unwrap().0.is_empty());
    let q = ListQuery {
        include_planned_deletion: true,
        ..ListQuery::default()
    };
    assert_eq!(s.list(&q).unwrap().0.len(), 1);
    s.restore("gone").unwrap();
    assert_eq!(
        s.get_value("gone", None, None).unwrap().value,
        string("x").unwrap()
    );
    s.delete("gone", None, true).unwrap();
    assert!(matches!(s.describe("gone"), Err(Error::NotFound(_))));
    assert!(s.create(new("gone", "z")).is_ok());
}

#[test]
fn listings_filter_and_page() {
    let d = tempfile::tempdir().unwrap();
    let (_, s) = open(d.path());
    for i in 0..5 {
        let mut n = new(&format!("svc/{i}"), "v");
        n.tags = vec![Tag {
            key: "team".into(),
            value: if i % 2 == 0 { "a".into() } else { "b".into() },
        }];
        s.create(n).unwrap();
    }
    s.create(new("other", "v")).unwrap();
    let mut q = ListQuery {
        max_results: Some(2),
        filters: vec![("name".into(), vec!["svc/".into()])],
        ..ListQuery::default()
    };
    let mut names = Vec::new();
    loop {
        let (page, next) = s.list(&q).unwrap();
        assert!(page.len() <= 2);
        names.extend(page.iter().map(|p| p.name.clone()));
        match next {
            Some(t) => q.next_token = Some(t),
            None => break,
        }
    }
    assert_eq!(names, ["svc/0", "svc/1", "svc/2", "svc/3", "svc/4"]);
    let q = ListQuery {
        filters: vec![("tag-value".into(), vec!["a".into()])],
        ..ListQuery::default()
    };
    assert_eq!(s.list(&q).unwrap().0.len(), 3);
    let q = ListQuery {
        filters: vec![("name".into(), vec!["!svc".into()])],
        ..ListQuery::default()
    };
    assert_eq!(s.list(&q).unwrap().0.len(), 1);
    let q = ListQuery {
        filters: vec![("colour".into(), vec!["x".into()])],
        ..ListQuery::default()
    };
    assert!(matches!(s.list(&q), Err(Error::InvalidParameter(_))));
    let q = ListQuery {
        next_token: Some("99".into()),
        ..ListQuery::default()
    };
    assert!(matches!(s.list(&q), Err(Error::InvalidNextToken(_))));
}
