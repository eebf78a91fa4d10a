//! Property tests: random bytes in random splits never make a protocol
//! panic, never make it consume more than it was shown, and the answer never
//! depends on how the network split the input.

use proptest::prelude::*;
use reactord::protocol::echo::Echo;
use reactord::protocol::greeting::Greeting;
use reactord::protocol::testing::run_chunks;

fn chunks() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..64, 0..16)
}

proptest! {
    #[test]
    fn greeting_answers_once_whatever_arrives(input in prop::collection::vec(any::<u8>(), 0..512), split in chunks(), eof: bool) {
        let make = || Greeting::new("hi\n", 100);
        let run = run_chunks(make, &input, &split, eof);
        let whole = run_chunks(make, &input, &[], eof);
        prop_assert!(run.consumed <= input.len());
        prop_assert_eq!(&run, &whole);
        // Either it answered exactly once and closed, or it is still waiting
        // for a line shorter than the limit.
        if run.closed {
            prop_assert_eq!(run.output, b"hi\n".to_vec());
        } else {
            prop_assert!(run.output.is_empty());
            prop_assert!(!input.contains(&b'\n') && input.len() < 100);
        }
    }

    #[test]
    fn echo_returns_exactly_the_input(input in prop::collection::vec(any::<u8>(), 0..2048), split in chunks(), eof: bool) {
        let run = run_chunks(|| Echo, &input, &split, eof);
        prop_assert_eq!(run.consumed, input.len());
        prop_assert_eq!(run.output, input);
        prop_assert_eq!(run.closed, eof);
    }
}
