//! Masking what must never reach a log line, whatever the level.
//!
//! rsipstack logs whole SIP messages at info/debug (`raw_message = ...`): they
//! carry citizens' numbers (`INVITE sip:0912345678@...`) and operators' digest
//! responses (`Authorization: Digest ... response="..."`). Structured fields of
//! carecall's own code use [`crate::pii::Pii`]; this is the net under the text
//! of every line: digest `response`/`cnonce` values become `***`, and every run
//! of nine digits or more (a Vietnamese number is 10 to 11) keeps only its last
//! three digits, as [`crate::pii::mask_phone`] does. `CARECALL_LOG_PII=1`
//! ([`crate::pii::log_pii`]) shows numbers; digests are masked always.

/// Parameters whose values are secrets or let a response be replayed.
const SECRET_PARAMS: [&str; 2] = ["response=", "cnonce="];

/// Shortest run of digits taken for a phone number.
const PHONE_DIGITS: usize = 9;

/// `line` with digest values and (unless `reveal_phones`) phone numbers masked.
pub fn mask_line(line: &str, reveal_phones: bool) -> String {
    let line = mask_secrets(line);
    if reveal_phones {
        line
    } else {
        mask_digit_runs(&line, false)
    }
}

/// [`mask_line`] for a JSON log line: digit runs are masked inside strings
/// only, where numbers are written (messages, SIP text, typed fields); a bare
/// JSON number is a measurement, and masking it would break the line.
pub fn mask_json_line(line: &str, reveal_phones: bool) -> String {
    let line = mask_secrets(line);
    if reveal_phones {
        line
    } else {
        mask_digit_runs(&line, true)
    }
}

fn mask_secrets(s: &str) -> String {
    // ASCII lowering keeps byte offsets.
    let lower = s.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let at_word_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let param = SECRET_PARAMS
            .iter()
            .find(|p| at_word_start && lower[i..].starts_with(**p));
        let Some(param) = param else {
            let c = s[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
            continue;
        };
        let mut j = i + param.len();
        out.push_str(&s[i..j]);
        // Quoted as `"v"`, or `\"v\"` inside a Debug-printed message.
        let close = if s[j..].starts_with("\\\"") {
            out.push_str("\\\"");
            j += 2;
            s[j..].find("\\\"")
        } else if s[j..].starts_with('"') {
            out.push('"');
            j += 1;
            s[j..].find('"')
        } else {
            s[j..].find([',', ' ', ';', '\\', '"', '\r', '\n'])
        };
        out.push_str("***");
        i = close.map_or(s.len(), |k| j + k);
    }
    out
}

/// Masks runs of [`PHONE_DIGITS`] digits or more, except the fraction of a
/// decimal number (`0.000078302` is a duration) and, in a JSON line, digits
/// outside strings.
fn mask_digit_runs(s: &str, json: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    // Whether the current run may be masked; decided at its first digit.
    let mut maskable = true;
    let mut in_string = false;
    let mut escaped = false;
    let mut prev: [char; 2] = [' ', ' '];
    let flush = |run: &mut String, out: &mut String, maskable: bool| {
        if maskable && run.len() >= PHONE_DIGITS {
            let keep = run.len() - 3;
            out.extend(std::iter::repeat_n('*', keep));
            out.push_str(&run[keep..]);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            if run.is_empty() {
                let fraction = prev[1] == '.' && prev[0].is_ascii_digit();
                maskable = !fraction && (!json || in_string);
            }
            run.push(c);
        } else {
            flush(&mut run, &mut out, maskable);
            out.push(c);
            if json {
                match c {
                    '\\' if in_string => escaped = !escaped,
                    '"' if !escaped => in_string = !in_string,
                    _ => escaped = false,
                }
                if c != '\\' {
                    escaped = false;
                }
            }
        }
        prev = [prev[1], c];
    }
    flush(&mut run, &mut out, maskable);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_values_are_masked_quoted_or_escaped() {
        let raw = r#"Authorization: Digest username="lan", realm="carecall", nonce="6a.ff", uri="sip:carecall", response="6629fae49393a05397450978507c4ef1", qop=auth, nc=00000001, cnonce="0a4f113b""#;
        let m = mask_line(raw, true);
        assert!(!m.contains("6629fae4") && !m.contains("0a4f113b"), "{m}");
        assert!(
            m.contains(r#"response="***""#) && m.contains(r#"cnonce="***""#),
            "{m}"
        );
        assert!(
            m.contains(r#"username="lan""#) && m.contains("nc=00000001"),
            "{m}"
        );
        // rsipstack's Debug of a message: quotes escaped, CRLF as \r\n.
        let debug = r#"raw_message="REGISTER sip:x SIP/2.0\r\nAuthorization: Digest Response=\"abc123\",algorithm=MD5\r\n""#;
        let m = mask_line(debug, true);
        assert!(!m.contains("abc123"), "{m}");
        assert!(m.contains(r#"Response=\"***\",algorithm=MD5"#), "{m}");
        // Unquoted, and a word that merely ends in "response" is left alone.
        assert_eq!(mask_line("response=abcd, x", true), "response=***, x");
        assert_eq!(mask_line("myresponse=abcd", true), "myresponse=abcd");
    }

    #[test]
    fn phone_numbers_keep_their_last_three_digits() {
        assert_eq!(
            mask_line("INVITE sip:0912345678@10.0.0.1:5060 SIP/2.0", false),
            "INVITE sip:*******678@10.0.0.1:5060 SIP/2.0"
        );
        assert_eq!(
            mask_line("To: <sip:+84912345678@x>", false),
            "To: <sip:+********678@x>"
        );
        // Short numbers (ports, CSeq, times, the hotline) stay readable.
        let ordinary = "2026-12-03T10:33:47.123456Z CSeq: 1022 REGISTER 127.0.0.1:5060";
        assert_eq!(mask_line(ordinary, false), ordinary);
        assert_eq!(
            mask_line("sip:0912345678@x", true),
            "sip:0912345678@x",
            "CARECALL_LOG_PII=1 shows numbers"
        );
        assert_eq!(mask_line("đã gọi 0912345678", false), "đã gọi *******678");
        // A duration's fraction is not a phone number.
        assert_eq!(
            mask_line("elapsed=0.000078302", false),
            "elapsed=0.000078302"
        );
    }

    #[test]
    fn json_lines_stay_json_with_numbers_in_strings_masked() {
        let line = r#"{"fields":{"message":"gọi 0912345678","raw":"sip:\"0912345678\"@x","elapsed_secs":0.000078302,"at_ms":1764000000000}}"#;
        let m = mask_json_line(line, false);
        let v: serde_json::Value = serde_json::from_str(&m).expect("still JSON");
        assert_eq!(v["fields"]["message"], "gọi *******678");
        assert_eq!(v["fields"]["raw"], "sip:\"*******678\"@x");
        assert_eq!(v["fields"]["at_ms"], 1764000000000u64);
        assert!(!m.contains("0912345678"));
    }
}
