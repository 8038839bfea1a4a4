//! Sans-IO handling of the `Range` request header (RFC 9110 §14), so that a
//! browser's `<audio>` element can seek in a call recording.
//!
//! Only what a media player needs: one byte range. The function takes the
//! header text and the file length and says what to send; it never touches
//! the file, so every case is a plain unit test.

/// An inclusive byte range inside a representation of known length
/// (RFC 9110 §14.1.2: `first-pos` and `last-pos` are both inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    /// Inclusive; always `< total` once resolved.
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range (never zero: an empty range is unsatisfiable).
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Always false: kept for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `Content-Range` value of a 206 response (RFC 9110 §14.4):
    /// `bytes 0-99/1000`.
    pub fn content_range(&self, total: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.end, total)
    }
}

/// What to answer to a GET of a representation of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeDecision {
    /// 200 with the whole representation: no Range, a malformed one (RFC 9110
    /// §14.2: a server MAY ignore Range, and MUST ignore one it cannot parse
    /// as the `bytes` unit), several ranges, or an `If-Range` that does not match.
    Full,
    /// 206 Partial Content with this range.
    Partial(ByteRange),
    /// 416 Range Not Satisfiable with `Content-Range: bytes */len`
    /// (RFC 9110 §15.5.17): the range starts past the end, or is a zero suffix.
    Unsatisfiable,
}

/// The `Content-Range` value of a 416 response (RFC 9110 §14.4, `unsatisfied-range`).
pub fn unsatisfied_content_range(len: u64) -> String {
    format!("bytes */{len}")
}

/// Decides how to answer `range` (the header's text, if any) for a
/// representation of `len` bytes.
///
/// `if_range` and `etag` implement RFC 9110 §13.1.5: a Range is honoured only
/// if `If-Range` is absent or equals our strong entity tag; a date or another
/// tag means the client's copy may be stale, so it gets the whole file.
pub fn decide(
    range: Option<&str>,
    if_range: Option<&str>,
    etag: Option<&str>,
    len: u64,
) -> RangeDecision {
    let Some(range) = range else {
        return RangeDecision::Full;
    };
    if let Some(cond) = if_range
        && Some(cond.trim()) != etag
    {
        return RangeDecision::Full;
    }
    match parse(range) {
        Some(Spec::One(spec)) => spec.resolve(len),
        // Several ranges: a player never asks for them, and multipart/byteranges
        // is not worth its cost here; RFC 9110 §14.2 lets us send the whole file.
        Some(Spec::Many) | None => RangeDecision::Full,
    }
}

/// One `byte-range-spec` or `suffix-range` before the length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OneRange {
    /// `a-b` or `a-` (`last` None).
    From { first: u64, last: Option<u64> },
    /// `-n`: the last n bytes.
    Suffix(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    One(OneRange),
    Many,
}

/// Parses `bytes=...` (RFC 9110 §14.1.1); `None` if malformed or another unit.
fn parse(header: &str) -> Option<Spec> {
    let (unit, set) = header.trim().split_once('=')?;
    // §14.1: range units are compared case-insensitively.
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    // §5.6.1: empty list elements are allowed and ignored by recipients.
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let first = parse_one(specs.next()?)?;
    let mut many = false;
    for other in specs {
        parse_one(other)?;
        many = true;
    }
    Some(if many { Spec::Many } else { Spec::One(first) })
}

fn parse_one(spec: &str) -> Option<OneRange> {
    let (a, b) = spec.split_once('-')?;
    if a.is_empty() {
        return Some(OneRange::Suffix(digits(b)?));
    }
    let first = digits(a)?;
    let last = if b.is_empty() { None } else { Some(digits(b)?) };
    // §14.1.1: a last-pos below first-pos makes the spec invalid.
    if last.is_some_and(|l| l < first) {
        return None;
    }
    Some(OneRange::From { first, last })
}

/// `1*DIGIT` only: no sign, no spaces, no overflow.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl OneRange {
    /// §14.1.2: a range is satisfiable if it starts inside the representation
    /// (or is a non-zero suffix of a non-empty one); the end is clamped.
    fn resolve(self, len: u64) -> RangeDecision {
        if len == 0 {
            return RangeDecision::Unsatisfiable;
        }
        let last = len - 1;
        match self {
            OneRange::From { first, .. } if first > last => RangeDecision::Unsatisfiable,
            OneRange::From { first, last: end } => RangeDecision::Partial(ByteRange {
                start: first,
                end: end.map_or(last, |e| e.min(last)),
            }),
            OneRange::Suffix(0) => RangeDecision::Unsatisfiable,
            OneRange::Suffix(n) => RangeDecision::Partial(ByteRange {
                start: len.saturating_sub(n),
                end: last,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(h: &str, len: u64) -> RangeDecision {
        decide(Some(h), None, None, len)
    }

    fn part(start: u64, end: u64) -> RangeDecision {
        RangeDecision::Partial(ByteRange { start, end })
    }

    #[test]
    fn no_header_is_full() {
        assert_eq!(decide(None, None, None, 10), RangeDecision::Full);
    }

    #[test]
    fn closed_range() {
        assert_eq!(d("bytes=0-99", 1000), part(0, 99));
        assert_eq!(d("bytes=10-10", 1000), part(10, 10));
        let RangeDecision::Partial(r) = d("bytes=0-99", 1000) else {
            panic!()
        };
        assert_eq!(r.len(), 100);
        assert_eq!(r.content_range(1000), "bytes 0-99/1000");
    }

    #[test]
    fn end_past_length_is_clamped() {
        assert_eq!(d("bytes=900-5000", 1000), part(900, 999));
    }

    #[test]
    fn open_ended() {
        assert_eq!(d("bytes=500-", 1000), part(500, 999));
        assert_eq!(d("bytes=0-", 1), part(0, 0));
    }

    #[test]
    fn suffix() {
        assert_eq!(d("bytes=-100", 1000), part(900, 999));
        // A suffix longer than the file is the whole file, still a 206.
        assert_eq!(d("bytes=-5000", 1000), part(0, 999));
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(d("bytes=1000-", 1000), RangeDecision::Unsatisfiable);
        assert_eq!(d("bytes=2000-3000", 1000), RangeDecision::Unsatisfiable);
        assert_eq!(d("bytes=-0", 1000), RangeDecision::Unsatisfiable);
        assert_eq!(d("bytes=0-", 0), RangeDecision::Unsatisfiable);
        assert_eq!(unsatisfied_content_range(1000), "bytes */1000");
    }

    #[test]
    fn malformed_is_ignored() {
        for h in [
            "bytes=",
            "bytes=abc",
            "bytes=5-1",
            "bytes=-",
            "bytes=+1-2",
            "bytes= 1 - 2",
            "items=0-1",
            "0-99",
            "bytes=0-99999999999999999999999",
        ] {
            assert_eq!(d(h, 1000), RangeDecision::Full, "{h:?}");
        }
    }

    #[test]
    fn unit_is_case_insensitive_and_whitespace_tolerated() {
        assert_eq!(d("Bytes=0-1", 10), part(0, 1));
        assert_eq!(d(" bytes=0-1, ", 10), part(0, 1));
    }

    #[test]
    fn several_ranges_send_the_whole_file() {
        assert_eq!(d("bytes=0-1,5-6", 10), RangeDecision::Full);
        // ...unless one of them is malformed, which also means ignoring Range.
        assert_eq!(d("bytes=0-1,x", 10), RangeDecision::Full);
    }

    #[test]
    fn if_range_must_match_the_etag() {
        let tag = Some("\"abc\"");
        assert_eq!(
            decide(Some("bytes=0-1"), Some("\"abc\""), tag, 10),
            part(0, 1)
        );
        assert_eq!(
            decide(Some("bytes=0-1"), Some("\"old\""), tag, 10),
            RangeDecision::Full
        );
        assert_eq!(
            decide(
                Some("bytes=0-1"),
                Some("Wed, 21 Oct 2015 07:28:00 GMT"),
                tag,
                10
            ),
            RangeDecision::Full
        );
        assert_eq!(
            decide(Some("bytes=0-1"), Some("\"abc\""), None, 10),
            RangeDecision::Full
        );
    }
}
