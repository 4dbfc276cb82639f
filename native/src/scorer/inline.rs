//! Short ASCII text held inline (no allocation while parsing and scoring).

/// Room for a category held inline (longer ones are declined when the limits allow them).
pub(crate) const INLINE_TEXT: usize = 64;

#[derive(Clone, Copy)]
pub(crate) struct Inline<const N: usize> {
    pub(crate) buf: [u8; N],
    pub(crate) len: usize,
}

impl<const N: usize> Inline<N> {
    pub(crate) fn as_str(&self) -> &str {
        // only ever filled from ASCII
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}
