//! JPEG through `zune-jpeg` with the options the `image` crate used
//! (lenient mode, no size limit, output RGB, RGBA, gray or gray+alpha as
//! stored, and CMYK or YCCK converted to RGB), so the pixels are the ones
//! `image` decoded before; decoded straight into the caller's buffer: a
//! zeroed allocation, or a mapping of the decode-cache file whose pages are
//! released while the decoder fills it ([`fill_mapped`]).
//!
//! The file is memory-mapped while it is decoded (not afterwards). Before
//! anything is decoded its marker structure is walked: a file that ends
//! before its end-of-image marker is an [`Error::Truncated`] (the lenient
//! decoder would fill the missing rows with gray), and a header claiming
//! more 8x8 blocks than the file has bits (every block costs at least one)
//! is an [`Error::InvalidHeader`], before any allocation.
//!
//! Baseline JPEGs are decoded one row of blocks at a time. Progressive
//! ones (and baseline ones with one scan per component) need all their DCT
//! coefficients at once, which `zune-jpeg` holds in memory (2 bytes per
//! sample, about as much as `libjpeg` keeps); one whose coefficients would
//! not fit in the memory available is an [`Error::Unsupported`] rather
//! than an abort.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::target::{fill_mapped, read_mapped, release_read, Buffer, PixelFile, Shape};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::io::MemoryLimits;

/// Whether `magic` (the file's first bytes) starts like a JPEG: the SOI
/// marker. What follows it need not be a marker: lenient decoders
/// (`zune-jpeg`, libjpeg with a warning) skip stray bytes up to the next
/// one, so such a file is a JPEG and goes through this module's checks.
pub(super) fn is_jpeg(magic: &[u8]) -> bool {
    magic.starts_with(&[0xFF, 0xD8])
}

/// A JPEG whose header has been read, ready to decode.
pub(super) struct JpegImage {
    path: PathBuf,
    input: Mmap,
    shape: Shape,
    out: ColorSpace,
}

/// What the marker walk learned.
#[derive(Debug, Default)]
struct Structure {
    /// Start-of-scan segments.
    scans: usize,
    /// A progressive frame (SOF2, SOF6, SOF10, SOF14).
    progressive: bool,
    /// Per component of the frame: horizontal and vertical sampling.
    sampling: Vec<(u8, u8)>,
    /// The start-of-frame marker's second byte (`0xC0` baseline, …) and
    /// the sample precision in bits, of the first frame.
    frame: Option<(u8, u8)>,
}

/// The coding a start-of-frame marker other than SOF0, SOF1 and SOF2
/// (the ones `zune-jpeg` decodes) names.
fn coding_name(marker: u8) -> &'static str {
    match marker {
        0xC3 => "lossless (SOF3)",
        0xC5 => "differential sequential (SOF5)",
        0xC6 => "differential progressive (SOF6)",
        0xC7 => "differential lossless (SOF7)",
        0xC9 => "arithmetic-coded sequential (SOF9)",
        0xCA => "arithmetic-coded progressive (SOF10)",
        0xCB => "arithmetic-coded lossless (SOF11)",
        0xCD => "differential arithmetic-coded sequential (SOF13)",
        0xCE => "differential arithmetic-coded progressive (SOF14)",
        _ => "differential arithmetic-coded lossless (SOF15)",
    }
}

impl JpegImage {
    /// Maps the file, checks its structure and reads its header.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file if it cannot be mapped;
    /// [`Error::Truncated`] if it ends before its end-of-image marker;
    /// [`Error::InvalidHeader`] if the header is malformed or claims more
    /// blocks than the file can code; [`Error::Unsupported`] for codings
    /// `zune-jpeg` does not decode (arithmetic, lossless, hierarchical,
    /// 12-bit samples: named from the start-of-frame marker)
    /// and for a progressive JPEG whose coefficients exceed the memory
    /// available.
    pub fn open(path: &Path, file: &File) -> Result<Self> {
        // SAFETY: memmap2's `map` is unsafe because the mapping aliases the
        // file: another process could change it under the decoder's shared
        // slice, or truncate it so that reading a page past the new end
        // raises SIGBUS. As for every mapped input of this crate (see
        // `RawVolume`), a file must not be modified or truncated while it
        // is being opened; the mapping is read-only, lives only while the
        // image is decoded, and covers the file's length at this moment,
        // which the structure walk below stays within.
        let input = unsafe { Mmap::map(file) }.map_err(|e| Error::io(path, e))?;
        let structure = walk(path, &input, |upto| release_read(&input, upto));
        // the walk read the whole file: keep none of it resident
        release_read(&input, input.len());
        let structure = structure?;
        match structure.frame {
            Some((marker, _)) if !matches!(marker, 0xC0..=0xC2) => {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    what: format!("JPEG coding: {}", coding_name(marker)),
                })
            }
            Some((_, bits)) if bits != 8 => {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    what: format!("JPEG sample precision: {bits} bits (8 are decoded)"),
                })
            }
            _ => {}
        }
        let mut decoder =
            JpegDecoder::new_with_options(ZCursor::new(&input[..]), options(ColorSpace::RGB));
        decoder
            .decode_headers()
            .map_err(|e| header_error(path, e))?;
        let ((width, height), stored) = match (decoder.dimensions(), decoder.input_colorspace()) {
            (Some(d), Some(c)) => (d, c),
            _ => {
                return Err(Error::InvalidHeader {
                    path: path.to_path_buf(),
                    detail: "the JPEG header gives no size or color space".into(),
                })
            }
        };
        drop(decoder);
        let out = match stored {
            ColorSpace::RGB | ColorSpace::RGBA | ColorSpace::Luma | ColorSpace::LumaA => stored,
            // YCbCr, CMYK, YCCK: converted to RGB
            _ => ColorSpace::RGB,
        };
        let shape = Shape {
            height,
            width,
            channels: out.num_components(),
            dtype: DType::U8,
        };
        // every 8x8 block of the full-resolution component costs at least
        // one bit (its DC code)
        let blocks = (width as u128).div_ceil(8) * (height as u128).div_ceil(8);
        let bits = input.len() as u128 * 8;
        if blocks > bits {
            return Err(Error::InvalidHeader {
                path: path.to_path_buf(),
                detail: format!(
                    "the header claims {width} x {height} pixels ({blocks} blocks of 8x8, \
                     at least one bit each), but the file has only {} bytes: the header or \
                     the file is damaged",
                    input.len()
                ),
            });
        }
        if structure.progressive || structure.scans > 1 {
            let coefficients = coefficient_bytes(&structure, width, height);
            let available = MemoryLimits::detect().available();
            if coefficients > u128::from(available) {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    what: format!(
                        "{} JPEG of {width} x {height} pixels on this machine: its decoder \
                         (zune-jpeg) holds all its DCT coefficients in memory, about \
                         {coefficients} bytes, more than the {available} bytes this process \
                         may use",
                        if structure.progressive {
                            "progressive"
                        } else {
                            "multi-scan"
                        }
                    ),
                });
            }
        }
        if shape.bytes().is_none() {
            return Err(Error::TooLarge {
                volume: path.display().to_string(),
                shape: shape.dims().to_vec(),
            });
        }
        Ok(JpegImage {
            path: path.to_path_buf(),
            input,
            shape,
            out,
        })
    }

    /// The decoded image's shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Decodes into `pixels` (exactly the image's bytes).
    /// Decodes into `pixels`. A panic inside `zune-jpeg` is caught and
    /// becomes a [`Error::Decode`]: 0.5.15 panics in its AVX2 4x4 IDCT on
    /// some damaged streams (`tests/data/fuzz/jpeg/zune-idct-4x4-panic`,
    /// found by the `jpeg` fuzz target).
    fn decode(&self, pixels: &mut [u8]) -> Result<()> {
        let decode = || {
            let mut decoder =
                JpegDecoder::new_with_options(ZCursor::new(&self.input[..]), options(self.out));
            decoder.decode_into(pixels)
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)) {
            Ok(result) => result.map_err(|e| data_error(&self.path, e)),
            Err(panic) => Err(Error::Decode {
                path: self.path.clone(),
                chunk: Vec::new(),
                detail: format!(
                    "the JPEG decoder (zune-jpeg) failed on this data: it panicked ({})",
                    panic_text(&*panic)
                ),
                source: None,
            }),
        }
    }

    /// Decodes the whole image into memory.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if the memory cannot be had; [`Error::Decode`]
    /// (the decoder's error as its source) if the data does not decode.
    pub fn decode_to_memory(self) -> Result<Buffer> {
        let mut buffer = Buffer::zeroed(&self.path, &self.shape)?;
        read_mapped(&self.input, || self.decode(buffer.bytes_mut()))?;
        Ok(buffer)
    }

    /// Decodes the image into a mapping of the decode-cache file `out`.
    ///
    /// # Errors
    ///
    /// As [`decode_to_memory`](Self::decode_to_memory), and [`Error::Io`]
    /// naming the cache file if it cannot be sized or mapped.
    pub fn decode_to_file(self, out: &mut PixelFile<'_>) -> Result<()> {
        let mut map = out.map()?;
        fill_mapped(&mut map, Some(&self.input), |pixels| self.decode(pixels))?;
        out.unmap(map)
    }
}

/// The message of a caught panic.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

/// The options `image` 0.25 decodes with, writing `out`.
fn options(out: ColorSpace) -> DecoderOptions {
    DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX)
        .jpeg_set_out_colorspace(out)
}

/// The structure walk releases the pages behind it every this many bytes.
const RELEASE_EVERY: usize = 32 << 20;

/// Bytes of DCT coefficients a multi-scan decode holds: 64 `i16` per block
/// of every component, blocks counted in whole MCUs.
fn coefficient_bytes(s: &Structure, width: usize, height: usize) -> u128 {
    let h_max = s.sampling.iter().map(|c| c.0).max().unwrap_or(1).max(1) as u128;
    let v_max = s.sampling.iter().map(|c| c.1).max().unwrap_or(1).max(1) as u128;
    let mcus = (width as u128).div_ceil(8 * h_max) * (height as u128).div_ceil(8 * v_max);
    let per_mcu: u128 = s
        .sampling
        .iter()
        .map(|&(h, v)| u128::from(h) * u128::from(v))
        .sum::<u128>()
        .max(1);
    mcus * per_mcu * 64 * 2
}

/// Walks the markers from SOI to EOI: segments are skipped by their
/// length, entropy-coded data by looking for the next marker (as a lenient
/// decoder does, stray bytes between segments are skipped too).
/// `release(upto)` is called every [`RELEASE_EVERY`] bytes: the walk is
/// done with the bytes before `upto`.
fn walk(path: &Path, data: &[u8], mut release: impl FnMut(usize)) -> Result<Structure> {
    let mut released = 0usize;
    let len = data.len() as u64;
    let truncated = |needed: u64| Error::Truncated {
        path: path.to_path_buf(),
        needed,
        actual: len,
    };
    let mut s = Structure::default();
    // after SOI
    let mut pos = 2usize;
    loop {
        if pos >= released + RELEASE_EVERY {
            released = pos;
            release(released);
        }
        // no marker left: at least an EOI is missing
        let Some(ff) = data.get(pos..).and_then(|rest| memchr::memchr(0xFF, rest)) else {
            return Err(truncated(len + 2));
        };
        let mut p = pos + ff + 1;
        while data.get(p) == Some(&0xFF) {
            p += 1;
        }
        let Some(&marker) = data.get(p) else {
            return Err(truncated(len + 1));
        };
        pos = p + 1;
        match marker {
            // a stuffed 0xFF in entropy-coded data, TEM, RSTn, SOI: no
            // length follows
            0x00 | 0x01 | 0xD0..=0xD8 => continue,
            // EOI
            0xD9 => return Ok(s),
            _ => {}
        }
        let Some(b) = data.get(pos..pos + 2) else {
            return Err(truncated(pos as u64 + 2));
        };
        let length = usize::from(u16::from_be_bytes([b[0], b[1]]));
        let end = pos + length.max(2);
        let Some(segment) = data.get(pos + 2..end) else {
            return Err(truncated(end as u64));
        };
        match marker {
            // SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC)
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) && s.frame.is_none() => {
                s.frame = Some((marker, segment.first().copied().unwrap_or(8)));
                s.progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
                // P, Y, X, Nf, then (C, HV, Tq) per component
                if let Some(&n) = segment.get(5) {
                    s.sampling = segment
                        .get(6..6 + 3 * usize::from(n))
                        .unwrap_or_default()
                        .chunks_exact(3)
                        .map(|c| (c[1] >> 4, c[1] & 15))
                        .collect();
                }
            }
            0xDA => s.scans += 1,
            _ => {}
        }
        pos = end;
    }
}

/// An error of the header phase.
fn header_error(path: &Path, e: zune_jpeg::errors::DecodeErrors) -> Error {
    use zune_jpeg::errors::DecodeErrors as D;
    match e {
        D::Unsupported(scheme) => Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("JPEG coding: {scheme:?}"),
        },
        other => Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: format!("not a valid JPEG header: {other}"),
        },
    }
}

/// An error while decoding the image data.
fn data_error(path: &Path, e: zune_jpeg::errors::DecodeErrors) -> Error {
    use zune_jpeg::errors::DecodeErrors as D;
    match e {
        D::Unsupported(scheme) => Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("JPEG coding: {scheme:?}"),
        },
        other => Error::Decode {
            path: path.to_path_buf(),
            chunk: Vec::new(),
            detail: other.to_string(),
            source: Some(Box::new(other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A marker segment: marker, big-endian length, payload.
    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0xFF, marker];
        v.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn jpeg(progressive: bool, scans: usize, eoi: bool) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        // an APP1 whose payload holds an EOI (an EXIF thumbnail's): skipped
        v.extend(segment(0xE1, &[0xFF, 0xD9, 1, 2]));
        // 64 x 32, three components, 2x2 luma and 1x1 chroma
        let sof = [8, 0, 32, 0, 64, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1];
        v.extend(segment(if progressive { 0xC2 } else { 0xC0 }, &sof));
        for _ in 0..scans {
            v.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
            // entropy-coded data with a stuffed 0xFF, a restart marker and
            // fill bytes
            v.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xFF]);
        }
        if eoi {
            v.extend_from_slice(&[0xFF, 0xD9, 0xAA, 0xBB]);
        }
        v
    }

    #[test]
    fn the_walk_finds_frames_scans_and_the_end() {
        let p = Path::new("x.jpg");
        let s = walk(p, &jpeg(false, 1, true), |_| {}).unwrap();
        assert_eq!((s.scans, s.progressive), (1, false));
        assert_eq!(s.frame, Some((0xC0, 8)));
        assert_eq!(s.sampling, [(2, 2), (1, 1), (1, 1)]);
        let s = walk(p, &jpeg(true, 5, true), |_| {}).unwrap();
        assert_eq!((s.scans, s.progressive), (5, true));
        // 2 x 2 MCUs of 16 x 16, 6 blocks each, 64 i16 per block
        assert_eq!(coefficient_bytes(&s, 64, 32), 4 * 2 * 6 * 64 * 2);
        let whole = jpeg(false, 1, true);
        let cut = &whole[..whole.len() - 4];
        for n in 2..cut.len() {
            match walk(p, &cut[..n], |_| {}) {
                Err(Error::Truncated { needed, actual, .. }) => {
                    assert!(needed > actual && actual == n as u64, "{n}: {needed}")
                }
                other => panic!("{n}: {other:?}"),
            }
        }
    }
}
