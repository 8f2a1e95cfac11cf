//! Little-endian encoding primitives with no I/O: every decode is bounds-checked and returns
//! `DecodeError` on malformed input, never panics.

/// Why a byte string failed to decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

pub(crate) type DecodeResult<T> = Result<T, DecodeError>;

/// Appends fixed-width little-endian integers and length-prefixed strings to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Enc {
    pub buf: Vec<u8>,
}

impl Enc {
    pub fn with_capacity(capacity: usize) -> Enc {
        Enc { buf: Vec::with_capacity(capacity) }
    }
    pub fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }
    pub fn u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }
    pub fn u64(&mut self, value: u64) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }
    pub fn fixed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    /// Bytes with a u32 length prefix. Callers bound lengths well below `u32::MAX`.
    pub fn bytes(&mut self, bytes: &[u8]) {
        let len = u32::try_from(bytes.len()).expect("field lengths are bounded by limits.rs");
        self.u32(len);
        self.buf.extend_from_slice(bytes);
    }
    pub fn str(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }
    pub fn opt_str(&mut self, text: &Option<String>) {
        match text {
            None => self.u8(0),
            Some(text) => {
                self.u8(1);
                self.str(text);
            }
        }
    }
    pub fn pairs(&mut self, pairs: &[(String, String)]) {
        self.u32(pairs.len() as u32);
        for (name, value) in pairs {
            self.str(name);
            self.str(value);
        }
    }
}

/// Reads what `Enc` wrote.
#[derive(Debug)]
pub(crate) struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8]) -> Dec<'a> {
        Dec { buf, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn take(&mut self, len: usize) -> DecodeResult<&'a [u8]> {
        if self.remaining() < len {
            return Err(DecodeError("field runs past the end of the record"));
        }
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }
    pub fn array<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }
    pub fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.take(1)?[0])
    }
    /// A byte that must be 0 or 1.
    pub fn bool(&mut self) -> DecodeResult<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError("a flag is not 0 or 1")),
        }
    }

    pub fn u32(&mut self) -> DecodeResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> DecodeResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub fn bytes(&mut self) -> DecodeResult<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    pub fn str(&mut self) -> DecodeResult<String> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError("string is not UTF-8"))
    }
    pub fn opt_str(&mut self) -> DecodeResult<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            _ => Err(DecodeError("option tag is neither 0 nor 1")),
        }
    }
    /// A count of elements each at least `element_bytes_min` long: refuses counts the remaining
    /// bytes cannot hold, so a corrupt count cannot make us allocate.
    pub fn count(&mut self, element_bytes_min: usize) -> DecodeResult<usize> {
        let count = self.u32()? as usize;
        if count.saturating_mul(element_bytes_min.max(1)) > self.remaining() {
            return Err(DecodeError("element count exceeds the record"));
        }
        Ok(count)
    }
    pub fn pairs(&mut self) -> DecodeResult<Vec<(String, String)>> {
        let count = self.count(8)?;
        (0..count).map(|_| Ok((self.str()?, self.str()?))).collect()
    }
    pub fn finish(self) -> DecodeResult<()> {
        if self.remaining() == 0 { Ok(()) } else { Err(DecodeError("trailing bytes after the record")) }
    }
}
