//! Range requests (RFC 9110 §14): what a `Range` header asks of a file of
//! a given size. One range is served (206, or 416 when nothing of the file
//! matches); several are answered with the whole file, which §14.2 allows.
//! (nginx keeps this apart too: its range filter.)

/// A `Range` header's meaning for a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ByteRange {
    /// Inclusive byte positions.
    Within(u64, u64),
    /// Nothing of the file matches: 416.
    Unsatisfiable,
    /// Several ranges or a header we don't understand: send the whole file
    /// (RFC 9110 §14.2 allows ignoring Range).
    Whole,
}

/// Parse `Range: bytes=...` (RFC 9110 §14.1.1). The unit is matched
/// without regard to case (§14.1), and empty list elements are skipped
/// (§5.6.1: `bytes=0-1,` and `bytes=, 0-1` are one range). More than one
/// range is answered with the whole file: multipart/byteranges is not
/// implemented, and §14.2 lets a server ignore Range.
pub(super) fn parse_range(value: &[u8], size: u64) -> ByteRange {
    let Some((unit, set)) = std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.split_once('='))
    else {
        return ByteRange::Whole;
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        return ByteRange::Whole;
    }
    let mut specs = set
        .split(',')
        .map(|spec| spec.trim_matches([' ', '\t']))
        .filter(|spec| !spec.is_empty());
    match (specs.next(), specs.next()) {
        (Some(spec), None) => parse_range_spec(spec, size),
        _ => ByteRange::Whole,
    }
}

/// One range-spec: `a-b`, `a-` or `-n`.
fn parse_range_spec(spec: &str, size: u64) -> ByteRange {
    let Some((first, last)) = spec.split_once('-') else {
        return ByteRange::Whole;
    };
    let parse = |s: &str| {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u64>().ok()
        } else {
            None
        }
    };
    match (first.is_empty(), last.is_empty()) {
        // -n: the last n bytes.
        (true, false) => match parse(last) {
            Some(0) => ByteRange::Unsatisfiable,
            Some(n) if size > 0 => ByteRange::Within(size - n.min(size), size - 1),
            Some(_) => ByteRange::Unsatisfiable,
            None => ByteRange::Whole,
        },
        // a-: from a to the end.
        (false, true) => match parse(first) {
            Some(a) if a < size => ByteRange::Within(a, size - 1),
            Some(_) => ByteRange::Unsatisfiable,
            None => ByteRange::Whole,
        },
        // a-b.
        (false, false) => match (parse(first), parse(last)) {
            (Some(a), Some(b)) if a > b => ByteRange::Whole,
            (Some(a), Some(_)) if a >= size => ByteRange::Unsatisfiable,
            (Some(a), Some(b)) => ByteRange::Within(a, b.min(size - 1)),
            _ => ByteRange::Whole,
        },
        (true, true) => ByteRange::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range(b"bytes=0-9", 100), ByteRange::Within(0, 9));
        assert_eq!(parse_range(b"bytes=90-200", 100), ByteRange::Within(90, 99));
        assert_eq!(parse_range(b"bytes=95-", 100), ByteRange::Within(95, 99));
        assert_eq!(parse_range(b"bytes=-10", 100), ByteRange::Within(90, 99));
        assert_eq!(parse_range(b"bytes=-1000", 100), ByteRange::Within(0, 99));
        assert_eq!(parse_range(b"bytes=100-", 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=0-1,5-6", 100), ByteRange::Whole);
        assert_eq!(parse_range(b"items=0-1", 100), ByteRange::Whole);
        assert_eq!(parse_range(b"bytes=5-1", 100), ByteRange::Whole);
        assert_eq!(parse_range(b"bytes=", 100), ByteRange::Whole);
        assert_eq!(parse_range(b"bytes=,", 100), ByteRange::Whole);
        assert_eq!(parse_range(b"bytes 0-1", 100), ByteRange::Whole);
    }

    #[test]
    fn the_range_unit_ignores_case_and_empty_list_elements_are_skipped() {
        for value in [
            "BYTES=0-1",
            "Bytes=0-1",
            "bytes=0-1,",
            "bytes=, 0-1",
            "bytes=,,0-1 ,\t,",
        ] {
            assert_eq!(
                parse_range(value.as_bytes(), 100),
                ByteRange::Within(0, 1),
                "{value}"
            );
        }
        assert_eq!(parse_range(b"BYTES=0-1, 5-6", 100), ByteRange::Whole);
    }
}
