use super::*;
use nimbus_storage_embedded::EmbeddedKv;

fn kms(dir: &Path) -> Kms {
    let kv = Arc::new(EmbeddedKv::open(&dir.join("m.redb")).unwrap());
    Kms::open(kv, &dir.join("kms-master.key"), "000000000000", "us-east-1").unwrap()
}

fn ctx(pairs: &[(&str, &str)]) -> Context {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn keys_encrypt_and_decrypt_by_any_name() {
    let d = tempfile::tempdir().unwrap();
    let k = kms(d.path());
    let key = k.create_key(NewKey::default()).unwrap();
    k.create_alias("alias/app", &key.key_id).unwrap();
    let c = ctx(&[("app", "x")]);
    for name in [
        key.key_id.clone(),
        key.arn.clone(),
        "alias/app".into(),
        k.arn("alias/app"),
    ] {
        let (blob, rec) = k.encrypt(&name, b"secret", &c).unwrap();
        assert_eq!(rec.key_id, key.key_id);
        let (plain, _) = k.decrypt(&blob, &c, None).unwrap();
        assert_eq!(plain, b"secret");
        assert!(matches!(
            k.decrypt(&blob, &ctx(&[]), None),
            Err(Error::InvalidCiphertext(_))
        ));
    }
    let other = k.create_key(NewKey::default()).unwrap();
    let (blob, _) = k.encrypt("alias/app", b"s", &c).unwrap();
    assert!(matches!(
        k.decrypt(&blob, &c, Some(&other.key_id)),
        Err(Error::IncorrectKey(_))
    ));
    let (re, src, dst) = k
        .re_encrypt(&blob, &c, None, &other.arn, &ctx(&[]))
        .unwrap();
    assert_eq!(
        (src.key_id.as_str(), dst.key_id.as_str()),
        (key.key_id.as_str(), other.key_id.as_str())
    );
    assert_eq!(k.decrypt(&re, &ctx(&[]), None).unwrap().0, b"s");
}

#[test]
fn disabled_and_pending_keys_refuse_use() {
    let d = tempfile::tempdir().unwrap();
    let k = kms(d.path());
    let key = k.create_key(NewKey::default()).unwrap();
    let (blob, _) = k.encrypt(&key.key_id, b"v", &Context::new()).unwrap();
    k.set_enabled(&key.key_id, false).unwrap();
    assert!(matches!(
        k.encrypt(&key.key_id, b"v", &Context::new()),
        Err(Error::Disabled(_))
    ));
    assert!(matches!(
        k.decrypt(&blob, &Context::new(), None),
        Err(Error::Disabled(_))
    ));
    k.set_enabled(&key.key_id, true).unwrap();
    assert!(matches!(
        k.schedule_key_deletion(&key.key_id, Some(6)),
        Err(Error::Invalid(_))
    ));
    let r = k.schedule_key_deletion(&key.key_id, Some(7)).unwrap();
    assert_eq!(r.state, KeyState::PendingDeletion);
    assert!(matches!(
        k.decrypt(&blob, &Context::new(), None),
        Err(Error::InvalidState(_))
    ));
    assert!(matches!(
        k.set_enabled(&key.key_id, true),
        Err(Error::InvalidState(_))
    ));
    assert_eq!(
        k.cancel_key_deletion(&key.key_id).unwrap().state,
        KeyState::Disabled
    );
}

#[test]
fn aliases_are_checked_and_managed_keys_appear_on_first_use() {
    let d = tempfile::tempdir().unwrap();
    let k = kms(d.path());
    let key = k.create_key(NewKey::default()).unwrap();
    assert!(matches!(
        k.create_alias("alias/aws/mine", &key.key_id),
        Err(Error::NotAuthorized(_))
    ));
    assert!(matches!(
        k.create_alias("nope", &key.key_id),
        Err(Error::Invalid(_))
    ));
    k.create_alias("alias/a", &key.key_id).unwrap();
    assert!(matches!(
        k.create_alias("alias/a", &key.key_id),
        Err(Error::AlreadyExists(_))
    ));
    assert!(matches!(
        k.describe_key("alias/aws/ssm"),
        Err(Error::NotFound(_))
    ));
    let (blob, rec) = k.seal("alias/aws/ssm", b"p", &Context::new()).unwrap();
    assert!(rec.aws_managed);
    assert_eq!(k.describe_key("alias/aws/ssm").unwrap().key_id, rec.key_id);
    assert_eq!(k.decrypt(&blob, &Context::new(), None).unwrap().0, b"p");
    assert_eq!(k.list_aliases(None).unwrap().len(), 2);
    assert_eq!(k.list_aliases(Some(&key.arn)).unwrap().len(), 1);
    k.delete_alias("alias/a").unwrap();
    assert!(matches!(k.delete_alias("alias/a"), Err(Error::NotFound(_))));
}

#[test]
fn keys_survive_a_reopen() {
    let d = tempfile::tempdir().unwrap();
    let (blob, id) = {
        let k = kms(d.path());
        let key = k.create_key(NewKey::default()).unwrap();
        let (_, blob, _) = k
            .generate_data_key(&key.key_id, 32, &Context::new())
            .unwrap();
        (blob, key.key_id.clone())
    };
    let k = kms(d.path());
    let (plain, rec) = k.decrypt(&blob, &Context::new(), None).unwrap();
    assert_eq!((plain.len(), rec.key_id.as_str()), (32, id.as_str()));
    assert!(matches!(
        k.decrypt(b"\x01garbage", &Context::new(), None),
        Err(Error::InvalidCiphertext(_))
    ));
}
