//! Random bytes in random splits into the HTTP protocol: no panic, never
//! more consumed than shown, every output a framed HTTP/1.1 response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactord::protocol::http::Http;
use reactord::protocol::testing::run_chunks;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let chunks = [usize::from(split), usize::from(split) * 2 + 1];
    let config = reactord::protocol::http::HttpConfig { max_request_bytes: 256, max_body_bytes: 128, ..Default::default() };
    let run = run_chunks(|| Http::new(&config), input, &chunks, split % 2 == 0);
    assert!(run.consumed <= input.len());
    assert!(run.output.is_empty() || run.output.starts_with(b"HTTP/1.1 "));
});
