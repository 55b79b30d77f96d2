//! A fixed-capacity text buffer on the stack, for the ids and times written for every event
//! (entity ids, RFC 3339 timestamps) without `core::fmt` and without an allocation: through
//! `fmt` and serde's `collect_str` they were a tenth of the agent's pipeline CPU.

/// ASCII text of at most `N` bytes. Pushing past `N` drops the excess; callers size `N` for
/// their longest text.
#[derive(Clone, Copy)]
pub(crate) struct ShortText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> ShortText<N> {
    pub(crate) fn new() -> Self {
        ShortText {
            bytes: [0; N],
            len: 0,
        }
    }

    fn push_byte(&mut self, b: u8) {
        if self.len < N {
            self.bytes[self.len] = b;
            self.len += 1;
        }
    }

    /// Appends ASCII `s` (other bytes are not expected here; they would be dropped whole).
    pub(crate) fn push_ascii(&mut self, s: &str) {
        if s.is_ascii() {
            s.bytes().for_each(|b| self.push_byte(b));
        }
    }

    /// Appends `n` in decimal, left-padded with zeros to `width` digits.
    pub(crate) fn push_decimal(&mut self, n: u64, width: usize) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut rest = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        for _ in (digits.len() - i)..width {
            self.push_byte(b'0');
        }
        digits[i..].iter().for_each(|&d| self.push_byte(d));
    }

    /// Appends `n` as 8 lowercase hex digits.
    pub(crate) fn push_hex8(&mut self, n: u32) {
        for shift in (0..8).rev() {
            let nibble = (n >> (shift * 4)) as u8 & 0xf;
            self.push_byte(if nibble < 10 {
                b'0' + nibble
            } else {
                b'a' + nibble - 10
            });
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII is ever pushed.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_agree_with_fmt() {
        for n in [0u64, 7, 10, 99, 100, 12345, u64::from(u32::MAX), u64::MAX] {
            for width in [0, 2, 4, 9] {
                let mut t = ShortText::<32>::new();
                t.push_decimal(n, width);
                assert_eq!(t.as_str(), format!("{n:0width$}"));
            }
        }
        for n in [0u32, 0xa, 0x7ba6_d36d, u32::MAX] {
            let mut t = ShortText::<8>::new();
            t.push_hex8(n);
            assert_eq!(t.as_str(), format!("{n:08x}"));
        }
    }

    #[test]
    fn text_past_the_capacity_is_dropped() {
        let mut t = ShortText::<4>::new();
        t.push_ascii("ab");
        t.push_decimal(12345, 0);
        assert_eq!(t.as_str(), "ab12");
        t.push_ascii("é");
        assert_eq!(t.as_str(), "ab12");
    }
}
