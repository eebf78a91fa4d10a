//! Preconditions (RFC 9110 §13): If-Match, If-Unmodified-Since,
//! If-None-Match and If-Modified-Since, evaluated in the order of §13.2.2
//! against what a resource offers to compare with (its validators, §8.8).
//! Whether the answer is then a 304, a 412 or goes on to ranges is
//! decided here; the reply itself is written by `files`. (nginx keeps this
//! apart too: its not-modified filter.)

use super::request::Conditions;
use std::time::UNIX_EPOCH;

/// What a resource offers for preconditions to compare against (RFC 9110
/// §8.8): a file has both, a directory listing neither.
pub(super) struct Validators<'a> {
    /// The entity tag, quotes included; always strong here.
    pub(super) etag: Option<&'a str>,
    /// The modification time in whole seconds since the epoch: the
    /// precision of Last-Modified, so that a date the client copied from it
    /// compares equal.
    pub(super) modified: Option<u64>,
}

impl Validators<'_> {
    pub(super) const NONE: Validators<'static> = Validators {
        etag: None,
        modified: None,
    };
}

/// The outcome of a request's preconditions.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Precondition {
    /// Every precondition sent holds: go on to Range and the 200 or 206.
    Passed,
    /// 304 Not Modified: the client's copy is current.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Evaluate the preconditions in the order of RFC 9110 §13.2.2, for a
/// GET or HEAD of a resource that exists (a 404 or 301 never gets here:
/// §13.2.1 says preconditions only apply to what would otherwise be a 2xx).
///
/// 1. If-Match (§13.1.1), strong comparison: false → 412.
/// 2. Without If-Match, If-Unmodified-Since (§13.1.4): false → 412.
/// 3. If-None-Match (§13.1.2), weak comparison: false → 304 (GET, HEAD).
/// 4. Without If-None-Match, If-Modified-Since (§13.1.3): false → 304.
///
/// A date that doesn't parse is ignored (§13.1.3, §13.1.4), as is a date
/// condition on a resource without a modification time.
pub(super) fn evaluate(conditions: &Conditions<'_>, validators: &Validators<'_>) -> Precondition {
    if let Some(list) = conditions.if_match().as_deref() {
        let matches = if list.trim_ascii() == b"*" {
            true // the resource exists
        } else {
            validators.etag.is_some_and(|etag| {
                entity_tags(list).any(|tag| !tag.weak && tag.opaque == etag.as_bytes())
            })
        };
        if !matches {
            return Precondition::Failed;
        }
    } else if let (Some(since), Some(modified)) = (
        conditions.if_unmodified_since.and_then(http_date),
        validators.modified,
    ) && modified > since
    {
        return Precondition::Failed;
    }
    if let Some(list) = conditions.if_none_match().as_deref() {
        let matches = if list.trim_ascii() == b"*" {
            true
        } else {
            validators
                .etag
                .is_some_and(|etag| entity_tags(list).any(|tag| tag.opaque == etag.as_bytes()))
        };
        if matches {
            return Precondition::NotModified;
        }
    } else if let (Some(since), Some(modified)) = (
        conditions.if_modified_since.and_then(http_date),
        validators.modified,
    ) && modified <= since
    {
        return Precondition::NotModified;
    }
    Precondition::Passed
}

/// An HTTP-date (any of the three forms of RFC 9110 §5.6.7) in seconds
/// since the epoch; `None` if it isn't one.
fn http_date(value: &[u8]) -> Option<u64> {
    let date = httpdate::parse_http_date(std::str::from_utf8(value).ok()?).ok()?;
    date.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// One entity tag of a list (RFC 9110 §8.8.3).
#[derive(Debug, PartialEq, Eq)]
struct EntityTag<'a> {
    /// `W/` in front: only a weak comparison can match it.
    weak: bool,
    /// The opaque tag, quotes included.
    opaque: &'a [u8],
}

/// The entity tags of an If-Match or If-None-Match list, in order. Empty
/// list elements are skipped (RFC 9110 §5.6.1); the list ends at the first
/// element that isn't an entity tag, since a quoted tag may hold a comma
/// and nothing after a malformed one can be split reliably.
fn entity_tags(list: &[u8]) -> impl Iterator<Item = EntityTag<'_>> {
    let mut rest = list;
    std::iter::from_fn(move || {
        let start = rest
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b','))?;
        let element = rest.get(start..)?;
        let (weak, quoted) = match element.strip_prefix(b"W/") {
            Some(quoted) => (true, quoted),
            None => (false, element),
        };
        let after_quote = quoted.strip_prefix(b"\"")?;
        let length = after_quote.iter().position(|&b| b == b'"')? + 2;
        let opaque = quoted.get(..length)?;
        let after = quoted.get(length..)?.trim_ascii();
        if !(after.is_empty() || after.starts_with(b",")) {
            return None;
        }
        rest = after;
        Some(EntityTag { weak, opaque })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file's validators: ETag `"abc"`, modified at 1994-11-06 08:49:37.
    const FILE: Validators<'static> = Validators {
        etag: Some("\"abc\""),
        modified: Some(784_111_777),
    };
    const BEFORE: &[u8] = b"Sun, 06 Nov 1994 08:49:36 GMT";
    const AT: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn outcome(headers: &[(&str, &[u8])], validators: &Validators<'_>) -> Precondition {
        let mut conditions = Conditions::default();
        for &(name, value) in headers {
            match name {
                "If-Match" => conditions.if_match = Some(value),
                "If-Unmodified-Since" => conditions.if_unmodified_since = Some(value),
                "If-None-Match" => conditions.if_none_match = Some(value),
                "If-Modified-Since" => conditions.if_modified_since = Some(value),
                other => panic!("{other}"),
            }
        }
        evaluate(&conditions, validators)
    }

    #[test]
    fn if_match_compares_strongly_and_star_matches_what_exists() {
        use Precondition::{Failed, Passed};
        for (value, expected) in [
            (&b"\"abc\""[..], Passed),
            (b"\"x\", \"abc\"", Passed),
            (b", ,\"abc\",", Passed),
            (b"*", Passed),
            (b"W/\"abc\"", Failed),
            (b"\"x\"", Failed),
            (b"\"abc", Failed),
            (b"abc", Failed),
            (b"\"x\"junk, \"abc\"", Failed),
            (b"", Failed),
        ] {
            let shown = String::from_utf8_lossy(value);
            assert_eq!(outcome(&[("If-Match", value)], &FILE), expected, "{shown}");
        }
        // A listing has no ETag: only `*` matches it.
        assert_eq!(outcome(&[("If-Match", b"*")], &Validators::NONE), Passed);
        assert_eq!(
            outcome(&[("If-Match", b"\"abc\"")], &Validators::NONE),
            Failed
        );
    }

    #[test]
    fn if_unmodified_since_fails_for_a_newer_file_and_ignores_bad_dates() {
        use Precondition::{Failed, Passed};
        assert_eq!(outcome(&[("If-Unmodified-Since", AT)], &FILE), Passed);
        assert_eq!(outcome(&[("If-Unmodified-Since", BEFORE)], &FILE), Failed);
        assert_eq!(
            outcome(&[("If-Unmodified-Since", b"yesterday")], &FILE),
            Passed
        );
        let no_date = Validators::NONE;
        assert_eq!(
            outcome(&[("If-Unmodified-Since", BEFORE)], &no_date),
            Passed
        );
        // Only without If-Match (§13.1.4): a matching If-Match wins.
        let both = [
            ("If-Match", &b"\"abc\""[..]),
            ("If-Unmodified-Since", BEFORE),
        ];
        assert_eq!(outcome(&both, &FILE), Passed);
    }

    #[test]
    fn if_none_match_compares_weakly_and_wins_over_if_modified_since() {
        use Precondition::{NotModified, Passed};
        for (value, expected) in [
            (&b"\"abc\""[..], NotModified),
            (b"W/\"abc\"", NotModified),
            (b"\"x\", W/\"abc\"", NotModified),
            (b"*", NotModified),
            (b"\"x\"", Passed),
            (b"\"a,bc\", \"abc\"", NotModified),
        ] {
            let shown = String::from_utf8_lossy(value);
            assert_eq!(
                outcome(&[("If-None-Match", value)], &FILE),
                expected,
                "{shown}"
            );
        }
        let stale_tag_fresh_date = [("If-None-Match", &b"\"x\""[..]), ("If-Modified-Since", AT)];
        assert_eq!(outcome(&stale_tag_fresh_date, &FILE), Passed);
        assert_eq!(outcome(&[("If-Modified-Since", AT)], &FILE), NotModified);
        assert_eq!(outcome(&[("If-Modified-Since", BEFORE)], &FILE), Passed);
        assert_eq!(outcome(&[("If-Modified-Since", b"soon")], &FILE), Passed);
    }

    #[test]
    fn preconditions_are_evaluated_in_the_order_of_rfc_9110_13_2_2() {
        use Precondition::{Failed, NotModified};
        // A failed If-Match is a 412 even when If-None-Match would be a 304.
        let both = [("If-Match", &b"\"x\""[..]), ("If-None-Match", b"\"abc\"")];
        assert_eq!(outcome(&both, &FILE), Failed);
        // A failed If-Unmodified-Since likewise wins over If-Modified-Since.
        let dates = [("If-Unmodified-Since", BEFORE), ("If-Modified-Since", AT)];
        assert_eq!(outcome(&dates, &FILE), Failed);
        // Passed If-Match, then a matching If-None-Match: 304.
        let both = [("If-Match", &b"\"abc\""[..]), ("If-None-Match", b"\"abc\"")];
        assert_eq!(outcome(&both, &FILE), NotModified);
    }
}
