//! A gzip member (RFC 1952) whose deflate data (RFC 1951) is in stored blocks: valid gzip
//! that every decoder reads, without a compressor.
//!
//! `/gzip` needs gzip on the wire, not a smaller body, and no gzip crate is in the dependency
//! tree (flate2 and miniz_oxide are not): stored blocks and a CRC-32 take a few lines, where a
//! compressor would add a dependency for nothing the endpoint needs.

/// The largest stored block (its length is 16 bits).
const MAX_BLOCK: usize = 0xffff;

/// `data` as one gzip member with stored (uncompressed) deflate blocks.
pub(super) fn stored(data: &[u8]) -> Vec<u8> {
    let blocks = data.len().div_ceil(MAX_BLOCK).max(1);
    let mut out = Vec::with_capacity(10 + data.len() + 5 * blocks + 8);
    // Magic, deflate, no flags, no modification time, no extra flags, OS unknown.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    let mut chunks = data.chunks(MAX_BLOCK).peekable();
    if chunks.peek().is_none() {
        // One final, empty block.
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        // BFINAL on the last block, BTYPE 00 (stored); then LEN and its one's complement.
        out.push(u8::from(chunks.peek().is_none()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 as gzip uses it (IEEE 802.3, reflected, polynomial 0xEDB88320), bit by bit: the
/// bodies are small.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_check_value() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn members_have_the_layout_of_rfc_1952() {
        let empty = stored(b"");
        assert_eq!(
            empty,
            [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let data: Vec<u8> = (0..MAX_BLOCK + 10).map(|i| (i % 251) as u8).collect();
        let member = stored(&data);
        assert_eq!(member.len(), 10 + 5 + MAX_BLOCK + 5 + 10 + 8);
        assert_eq!(member[10], 0, "the first block is not the last");
        assert_eq!(&member[11..15], &[0xff, 0xff, 0, 0]);
        let second = 10 + 5 + MAX_BLOCK;
        assert_eq!(&member[second..second + 5], &[1, 10, 0, 0xf5, 0xff]);
        assert_eq!(&member[second + 5..second + 15], &data[MAX_BLOCK..]);
        let tail = &member[member.len() - 8..];
        assert_eq!(tail[..4], crc32(&data).to_le_bytes());
        assert_eq!(tail[4..], ((MAX_BLOCK + 10) as u32).to_le_bytes());
    }
}
