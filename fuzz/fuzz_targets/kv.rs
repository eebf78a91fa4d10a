//! Random bytes in random splits into the key-value protocol of
//! examples/kv.rs (the worked case of docs/protocols.md): no panic, never
//! more consumed than shown, and the same answers whatever the split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactord::protocol::testing::run_chunks;

// The example, compiled into this target as a module (its `main` unused).
#[path = "../../examples/kv.rs"]
#[allow(dead_code)]
mod kv;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let run = run_chunks(kv::KvStore::default, input, &[usize::from(split)], false);
    let whole = run_chunks(kv::KvStore::default, input, &[], false);
    assert!(run.consumed <= input.len());
    assert_eq!(run, whole);
});
