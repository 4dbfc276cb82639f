//! Event bodies are JSON: strings escaped as orjson escapes them.

/// `s` as orjson writes a string's content: `"` and `\\` escaped, the controls below 0x20 as
/// `\b \t \n \f \r` or `\u00xx` (lower-case hex), everything else (DEL, non-ASCII UTF-8)
/// as it is.
#[inline]
pub(crate) fn json_escaped(out: &mut Vec<u8>, s: &[u8]) {
    // most cells need no escape: checked 64 bytes at a time (vectorises, unlike a search)
    let clean = s.chunks(64).all(|chunk| {
        chunk.iter().fold(0u8, |acc, &c| {
            acc | u8::from(c < 0x20) | u8::from(c == b'"') | u8::from(c == b'\\')
        }) == 0
    });
    if clean {
        out.extend_from_slice(s);
        return;
    }
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        if c >= 0x20 && c != b'"' && c != b'\\' {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        json_escaped(&mut out, s);
        out
    }

    #[test]
    fn escapes_as_orjson_does() {
        assert_eq!(escaped(br#"say "hi" \ bye"#), br#"say \"hi\" \\ bye"#);
        assert_eq!(escaped(b"\x08\t\n\x0c\r"), br#"\b\t\n\f\r"#);
        assert_eq!(escaped(b"\x00\x01\x1f"), br#"\u0000\u0001\u001f"#);
        assert_eq!(escaped(b"\x7f"), b"\x7f"); // DEL as it is
        assert_eq!(escaped("café €".as_bytes()), "café €".as_bytes()); // UTF-8 as it is
        let long = [b'a'; 130];
        assert_eq!(escaped(&long), long); // the clean fast path
        let mut late = long.to_vec();
        late.push(b'"');
        assert_eq!(escaped(&late), [&long[..], b"\\\""].concat());
    }
}
