//! The IAM service against the embedded engine on a temporary directory.

use super::*;
use std::sync::atomic::{AtomicU64, Ordering};

const TRUST_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;
const TRUST_LAMBDA: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

struct Fixture {
    dir: tempfile::TempDir,
    time: Arc<AtomicU64>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            time: Arc::new(AtomicU64::new(1_800_000_000_000)),
        }
    }

    fn open(&self) -> Iam {
        let kv: Arc<dyn KvEngine> = Arc::new(
            nimbus_storage_embedded::EmbeddedKv::open(&self.dir.path().join("kv")).unwrap(),
        );
        let t = self.time.clone();
        Iam::open_with_clock(
            kv,
            "000000000000",
            Arc::new(move || t.load(Ordering::SeqCst)),
        )
        .unwrap()
    }

    fn advance(&self, secs: u64) {
        self.time.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

fn role(name: &str, trust: &str) -> NewRole {
    NewRole {
        name: name.into(),
        trust: trust.into(),
        ..NewRole::default()
    }
}

#[test]
fn users_keys_and_groups_persist_and_conflict() {
    let f = Fixture::new();
    let id;
    let key;
    {
        let iam = f.open();
        let u = iam
            .create_user(NewUser {
                name: "alice".into(),
                path: Some("/dev/".into()),
                ..NewUser::default()
            })
            .unwrap();
        assert!(u.id.starts_with("AIDA") && u.id.len() == 21);
        assert_eq!(u.arn, "arn:aws:iam::000000000000:user/dev/alice");
        id = u.id.clone();
        assert!(matches!(
            iam.create_user(NewUser {
                name: "alice".into(),
                ..NewUser::default()
            }),
            Err(Error::EntityAlreadyExists(_))
        ));
        assert!(matches!(
            iam.create_user(NewUser {
                name: "bad name".into(),
                ..NewUser::default()
            }),
            Err(Error::Validation(_))
        ));
        key = iam.create_access_key("alice").unwrap();
        assert!(key.id.starts_with("AKIA") && key.id.len() == 20 && key.secret.len() == 40);
        iam.create_access_key("alice").unwrap();
        assert!(matches!(
            iam.create_access_key("alice"),
            Err(Error::LimitExceeded(_))
        ));
        assert!(matches!(
            iam.delete_user("alice"),
            Err(Error::DeleteConflict(_))
        ));
        iam.create_group("devs", None).unwrap();
        iam.add_user_to_group("devs", "alice").unwrap();
        assert_eq!(iam.groups_for_user("alice").unwrap().len(), 1);
        assert!(matches!(
            iam.delete_group("devs"),
            Err(Error::DeleteConflict(_))
        ));
        assert!(matches!(
            iam.create_access_key("nobody"),
            Err(Error::NoSuchEntity(_))
        ));
    }
    // Reopened: everything is still there.
    let iam = f.open();
    assert_eq!(iam.user("alice").unwrap().id, id);
    let owner = iam.resolve_access_key(&key.id).unwrap();
    assert_eq!(owner.secret, key.secret);
    assert!(owner.active && owner.session.is_none());
    assert!(matches!(&owner.principal, Principal::User { name, .. } if name == "alice"));
    iam.update_access_key(&key.id, Some("alice"), KeyStatus::Inactive)
        .unwrap();
    assert!(!iam.resolve_access_key(&key.id).unwrap().active);
    for k in iam.access_keys("alice").unwrap() {
        iam.delete_access_key(&k.id, Some("alice")).unwrap();
    }
    iam.remove_user_from_group("devs", "alice").unwrap();
    iam.delete_user("alice").unwrap();
    iam.delete_group("devs").unwrap();
    assert!(iam.resolve_access_key(&key.id).is_none());
}

#[test]
fn roles_policies_versions_and_attachments() {
    let f = Fixture::new();
    let iam = f.open();
    let r = iam.create_role(role("app", TRUST_LAMBDA)).unwrap();
    assert!(r.id.starts_with("AROA"));
    assert_eq!(r.max_session_secs, 3600);
    assert!(matches!(
        iam.create_role(role("bad", "{")),
        Err(Error::MalformedPolicyDocument(_))
    ));
    let p = iam
        .create_policy(NewPolicy {
            name: "read".into(),
            document: DOC.into(),
            ..NewPolicy::default()
        })
        .unwrap();
    assert_eq!(p.arn, "arn:aws:iam::000000000000:policy/read");
    for i in 2..=5 {
        let v = iam.create_policy_version(&p.arn, DOC, i == 3).unwrap();
        assert_eq!(v.id, format!("v{i}"));
    }
    assert!(matches!(
        iam.create_policy_version(&p.arn, DOC, false),
        Err(Error::LimitExceeded(_))
    ));
    assert_eq!(iam.policy(&p.arn).unwrap().default_version, "v3");
    assert!(matches!(
        iam.delete_policy_version(&p.arn, "v3"),
        Err(Error::DeleteConflict(_))
    ));
    iam.delete_policy_version(&p.arn, "v1").unwrap();
    iam.set_default_policy_version(&p.arn, "v5").unwrap();
    iam.create_policy_version(&p.arn, DOC, false).unwrap();
    assert_eq!(
        iam.policy(&p.arn).unwrap().versions.last().unwrap().id,
        "v6"
    );

    iam.attach_policy(Entity::Role("app"), &p.arn).unwrap();
    iam.attach_policy(
        Entity::Role("app"),
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    )
    .unwrap();
    assert!(matches!(
        iam.attach_policy(Entity::Role("app"), "arn:aws:iam::aws:policy/Nope"),
        Err(Error::NoSuchEntity(_))
    ));
    assert_eq!(iam.attachment_count(&p.arn), 1);
    assert!(matches!(
        iam.delete_policy(&p.arn),
        Err(Error::DeleteConflict(_))
    ));
    assert!(matches!(
        iam.delete_role("app"),
        Err(Error::DeleteConflict(_))
    ));
    iam.put_inline_policy(Entity::Role("app"), "inline", DOC)
        .unwrap();
    assert_eq!(
        iam.inline_policy(Entity::Role("app"), "inline").unwrap(),
        DOC
    );
    assert!(matches!(
        iam.put_inline_policy(Entity::Role("app"), "bad", "{"),
        Err(Error::MalformedPolicyDocument(_))
    ));
    let attached = iam.list_policies(Scope::All, true, None);
    assert_eq!(attached.len(), 2);
    assert_eq!(iam.list_policies(Scope::Local, false, None).len(), 1);
    assert!(iam.list_policies(Scope::Aws, false, None).len() >= 16);
    assert!(matches!(
        iam.delete_policy("arn:aws:iam::aws:policy/AdministratorAccess"),
        Err(Error::Unmodifiable(_))
    ));

    // Session of the role: its policies, cached and refreshed on change.
    let creds = iam.session_for_role(&r.arn, "env-1", 3600).unwrap();
    let owner = iam.resolve_access_key(&creds.access_key_id).unwrap();
    let pol = iam.principal_policies(&owner.principal);
    assert_eq!(pol.identity.len(), 3);
    iam.delete_inline_policy(Entity::Role("app"), "inline")
        .unwrap();
    assert_eq!(iam.principal_policies(&owner.principal).identity.len(), 2);
    iam.set_boundary(Entity::Role("app"), Some(&p.arn)).unwrap();
    assert_eq!(
        iam.principal_policies(&owner.principal)
            .boundary
            .as_ref()
            .unwrap()
            .source,
        p.arn
    );
    iam.set_boundary(Entity::Role("app"), None).unwrap();
    iam.detach_policy(Entity::Role("app"), &p.arn).unwrap();
    iam.detach_policy(
        Entity::Role("app"),
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    )
    .unwrap();
    iam.delete_role("app").unwrap();
}

#[test]
fn inline_quotas_count_every_policy_of_the_entity() {
    let f = Fixture::new();
    let iam = f.open();
    iam.create_user(NewUser {
        name: "u".into(),
        ..NewUser::default()
    })
    .unwrap();
    let doc = |n: usize| {
        format!(
            r#"{{"Statement":{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}}}"#,
            "a".repeat(n)
        )
    };
    iam.put_inline_policy(Entity::User("u"), "a", &doc(900))
        .unwrap();
    iam.put_inline_policy(Entity::User("u"), "b", &doc(900))
        .unwrap();
    assert!(matches!(
        iam.put_inline_policy(Entity::User("u"), "c", &doc(900)),
        Err(Error::LimitExceeded(_))
    ));
    // Replacing one counts the new size, not both.
    iam.put_inline_policy(Entity::User("u"), "b", &doc(950))
        .unwrap();
}

#[test]
fn assume_role_checks_trust_duration_and_expires() {
    let f = Fixture::new();
    let iam = f.open();
    let role_arn = iam
        .create_role(role("ops", TRUST_ACCOUNT))
        .unwrap()
        .arn
        .clone();
    iam.create_role(role("fn", TRUST_LAMBDA)).unwrap();
    let root = iam.root();
    let input = |arn: &str, secs| AssumeRoleInput {
        role_arn: arn.into(),
        session_name: "s1".into(),
        duration_secs: secs,
        ..AssumeRoleInput::default()
    };
    let a = iam.assume_role(&root, input(&role_arn, Some(900))).unwrap();
    assert_eq!(a.arn, "arn:aws:sts::000000000000:assumed-role/ops/s1");
    assert!(a.assumed_role_id.starts_with("AROA") && a.assumed_role_id.ends_with(":s1"));
    assert!(a.credentials.access_key_id.starts_with("ASIA"));
    assert!(matches!(
        iam.assume_role(&root, input(&role_arn, Some(899))),
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        iam.assume_role(&root, input(&role_arn, Some(7200))),
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        iam.assume_role(&root, input("arn:aws:iam::000000000000:role/fn", None)),
        Err(Error::AccessDenied(_))
    ));
    assert!(matches!(
        iam.assume_role(&root, input("arn:aws:iam::000000000000:role/none", None)),
        Err(Error::AccessDenied(_))
    ));
    assert!(matches!(
        iam.session_for_role(&role_arn, "env", 900),
        Err(Error::AccessDenied(_))
    ));
    let mut bad_name = input(&role_arn, None);
    bad_name.session_name = "a b".into();
    assert!(matches!(
        iam.assume_role(&root, bad_name),
        Err(Error::Validation(_))
    ));

    let owner = iam
        .resolve_access_key(&a.credentials.access_key_id)
        .unwrap();
    let s = owner.session.clone().unwrap();
    assert_eq!(s.token, a.credentials.session_token);
    assert!(owner.active && !s.expired);
    assert_eq!(owner.principal.arn(), a.arn);
    // Survives a restart, and expires with the clock.
    drop(iam);
    let iam = f.open();
    f.advance(899);
    assert!(
        !iam.resolve_access_key(&a.credentials.access_key_id)
            .unwrap()
            .session
            .unwrap()
            .expired
    );
    f.advance(1);
    let late = iam
        .resolve_access_key(&a.credentials.access_key_id)
        .unwrap();
    assert!(late.session.unwrap().expired && !late.active);
    // Purged a day later, when the next session is made.
    f.advance(25 * 3600);
    let b = iam.get_session_token(&iam.root(), None).unwrap();
    assert!(
        iam.resolve_access_key(&a.credentials.access_key_id)
            .is_none()
    );
    assert_eq!(b.expiration - f.time.load(Ordering::SeqCst), 3600 * 1000);
    // Role chaining: at most an hour, and no GetSessionToken from a session.
    let chained = iam.assume_role(&owner.principal, input(&role_arn, Some(3601)));
    assert!(matches!(chained, Err(Error::Validation(_))));
    assert!(matches!(
        iam.get_session_token(&owner.principal, None),
        Err(Error::AccessDenied(_))
    ));
}

#[test]
fn session_policies_are_kept_with_the_session() {
    let f = Fixture::new();
    let iam = f.open();
    let arn = iam
        .create_role(role("ops", TRUST_ACCOUNT))
        .unwrap()
        .arn
        .clone();
    let a = iam
        .assume_role(
            &iam.root(),
            AssumeRoleInput {
                role_arn: arn,
                session_name: "s2".into(),
                policy: Some(DOC.into()),
                policy_arns: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
                ..AssumeRoleInput::default()
            },
        )
        .unwrap();
    assert!(a.packed_policy_size.is_some());
    let docs = iam.session_documents(&a.credentials.access_key_id);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].document, DOC);
}

#[test]
fn user_policies_include_groups_and_boundaries() {
    let f = Fixture::new();
    let iam = f.open();
    iam.create_user(NewUser {
        name: "u".into(),
        ..NewUser::default()
    })
    .unwrap();
    iam.create_group("g", None).unwrap();
    iam.add_user_to_group("g", "u").unwrap();
    iam.put_inline_policy(Entity::Group("g"), "gp", DOC)
        .unwrap();
    iam.attach_policy(Entity::User("u"), "arn:aws:iam::aws:policy/ReadOnlyAccess")
        .unwrap();
    iam.set_boundary(
        Entity::User("u"),
        Some("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"),
    )
    .unwrap();
    let key = iam.create_access_key("u").unwrap();
    let p = iam.principal_policies(&iam.resolve_access_key(&key.id).unwrap().principal);
    let sources: Vec<&str> = p.identity.iter().map(|d| d.source.as_str()).collect();
    assert_eq!(
        sources,
        [
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "inline:arn:aws:iam::000000000000:group/g/gp"
        ]
    );
    assert!(p.boundary.is_some());
    assert!(iam.principal_policies(&iam.root()).identity.is_empty());
}
