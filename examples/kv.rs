//! A tiny in-memory key-value server — the "database server" use of a TCP
//! server — written only against reactord's public `Protocol` trait.
//!
//! ```text
//! cargo run --example kv -- 127.0.0.1:7000
//! printf 'SET lang rust\nGET lang\nDEL lang\nGET lang\n' | nc -N 127.0.0.1 7000
//! OK
//! rust
//! 1
//! (nil)
//! ```
//!
//! One command per line. The store is shared by every connection, and needs
//! no lock: the whole server is one thread.

use reactord::{Config, Context, Output, Protocol, Server, Verdict};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Longest command line accepted; longer ones get an error and a close.
const MAX_LINE: usize = 4096;

/// The store, and the protocol: one value for the whole server.
/// (`pub` so that the fuzz target, which compiles this file as a module,
/// can name it.)
#[derive(Default)]
pub struct KvStore {
    data: HashMap<Vec<u8>, Vec<u8>>,
}

impl Protocol for KvStore {
    type Session = ();

    fn name(&self) -> &'static str {
        "kv"
    }

    fn open(&mut self, _peer: SocketAddr) {}

    fn on_input(
        &mut self,
        _: &mut (),
        input: &[u8],
        _: &mut Context<'_>,
        out: &mut Output,
    ) -> Verdict {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            if input.len() > MAX_LINE {
                out.extend(b"ERR line too long\n");
                return Verdict::Close(input.len());
            }
            return Verdict::NeedMore;
        };
        let line = input[..end].strip_suffix(b"\r").unwrap_or(&input[..end]);
        let mut words = line.splitn(3, |&b| b == b' ');
        match (words.next(), words.next(), words.next()) {
            (Some(b"SET"), Some(key), Some(value)) => {
                self.data.insert(key.to_vec(), value.to_vec());
                out.extend(b"OK\n");
            }
            (Some(b"GET"), Some(key), None) => match self.data.get(key) {
                Some(value) => {
                    out.extend(value);
                    out.extend(b"\n");
                }
                None => out.extend(b"(nil)\n"),
            },
            (Some(b"DEL"), Some(key), None) => {
                let removed = self.data.remove(key).is_some();
                out.extend(if removed { b"1\n" } else { b"0\n" });
            }
            (Some(b"QUIT"), None, None) => {
                out.extend(b"BYE\n");
                return Verdict::Close(end + 1);
            }
            _ => out.extend(b"ERR unknown command (SET k v | GET k | DEL k | QUIT)\n"),
        }
        Verdict::Continue(end + 1)
    }
}

fn main() {
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .try_init()
        .ok();
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let config = Config {
        listen: listen
            .parse()
            .unwrap_or_else(|err| panic!("bad address {listen:?}: {err}")),
        ..Config::default()
    };
    let server = Server::bind(config, KvStore::default()).unwrap_or_else(|err| panic!("{err}"));
    server.run().unwrap_or_else(|err| panic!("{err}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use reactord::protocol::testing::{Run, run_chunks, run_splits};

    #[test]
    fn set_get_del_round_trip_whatever_the_split() {
        let script = b"SET k hello world\nGET k\nDEL k\nGET k\nDEL k\n";
        run_splits(KvStore::default, script, false, |run: &Run| {
            assert_eq!(run.output, b"OK\nhello world\n1\n(nil)\n0\n");
            assert!(!run.closed);
        });
    }

    #[test]
    fn quit_closes_and_unknown_commands_are_errors() {
        run_splits(
            KvStore::default,
            b"PING\r\nQUIT\nGET k\n",
            false,
            |run: &Run| {
                assert_eq!(
                    run.output,
                    b"ERR unknown command (SET k v | GET k | DEL k | QUIT)\nBYE\n"
                );
                assert!(run.closed);
            },
        );
    }

    proptest! {
        /// Whatever bytes arrive, split however the network likes: no
        /// panic, never more consumed than shown, the same answer as in one
        /// piece, and one answer line per command line.
        #[test]
        fn any_bytes_any_split(
            input in prop::collection::vec(any::<u8>(), 0..512),
            split in prop::collection::vec(1usize..64, 0..16),
        ) {
            let run = run_chunks(KvStore::default, &input, &split, false);
            let whole = run_chunks(KvStore::default, &input, &[], false);
            prop_assert!(run.consumed <= input.len());
            prop_assert_eq!(&run, &whole);
            let answers = run.output.iter().filter(|&&b| b == b'\n').count();
            let commands = input.iter().filter(|&&b| b == b'\n').count();
            prop_assert!(answers <= commands + 1);
        }
    }
}
