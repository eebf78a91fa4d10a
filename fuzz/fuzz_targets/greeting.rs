//! Random bytes in random splits into the greeting protocol: no panic, at
//! most one greeting, never more consumed than shown.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactord::protocol::greeting::Greeting;
use reactord::protocol::testing::run_chunks;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let run = run_chunks(|| Greeting::new("hi\n", 64), input, &[usize::from(split)], split % 2 == 0);
    assert!(run.consumed <= input.len());
    assert!(run.output.is_empty() || run.output == b"hi\n");
});
