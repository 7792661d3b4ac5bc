//! Runtime element types, their mapping to Rust types, and byte order.
//!
//! A volume's element type is only known at run time (it comes from a file
//! header or a command-line flag), while views and materialized arrays are
//! typed. [`DType`] is the runtime tag, [`Element`] ties a Rust type to its
//! tag, and the internal `convert_run` turns a run of stored bytes of any supported type
//! and byte order into a slice of any [`Element`], one monomorphic loop per
//! pair of types so the compiler can vectorize it.

use std::fmt;

use bytemuck::Pod;

/// Element type of a volume, known at run time.
///
/// Deliberately exhaustive, so [`dispatch_dtype!`](crate::dispatch_dtype)
/// can match every type without a fallback arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `u8`
    U8,
    /// `i8`
    I8,
    /// `u16`
    U16,
    /// `i16`
    I16,
    /// `u32`
    U32,
    /// `i32`
    I32,
    /// `u64`
    U64,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
}

impl DType {
    /// Every supported type, smallest first.
    pub const ALL: [DType; 10] = [
        DType::U8,
        DType::I8,
        DType::U16,
        DType::I16,
        DType::U32,
        DType::I32,
        DType::U64,
        DType::I64,
        DType::F32,
        DType::F64,
    ];

    /// Size of one element in bytes.
    pub const fn size(self) -> usize {
        match self {
            DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 => 8,
        }
    }

    /// The name used on the command line and in JSON (`"u16"`, `"f32"`, …).
    pub const fn name(self) -> &'static str {
        match self {
            DType::U8 => "u8",
            DType::I8 => "i8",
            DType::U16 => "u16",
            DType::I16 => "i16",
            DType::U32 => "u32",
            DType::I32 => "i32",
            DType::U64 => "u64",
            DType::I64 => "i64",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    /// Whether the type is a floating-point type.
    pub const fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl DType {
    /// The type named `s`: Rust names (`u16`), NumPy names (`uint16`,
    /// `float32`) and NumPy type strings with their byte-order mark (`<u2`,
    /// `>f4`, `|u1`; the byte order itself is ignored here). `None` for any
    /// other name. (`str::parse` gives the same with a typed error.)
    pub fn from_name(s: &str) -> Option<Self> {
        let t = s.trim().to_ascii_lowercase();
        let d = if let Some(code) = t.strip_prefix(['<', '>', '=', '|']) {
            // NumPy type string: kind letter plus size in bytes.
            match code {
                "u1" => DType::U8,
                "i1" => DType::I8,
                "u2" => DType::U16,
                "i2" => DType::I16,
                "u4" => DType::U32,
                "i4" => DType::I32,
                "u8" => DType::U64,
                "i8" => DType::I64,
                "f4" => DType::F32,
                "f8" => DType::F64,
                _ => return None,
            }
        } else {
            match t.as_str() {
                "u8" | "uint8" => DType::U8,
                "i8" | "int8" => DType::I8,
                "u16" | "uint16" => DType::U16,
                "i16" | "int16" => DType::I16,
                "u32" | "uint32" => DType::U32,
                "i32" | "int32" => DType::I32,
                "u64" | "uint64" => DType::U64,
                "i64" | "int64" => DType::I64,
                "f32" | "float32" => DType::F32,
                "f64" | "float64" => DType::F64,
                _ => return None,
            }
        };
        Some(d)
    }
}

/// Byte order of stored elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ByteOrder {
    /// Least significant byte first (x86, ARM, most files).
    #[default]
    Little,
    /// Most significant byte first.
    Big,
}

impl ByteOrder {
    /// The byte order of the machine running this code.
    pub const fn native() -> Self {
        if cfg!(target_endian = "little") {
            ByteOrder::Little
        } else {
            ByteOrder::Big
        }
    }

    /// Whether this is the machine's byte order.
    pub fn is_native(self) -> bool {
        self == Self::native()
    }

    /// `"little"` or `"big"`.
    pub const fn name(self) -> &'static str {
        match self {
            ByteOrder::Little => "little",
            ByteOrder::Big => "big",
        }
    }
}

impl fmt::Display for ByteOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl ByteOrder {
    /// The byte order named `s` (`little`/`le`/`<`, `big`/`be`/`>`,
    /// `native`/`=`), or `None`. (`str::parse` gives the same with a typed
    /// error.)
    pub fn from_name(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "little" | "le" | "<" => Some(ByteOrder::Little),
            "big" | "be" | ">" => Some(ByteOrder::Big),
            "native" | "=" => Some(ByteOrder::native()),
            _ => None,
        }
    }
}

/// A borrowed run of native-endian, aligned elements of a runtime type
/// (an implementation detail of [`Element`]).
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
#[doc(hidden)]
pub enum Run<'a> {
    U8(&'a [u8]),
    I8(&'a [i8]),
    U16(&'a [u16]),
    I16(&'a [i16]),
    U32(&'a [u32]),
    I32(&'a [i32]),
    U64(&'a [u64]),
    I64(&'a [i64]),
    F32(&'a [f32]),
    F64(&'a [f64]),
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that a volume element can be, or be converted to.
///
/// Implemented for `u8 i8 u16 i16 u32 i32 u64 i64 f32 f64`. Conversions use
/// Rust's `as` semantics: integer narrowing wraps, float to integer saturates
/// (NaN becomes 0), integer to float rounds to nearest.
pub trait Element:
    Pod + Default + PartialOrd + fmt::Debug + Send + Sync + sealed::Sealed + 'static
{
    /// The runtime tag of this type.
    const DTYPE: DType;

    /// Converts a run of native elements of any type into `dst`
    /// (`src` and `dst` have the same length; extra elements are ignored).
    #[doc(hidden)]
    fn convert_from(src: Run<'_>, dst: &mut [Self]);

    /// Wraps a slice of this type as a [`Run`].
    #[doc(hidden)]
    fn run(s: &[Self]) -> Run<'_>;

    /// `self as f64`.
    fn to_f64(self) -> f64;

    /// `v as Self`.
    fn from_f64(v: f64) -> Self;

    /// Reads one element from exactly `size_of::<Self>()` bytes stored in `order`.
    #[doc(hidden)]
    fn read(bytes: &[u8], order: ByteOrder) -> Self;
}

macro_rules! convert_arm {
    ($src:expr, $dst:expr, $t:ty) => {
        for (d, s) in $dst.iter_mut().zip($src.iter()) {
            *d = *s as $t;
        }
    };
}

macro_rules! impl_element {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl sealed::Sealed for $t {}

        impl Element for $t {
            const DTYPE: DType = DType::$variant;

            #[inline]
            fn convert_from(src: Run<'_>, dst: &mut [Self]) {
                // The same-type arm comes first; its twin below is unreachable.
                #[allow(unreachable_patterns)]
                match src {
                    Run::$variant(s) => {
                        let n = s.len().min(dst.len());
                        dst[..n].copy_from_slice(&s[..n])
                    }
                    Run::U8(s) => convert_arm!(s, dst, $t),
                    Run::I8(s) => convert_arm!(s, dst, $t),
                    Run::U16(s) => convert_arm!(s, dst, $t),
                    Run::I16(s) => convert_arm!(s, dst, $t),
                    Run::U32(s) => convert_arm!(s, dst, $t),
                    Run::I32(s) => convert_arm!(s, dst, $t),
                    Run::U64(s) => convert_arm!(s, dst, $t),
                    Run::I64(s) => convert_arm!(s, dst, $t),
                    Run::F32(s) => convert_arm!(s, dst, $t),
                    Run::F64(s) => convert_arm!(s, dst, $t),
                }
            }

            #[inline]
            fn run(s: &[Self]) -> Run<'_> {
                Run::$variant(s)
            }

            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }

            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }

            #[inline]
            fn read(bytes: &[u8], order: ByteOrder) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                let n = bytes.len().min(a.len());
                a[..n].copy_from_slice(&bytes[..n]);
                match order {
                    ByteOrder::Little => <$t>::from_le_bytes(a),
                    ByteOrder::Big => <$t>::from_be_bytes(a),
                }
            }
        }
    )*};
}

impl_element!(
    u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32,
    u64 => U64, i64 => I64, f32 => F32, f64 => F64,
);

/// Elements converted per step when the stored bytes cannot be borrowed as a
/// typed slice (foreign byte order or misalignment).
const SCRATCH: usize = 256;

fn convert_bytes_as<S: Element, U: Element>(bytes: &[u8], order: ByteOrder, dst: &mut [U]) {
    let size = std::mem::size_of::<S>();
    if order.is_native() {
        if let Ok(s) = bytemuck::try_cast_slice::<u8, S>(bytes) {
            U::convert_from(S::run(s), dst);
            return;
        }
    }
    let mut scratch = [S::default(); SCRATCH];
    for (chunk, d) in bytes.chunks(SCRATCH * size).zip(dst.chunks_mut(SCRATCH)) {
        let n = d.len();
        for (x, b) in scratch[..n].iter_mut().zip(chunk.chunks_exact(size)) {
            *x = S::read(b, order);
        }
        U::convert_from(S::run(&scratch[..n]), d);
    }
}

/// Converts `dst.len()` stored elements of type `dtype` in byte order `order`
/// from `bytes` (exactly `dst.len() * dtype.size()` bytes, any alignment)
/// into `dst`.
///
/// Same type and native order is a plain byte copy; otherwise each element
/// is decoded and converted with `as`.
#[inline]
pub(crate) fn convert_run<U: Element>(dtype: DType, order: ByteOrder, bytes: &[u8], dst: &mut [U]) {
    debug_assert_eq!(bytes.len(), dst.len() * dtype.size());
    if dtype == U::DTYPE && (order.is_native() || dtype.size() == 1) {
        bytemuck::cast_slice_mut::<U, u8>(dst).copy_from_slice(bytes);
        return;
    }
    match dtype {
        DType::U8 => convert_bytes_as::<u8, U>(bytes, order, dst),
        DType::I8 => convert_bytes_as::<i8, U>(bytes, order, dst),
        DType::U16 => convert_bytes_as::<u16, U>(bytes, order, dst),
        DType::I16 => convert_bytes_as::<i16, U>(bytes, order, dst),
        DType::U32 => convert_bytes_as::<u32, U>(bytes, order, dst),
        DType::I32 => convert_bytes_as::<i32, U>(bytes, order, dst),
        DType::U64 => convert_bytes_as::<u64, U>(bytes, order, dst),
        DType::I64 => convert_bytes_as::<i64, U>(bytes, order, dst),
        DType::F32 => convert_bytes_as::<f32, U>(bytes, order, dst),
        DType::F64 => convert_bytes_as::<f64, U>(bytes, order, dst),
    }
}

/// Calls a generic function body with the Rust type that matches a runtime
/// [`DType`]: `dispatch_dtype!(dtype, T => { body using T })`.
#[macro_export]
macro_rules! dispatch_dtype {
    ($dtype:expr, $t:ident => $body:block) => {
        match $dtype {
            $crate::DType::U8 => {
                type $t = u8;
                $body
            }
            $crate::DType::I8 => {
                type $t = i8;
                $body
            }
            $crate::DType::U16 => {
                type $t = u16;
                $body
            }
            $crate::DType::I16 => {
                type $t = i16;
                $body
            }
            $crate::DType::U32 => {
                type $t = u32;
                $body
            }
            $crate::DType::I32 => {
                type $t = i32;
                $body
            }
            $crate::DType::U64 => {
                type $t = u64;
                $body
            }
            $crate::DType::I64 => {
                type $t = i64;
                $body
            }
            $crate::DType::F32 => {
                type $t = f32;
                $body
            }
            $crate::DType::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names() {
        assert_eq!("uint16".parse::<DType>().unwrap(), DType::U16);
        assert_eq!("<f4".parse::<DType>().unwrap(), DType::F32);
        assert_eq!("<u8".parse::<DType>().unwrap(), DType::U64);
        assert_eq!("u8".parse::<DType>().unwrap(), DType::U8);
        assert_eq!("I64".parse::<DType>().unwrap(), DType::I64);
        assert!("complex64".parse::<DType>().is_err());
        for d in DType::ALL {
            assert_eq!(d.name().parse::<DType>().unwrap(), d);
        }
    }

    #[test]
    fn convert_big_endian_and_misaligned() {
        let vals: [u16; 3] = [1, 0x1234, 65535];
        let mut be = vec![0u8];
        for v in vals {
            be.extend_from_slice(&v.to_be_bytes());
        }
        let mut out = [0f32; 3];
        convert_run(DType::U16, ByteOrder::Big, &be[1..], &mut out);
        assert_eq!(out, [1.0, 4660.0, 65535.0]);
        let mut le = vec![0u8];
        for v in vals {
            le.extend_from_slice(&v.to_le_bytes());
        }
        let mut out16 = [0u16; 3];
        convert_run(DType::U16, ByteOrder::Little, &le[1..], &mut out16);
        assert_eq!(out16, vals);
    }

    #[test]
    fn convert_saturates_like_as() {
        let src: Vec<u8> = [-1.5f32, 300.0, f32::NAN]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let mut out = [7u8; 3];
        convert_run(DType::F32, ByteOrder::native(), &src, &mut out);
        assert_eq!(out, [0, 255, 0]);
    }
}
