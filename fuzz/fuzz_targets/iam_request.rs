//! The IAM and STS query APIs never panic, whatever the form: each input is
//! decoded, parsed into an operation and run on a real identity store, which
//! keeps what earlier inputs created. Policy documents, names, paths, markers
//! and durations all come from the input.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use nimbus_api_iam::IamApi;
use nimbus_api_sts::StsApi;
use std::sync::{Arc, OnceLock};

fn apis() -> &'static (IamApi, StsApi) {
    static APIS: OnceLock<(IamApi, StsApi)> = OnceLock::new();
    APIS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("nimbus-fuzz-iam-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let kv = Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("m.redb")).unwrap());
        let iam = Arc::new(nimbus_iam::Iam::open(kv, "000000000000").unwrap());
        (IamApi::new(iam.clone()), StsApi::new(iam))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let req = http::Request::new(Bytes::copy_from_slice(body));
    let (iam, sts) = apis();
    if which & 1 == 0 {
        let _ = iam.handle(&req, "rid");
    } else {
        let _ = sts.handle(&req, "rid");
    }
    let text = String::from_utf8_lossy(body);
    let _ = nimbus_iam::check_policy_document(nimbus_iam::PolicyKind::Managed, &text);
    let _ = nimbus_iam::trust_allows(
        &text,
        &nimbus_iam::Principal::Root {
            account: "000000000000".into(),
        },
        Some("x"),
    );
});
