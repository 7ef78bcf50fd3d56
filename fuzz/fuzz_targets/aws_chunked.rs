//! The aws-chunked decoder never panics, whatever the bytes and however they are
//! split; with signing on, arbitrary input never verifies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_api_common::chunked::{ChunkSigning, Decoder};

fuzz_target!(|data: &[u8]| {
    let split = data.first().copied().unwrap_or(1).max(1) as usize;
    for signing in [None, Some(ChunkSigning {
        key: vec![7; 32],
        amz_date: "20261127T000000Z".into(),
        scope: "20261127/us-east-1/s3/aws4_request".into(),
        seed: "0".repeat(64),
    })] {
        let signed = signing.is_some();
        let mut d = Decoder::new(signing);
        let mut out = 0usize;
        let mut failed = false;
        for piece in data.chunks(split) {
            if d.push(piece, &mut |b: &[u8]| {
                out += b.len();
                Ok::<(), ()>(())
            })
            .is_err()
            {
                failed = true;
                break;
            }
        }
        assert_eq!(out as u64, d.decoded_len());
        let finished = !failed && d.finish().is_ok();
        // A signed body needs a correct chunk signature for every chunk.
        assert!(!(signed && finished && out > 0), "forged chunks verified");
    }
});
