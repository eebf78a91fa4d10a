//! Random bytes in random splits into the echo protocol: the output is
//! exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactord::protocol::echo::Echo;
use reactord::protocol::testing::run_chunks;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let run = run_chunks(|| Echo, input, &[usize::from(split)], false);
    assert_eq!(run.output, input);
});
