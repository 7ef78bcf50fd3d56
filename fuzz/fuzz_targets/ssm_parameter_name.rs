//! Parameter Store's name, path, label and `name:selector` readers never
//! panic, and agree with each other: a reference's names pass as names or
//! fail cleanly, and a name that passes the hierarchy rules reads as a
//! reference to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nimbus_parameters::name::{check_name, check_path, parse_reference, valid_label};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = check_path(s);
    let _ = valid_label(s);
    if let Ok(r) = parse_reference(s) {
        assert!(!r.names.is_empty());
        for n in &r.names {
            assert!(!n.is_empty() && !n.contains(':'));
            let _ = check_name(n);
        }
    }
    if check_name(s).is_ok() {
        let r = parse_reference(s).expect("a valid name is a valid reference");
        assert_eq!(r.names, [s.to_string()]);
        assert!(r.selector.is_none());
    }
});
