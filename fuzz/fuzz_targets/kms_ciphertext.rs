//! KMS `Decrypt` never panics, whatever the blob: arbitrary bytes, and valid
//! blobs with bytes flipped, cut or appended, are refused (or, untouched,
//! opened) by a real key service over a fixed master key.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_kms::{Context, Kms, NewKey, crypto::MasterKey};
use std::sync::{Arc, OnceLock};

fn kms() -> &'static (Kms, Vec<u8>) {
    static KMS: OnceLock<(Kms, Vec<u8>)> = OnceLock::new();
    KMS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("nimbus-fuzz-kms-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let kv = Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("m.redb")).unwrap());
        let kms = Kms::with_master(kv, MasterKey::from_bytes([9; 32]), "000000000000", "us-east-1")
            .unwrap();
        let key = kms.create_key(NewKey::default()).unwrap();
        let (blob, _) = kms.encrypt(&key.key_id, b"fuzz", &Context::new()).unwrap();
        (kms, blob)
    })
}

fuzz_target!(|data: &[u8]| {
    let (kms, valid) = kms();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let blob = match mode % 4 {
        0 => rest.to_vec(),
        1 => {
            let mut b = valid.clone();
            for (i, x) in rest.iter().enumerate() {
                let at = (usize::from(*x) + i * 31) % b.len();
                b[at] ^= x | 1;
            }
            b
        }
        2 => valid[..usize::from(rest.first().copied().unwrap_or(0)) % valid.len()].to_vec(),
        _ => [valid.as_slice(), rest].concat(),
    };
    let context: Context = std::str::from_utf8(rest)
        .ok()
        .filter(|_| mode & 4 != 0)
        .map(|s| Context::from([("k".to_string(), s.to_string())]))
        .unwrap_or_default();
    if let Ok((plain, _)) = kms.decrypt(&blob, &context, None) {
        assert_eq!(plain, b"fuzz", "only the untouched blob opens");
    }
});
