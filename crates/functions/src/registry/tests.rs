//! Unit tests of `registry`.

use super::*;
use nimbus_storage::faulty::FaultyKv;
use nimbus_storage_embedded::{EmbeddedKv, FileBlobs};
use std::io::Write;

fn zip(body: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("app.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(body.as_bytes()).unwrap();
    w.finish().unwrap().into_inner()
}

fn req(name: &str) -> CreateFunction {
    CreateFunction {
        name: name.into(),
        runtime: Some("python3.12".into()),
        role: "arn:aws:iam::000000000000:role/r".into(),
        handler: Some("app.handler".into()),
        zip: zip("def handler(e, c):\n    return 1\n"),
        ..Default::default()
    }
}

/// A registry with its layer store, over `kv`.
pub(crate) fn reg_open(
    kv: Arc<dyn KvEngine>,
    blobs: Arc<dyn BlobStore>,
    code: Arc<CodeCache>,
) -> Registry {
    let layers = Layers::open(kv.clone(), blobs.clone(), code.clone(), Default::default()).unwrap();
    Registry::open(kv, blobs, code, Arc::new(layers)).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    kv: Arc<FaultyKv<EmbeddedKv>>,
    reg: Registry,
}

fn open(dir: tempfile::TempDir) -> Fixture {
    let kv = Arc::new(FaultyKv::new(
        EmbeddedKv::open(&dir.path().join("m.redb")).unwrap(),
    ));
    let blobs = Arc::new(FileBlobs::open(&dir.path().join("blobs")).unwrap());
    let code = Arc::new(CodeCache::new(dir.path().join("code")).unwrap());
    let reg = reg_open(kv.clone(), blobs, code);
    Fixture { _dir: dir, kv, reg }
}

fn nf() -> Error {
    Error::NotFound("nope".into())
}

#[test]
fn failed_commit_leaves_nothing_half_written() {
    let f = open(tempfile::tempdir().unwrap());
    f.kv.fail_nth_commit(1);
    assert!(matches!(f.reg.create(req("f")), Err(Error::Storage(_))));
    assert!(f.reg.get("f").is_none(), "not in the index");
    assert!(
        f.kv.get(FUNCTIONS, b"f").unwrap().is_none(),
        "not in the store"
    );
    f.reg.create(req("f")).unwrap();
    // A failed update keeps the old record everywhere.
    let before = f.reg.get("f").unwrap();
    f.kv.fail_nth_commit(1);
    let upd = UpdateConfiguration {
        timeout: Some(30),
        ..Default::default()
    };
    assert!(f.reg.update_configuration("f", nf, upd).is_err());
    assert_eq!(f.reg.get("f").unwrap().timeout_secs, before.timeout_secs);
}

#[test]
fn versions_aliases_and_validation() {
    let f = open(tempfile::tempdir().unwrap());
    f.reg.create(req("f")).unwrap();
    let v1 = f
        .reg
        .publish_version("f", nf, Some("one".into()), None, None)
        .unwrap();
    assert_eq!((v1.version.as_str(), v1.description.as_str()), ("1", "one"));
    // Nothing changed: publishing again returns the same version.
    assert_eq!(
        f.reg
            .publish_version("f", nf, None, None, None)
            .unwrap()
            .version,
        "1"
    );
    f.reg
        .update_code(
            "f",
            nf,
            UpdateCode {
                zip: zip("x = 2\n"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        f.reg
            .publish_version("f", nf, None, None, None)
            .unwrap()
            .version,
        "2"
    );
    let alias = |name: &str, v: &str, w: &[(&str, f64)]| AliasInput {
        name: name.into(),
        function_version: Some(v.into()),
        additional_weights: Some(w.iter().map(|(k, x)| (k.to_string(), *x)).collect()),
        ..Default::default()
    };
    f.reg
        .create_alias("f", nf, alias("live", "2", &[("1", 0.25)]), "arn".into())
        .unwrap();
    for (bad, why) in [
        (alias("123", "1", &[]), "all digits"),
        (alias("x", "9", &[]), "missing version"),
        (alias("y", "2", &[("2", 0.5)]), "routes to itself"),
        (alias("z", "2", &[("1", 1.5)]), "weight above 1"),
        (alias("w", "2", &[("$LATEST", 0.5)]), "routes to $LATEST"),
    ] {
        assert!(
            f.reg.create_alias("f", nf, bad, "arn".into()).is_err(),
            "{why}"
        );
    }
    assert!(
        matches!(f.reg.delete_version("f", "1", nf), Err(Error::Conflict(_))),
        "referenced by an alias"
    );
    f.reg.delete_alias("f", "live").unwrap();
    f.reg.delete_version("f", "1", nf).unwrap();
    assert!(f.reg.get_version("f", "1").is_none());
    assert!(f.reg.get_version("f", "2").is_some());
}

#[test]
fn everything_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    {
        let f = open(dir);
        f.reg.create(req("f")).unwrap();
        f.reg.publish_version("f", nf, None, None, None).unwrap();
        let a = AliasInput {
            name: "live".into(),
            function_version: Some("1".into()),
            ..Default::default()
        };
        f.reg.create_alias("f", nf, a, "arn".into()).unwrap();
        f.reg.set_concurrency("f", nf, Some(7), 1000).unwrap();
        std::mem::forget(f._dir); // keep the directory for the reopen below
    }
    let kv = EmbeddedKv::open(&path.join("m.redb")).unwrap();
    let blobs = Arc::new(FileBlobs::open(&path.join("blobs")).unwrap());
    let code = Arc::new(CodeCache::new(path.join("code")).unwrap());
    let reg = reg_open(Arc::new(kv), blobs, code);
    assert_eq!(reg.get("f").unwrap().reserved_concurrency, Some(7));
    assert_eq!(reg.get("f").unwrap().last_version, 1);
    assert!(reg.get_version("f", "1").is_some());
    assert_eq!(reg.get_alias("f", "live").unwrap().function_version, "1");
    let _ = std::fs::remove_dir_all(path);
}

#[test]
fn keys_are_the_ones_data_directories_already_hold() {
    let f = open(tempfile::tempdir().unwrap());
    f.reg.create(req("f")).unwrap();
    f.reg.publish_version("f", nf, None, None, None).unwrap();
    let a = AliasInput {
        name: "live".into(),
        function_version: Some("1".into()),
        ..Default::default()
    };
    f.reg.create_alias("f", nf, a, "arn".into()).unwrap();
    let keys = |t| -> Vec<Vec<u8>> {
        let pairs = f.kv.scan_prefix(t, b"").unwrap();
        pairs.into_iter().map(|(k, _)| k).collect()
    };
    assert_eq!(keys(FUNCTIONS), [b"f".to_vec()]);
    assert_eq!(keys(VERSIONS), [b"f\x000000000001".to_vec()]);
    assert_eq!(keys(ALIASES), [b"f\x00live".to_vec()]);
    let mut v = FunctionRecord::clone(&f.reg.get("f").unwrap());
    for (version, key) in [("10", "f\x000000000010"), ("4294967295", "f\x004294967295")] {
        v.version = version.into();
        assert_eq!(Published::key(&v), key);
        assert_eq!(version_key("f", version.parse().unwrap()), key);
    }
}

#[test]
fn records_written_before_records_open_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let kv = EmbeddedKv::open(&dir.path().join("m.redb")).unwrap();
    // As the registry wrote them before it kept them in `Records`.
    let latest: FunctionRecord = serde_json::from_value(serde_json::json!({
        "format": 1, "name": "f", "runtime": "python3.12",
        "role": "arn:aws:iam::000000000000:role/r", "handler": "app.handler",
        "timeout_secs": 3, "memory_mb": 128, "ephemeral_storage_mb": 512,
        "architecture": "x86_64",
        "code": {"digest": "00", "sha256_b64": "AA==", "size": 1},
        "last_modified_ms": 1, "revision_id": "r0", "last_version": 12
    }))
    .unwrap();
    let mut v12 = latest.clone();
    (v12.version, v12.last_version, v12.revision_id) = ("12".into(), 0, "r12".into());
    let alias = AliasRecord {
        format: 1,
        function: "f".into(),
        name: "live".into(),
        function_version: "12".into(),
        description: String::new(),
        additional_weights: BTreeMap::new(),
        revision_id: "ra".into(),
    };
    let mut b = WriteBatch::new();
    b.put(
        FUNCTIONS,
        b"f".to_vec(),
        serde_json::to_vec(&latest).unwrap(),
    );
    b.put(
        VERSIONS,
        b"f\x000000000012".to_vec(),
        serde_json::to_vec(&v12).unwrap(),
    );
    b.put(
        ALIASES,
        b"f\x00live".to_vec(),
        serde_json::to_vec(&alias).unwrap(),
    );
    kv.commit(b).unwrap();
    let blobs = Arc::new(FileBlobs::open(&dir.path().join("blobs")).unwrap());
    let code = Arc::new(CodeCache::new(dir.path().join("code")).unwrap());
    let reg = reg_open(Arc::new(kv), blobs, code);
    assert_eq!(*reg.get("f").unwrap(), latest);
    assert_eq!(*reg.get_version("f", "12").unwrap(), v12);
    assert_eq!(reg.list_versions("f").unwrap().len(), 2);
    assert_eq!(reg.get_alias("f", "live").unwrap(), alias);
    assert_eq!(reg.list_aliases("f"), [alias]);
}

#[test]
fn publish_and_delete_span_tables_all_or_nothing() {
    let f = open(tempfile::tempdir().unwrap());
    f.reg.create(req("f")).unwrap();
    f.kv.fail_nth_commit(1);
    assert!(f.reg.publish_version("f", nf, None, None, None).is_err());
    assert_eq!(f.reg.get("f").unwrap().last_version, 0);
    assert!(f.reg.get_version("f", "1").is_none());
    f.reg.publish_version("f", nf, None, None, None).unwrap();
    let a = AliasInput {
        name: "live".into(),
        function_version: Some("1".into()),
        ..Default::default()
    };
    f.reg.create_alias("f", nf, a, "arn".into()).unwrap();
    f.kv.fail_nth_commit(1);
    assert!(f.reg.delete("f", nf).is_err());
    assert!(f.reg.get("f").is_some());
    assert!(f.reg.get_version("f", "1").is_some());
    assert!(f.reg.get_alias("f", "live").is_some());
    f.reg.delete("f", nf).unwrap();
    assert!(f.reg.get("f").is_none());
    assert!(f.reg.get_version("f", "1").is_none());
    assert!(f.reg.list_aliases("f").is_empty());
    for t in [FUNCTIONS, VERSIONS, ALIASES] {
        assert!(
            f.kv.scan_prefix(t, b"").unwrap().is_empty(),
            "{t:?} emptied"
        );
    }
}

#[test]
fn functions_take_layers_and_keep_them_after_the_layer_goes() {
    let f = open(tempfile::tempdir().unwrap());
    let layer = f
        .reg
        .layers
        .publish(crate::layers::PublishLayer {
            name: "deps".into(),
            zip: zip("X = 1\n"),
            ..Default::default()
        })
        .unwrap();
    let arn = "arn:aws:lambda:us-east-1:000000000000:layer:deps:1".to_string();
    let rec = f
        .reg
        .create(CreateFunction {
            layers: vec![arn.clone()],
            ..req("f")
        })
        .unwrap();
    assert_eq!(rec.layers[0].arn, arn);
    assert_eq!(rec.layers[0].digest, layer.code.digest);
    f.reg.layers.delete("deps", 1).unwrap();
    f.reg.release_code(&layer.code.digest);
    // Still referenced by the function: the blob stays.
    assert!(f.reg.blob_path(&layer.code.digest).is_some());
    let cleared = f
        .reg
        .update_configuration(
            "f",
            nf,
            UpdateConfiguration {
                layers: Some(vec![]),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(cleared.layers.is_empty());
}

#[test]
fn code_and_layers_share_the_unzipped_limit() {
    let layer = |size| nimbus_model::LayerRef {
        arn: "a".into(),
        digest: "d".into(),
        code_size: 1,
        unzipped_size: size,
    };
    assert!(check_total_size(100, &[layer(code::MAX_UNZIPPED_BYTES - 100)]).is_ok());
    let err = check_total_size(101, &[layer(code::MAX_UNZIPPED_BYTES - 100)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size is 262144001 bytes."
    );
}
