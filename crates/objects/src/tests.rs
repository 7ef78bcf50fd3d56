use super::*;
use data::Written;
use events::Origin;
use nimbus_storage_embedded::EmbeddedKv;

fn store() -> (tempfile::TempDir, Objects) {
    let d = tempfile::tempdir().unwrap();
    let kv = Arc::new(EmbeddedKv::open(&d.path().join("meta.redb")).unwrap());
    let o = Objects::open(kv, &d.path().join("objects"), None).unwrap();
    (d, o)
}

fn body(o: &Objects, bytes: &[u8]) -> Written {
    let mut w = o.data().writer().unwrap();
    w.write(bytes).unwrap();
    w.finish().unwrap()
}

/// A plain PUT: default attributes, no condition, no event.
fn put(o: &Objects, bucket: &str, key: &str, bytes: &[u8]) -> Object {
    o.put(
        bucket,
        key,
        body(o, bytes),
        Attributes::default(),
        None,
        &Origin::default(),
    )
    .unwrap()
}

fn read(o: &Objects, obj: &Object) -> Vec<u8> {
    let mut out = Vec::new();
    for s in &obj.segments {
        out.extend(std::fs::read(o.data().path(&s.id)).unwrap());
    }
    out
}

#[test]
fn bucket_names_follow_s3_rules() {
    for ok in ["abc", "my-bucket.v2", "a".repeat(63).as_str()] {
        assert!(validate_bucket_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "ab",
        "Upper",
        "-lead",
        "trail-",
        "a..b",
        "192.168.1.1",
        "under_score",
        &"a".repeat(64),
    ] {
        assert!(
            matches!(validate_bucket_name(bad), Err(Error::InvalidBucketName(_))),
            "{bad}"
        );
    }
}

#[test]
fn buckets_are_created_listed_and_deleted_only_when_empty() {
    let (_d, o) = store();
    o.create_bucket("one", "us-east-1").unwrap();
    // Repeated create in us-east-1 succeeds; elsewhere it is an error.
    o.create_bucket("one", "us-east-1").unwrap();
    o.create_bucket("two", "eu-west-1").unwrap();
    assert!(matches!(
        o.create_bucket("two", "eu-west-1"),
        Err(Error::BucketAlreadyOwnedByYou(_))
    ));
    let names: Vec<_> = o
        .list_buckets()
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["one", "two"]);
    let w = body(&o, b"x");
    o.put(
        "one",
        "k",
        w,
        Attributes::default(),
        None,
        &Origin::default(),
    )
    .unwrap();
    assert!(matches!(
        o.delete_bucket("one"),
        Err(Error::BucketNotEmpty(_))
    ));
    o.delete("one", "k", &Origin::default()).unwrap();
    o.delete_bucket("one").unwrap();
    assert!(matches!(o.bucket("one"), Err(Error::NoSuchBucket(_))));
    assert!(matches!(o.head("one", "k"), Err(Error::NoSuchBucket(_))));
}

#[test]
fn replacing_and_deleting_an_object_removes_its_old_data() {
    let (_d, o) = store();
    o.create_bucket("b-1", "us-east-1").unwrap();
    let first = put(&o, "b-1", "k", b"first");
    assert_eq!(first.etag, "8b04d5e3775d298e78455efc5ca404d5");
    let first_file = o.data().path(&first.segments[0].id);
    let second = put(&o, "b-1", "k", b"second");
    assert!(!first_file.exists());
    assert_eq!(read(&o, &o.head("b-1", "k").unwrap()), b"second");
    let second_file = o.data().path(&second.segments[0].id);
    o.delete("b-1", "k", &Origin::default()).unwrap();
    assert!(!second_file.exists());
    assert!(matches!(o.head("b-1", "k"), Err(Error::NoSuchKey(_))));
    // Deleting what is not there is fine.
    o.delete("b-1", "k", &Origin::default()).unwrap();
    // An empty object has no data file.
    let empty = put(&o, "b-1", "e", b"");
    assert!(empty.segments.is_empty());
    assert_eq!(empty.etag, "d41d8cd98f00b204e9800998ecf8427e");
}

#[test]
fn a_put_into_a_missing_bucket_leaves_no_data() {
    let (d, o) = store();
    let w = body(&o, b"orphan?");
    let id = w.id.clone();
    assert!(matches!(
        o.put(
            "nope",
            "k",
            w,
            Attributes::default(),
            None,
            &Origin::default()
        ),
        Err(Error::NoSuchBucket(_))
    ));
    assert!(!o.data().path(&id).exists());
    drop(d);
}

#[test]
fn copies_are_independent() {
    let (_d, o) = store();
    o.create_bucket("src", "us-east-1").unwrap();
    let a = put(&o, "src", "a", b"data");
    let b = o
        .copy(&a, "src", "b", Attributes::default(), &Origin::default())
        .unwrap();
    assert_eq!(b.etag, a.etag);
    o.delete("src", "a", &Origin::default()).unwrap();
    assert_eq!(read(&o, &o.head("src", "b").unwrap()), b"data");
}

fn keys(l: &Listing) -> Vec<&str> {
    l.objects.iter().map(|o| o.key.as_str()).collect()
}

#[test]
fn listings_page_and_roll_up_common_prefixes() {
    let (_d, o) = store();
    o.create_bucket("list", "us-east-1").unwrap();
    for k in ["a.txt", "dir/1", "dir/2", "dir/sub/3", "e.txt", "f/x", "z"] {
        o.put(
            "list",
            k,
            body(&o, k.as_bytes()),
            Attributes::default(),
            None,
            &Origin::default(),
        )
        .unwrap();
    }
    // Another bucket whose name extends this one's is never listed.
    o.create_bucket("listx", "us-east-1").unwrap();
    put(&o, "listx", "a", b"x");

    let all = o
        .list(
            "list",
            &ListQuery {
                max_keys: 1000,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        keys(&all),
        ["a.txt", "dir/1", "dir/2", "dir/sub/3", "e.txt", "f/x", "z"]
    );
    assert!(!all.truncated);

    let q = ListQuery {
        delimiter: Some("/".into()),
        max_keys: 1000,
        ..Default::default()
    };
    let top = o.list("list", &q).unwrap();
    assert_eq!(keys(&top), ["a.txt", "e.txt", "z"]);
    assert_eq!(top.common_prefixes, ["dir/", "f/"]);

    let q = ListQuery {
        prefix: "dir/".into(),
        delimiter: Some("/".into()),
        max_keys: 1000,
        ..Default::default()
    };
    let dir = o.list("list", &q).unwrap();
    assert_eq!(keys(&dir), ["dir/1", "dir/2"]);
    assert_eq!(dir.common_prefixes, ["dir/sub/"]);

    // Pages of 2 with a delimiter: prefixes count toward the page and are not repeated.
    let mut q = ListQuery {
        delimiter: Some("/".into()),
        max_keys: 2,
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = o.list("list", &q).unwrap();
        seen.extend(page.objects.iter().map(|o| o.key.clone()));
        seen.extend(page.common_prefixes.iter().cloned());
        assert!(page.objects.len() + page.common_prefixes.len() <= 2);
        if !page.truncated {
            break;
        }
        q.after = page.next_after.clone();
    }
    seen.sort();
    assert_eq!(seen, ["a.txt", "dir/", "e.txt", "f/", "z"]);

    // A v1 marker that is itself a common prefix skips it.
    let q = ListQuery {
        delimiter: Some("/".into()),
        after: Some(b"dir/".to_vec()),
        max_keys: 1000,
        ..Default::default()
    };
    let after = o.list("list", &q).unwrap();
    assert_eq!(keys(&after), ["e.txt", "z"]);
    assert_eq!(after.common_prefixes, ["f/"]);

    // StartAfter.
    let q = ListQuery {
        after: Some(b"e.txt".to_vec()),
        max_keys: 1000,
        ..Default::default()
    };
    assert_eq!(keys(&o.list("list", &q).unwrap()), ["f/x", "z"]);
}

#[test]
fn multipart_uploads_assemble_checked_parts() {
    let (_d, o) = store();
    o.create_bucket("mpu", "us-east-1").unwrap();
    let u = o
        .create_upload("mpu", "big", Attributes::default(), None)
        .unwrap();
    let p1 = vec![b'a'; MIN_PART_BYTES as usize];
    let part1 = o
        .put_part("mpu", "big", &u.upload_id, 1, body(&o, &p1), None)
        .unwrap();
    let part2 = o
        .put_part("mpu", "big", &u.upload_id, 2, body(&o, b"tail"), None)
        .unwrap();
    // Re-uploading part 2 replaces it (and its data).
    let old2 = o.data().path(&part2.data.id);
    let part2 = o
        .put_part("mpu", "big", &u.upload_id, 2, body(&o, b"tail!"), None)
        .unwrap();
    assert!(!old2.exists());
    let cp = |n: u32, e: &str| CompletedPart {
        number: n,
        etag: format!("\"{e}\""),
    };

    assert!(matches!(
        o.complete_upload(
            ("mpu", "big", &u.upload_id),
            &[cp(2, &part2.etag), cp(1, &part1.etag)],
            None,
            &Origin::default(),
            None
        ),
        Err(Error::InvalidPartOrder)
    ));
    assert!(matches!(
        o.complete_upload(
            ("mpu", "big", &u.upload_id),
            &[cp(1, &part1.etag), cp(2, "0000")],
            None,
            &Origin::default(),
            None
        ),
        Err(Error::InvalidPart(2))
    ));
    assert!(matches!(
        o.complete_upload(
            ("mpu", "big", &u.upload_id),
            &[cp(1, &part1.etag), cp(3, "x")],
            None,
            &Origin::default(),
            None
        ),
        Err(Error::InvalidPart(3))
    ));
    let obj = o
        .complete_upload(
            ("mpu", "big", &u.upload_id),
            &[cp(1, &part1.etag), cp(2, &part2.etag)],
            None,
            &Origin::default(),
            None,
        )
        .unwrap();
    assert_eq!(obj.size, MIN_PART_BYTES + 5);
    assert_eq!(
        obj.etag,
        multipart_etag(&[part1.etag.clone(), part2.etag.clone()])
    );
    assert!(obj.etag.ends_with("-2"));
    assert_eq!(obj.parts, Some(2));
    let data = read(&o, &o.head("mpu", "big").unwrap());
    assert_eq!(&data[data.len() - 5..], b"tail!");
    assert!(matches!(
        o.upload("mpu", "big", &u.upload_id),
        Err(Error::NoSuchUpload(_))
    ));
    assert!(o.parts(&u.upload_id).unwrap().is_empty());
}

#[test]
fn small_non_final_parts_are_refused_and_aborts_clean_up() {
    let (_d, o) = store();
    o.create_bucket("mpu", "us-east-1").unwrap();
    let u = o
        .create_upload("mpu", "k", Attributes::default(), None)
        .unwrap();
    let a = o
        .put_part("mpu", "k", &u.upload_id, 1, body(&o, b"small"), None)
        .unwrap();
    let b = o
        .put_part("mpu", "k", &u.upload_id, 2, body(&o, b"last"), None)
        .unwrap();
    let cps = [
        CompletedPart {
            number: 1,
            etag: a.etag.clone(),
        },
        CompletedPart {
            number: 2,
            etag: b.etag.clone(),
        },
    ];
    assert!(matches!(
        o.complete_upload(
            ("mpu", "k", &u.upload_id),
            &cps,
            None,
            &Origin::default(),
            None
        ),
        Err(Error::EntityTooSmall)
    ));
    assert!(matches!(
        o.put_part("mpu", "k", &u.upload_id, 0, body(&o, b"x"), None),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(o.list_uploads("mpu", "").unwrap().len(), 1);
    o.abort_upload("mpu", "k", &u.upload_id).unwrap();
    assert!(!o.data().path(&a.data.id).exists());
    assert!(o.list_uploads("mpu", "").unwrap().is_empty());
    assert!(matches!(
        o.abort_upload("mpu", "k", &u.upload_id),
        Err(Error::NoSuchUpload(_))
    ));
}

/// An outbox that writes its events into a table of the same engine, and
/// records what it was told committed.
struct TableOutbox {
    scheduled: std::sync::Mutex<Vec<(u64, u64)>>,
    next: std::sync::atomic::AtomicU64,
}

const OUTBOX: nimbus_storage::Table = nimbus_storage::Table("test_outbox");

impl events::Outbox for TableOutbox {
    fn exists(&self, function: &str) -> bool {
        function == "fn"
    }
    fn stage(
        &self,
        function: &str,
        payload: &[u8],
        _trace: Option<&str>,
        batch: &mut WriteBatch,
    ) -> std::result::Result<events::Staged, nimbus_invoke::DeliveryError> {
        let seq = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        batch.put(
            OUTBOX,
            seq.to_be_bytes().to_vec(),
            [function.as_bytes(), b" ", payload].concat(),
        );
        Ok(events::Staged::new((0u64, seq)))
    }
    fn committed(&self, staged: Vec<events::Staged>) {
        for s in staged {
            let t = s
                .downcast::<(u64, u64)>()
                .expect("this outbox's own tokens");
            self.scheduled.lock().unwrap().push(t);
        }
    }
}

#[test]
fn an_event_commits_with_its_object_or_not_at_all() {
    use nimbus_storage::faulty::FaultyKv;
    let d = tempfile::tempdir().unwrap();
    let kv = Arc::new(FaultyKv::new(
        EmbeddedKv::open(&d.path().join("meta.redb")).unwrap(),
    ));
    let outbox = Arc::new(TableOutbox {
        scheduled: Default::default(),
        next: Default::default(),
    });
    let notifier = events::Notifier {
        outbox: outbox.clone(),
        permissions: None,
        account: "000000000000".into(),
    };
    let o = Objects::open(kv.clone(), &d.path().join("objects"), Some(notifier)).unwrap();
    o.create_bucket("evt", "us-east-1").unwrap();
    let rule = events::Rule {
        id: "r".into(),
        function_arn: "fn".into(),
        events: vec!["s3:ObjectCreated:*".into()],
        prefix: "in/".into(),
        suffix: String::new(),
    };
    assert!(matches!(
        o.set_notifications(
            "evt",
            vec![events::Rule {
                function_arn: "nope".into(),
                ..rule.clone()
            }],
            false
        ),
        Err(Error::DestinationsNotValidated(refused)) if refused[0].0 == "nope"
    ));
    o.set_notifications("evt", vec![rule], false).unwrap();

    // The commit fails: neither the object nor its event exists, nothing is scheduled.
    kv.fail_nth_commit(1);
    assert!(
        o.put(
            "evt",
            "in/a",
            body(&o, b"a"),
            Attributes::default(),
            None,
            &Origin::default()
        )
        .is_err()
    );
    assert!(matches!(o.head("evt", "in/a"), Err(Error::NoSuchKey(_))));
    assert!(kv.scan_prefix(OUTBOX, b"").unwrap().is_empty());
    assert!(outbox.scheduled.lock().unwrap().is_empty());

    // It succeeds: both, and the event is scheduled after the commit.
    put(&o, "evt", "in/a", b"a");
    let staged = kv.scan_prefix(OUTBOX, b"").unwrap();
    assert_eq!(staged.len(), 1);
    let text = String::from_utf8(staged[0].1.clone()).unwrap();
    assert!(text.starts_with("fn {\"Records\""), "{text}");
    assert_eq!(outbox.scheduled.lock().unwrap().len(), 1);
    // Keys outside the rule's prefix make no event.
    put(&o, "evt", "out/b", b"b");
    assert_eq!(kv.scan_prefix(OUTBOX, b"").unwrap().len(), 1);
}

#[test]
fn small_objects_live_inline_and_leave_with_their_metadata() {
    let (_d, o) = store();
    o.create_bucket("inl", "us-east-1").unwrap();
    let a = o
        .put(
            "inl",
            "k",
            data::Written::in_memory(b"tiny".to_vec()),
            Attributes::default(),
            None,
            &Origin::default(),
        )
        .unwrap();
    assert!(a.segments[0].inline);
    assert_eq!(
        a.etag,
        hex::encode(<md5::Md5 as md5::Digest>::digest(b"tiny"))
    );
    assert_eq!(
        o.inline_data(&a.segments[0].id).unwrap().as_deref(),
        Some(&b"tiny"[..])
    );
    let c = o
        .copy(&a, "inl", "copy", Attributes::default(), &Origin::default())
        .unwrap();
    assert!(c.segments[0].inline && c.segments[0].id != a.segments[0].id);
    // Replaced by a file-backed body: the inline bytes go in the same commit.
    put(&o, "inl", "k", b"bigger");
    assert_eq!(o.inline_data(&a.segments[0].id).unwrap(), None);
    o.delete("inl", "copy", &Origin::default()).unwrap();
    assert_eq!(o.inline_data(&c.segments[0].id).unwrap(), None);
    // A part that arrives in memory is still stored as a file.
    let u = o
        .create_upload("inl", "mp", Attributes::default(), None)
        .unwrap();
    let p = o
        .put_part(
            "inl",
            "mp",
            &u.upload_id,
            1,
            data::Written::in_memory(b"p".to_vec()),
            None,
        )
        .unwrap();
    assert!(!p.data.inline && o.data().path(&p.data.id).exists());
}

#[test]
fn cors_rules_match_origins_methods_and_headers() {
    let rule = CorsRule {
        allowed_origins: vec!["https://*.example.com".into()],
        allowed_methods: vec!["GET".into(), "PUT".into()],
        allowed_headers: vec!["content-*".into(), "x-amz-date".into()],
        ..Default::default()
    };
    let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(rule.allows(
        "https://app.example.com",
        "PUT",
        &h(&["Content-Type", "X-Amz-Date"])
    ));
    assert!(!rule.allows("https://example.org", "PUT", &[]));
    assert!(!rule.allows("https://app.example.com", "DELETE", &[]));
    assert!(!rule.allows("https://app.example.com", "GET", &h(&["authorization"])));
    let any = CorsRule {
        allowed_origins: vec!["*".into()],
        allowed_methods: vec!["GET".into()],
        ..Default::default()
    };
    assert_eq!(
        cors_match(&[rule.clone(), any.clone()], "http://x", "GET", &[]),
        Some(&any)
    );
    assert_eq!(cors_match(&[rule, any], "http://x", "PUT", &[]), None);
}

#[test]
fn tags_change_without_touching_data() {
    let (_d, o) = store();
    o.create_bucket("tags", "us-east-1").unwrap();
    let a = put(&o, "tags", "k", b"data");
    let t = o
        .set_object_tags("tags", "k", vec![("a".into(), "1".into())])
        .unwrap();
    assert_eq!(t.attributes.tags, vec![("a".to_string(), "1".to_string())]);
    assert_eq!(t.segments, a.segments);
    assert_eq!(read(&o, &o.head("tags", "k").unwrap()), b"data");
    let b = o
        .update_bucket("tags", |b| {
            b.tags = Some(vec![("env".into(), "test".into())]);
        })
        .unwrap();
    assert_eq!(o.bucket("tags").unwrap(), b);
}

#[test]
fn versioning_keeps_history_behind_delete_markers() {
    let (_d, o) = store();
    let none = Origin::default();
    o.create_bucket("ver", "us-east-1").unwrap();
    // Written before versioning: the "null" version.
    let v0 = put(&o, "ver", "k", b"zero");
    assert_eq!(v0.version_id, None);
    o.update_bucket("ver", |b| b.versioning = Some("Enabled".into()))
        .unwrap();
    let v1 = put(&o, "ver", "k", b"one");
    let v2 = o
        .put(
            "ver",
            "k",
            Written::in_memory(b"two".to_vec()),
            Attributes::default(),
            None,
            &none,
        )
        .unwrap();
    let (id1, id2) = (
        v1.version_id.clone().unwrap(),
        v2.version_id.clone().unwrap(),
    );
    assert_ne!(id1, id2);
    assert_eq!(
        o.inline_data(&o.head("ver", "k").unwrap().segments[0].id)
            .unwrap()
            .unwrap(),
        b"two"
    );
    assert_eq!(read(&o, &o.version("ver", "k", &id1).unwrap()), b"one");
    assert_eq!(read(&o, &o.version("ver", "k", "null").unwrap()), b"zero");
    let l = o.list_versions("ver", "", None, None, None, 1000).unwrap();
    let order: Vec<(String, bool)> = l
        .entries
        .iter()
        .map(|e| (wire_version(&e.object).to_string(), e.is_latest))
        .collect();
    assert_eq!(
        order,
        vec![
            (id2.clone(), true),
            (id1.clone(), false),
            ("null".into(), false)
        ]
    );

    // A plain delete adds a marker: the key is gone from listings, its versions stay.
    let d = o.delete("ver", "k", &none).unwrap();
    assert!(d.delete_marker);
    assert!(matches!(
        o.head("ver", "k"),
        Err(Error::DeleteMarker { .. })
    ));
    assert!(
        o.list(
            "ver",
            &ListQuery {
                max_keys: 1000,
                ..Default::default()
            }
        )
        .unwrap()
        .objects
        .is_empty()
    );
    assert_eq!(
        o.list_versions("ver", "", None, None, None, 1000)
            .unwrap()
            .entries
            .len(),
        4
    );
    assert!(matches!(
        o.delete_bucket("ver"),
        Err(Error::BucketNotEmpty(_))
    ));
    // Deleting the marker brings the newest version back.
    o.delete_version("ver", "k", d.version_id.as_deref().unwrap(), &none, false)
        .unwrap();
    assert_eq!(
        o.head("ver", "k").unwrap().version_id.as_deref(),
        Some(id2.as_str())
    );
    // Deleting a version for good removes its data.
    let v1_file = o.data().path(&v1.segments[0].id);
    o.delete_version("ver", "k", &id1, &none, false).unwrap();
    assert!(!v1_file.exists());
    assert!(matches!(
        o.version("ver", "k", &id1),
        Err(Error::NoSuchVersion(..))
    ));
    // Paging one version at a time visits each once.
    let mut seen = Vec::new();
    let (mut km, mut vm) = (None::<String>, None::<String>);
    loop {
        let page = o
            .list_versions("ver", "", None, km.as_deref(), vm.as_deref(), 1)
            .unwrap();
        seen.extend(
            page.entries
                .iter()
                .map(|e| wire_version(&e.object).to_string()),
        );
        if !page.truncated {
            break;
        }
        (km, vm) = (page.next_key_marker, page.next_version_marker);
    }
    assert_eq!(seen, vec![id2.clone(), "null".to_string()]);

    // Suspended: new writes are the "null" version, replacing the old null one.
    o.update_bucket("ver", |b| b.versioning = Some("Suspended".into()))
        .unwrap();
    let n = put(&o, "ver", "k", b"n");
    assert_eq!(n.version_id.as_deref(), Some("null"));
    let versions: Vec<String> = o
        .list_versions("ver", "", None, None, None, 1000)
        .unwrap()
        .entries
        .iter()
        .map(|e| wire_version(&e.object).to_string())
        .collect();
    assert_eq!(versions, vec!["null".to_string(), id2.clone()]);
}

#[test]
fn lifecycle_passes_expire_by_their_clock_and_spare_locked_versions() {
    let (_d, o) = store();
    o.create_bucket_with(
        "lkb",
        "us-east-1",
        access::BucketAccess::new_bucket(None),
        true,
    )
    .unwrap();
    let day = 1000;
    o.update_bucket("lkb", |b| {
        b.lifecycle = vec![lifecycle::Rule {
            id: "r".into(),
            enabled: true,
            filter: lifecycle::Filter {
                prefix: "p/".into(),
                ..Default::default()
            },
            expiration: Some(lifecycle::Expiration {
                days: Some(1),
                ..Default::default()
            }),
            noncurrent: Some(lifecycle::NoncurrentExpiration {
                days: 1,
                newer: None,
            }),
            abort_upload_days: None,
        }];
    })
    .unwrap();
    let held = put(&o, "lkb", "p/a", b"1");
    o.change_lock("lkb", "p/a", None, |l| {
        l.legal_hold = Some(true);
        Ok(())
    })
    .unwrap();
    let free = put(&o, "lkb", "p/a", b"2");
    put(&o, "lkb", "q/b", b"3");
    let at = |ms| lifecycle::Clock {
        now_ms: ms,
        day_ms: day,
    };
    // Not a day old yet: nothing happens.
    let start = free.last_modified_ms;
    assert_eq!(o.apply_lifecycle(at(start)).unwrap(), Default::default());
    // A day on: the current version is hidden behind a marker; the held one stays.
    let done = o.apply_lifecycle(at(start + day)).unwrap();
    assert_eq!(done.expired, 1);
    assert!(matches!(
        o.head("lkb", "p/a"),
        Err(Error::DeleteMarker { .. })
    ));
    // Another day: the noncurrent free version goes, the held one does not.
    let done = o.apply_lifecycle(at(start + 3 * day)).unwrap();
    assert_eq!(done.noncurrent_deleted, 1);
    let left = o.version("lkb", "p/a", held.version_id.as_deref().unwrap());
    assert!(left.is_ok());
    assert!(
        o.version("lkb", "p/a", free.version_id.as_deref().unwrap())
            .is_err()
    );
    assert!(o.head("lkb", "q/b").is_ok(), "outside the rule's prefix");
}

#[test]
fn a_lifecycle_removal_leaves_a_version_that_changed_since_its_pass_saw_it() {
    let (_d, o) = store();
    let none = Origin::default();
    o.create_bucket("lcrace", "us-east-1").unwrap();
    o.update_bucket("lcrace", |b| b.versioning = Some("Enabled".into()))
        .unwrap();
    let v1 = put(&o, "lcrace", "k", b"1");
    let v2 = put(&o, "lcrace", "k", b"2");
    // The pass saw v1 noncurrent; then v2 was deleted, so v1 is current again.
    o.delete_version(
        "lcrace",
        "k",
        v2.version_id.as_deref().unwrap(),
        &none,
        false,
    )
    .unwrap();
    let seen = Seen {
        last_modified_ms: v1.last_modified_ms,
        delete_marker: false,
        current: false,
    };
    let v1_id = v1.version_id.clone().unwrap();
    let removed = o
        .delete_version_as("lcrace", "k", &v1_id, &none, Removal::Lifecycle(seen))
        .unwrap();
    assert_eq!(removed, None);
    assert_eq!(o.head("lcrace", "k").unwrap().version_id, v1.version_id);
}
