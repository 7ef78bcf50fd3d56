use super::*;
use nimbus_storage_embedded::EmbeddedKv;
use std::path::Path;

fn open(dir: &Path) -> (Arc<EmbeddedKv>, Parameters) {
    let kv = Arc::new(EmbeddedKv::open(&dir.join("m.redb")).unwrap());
    let kms = Kms::open(
        kv.clone(),
        &dir.join("kms-master.key"),
        "000000000000",
        "us-east-1",
    )
    .unwrap();
    let p = Parameters::open(kv.clone(), Arc::new(kms)).unwrap();
    (kv, p)
}

fn put(
    p: &Parameters,
    name: &str,
    value: &str,
    kind: Kind,
    overwrite: bool,
) -> Result<(u64, String)> {
    p.put(NewParameter {
        name: name.into(),
        value: value.into(),
        kind: Some(kind),
        overwrite,
        ..NewParameter::default()
    })
}

#[test]
fn versions_selectors_and_overwrite() {
    let d = tempfile::tempdir().unwrap();
    let (_, p) = open(d.path());
    assert_eq!(put(&p, "/app/url", "a", Kind::String, false).unwrap().0, 1);
    assert!(matches!(
        put(&p, "/app/url", "b", Kind::String, false),
        Err(Error::AlreadyExists(_))
    ));
    assert_eq!(put(&p, "/app/url", "b", Kind::String, true).unwrap().0, 2);
    assert_eq!(p.get("/app/url", false).unwrap().version.value, "b");
    let v1 = p.get("/app/url:1", false).unwrap();
    assert_eq!(
        (v1.version.value.as_str(), v1.selector.as_deref()),
        ("a", Some(":1"))
    );
    assert!(matches!(
        p.get("/app/url:9", false),
        Err(Error::VersionNotFound(_))
    ));
    assert!(matches!(p.get("/app/none", false), Err(Error::NotFound(_))));
    let (invalid, v) = p
        .label("/app/url", Some(1), &["prod".into(), "1bad".into()])
        .unwrap();
    assert_eq!((invalid, v), (vec!["1bad".to_string()], 1));
    assert_eq!(p.get("/app/url:prod", false).unwrap().version.value, "a");
    p.label("/app/url", None, &["prod".into()]).unwrap();
    assert_eq!(p.get("/app/url:prod", false).unwrap().version.version, 2);
    let (removed, missing) = p
        .unlabel("/app/url", 2, &["prod".into(), "x".into()])
        .unwrap();
    assert_eq!(
        (removed, missing),
        (vec!["prod".to_string()], vec!["x".to_string()])
    );
    let (hist, next) = p.history("/app/url", false, Some(1), None).unwrap();
    assert_eq!((hist.len(), next.as_deref()), (1, Some("1")));
    let arn = p.arn("/app/url");
    assert_eq!(p.get(&arn, false).unwrap().name, "/app/url");
}

#[test]
fn secure_strings_are_encrypted_at_rest() {
    let d = tempfile::tempdir().unwrap();
    let (kv, p) = open(d.path());
    put(&p, "/db/pw", "s3cr3t-value", Kind::SecureString, false).unwrap();
    let raw = p.get("/db/pw", false).unwrap();
    assert_ne!(raw.version.value, "s3cr3t-value");
    assert_eq!(raw.version.key_id.as_deref(), Some("alias/aws/ssm"));
    assert_eq!(p.get("/db/pw", true).unwrap().version.value, "s3cr3t-value");
    let rows = nimbus_storage::KvEngine::scan_prefix(&*kv, PARAMETERS, b"").unwrap();
    assert!(!String::from_utf8_lossy(&rows[0].1).contains("s3cr3t"));
    let e = p.put(NewParameter {
        name: "/db/other".into(),
        value: "v".into(),
        kind: Some(Kind::SecureString),
        key_id: Some("alias/missing".into()),
        ..NewParameter::default()
    });
    assert!(matches!(e, Err(Error::InvalidKeyId(_))));
}

#[test]
fn paths_filters_and_pages() {
    let d = tempfile::tempdir().unwrap();
    let (_, p) = open(d.path());
    for n in ["/a/x", "/a/y", "/a/b/z", "/a/b/c/w", "/other"] {
        put(&p, n, "v", Kind::String, false).unwrap();
    }
    put(&p, "/a/s", "v", Kind::SecureString, false).unwrap();
    let names = |v: Vec<Shown>| v.into_iter().map(|s| s.name).collect::<Vec<_>>();
    let (one, _) = p.by_path("/a", false, &[], false, None, None).unwrap();
    assert_eq!(names(one), ["/a/s", "/a/x", "/a/y"]);
    let (all, _) = p.by_path("/a/", true, &[], false, None, None).unwrap();
    assert_eq!(all.len(), 5);
    let f = Filter {
        key: "Type".into(),
        option: None,
        values: vec!["SecureString".into()],
    };
    let (secure, _) = p
        .by_path("/", true, std::slice::from_ref(&f), false, None, None)
        .unwrap();
    assert_eq!(names(secure), ["/a/s"]);
    let name = Filter {
        key: "Name".into(),
        option: None,
        values: vec!["x".into()],
    };
    assert!(matches!(
        p.by_path("/", true, &[name], false, None, None),
        Err(Error::InvalidFilterKey(_))
    ));
    let (first, next) = p.by_path("/", true, &[], false, Some(4), None).unwrap();
    let (rest, last) = p
        .by_path("/", true, &[], false, Some(4), next.as_deref())
        .unwrap();
    assert_eq!((first.len(), rest.len(), last), (4, 2, None));
    let path = Filter {
        key: "Path".into(),
        option: Some("Recursive".into()),
        values: vec!["/a/b".into()],
    };
    assert_eq!(p.describe(&[path], None, None).unwrap().0.len(), 2);
    let begins = Filter {
        key: "Name".into(),
        option: Some("BeginsWith".into()),
        values: vec!["/a/b".into()],
    };
    assert_eq!(p.describe(&[begins], None, None).unwrap().0.len(), 2);
    assert!(matches!(
        p.by_path("/", true, &[], false, Some(11), None),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        put(&p, &"/l".repeat(16), "v", Kind::String, false),
        Err(Error::HierarchyLevel(_))
    ));
}

#[test]
fn allowed_patterns_and_tags() {
    let d = tempfile::tempdir().unwrap();
    let (_, p) = open(d.path());
    let mut n = NewParameter {
        name: "/n".into(),
        value: "abc".into(),
        kind: Some(Kind::String),
        allowed_pattern: Some("^\\d+$".into()),
        ..NewParameter::default()
    };
    assert!(matches!(p.put(n.clone()), Err(Error::PatternMismatch(_))));
    n.value = "123".into();
    p.put(n.clone()).unwrap();
    n.allowed_pattern = Some("(".into());
    n.overwrite = true;
    assert!(matches!(p.put(n), Err(Error::InvalidAllowedPattern(_))));
    p.add_tags(
        "/n",
        vec![Tag {
            key: "team".into(),
            value: "a".into(),
        }],
    )
    .unwrap();
    assert_eq!(p.tags("/n").unwrap().len(), 1);
    p.remove_tags("/n", &["team".into()]).unwrap();
    assert!(p.tags("/n").unwrap().is_empty());
    assert!(matches!(p.tags("/none"), Err(Error::InvalidResourceId(_))));
    let (deleted, invalid) = p.delete_many(&["/n".into(), "/none".into()]).unwrap();
    assert_eq!((deleted.len(), invalid.len()), (1, 1));
}
