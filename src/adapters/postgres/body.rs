//! A snapshot's body as schema 2 keeps it: `bytea`, compressed.
//!
//! A body written by this adapter is `\0lz4`, the body's length in bytes
//! (four bytes, little-endian) and the body as one LZ4 block. A body that
//! does not start with `\0lz4` is the snapshot's JSON as it is (what
//! migration 2 made of a schema-1 row: a JSON text never starts with a NUL
//! byte). A body that does not decode is handed back empty, so its seal
//! fails and the start passes it over for an older snapshot or the
//! journal; nothing is guessed.

/// What starts a compressed body.
const LZ4: &[u8; 4] = b"\0lz4";

/// LZ4 expands a block at most about 255 times: a length beyond that is
/// a damaged (or hostile) row, refused before anything is allocated.
const MOST_EXPANSION: usize = 255;

/// `body` as schema 2 keeps it: compressed, or as it is if its length
/// does not fit the four bytes that say it (4 GiB).
pub(super) fn pack(body: &str) -> std::borrow::Cow<'_, [u8]> {
    let Ok(len) = u32::try_from(body.len()) else {
        return std::borrow::Cow::Borrowed(body.as_bytes());
    };
    let block = lz4_flex::block::compress(body.as_bytes());
    let mut out = Vec::with_capacity(block.len().saturating_add(8));
    out.extend_from_slice(LZ4);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&block);
    std::borrow::Cow::Owned(out)
}

/// The body `bytes` hold, or `None` if they do not decode (damaged).
pub(super) fn unpack(bytes: &[u8]) -> Option<String> {
    let Some(rest) = bytes.strip_prefix(LZ4) else {
        return String::from_utf8(bytes.to_vec()).ok();
    };
    let (len, block) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    if len
        > block
            .len()
            .saturating_mul(MOST_EXPANSION)
            .saturating_add(16)
    {
        return None;
    }
    let out = lz4_flex::block::decompress(block, len).ok()?;
    if out.len() != len {
        return None;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::{pack, unpack};

    #[test]
    fn bodies_round_trip_and_damage_reads_as_nothing() {
        let body = format!("{{\"state\":\"{}\"}}", "payments@1.2.3 ".repeat(10_000));
        let packed = pack(&body).into_owned();
        assert!(packed.len() < body.len() / 10, "{}", packed.len());
        assert_eq!(unpack(&packed).as_deref(), Some(body.as_str()));
        // A schema-1 body, converted as it was.
        assert_eq!(unpack(b"{\"format\":2}").as_deref(), Some("{\"format\":2}"));
        assert_eq!(unpack(b"").as_deref(), Some(""));
        // A length that the block could never expand to is refused before
        // anything is allocated.
        let mut hostile = packed.clone();
        hostile[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(unpack(&hostile), None);
        // A length one short or one long, a cut block, bytes that are not
        // UTF-8, and a header with no length.
        for len in [body.len() - 1, body.len() + 1] {
            let mut wrong = packed.clone();
            wrong[4..8].copy_from_slice(&u32::try_from(len).unwrap().to_le_bytes());
            assert_ne!(unpack(&wrong).as_deref(), Some(body.as_str()));
        }
        assert_eq!(unpack(&packed[..packed.len() - 3]), None);
        assert_eq!(unpack(b"\xff\xfe"), None);
        assert_eq!(unpack(b"\0lz4\x01"), None);
        let mut not_utf8 = super::LZ4.to_vec();
        not_utf8.extend_from_slice(&2_u32.to_le_bytes());
        not_utf8.extend_from_slice(&lz4_flex::block::compress(b"\xff\xfe"));
        assert_eq!(unpack(&not_utf8), None);
    }
}
