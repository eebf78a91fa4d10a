//! The HTTP protocol fed whole conversations, split at every point.

use super::*;
use crate::protocol::testing::{Run, run_chunks, run_splits};

fn http() -> Http {
    let config = HttpConfig {
        max_request_bytes: 512,
        max_body_bytes: 64,
        ..HttpConfig::default()
    };
    Http::new(&config)
}

/// The output with what depends on when a run happened blanked, so two
/// runs of one input compare equal: every Date value, and /metrics' uptime
/// (in milliseconds: it differs whenever one run takes a millisecond longer).
fn text(run: &Run) -> String {
    let mut text = String::from_utf8_lossy(&run.output).into_owned();
    let key = "\nreactord_uptime_seconds ";
    let mut from = 0;
    while let Some(at) = text[from..].find(key) {
        let start = from + at + key.len();
        let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
        // Same length, so Content-Length still matches the body.
        text.replace_range(start..end, &"X".repeat(end - start));
        from = end;
    }
    text.split("\r\n")
        .map(|line| {
            if line.starts_with("Date: ") {
                "Date: X"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Status codes of every response in the output, in order.
fn statuses(run: &Run) -> Vec<u16> {
    text(run)
        .match_indices("HTTP/1.1 ")
        .filter_map(|(at, _)| text(run).get(at + 9..at + 12)?.parse().ok())
        .collect()
}

/// Run `input` at every split (with the Date normalised by comparing text).
fn check(input: &[u8], eof: bool, expect: impl Fn(&Run)) {
    check_with(http, input, eof, expect);
}

/// [`check`] with the protocol `make` gives.
fn check_with(make: impl Fn() -> Http + Copy, input: &[u8], eof: bool, expect: impl Fn(&Run)) {
    let http = make;
    let whole = run_chunks(http, input, &[], eof);
    expect(&whole);
    for split in 1..input.len() {
        let run = run_chunks(http, input, &[split], eof);
        assert_eq!(text(&run), text(&whole), "split at {split}");
        assert_eq!(run.closed, whole.closed, "split at {split}");
        // After an error the rest of the input is thrown away, so how much
        // was "consumed" depends on where the error was seen; elsewhere it
        // must not depend on the split.
        if statuses(&whole).iter().all(|&s| s < 400) {
            assert_eq!(run.consumed, whole.consumed, "split at {split}");
        }
    }
    let ones = vec![1; input.len()];
    let run = run_chunks(http, input, &ones, eof);
    assert_eq!(text(&run), text(&whole), "byte at a time");
}

#[test]
fn get_root_is_a_plain_text_hello_with_date_server_and_length() {
    check(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false, |run| {
        assert_eq!(
            text(run),
            "HTTP/1.1 200 OK\r\nServer: reactord\r\nDate: X\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 20\r\n\r\nHello from reactord\n"
        );
        assert!(!run.closed);
    });
}

#[test]
fn head_gets_the_get_headers_and_no_body() {
    let get = text(&run_chunks(
        http,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
        false,
    ));
    let get_head = get.strip_suffix("Hello from reactord\n").unwrap();
    check(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", false, |run| {
        assert_eq!(text(run), get_head);
        assert!(!run.closed);
    });
}

#[test]
fn http10_closes_unless_keep_alive_is_asked_and_then_says_so() {
    check(b"GET / HTTP/1.0\r\n\r\n", false, |run| {
        assert!(text(run).contains("Connection: close\r\n"));
        assert!(run.closed);
    });
    check(
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        false,
        |run| {
            assert!(text(run).contains("Connection: keep-alive\r\n"));
            assert!(!run.closed);
        },
    );
}

#[test]
fn connection_close_is_honoured_and_announced() {
    check(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n",
        false,
        |run| {
            assert_eq!(statuses(run), [200]);
            assert!(text(run).contains("Connection: close\r\n"));
            assert!(run.closed);
        },
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let input = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n";
    check(input, false, |run| {
        assert_eq!(statuses(run), [200, 404, 200]);
        assert_eq!(run.consumed, input.len());
    });
}

#[test]
fn a_content_length_body_is_discarded_and_the_next_request_served() {
    let input = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello worldGET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    check(input, false, |run| {
        assert_eq!(statuses(run), [200, 404]);
        assert_eq!(run.consumed, input.len());
    });
}

#[test]
fn a_chunked_body_with_extensions_and_trailers_is_discarded() {
    let input = b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    check(input, false, |run| {
        assert_eq!(statuses(run), [200, 404]);
        assert_eq!(run.consumed, input.len());
    });
}

#[test]
fn other_methods_get_405_with_allow_after_their_body() {
    let input = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    check(input, false, |run| {
        assert_eq!(statuses(run), [405, 200]);
        assert!(text(run).contains("Allow: GET, HEAD\r\n"));
        assert!(!run.closed);
    });
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let input = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nok";
    check(input, false, |run| {
        assert!(text(run).starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
    });
    // The 100 leaves as soon as the head is in, before any body byte.
    let head_only = run_chunks(http, &input[..input.len() - 2], &[], false);
    assert_eq!(text(&head_only), "HTTP/1.1 100 Continue\r\n\r\n");
}

#[test]
fn a_refused_expectation_gets_the_final_answer_and_a_close() {
    check(
        b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
        false,
        |run| {
            assert_eq!(statuses(run), [405]);
            assert!(run.closed);
        },
    );
    check(
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\nExpect: 100-continue\r\n\r\n",
        false,
        |run| {
            assert_eq!(statuses(run), [413]);
            assert!(run.closed);
        },
    );
}

#[test]
fn bodies_over_the_limit_get_413_and_a_close() {
    check(
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n",
        false,
        |run| {
            assert_eq!(statuses(run), [413]);
            assert!(text(run).contains("Connection: close\r\n"));
            assert!(run.closed);
        },
    );
    let mut chunked = b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked.extend_from_slice(b"20\r\n0123456789abcdef0123456789abcdef\r\n");
    chunked.extend_from_slice(b"21\r\n");
    check(&chunked, false, |run| {
        assert_eq!(statuses(run), [413]);
        assert!(run.closed);
    });
}

#[test]
fn every_error_has_a_short_body_and_closes() {
    let cases: &[(&[u8], u16)] = &[
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br\r\n\r\n",
            501,
        ),
        (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
        ),
        (b"\0\0\0\0", 400),
    ];
    for (input, status) in cases {
        check(input, false, |run| {
            assert_eq!(
                statuses(run),
                [*status],
                "{}",
                String::from_utf8_lossy(input)
            );
            assert!(text(run).contains("Connection: close\r\n"));
            assert!(text(run).ends_with(&format!("{status} {}\n", response::reason(*status))));
            assert!(run.closed);
        });
    }
}

#[test]
fn a_long_target_gets_414_and_long_fields_431() {
    let input = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(600));
    check(input.as_bytes(), false, |run| {
        assert_eq!(statuses(run), [414]);
        assert!(run.closed);
    });
    let input = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(600)
    );
    check(input.as_bytes(), false, |run| {
        assert_eq!(statuses(run), [431]);
        assert!(run.closed);
    });
}

#[test]
fn errors_to_head_requests_carry_no_body() {
    let cases: &[(&[u8], u16)] = &[
        (b"HEAD / HTTP/1.1\r\n\r\n", 400),
        (b"HEAD / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (
            b"HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br\r\n\r\n",
            501,
        ),
        (
            b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n",
            413,
        ),
        (b"HEAD / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
        (
            b"HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
        ),
        (b"\r\nHEAD / HTTP/1.1\r\nHost: x\r\nX: \0\r\n\r\n", 400),
    ];
    for (input, status) in cases {
        check(input, false, |run| {
            assert_eq!(
                statuses(run),
                [*status],
                "{}",
                String::from_utf8_lossy(input)
            );
            assert!(text(run).ends_with("\r\n\r\n"), "{}", text(run));
            assert!(run.closed);
        });
    }
    let input = format!("HEAD /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(600));
    check(input.as_bytes(), false, |run| {
        assert_eq!(statuses(run), [414]);
        assert!(text(run).ends_with("\r\n\r\n"));
    });
}

#[test]
fn unknown_methods_get_501_and_known_ones_405_with_allow() {
    let input = b"BREW / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nokDELETE / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    check(input, false, |run| {
        assert_eq!(statuses(run), [501, 405, 200]);
        let text = text(run);
        let (first, rest) = text.split_once("501 Not Implemented\n").unwrap();
        assert!(!first.contains("Allow:"), "501 has no Allow");
        assert!(rest.contains("Allow: GET, HEAD\r\n"));
        assert!(!run.closed);
    });
}

#[test]
fn malformed_chunked_framing_is_refused_before_a_smuggled_request() {
    for body in [
        &b"5 junk\r\nhello\r\n0\r\n\r\n"[..],
        b"5;ext\x01\r\nhello\r\n0\r\n\r\n",
        b"0\r\nno-colon\r\n\r\n",
    ] {
        let mut input = b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        input.extend_from_slice(body);
        input.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
        check(&input, false, |run| {
            assert_eq!(statuses(run), [400], "{}", String::from_utf8_lossy(body));
            assert!(run.closed);
        });
    }
}

/// RFC 9112 §7.1: CRLF everywhere in chunked framing. The first body is
/// issue 21's example: a lenient parser reads the chunk `hello\r`, then
/// answers the smuggled request; llhttp and h11 refuse it, and so do we.
#[test]
fn a_bare_lf_in_chunked_framing_is_refused_before_a_smuggled_request() {
    for body in [
        &b"6\r\nhello\r\n0\r\n\r\n"[..],
        b"5\nhello\r\n0\r\n\r\n",
        b"5;a=b\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r\n0\n\r\n",
        b"5\r\nhello\r\n0\r\n\n",
        b"5\r\nhello\r\n0\r\nT: 1\n\r\n",
    ] {
        let mut input =
            b"POST /a.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        input.extend_from_slice(body);
        input.extend_from_slice(b"GET /smuggled.txt HTTP/1.1\r\nHost: a\r\n\r\n");
        check(&input, false, |run| {
            assert_eq!(statuses(run), [400], "{}", body.escape_ascii());
            assert!(run.closed);
        });
    }
}

/// One trailer line longer than a chunk line may be is an oversized header
/// field: 431 like one in the head (issue 21: it was a 400), even with
/// room left under --max-request-bytes.
#[test]
fn one_trailer_line_over_4_kib_is_431() {
    let roomy = || {
        Http::new(&HttpConfig {
            max_request_bytes: 16 * 1024,
            ..HttpConfig::default()
        })
    };
    let mut input =
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
    input.extend_from_slice(format!("X-Long: {}\r\n\r\n", "y".repeat(4096)).as_bytes());
    check_with(roomy, &input, false, |run| {
        assert_eq!(statuses(run), [431]);
        assert!(run.closed);
    });
}

/// Repeats of Content-Length must be written alike (issue 21: `5` and
/// `05` were taken as one length; llhttp and h11 refuse them).
#[test]
fn content_length_repeated_in_another_spelling_is_400() {
    let input = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    check(input, false, |run| {
        assert_eq!(statuses(run), [400]);
        assert!(run.closed);
    });
    let same = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    check(same, false, |run| assert_eq!(statuses(run), [405, 200]));
}

/// A raw byte above 0x7f in the target, or a `%` without two hex digits
/// in its path, makes the request line invalid: 400 (RFC 9112 §3).
#[test]
fn a_target_with_raw_non_ascii_or_a_broken_escape_is_400() {
    for target in [&b"/\xc3\xa9"[..], b"/%", b"/%zz", b"/a%4"] {
        let mut input = b"GET ".to_vec();
        input.extend_from_slice(target);
        input.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        check(&input, false, |run| {
            assert_eq!(statuses(run), [400], "{}", target.escape_ascii());
            assert!(run.closed);
        });
    }
}

/// A temporary --root with `notes.txt` (20 bytes), removed when dropped.
struct Root(std::path::PathBuf);

impl Root {
    fn new(name: &str) -> Root {
        let dir =
            std::env::temp_dir().join(format!("reactord-http-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), "0123456789abcdefghij").unwrap();
        Root(dir)
    }

    fn http(&self) -> Http {
        Http::from_config(&HttpConfig {
            root: Some(self.0.clone()),
            ..HttpConfig::default()
        })
        .unwrap()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The ETag the file tree gives notes.txt.
fn etag_of_notes(root: &Root) -> String {
    let run = run_chunks(
        || root.http(),
        b"HEAD /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
        false,
    );
    text(&run)
        .lines()
        .find_map(|l| l.strip_prefix("ETag: "))
        .unwrap()
        .to_string()
}

/// RFC 9110 §14.2 defines Range for GET only: HEAD with Range gets the
/// headers of GET without it, a 200 (issue 21: it got 206 headers).
#[test]
fn head_with_range_gets_the_200_headers_of_get() {
    let root = Root::new("head-range");
    let input = b"HEAD /notes.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n\
                  GET /notes.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n";
    check_with(
        || root.http(),
        input,
        false,
        |run| {
            assert_eq!(statuses(run), [200, 206]);
            let text = text(run);
            let head = text.split("HTTP/1.1 206").next().unwrap();
            assert!(head.contains("Content-Length: 20\r\n"), "{head}");
            assert!(!head.contains("Content-Range"), "{head}");
        },
    );
}

/// If-None-Match and If-Match on several lines are one list (RFC 9110
/// §5.3; issue 21: only the last line was judged).
#[test]
fn a_list_precondition_on_several_lines_is_judged_whole() {
    let root = Root::new("list-lines");
    let etag = etag_of_notes(&root);
    // The matching tag on the first line, then on the second: judged by
    // one line only, one of each pair would go wrong.
    let input = format!(
        "GET /notes.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nIf-None-Match: \"stale\"\r\n\r\n\
         GET /notes.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"stale\"\r\nX: y\r\nif-none-match: {etag}\r\n\r\n\
         GET /notes.txt HTTP/1.1\r\nHost: x\r\nIf-Match: {etag}\r\nIf-Match: \"stale\"\r\n\r\n\
         GET /notes.txt HTTP/1.1\r\nHost: x\r\nIf-Match: \"stale\"\r\nIf-Match: {etag}\r\n\r\n\
         GET /notes.txt HTTP/1.1\r\nHost: x\r\nIf-Match: \"stale\"\r\nIf-Match: \"other\"\r\n\r\n"
    );
    check_with(
        || root.http(),
        input.as_bytes(),
        false,
        |run| {
            assert_eq!(statuses(run), [304, 304, 200, 200, 412]);
        },
    );
}

#[test]
fn a_trailer_section_is_held_to_the_request_limit() {
    let mut input =
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
    for i in 0..40 {
        input.extend_from_slice(format!("X-Trailer-{i}: 0123456789\r\n").as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    check(&input, false, |run| {
        assert_eq!(statuses(run), [431]);
        assert!(run.closed);
    });
}

#[test]
fn metrics_are_served_in_the_prometheus_format() {
    check(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false, |run| {
        let text = text(run);
        assert!(text.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(text.contains("# TYPE reactord_connections_active gauge\n"));
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .split("Content-Length: ")
            .nth(1)
            .unwrap()
            .split("\r\n")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len());
    });
}

#[test]
fn a_client_that_closes_mid_request_gets_nothing() {
    run_splits(http, b"GET / HTTP/1.1\r\nHo", true, |run| {
        assert!(run.output.is_empty());
        assert!(run.closed);
    });
}

#[test]
fn the_rejection_is_a_503_that_closes() {
    let mut protocol = http();
    let metrics = crate::metrics::Metrics::new(std::time::Instant::now());
    let mut ctx = Context {
        now: std::time::Instant::now(),
        wall: std::time::SystemTime::now(),
        metrics: &metrics,
    };
    let mut out = Output::default();
    protocol.on_reject(b"GET / HTTP/1.1\r\n", &mut ctx, &mut out);
    let text = String::from_utf8_lossy(out.as_bytes()).into_owned();
    assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
    assert!(text.contains("Connection: close\r\n"));
    assert!(text.ends_with("503 Service Unavailable\n"));
    // To HEAD, the same head and no body.
    let mut out = Output::default();
    protocol.on_reject(b"HEAD / HTTP/1.1\r\nHo", &mut ctx, &mut out);
    let text = String::from_utf8_lossy(out.as_bytes()).into_owned();
    assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
    assert!(text.ends_with("\r\n\r\n"), "{text}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Requests a fuzzer would take long to find: valid ones, with bodies.
    fn request() -> impl Strategy<Value = Vec<u8>> {
        let method = prop::sample::select(vec!["GET", "HEAD", "POST", "PUT"]);
        let path = prop::sample::select(vec!["/", "/metrics", "/x?y", "http://h/x"]);
        let body = prop::collection::vec(any::<u8>(), 0..40);
        (method, path, body, any::<bool>()).prop_map(|(m, p, body, chunked)| {
            let mut r = format!("{m} {p} HTTP/1.1\r\nHost: h\r\n").into_bytes();
            if chunked && body.is_empty() {
                r.extend(b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
            } else if chunked {
                r.extend(format!("Transfer-Encoding: chunked\r\n\r\n{:x}\r\n", body.len()).bytes());
                r.extend(&body);
                r.extend(b"\r\n0\r\n\r\n");
            } else {
                r.extend(format!("Content-Length: {}\r\n\r\n", body.len()).bytes());
                r.extend(&body);
            }
            r
        })
    }

    /// Every response in `output` is framed: a head, then exactly
    /// Content-Length bytes (none after a 1xx or for HEAD, which we can't
    /// tell here, so only the count of heads is checked for those).
    fn heads(output: &[u8]) -> usize {
        output.windows(9).filter(|w| w == b"HTTP/1.1 ").count()
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_or_overconsume(input in prop::collection::vec(any::<u8>(), 0..600), split in prop::collection::vec(1usize..80, 0..8), eof: bool) {
            let run = run_chunks(http, &input, &split, eof);
            prop_assert!(run.consumed <= input.len());
            if !run.output.is_empty() {
                prop_assert!(run.output.starts_with(b"HTTP/1.1 "));
            }
        }

        #[test]
        fn valid_requests_get_one_answer_each_whatever_the_split(requests in prop::collection::vec(request(), 1..6), split in prop::collection::vec(1usize..50, 0..8)) {
            let input: Vec<u8> = requests.concat();
            let run = run_chunks(http, &input, &split, false);
            let whole = run_chunks(http, &input, &[], false);
            prop_assert_eq!(text(&run), text(&whole));
            prop_assert_eq!(run.consumed, input.len());
            prop_assert_eq!(heads(&run.output), requests.len());
        }
    }
}

#[test]
fn only_a_clean_requested_close_skips_the_linger() {
    let mut protocol = http();
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
    let metrics = crate::metrics::Metrics::new(std::time::Instant::now());
    let mut run = |input: &[u8]| {
        let mut session = protocol.open(peer);
        let mut ctx = Context {
            now: std::time::Instant::now(),
            wall: std::time::SystemTime::now(),
            metrics: &metrics,
        };
        let verdict = protocol.on_input(&mut session, input, &mut ctx, &mut Output::default());
        (verdict, protocol.expects_more_input(&session))
    };
    let (verdict, more) = run(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(
        matches!(verdict, Verdict::Close(_)) && !more,
        "a requested close needs no linger"
    );
    let (verdict, more) = run(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n");
    assert!(
        matches!(verdict, Verdict::Close(_)) && more,
        "after a 413 the body may still be coming"
    );
    let (_, more) = run(b"GET / HTTP/1.0\r\n\r\n");
    assert!(!more, "HTTP/1.0 without keep-alive is a requested close");
}

/// # /echo
///
/// The body of each response in `text`, de-chunked where chunked.
fn bodies(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("HTTP/1.1 ") {
        rest = &rest[at..];
        let head_end = rest.find("\r\n\r\n").unwrap() + 4;
        let head = &rest[..head_end];
        let mut body = String::new();
        let mut after = &rest[head_end..];
        if head.contains("Transfer-Encoding: chunked") {
            loop {
                let line_end = after.find("\r\n").unwrap();
                let size = usize::from_str_radix(&after[..line_end], 16).unwrap();
                after = &after[line_end + 2..];
                if size == 0 {
                    after = &after[2..];
                    break;
                }
                body.push_str(&after[..size]);
                after = &after[size + 2..];
            }
        } else if let Some(len) = head
            .split("\r\n")
            .find_map(|l| l.strip_prefix("Content-Length: "))
        {
            let len: usize = len.parse().unwrap();
            body.push_str(&after[..len]);
            after = &after[len..];
        }
        out.push(body);
        rest = after;
    }
    out
}

#[test]
fn echo_sends_a_content_length_body_back_whatever_the_split() {
    check(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello worldGET /echo?size=3 HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        |run| {
            let text = text(run);
            assert!(text.contains("Content-Length: 11\r\n"), "{text}");
            assert_eq!(bodies(&text), ["hello world", "abc"]);
            assert!(!run.closed);
        },
    );
}

/// A chunked body comes back chunked, in the pieces it arrived in (so the
/// framing differs from one split to the next, the data never).
#[test]
fn echo_sends_a_chunked_body_back_chunked_whatever_the_split() {
    let input: &[u8] = b"PUT /echo/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for split in 0..input.len() {
        let splits: &[usize] = if split == 0 { &[] } else { &[split] };
        let run = run_chunks(http, input, splits, false);
        let text = text(&run);
        assert!(text.contains("Transfer-Encoding: chunked\r\n"), "{text}");
        assert_eq!(
            bodies(&text),
            ["hello world", "Hello from reactord\n"],
            "split at {split}"
        );
    }
}

#[test]
fn a_delayed_echo_answers_after_the_wait_and_before_the_next_request() {
    check(
        b"GET /echo?delay=5ms&status=202 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        |run| assert_eq!(statuses(run), [202, 200]),
    );
}

#[test]
fn a_drip_is_the_same_body_as_all_its_chunks_at_once() {
    let all = run_chunks(
        http,
        b"GET /echo?size=20&chunks=4 HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
        false,
    );
    check(
        b"GET /echo?size=20&chunks=4&interval=1ms HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        |run| assert_eq!(text(run), text(&all)),
    );
}

#[test]
fn head_of_echo_frames_like_get_without_a_body() {
    check(
        b"HEAD /echo?size=5 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?size=2 HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        |run| {
            let text = text(run);
            assert!(text.contains("Content-Length: 5\r\n"));
            assert!(text.ends_with("\r\n\r\nab"), "{text}");
        },
    );
}

/// A 400 for a query keeps the connection (nothing unread), unless a body
/// follows that will not be read: then it closes.
#[test]
fn a_bad_query_is_a_400_that_closes_only_over_a_body() {
    check(
        b"GET /echo?x=1 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        |run| {
            assert_eq!(statuses(run), [400, 200]);
            assert!(text(run).contains("parameter \"x\": unknown parameter"));
        },
    );
    check(
        b"POST /echo?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n",
        false,
        |run| {
            assert_eq!(statuses(run), [400]);
            assert!(run.closed);
        },
    );
}

/// Statuses without a body get none, whatever size says (RFC 9110 §6.4.1).
#[test]
fn echo_204_and_304_have_no_body() {
    for status in [204, 304] {
        let input = format!("GET /echo?status={status}&size=10 HTTP/1.1\r\nHost: x\r\n\r\n");
        let run = run_chunks(http, input.as_bytes(), &[], false);
        let text = text(&run);
        assert!(text.ends_with("\r\n\r\n"), "{text}");
        assert!(!text.contains("Content-Length"), "{text}");
    }
}

#[test]
fn echo_counters_are_shown_at_metrics() {
    let run = run_chunks(
        http,
        b"POST /echo?delay=1ms HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\
          GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
        false,
    );
    let text = text(&run);
    for line in [
        "reactord_echo_requests_total 1\n",
        "reactord_echo_delayed_requests_total 1\n",
        "reactord_echo_delay_seconds_total 0.001000\n",
        "reactord_echo_bytes_total 2\n",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}

/// DELETE /echo is refused before its body is invited: no 100 Continue.
#[test]
fn a_refused_echo_method_does_not_invite_the_body() {
    check(
        b"DELETE /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
        false,
        |run| {
            assert_eq!(statuses(run), [405]);
            assert!(text(run).contains("Allow: GET, HEAD, POST, PUT\r\n"));
            assert!(run.closed);
        },
    );
    check(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
        false,
        |run| {
            assert_eq!(statuses(run), [100, 200]);
            assert_eq!(bodies(&text(run)), ["", "abc"]);
        },
    );
}
