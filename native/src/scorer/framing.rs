//! Framed values: Confluent's wire format (a zero byte, the writer's schema id as 4 bytes
//! big-endian, then the JSON), as `loanstream.kafka.registry.unframe` reads it.
//!
//! Which schema ids are versions of the `loan_application` contract is Python's to decide
//! (`loanstream.sink.schema_ids`: the registry is asked once per id); the ids it accepted are
//! handed over (`BatchScorer.accept_schema_ids`). A framed value with any other id is
//! declined, so Python resolves it, and scores it or dead-letters it.

use std::collections::HashSet;

/// The first byte of a framed value.
const MAGIC: u8 = 0;
/// The magic byte and the 4-byte schema id.
const HEADER_LEN: usize = 5;

/// The JSON to score of a message's `value`: an unframed value as it is; a framed one (more
/// than `HEADER_LEN` bytes, the first `MAGIC`) after its header when its schema id is in
/// `accepted`. None declines the value: a framed value with an id not accepted (yet), or a
/// zero byte too short to hold an id (Python reads that as text, and dead-letters it).
pub(crate) fn event_json<'v>(value: &'v [u8], accepted: &HashSet<u32>) -> Option<&'v [u8]> {
    if value.first() != Some(&MAGIC) {
        return Some(value);
    }
    if value.len() <= HEADER_LEN {
        return None;
    }
    let id = u32::from_be_bytes([value[1], value[2], value[3], value[4]]);
    accepted.contains(&id).then_some(&value[HEADER_LEN..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(id: u32, json: &[u8]) -> Vec<u8> {
        let mut value = vec![MAGIC];
        value.extend_from_slice(&id.to_be_bytes());
        value.extend_from_slice(json);
        value
    }

    #[test]
    fn an_unframed_value_is_read_as_it_is() {
        let none = HashSet::new();
        assert_eq!(
            event_json(b"{\"id\":\"1\"}", &none),
            Some(&b"{\"id\":\"1\"}"[..])
        );
        assert_eq!(event_json(b"", &none), Some(&b""[..])); // Python's to dead-letter
        assert_eq!(event_json(b"not json", &none), Some(&b"not json"[..]));
    }

    #[test]
    fn a_framed_value_is_read_after_its_header_only_with_an_accepted_id() {
        let accepted = HashSet::from([258u32, 7]);
        let value = framed(258, b"{\"id\":\"1\"}");
        assert_eq!(&value[..HEADER_LEN], &[0, 0, 0, 1, 2]); // big-endian, as Python frames
        assert_eq!(event_json(&value, &accepted), Some(&b"{\"id\":\"1\"}"[..]));
        assert_eq!(event_json(&framed(7, b"{}"), &accepted), Some(&b"{}"[..]));
        // declined: Python resolves the id (a foreign one is a dead letter)
        assert_eq!(event_json(&framed(259, b"{}"), &accepted), None);
        assert_eq!(event_json(&framed(258 << 8, b"{}"), &accepted), None);
        assert_eq!(event_json(&framed(u32::MAX, b"{}"), &accepted), None);
        assert_eq!(event_json(&framed(258, b"{}"), &HashSet::new()), None);
    }

    #[test]
    fn a_zero_byte_too_short_to_hold_an_id_is_declined() {
        let accepted = HashSet::from([0u32]);
        for short in [&[0u8][..], &[0, 0], &[0, 0, 0, 0, 0]] {
            assert_eq!(event_json(short, &accepted), None, "{short:?}");
        }
        // six bytes: id 0 and a one-byte body, which the scanner then declines
        assert_eq!(
            event_json(&[0, 0, 0, 0, 0, b'{'], &accepted),
            Some(&b"{"[..])
        );
    }
}
