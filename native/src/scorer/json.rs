//! JSON: a strict scanner for one flat object (None = decline).

use memchr::memchr2;

use super::fields::{field_slot, Raw, N_FIELDS};

#[inline]
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// A JSON string whose opening quote is at `i - 1`: (index after the closing quote, escaped?).
#[inline]
pub(crate) fn scan_string(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        let stop = i + memchr2(b'"', b'\\', &b[i..])?;
        if b[i..stop].iter().any(|&c| c < 0x20) {
            return None; // a raw control character: not JSON
        }
        if b[stop] == b'"' {
            return Some((stop + 1, escaped));
        }
        escaped = true;
        match *b.get(stop + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i = stop + 2,
            b'u' => {
                let mut code: u32 = 0;
                for &h in b.get(stop + 2..stop + 6)? {
                    code = code * 16 + (h as char).to_digit(16)?;
                }
                if (0xD800..0xE000).contains(&code) {
                    return None; // surrogates (paired or lone): left to orjson
                }
                i = stop + 6;
            }
            _ => return None,
        }
    }
}

/// Longer JSON numbers are declined (orjson reads some of them as infinity and refuses them).
const MAX_NUMBER_CHARS: usize = 64;

/// A JSON number at `b[i]`: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, at most 64
/// characters. Returns the index after it.
#[inline]
pub(crate) fn scan_number(b: &[u8], i: usize) -> Option<usize> {
    let digits = |mut k: usize| {
        let start = k;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        (k > start).then_some(k)
    };
    let start = i;
    let int_start = i + usize::from(b[i] == b'-');
    let mut i = digits(int_start)?;
    if i - int_start > 1 && b[int_start] == b'0' {
        return None; // a leading zero: not JSON
    }
    if i < b.len() && b[i] == b'.' {
        i = digits(i + 1)?;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        i = digits(i)?;
    }
    (i - start <= MAX_NUMBER_CHARS).then_some(i)
}

/// Whether orjson reads the JSON number `t` (as the scanner checked it): it refuses one that
/// is infinite as a double. Without an exponent, 64 characters never are; with one, only
/// magnitudes well inside the double range are taken (the rest: declined).
#[inline]
pub(crate) fn orjson_reads(t: &str) -> bool {
    if !t.bytes().any(|c| c == b'e' || c == b'E') {
        return true;
    }
    t.parse::<f64>().is_ok_and(|v| v.abs() < 1e300)
}

/// A value other than a string at `b[i]`: null, a JSON number (fills a slot) or true/false
/// (only in fields scoring does not read). Nested values are not what the producer writes.
#[inline]
pub(crate) fn scan_literal<'a>(
    b: &'a [u8],
    i: usize,
    slot: Option<usize>,
    raw: &mut [Raw<'a>],
) -> Option<usize> {
    match b[i] {
        b'n' => {
            if b.get(i..i + 4)? != b"null" {
                return None;
            }
            if let Some(k) = slot {
                raw[k] = Raw::Null; // a repeated key: the last one counts, as in orjson
            }
            Some(i + 4)
        }
        b't' | b'f' => {
            let word: &[u8] = if b[i] == b't' { b"true" } else { b"false" };
            if slot.is_some() || b.get(i..i + word.len())? != word {
                return None;
            }
            Some(i + word.len())
        }
        b'-' | b'0'..=b'9' => {
            let end = scan_number(b, i)?;
            // SAFETY: scan_number took only ASCII digits, signs, '.', 'e' and 'E'
            let t = unsafe { std::str::from_utf8_unchecked(&b[i..end]) };
            if !orjson_reads(t) {
                return None;
            }
            if let Some(k) = slot {
                raw[k] = Raw::Num(t);
            }
            Some(end)
        }
        _ => None,
    }
}

/// No byte below 0x20 (vectorises, unlike an early-exit `any`).
#[inline]
pub(crate) fn no_control_bytes(b: &[u8]) -> bool {
    b.chunks(64)
        .all(|chunk| chunk.iter().fold(0u8, |acc, &c| acc | u8::from(c < 0x20)) == 0)
}

pub(crate) fn scan_event<'a>(b: &'a [u8], quotes: &mut Vec<u32>) -> Option<[Raw<'a>; N_FIELDS]> {
    if !b.is_ascii() {
        std::str::from_utf8(b).ok()?;
    }
    // What the producer writes: no escapes and no control bytes (so no whitespace but spaces):
    // then every quote opens or closes a string, found for the whole event in one pass.
    if memchr::memchr(b'\\', b).is_none() && no_control_bytes(b) {
        quote_positions(b, quotes);
        let mut q = 0; // the index in `quotes` of the next quote
        return scan_object(b, |open| {
            if *quotes.get(q)? as usize != open {
                return None;
            }
            let close = *quotes.get(q + 1)? as usize;
            q += 2;
            Some((close, false))
        });
    }
    scan_object(b, |open| {
        scan_string(b, open + 1).map(|(after, escaped)| (after - 1, escaped))
    })
}

/// The object itself, for either way of finding strings: `string(open)` gives the index of
/// the closing quote of the string opened at `open`, and whether it held escapes.
#[inline(always)]
pub(crate) fn scan_object<'a>(
    b: &'a [u8],
    mut string: impl FnMut(usize) -> Option<(usize, bool)>,
) -> Option<[Raw<'a>; N_FIELDS]> {
    // SAFETY: scan_event checked `b` is UTF-8 (ASCII, or validated)
    let text = unsafe { std::str::from_utf8_unchecked(b) };
    let mut raw = [Raw::Absent; N_FIELDS];
    let mut i = skip_ws(b, 0);
    if *b.get(i)? != b'{' {
        return None;
    }
    i = skip_ws(b, i + 1);
    if *b.get(i)? == b'}' {
        i += 1;
    } else {
        loop {
            if *b.get(i)? != b'"' {
                return None;
            }
            let (key_end, key_escaped) = string(i)?;
            if key_escaped {
                return None;
            }
            let slot = field_slot(&b[i + 1..key_end]);
            i = skip_ws(b, key_end + 1);
            if *b.get(i)? != b':' {
                return None;
            }
            i = skip_ws(b, i + 1);
            if *b.get(i)? == b'"' {
                let (end, escaped) = string(i)?;
                if let Some(k) = slot {
                    if escaped {
                        return None; // the fields scoring reads: plain text only
                    }
                    raw[k] = Raw::Str(&text[i + 1..end]); // quotes are ASCII boundaries
                }
                i = end + 1;
            } else {
                i = scan_literal(b, i, slot, &mut raw)?;
            }
            i = skip_ws(b, i);
            match *b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b'}' => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    if skip_ws(b, i) != b.len() {
        return None;
    }
    Some(raw)
}

/// The positions of every `"` in `b`: 64 bytes per step with SSE2 (every x86-64 has it).
#[cfg(target_arch = "x86_64")]
pub(crate) fn quote_positions(b: &[u8], out: &mut Vec<u32>) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    out.clear();
    let chunks = b.chunks_exact(64);
    let tail = chunks.remainder();
    // SAFETY: SSE2 is part of x86-64; each load reads 16 bytes inside a 64-byte chunk
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        for (n, chunk) in chunks.enumerate() {
            let p = chunk.as_ptr();
            let mut hits = 0u64;
            for lane in 0..4 {
                let v = _mm_loadu_si128(p.add(lane * 16) as *const __m128i);
                let m = _mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) as u32 as u64;
                hits |= (m & 0xffff) << (lane * 16);
            }
            while hits != 0 {
                out.push((n * 64) as u32 + hits.trailing_zeros());
                hits &= hits - 1;
            }
        }
    }
    let base = b.len() - tail.len();
    out.extend(
        tail.iter()
            .enumerate()
            .filter(|(_, &c)| c == b'"')
            .map(|(k, _)| (base + k) as u32),
    );
}

/// The positions of every `"` in `b` (other targets: byte by byte).
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn quote_positions(b: &[u8], out: &mut Vec<u32>) {
    out.clear();
    out.extend(
        b.iter()
            .enumerate()
            .filter(|(_, &c)| c == b'"')
            .map(|(k, _)| k as u32),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scorer::fields::{F_EVENT_TIME, F_ID, F_LOAN_AMNT, F_TERM};

    fn scan(b: &[u8]) -> Option<[Raw<'_>; N_FIELDS]> {
        scan_event(b, &mut Vec::new())
    }

    #[test]
    fn plain_object_fills_the_slots_scoring_reads() {
        let raw = scan(br#"{"id":"7","term":" 36 months","desc":"any, text","event_time":null}"#)
            .unwrap();
        assert!(matches!(raw[F_ID], Raw::Str("7")));
        assert!(matches!(raw[F_TERM], Raw::Str(" 36 months")));
        assert!(matches!(raw[F_EVENT_TIME], Raw::Null));
        assert!(matches!(raw[F_LOAN_AMNT], Raw::Absent));
        assert!(scan(b" { } ").is_some_and(|r| r.iter().all(|v| matches!(v, Raw::Absent))));
    }

    #[test]
    fn strings_with_escapes() {
        // (index after the closing quote, escaped?) of the string opened at index 0
        assert_eq!(scan_string(br#""plain" "#, 1), Some((7, false)));
        assert_eq!(scan_string(br#""a\"b\\c\/\n\u00e9""#, 1), Some((19, true)));
        assert_eq!(scan_string(br#""\x""#, 1), None); // not a JSON escape
        assert_eq!(scan_string(br#""\ud83d\ude00""#, 1), None); // surrogates: left to orjson
        assert_eq!(scan_string(br#""\u00g1""#, 1), None);
        assert_eq!(scan_string(br#""\u00"#, 1), None); // truncated \u
                                                       // escapes are fine in a field scoring does not read, declined in one it reads or a key
        let raw = scan(br#"{"desc":"say \"hi\"","id":"1"}"#).unwrap();
        assert!(matches!(raw[F_ID], Raw::Str("1")));
        assert!(scan(br#"{"id":"\u0031"}"#).is_none());
        assert!(scan(br#"{"i\u0064":"1"}"#).is_none());
    }

    #[test]
    fn json_numbers_in_any_field() {
        assert_eq!(scan_number(b"0", 0), Some(1));
        assert_eq!(scan_number(b"-12.50,", 0), Some(6));
        assert_eq!(scan_number(b"1e5}", 0), Some(3));
        assert_eq!(scan_number(b"-2.5E-07", 0), Some(8));
        assert_eq!(scan_number(b"1E+400", 0), Some(6)); // JSON; orjson_reads refuses it
        for bad in [
            &b"01"[..],
            b"-01",
            b"1.",
            b"1.e5",
            b"-",
            b"1e",
            b"1e+",
            b".5",
            b"+1",
        ] {
            assert_eq!(
                scan_number(bad, 0),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = "1".repeat(64);
        assert_eq!(scan_number(long.as_bytes(), 0), Some(64));
        assert_eq!(scan_number(format!("{long}1").as_bytes(), 0), None); // over 64
        assert!(orjson_reads("123456789012345678901234567890") && orjson_reads("1e-999"));
        assert!(!orjson_reads("1e999") && !orjson_reads("-1e309"));
        assert!(!orjson_reads("1e300")); // finite, but too near the edge to judge: declined
        assert!(scan(br#"{"x":123456789012345,"y":-0.5,"z":1e5}"#).is_some());
        assert!(scan(br#"{"x":1e400}"#).is_none()); // orjson: infinity, refused
        assert!(scan(br#"{"x":01}"#).is_none());
        let raw = scan(br#"{"loan_amnt":1000,"term":36,"int_rate":10.75,"id":7}"#).unwrap();
        assert!(matches!(raw[F_LOAN_AMNT], Raw::Num("1000")));
        assert!(matches!(raw[F_TERM], Raw::Num("36")));
        assert!(matches!(raw[F_ID], Raw::Num("7"))); // an id as a number: text() declines it
        let raw = scan(br#"{"term":36,"term":"60"}"#).unwrap(); // the last one counts
        assert!(matches!(raw[F_TERM], Raw::Str("60")));
    }

    #[test]
    fn literals() {
        assert!(scan(br#"{"x":true,"y":false,"z":null}"#).is_some());
        assert!(matches!(scan(br#"{"id":null}"#).unwrap()[F_ID], Raw::Null));
        assert!(scan(br#"{"term":true}"#).is_none()); // a bool where scoring reads
        assert!(scan(br#"{"x":nul}"#).is_none());
        assert!(scan(br#"{"x":tru"#).is_none());
        assert!(scan(br#"{"x":None}"#).is_none());
    }

    #[test]
    fn nested_values_declined_and_duplicate_keys_keep_the_last() {
        assert!(scan(br#"{"x":{"id":"1"}}"#).is_none());
        assert!(scan(br#"{"x":[1,2]}"#).is_none());
        assert!(scan(br#"[{"id":"1"}]"#).is_none());
        let raw = scan(br#"{"id":"1","id":"2"}"#).unwrap();
        assert!(matches!(raw[F_ID], Raw::Str("2")));
        let raw = scan(br#"{"id":"1","id":null}"#).unwrap();
        assert!(matches!(raw[F_ID], Raw::Null));
    }

    #[test]
    fn control_bytes_and_whitespace() {
        assert!(scan(b"{\"desc\":\"a\tb\"}").is_none()); // a raw tab inside a string
        assert!(scan(b"{\"desc\":\"a\x01b\"}").is_none());
        // whitespace between tokens is JSON: the escape-aware path reads it
        let raw = scan(b"{\n\t\"id\" :\r\n \"9\"\n}\n").unwrap();
        assert!(matches!(raw[F_ID], Raw::Str("9")));
        assert!(no_control_bytes(&[b'a'; 200]));
        assert!(!no_control_bytes(&[[b'a'; 130].as_slice(), b"\n"].concat()));
    }

    #[test]
    fn truncated_or_trailing_input_declined() {
        for bad in [
            &b""[..],
            b"{",
            br#"{"id""#,
            br#"{"id":"#,
            br#"{"id":"1"#,
            br#"{"id":"1""#,
            br#"{"id":"1","#,
            br#"{"id":"1",}"#,
            br#"{"id" "1"}"#,
            br#"{"id":"1"} x"#,
            br#"{"id":"1"}}"#,
        ] {
            assert!(scan(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn utf8_checked_before_slicing() {
        assert!(scan(b"{\"desc\":\"\xff\"}").is_none()); // not UTF-8
        let raw = scan("{\"desc\":\"café\",\"id\":\"1\"}".as_bytes()).unwrap();
        assert!(matches!(raw[F_ID], Raw::Str("1")));
    }

    #[test]
    fn quote_positions_agree_with_a_byte_by_byte_search() {
        // quotes on both sides of the 64-byte steps and in the tail
        let mut b = vec![b'x'; 200];
        for i in [0, 15, 16, 63, 64, 127, 128, 191, 192, 199] {
            b[i] = b'"';
        }
        let mut found = Vec::new();
        quote_positions(&b, &mut found);
        let want: Vec<u32> = (0..b.len() as u32)
            .filter(|&i| b[i as usize] == b'"')
            .collect();
        assert_eq!(found, want);
        // a long event through both paths: the same fields
        let pad = "p".repeat(150);
        let fast = format!(r#"{{"desc":"{pad}","id":"5","term":"60"}}"#);
        let slow = format!(r#"{{"desc":"{pad}\n","id":"5","term":"60"}}"#);
        for event in [fast, slow] {
            let raw = scan(event.as_bytes()).unwrap();
            assert!(matches!(raw[F_ID], Raw::Str("5")));
            assert!(matches!(raw[F_TERM], Raw::Str("60")));
        }
    }
}
