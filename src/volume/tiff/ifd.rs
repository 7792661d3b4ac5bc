//! The image file directories of a TIFF file: the main chain walked once
//! at open (each directory's own entries only, not its offset tables), and
//! the facts of each directory this backend needs.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use tiff::decoder::ifd::Value;
use tiff::decoder::{Decoder, Limits};
use tiff::tags::{IfdPointer, Tag};
use tiff::{Directory, TiffError};

use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};

/// A decoder over a file whose header is patched to name one directory as
/// the first: the `tiff` crate decodes chunks of its current image only,
/// and reaches SubIFDs (pyramid levels) in no other way.
pub(super) type TiffDecoder = Decoder<AtIfd>;

/// The file's header: byte order, classic or BigTIFF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub big_endian: bool,
    pub bigtiff: bool,
    /// Where the first directory is.
    pub first: u64,
}

impl Header {
    /// Reads the first 16 bytes of `path` (a shorter file is left to the
    /// decoder to refuse).
    pub fn read(path: &Path) -> Result<Header> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut b = [0u8; 16];
        let mut got = 0;
        while got < b.len() {
            match file.read(&mut b[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        let short = || Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: "shorter than a TIFF header".into(),
        };
        if got < 8 {
            return Err(short());
        }
        let big_endian = match &b[..2] {
            b"II" => false,
            b"MM" => true,
            _ => {
                return Err(Error::InvalidHeader {
                    path: path.to_path_buf(),
                    detail: "not a TIFF file (no II or MM byte-order mark)".into(),
                })
            }
        };
        let magic = if big_endian {
            u16::from_be_bytes([b[2], b[3]])
        } else {
            u16::from_le_bytes([b[2], b[3]])
        };
        let bigtiff = match magic {
            42 => false,
            43 => true,
            v => {
                return Err(Error::InvalidHeader {
                    path: path.to_path_buf(),
                    detail: format!("version number {v} instead of 42 (TIFF) or 43 (BigTIFF)"),
                })
            }
        };
        if bigtiff {
            let word = |i: usize| {
                if big_endian {
                    u16::from_be_bytes([b[i], b[i + 1]])
                } else {
                    u16::from_le_bytes([b[i], b[i + 1]])
                }
            };
            if got < 16 || word(4) != 8 || word(6) != 0 {
                return Err(Error::InvalidHeader {
                    path: path.to_path_buf(),
                    detail: "a BigTIFF header whose offset size is not 8".into(),
                });
            }
        }
        let first = if bigtiff {
            if got < 16 {
                return Err(short());
            }
            let mut v = [0u8; 8];
            v.copy_from_slice(&b[8..16]);
            if big_endian {
                u64::from_be_bytes(v)
            } else {
                u64::from_le_bytes(v)
            }
        } else {
            let v = [b[4], b[5], b[6], b[7]];
            u64::from(if big_endian {
                u32::from_be_bytes(v)
            } else {
                u32::from_le_bytes(v)
            })
        };
        Ok(Header {
            big_endian,
            bigtiff,
            first,
        })
    }

    /// The byte order of the file's samples.
    pub fn byte_order(self) -> ByteOrder {
        if self.big_endian {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        }
    }

    fn u16b(self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u32b(self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u64b(self, v: u64) -> [u8; 8] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// A directory of a 1x1 gray image (one byte: the file's first) whose
    /// next directory is `next`, to be placed at an even offset.
    fn stand_in(self, next: u64) -> Vec<u8> {
        // (tag, SHORT 3 or LONG 4, value)
        let entries: [(u16, u16, u32); 8] = [
            (256, 3, 1),
            (257, 3, 1),
            (258, 3, 8),
            (259, 3, 1),
            (262, 3, 1),
            (273, 4, 0),
            (278, 3, 1),
            (279, 4, 1),
        ];
        let mut d = Vec::new();
        if self.bigtiff {
            d.extend(self.u64b(entries.len() as u64));
        } else {
            d.extend(self.u16b(entries.len() as u16));
        }
        for (tag, ty, value) in entries {
            d.extend(self.u16b(tag));
            d.extend(self.u16b(ty));
            let mut field = Vec::new();
            if ty == 3 {
                field.extend(self.u16b(value as u16));
            } else {
                field.extend(self.u32b(value));
            }
            if self.bigtiff {
                d.extend(self.u64b(1));
                field.resize(8, 0);
            } else {
                d.extend(self.u32b(1));
                field.resize(4, 0);
            }
            d.extend(field);
        }
        if self.bigtiff {
            d.extend(self.u64b(next));
        } else {
            // a classic file's pointers are 32-bit: `next` came from one
            d.extend(self.u32b(u32::try_from(next).unwrap_or(0)));
        }
        d
    }

    /// The header bytes that name `ifd` as the first directory.
    fn pointing_at(self, ifd: u64) -> ([u8; 16], usize) {
        let mut h = [0u8; 16];
        h[..2].copy_from_slice(if self.big_endian { b"MM" } else { b"II" });
        let put16 = |v: u16| {
            if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        if self.bigtiff {
            h[2..4].copy_from_slice(&put16(43));
            h[4..6].copy_from_slice(&put16(8));
            h[8..16].copy_from_slice(&if self.big_endian {
                ifd.to_be_bytes()
            } else {
                ifd.to_le_bytes()
            });
            (h, 16)
        } else {
            h[2..4].copy_from_slice(&put16(42));
            // a classic file's pointers are 32-bit: `ifd` came from one
            let ifd = u32::try_from(ifd).unwrap_or(u32::MAX);
            h[4..8].copy_from_slice(&if self.big_endian {
                ifd.to_be_bytes()
            } else {
                ifd.to_le_bytes()
            });
            (h, 8)
        }
    }
}

/// A TIFF file read through a header that names another directory as the
/// first, and with bytes past its end (see [`decoder_at`]); every other
/// byte is the file's.
pub(super) struct AtIfd {
    file: BufReader<File>,
    pos: u64,
    header: [u8; 16],
    header_len: usize,
    /// Bytes read as if they followed the file, from `tail_at`.
    tail: Vec<u8>,
    tail_at: u64,
}

impl Read for AtIfd {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let hl = self.header_len as u64;
        if self.pos < hl {
            let from = self.pos as usize;
            let n = buf.len().min(self.header_len - from);
            buf[..n].copy_from_slice(&self.header[from..from + n]);
            self.pos += n as u64;
            self.file.seek(SeekFrom::Start(self.pos))?;
            return Ok(n);
        }
        if self.pos >= self.tail_at {
            let from = usize::try_from(self.pos - self.tail_at).unwrap_or(usize::MAX);
            let rest = self.tail.get(from..).unwrap_or_default();
            let n = buf.len().min(rest.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.pos += n as u64;
            return Ok(n);
        }
        let room = usize::try_from(self.tail_at - self.pos).unwrap_or(usize::MAX);
        let len = buf.len().min(room);
        let n = self.file.read(&mut buf[..len])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for AtIfd {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let end = self.tail_at + self.tail.len() as u64;
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => end.checked_add_signed(d),
        }
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        if target < self.tail_at {
            self.file.seek(SeekFrom::Start(target))?;
        }
        self.pos = target;
        Ok(self.pos)
    }
}

/// Where the stand-in directory of [`decoder_at`] is read: past the end of
/// any classic file but its last 256 bytes of offsets, and of any BigTIFF.
const STAND_IN_CLASSIC: u64 = 0xFFFF_FF00;
const STAND_IN_BIG: u64 = 1 << 62;

/// A decoder whose current image is the directory at `ifd` (the file's
/// first when `ifd` is `None`), parsed under limits sized by the file
/// ([`file_limits`]).
///
/// The `tiff` crate parses the first directory under its default limits
/// before any others can be set, so the header is patched to name a
/// stand-in directory of a 1x1 image, read as if it lay far past the
/// file's end ([`STAND_IN_CLASSIC`], [`STAND_IN_BIG`]), whose next
/// directory is `ifd`: the decoder reads the stand-in, takes these
/// limits, and moves on to `ifd`; then the stand-in is gone, and every
/// read past the file's end is an end of file again. (A classic file
/// larger than the stand-in's offset names `ifd` directly.)
pub(super) fn decoder_at(
    path: &Path,
    header: Header,
    ifd: Option<u64>,
    file_len: u64,
    label: &str,
) -> Result<TiffDecoder> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let target = ifd.unwrap_or(header.first);
    let stand_in_at = if header.bigtiff {
        STAND_IN_BIG
    } else {
        STAND_IN_CLASSIC
    };
    let fits = stand_in_at > file_len;
    let (at, tail) = if fits {
        (stand_in_at, header.stand_in(target))
    } else {
        (target, Vec::new())
    };
    let (patched, header_len) = header.pointing_at(at);
    let reader = AtIfd {
        file: BufReader::new(file),
        pos: 0,
        header: patched,
        header_len,
        tail,
        tail_at: stand_in_at,
    };
    let limits = file_limits(file_len);
    let result = guarded(|| {
        let mut d = Decoder::new(reader)?.with_limits(limits);
        if fits {
            d.next_image()?;
            // from now on nothing lies past the file's end
            d.inner().tail.clear();
        }
        Ok(d)
    });
    match result {
        Some(Ok(d)) => Ok(d),
        Some(Err(e)) => Err(tiff_error(path, label, "its directory", e)),
        None => Err(Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: format!("{label}: the TIFF decoder failed on its directory"),
        }),
    }
}

/// The `tiff` crate's limits for a file of `file_len` bytes: nothing the
/// file holds is refused, and nothing a hostile entry claims is allocated
/// beyond a small multiple of the file.
///
/// - A tag's values are decoded into `Value`s of 32 bytes each, from at
///   least 1 byte each in the file: 32 times the file's size (and 4 KiB
///   more) bounds every table it holds.
///   The crate allocates a claimed count before reading it, so this bound
///   is what keeps a corrupt count from allocating gigabytes.
/// - A chunk's compressed bytes lie in the file.
///
/// Chunk buffers are bounded separately ([`max_expansion`]).
fn file_limits(file_len: u64) -> Limits {
    let bytes = usize::try_from(file_len).unwrap_or(usize::MAX);
    let mut limits = Limits::unlimited();
    limits.decoding_buffer_size = bytes.saturating_mul(32).saturating_add(4 << 10);
    limits.intermediate_buffer_size = bytes;
    limits.ifd_value_size = bytes;
    limits
}

/// The most bytes `n` compressed bytes can decode to, for the codecs with a
/// bound (none; PackBits, 2 bytes for a run of 128; deflate, 1032:1; TIFF's
/// LZW, codes of at least 9 bits for strings of at most 4094 bytes; zstd,
/// blocks of at most 128 KiB of at least 4 bytes each (an RLE block); WebP,
/// one image of at most 16384 x 16384 RGBA pixels, whatever its size), with
/// a little slack for headers; `None` for JPEG, whose progressive scans
/// code runs of up to 32767 empty blocks in one symbol (its chunks are
/// bounded by the 65535-pixel sides of its frame instead, in
/// [`max_jpeg_side`]) and for codecs impart does not read.
pub(super) fn max_expansion(compression: u16, n: u64) -> Option<u64> {
    match compression {
        1 => Some(n),
        32773 => Some(n.saturating_mul(64).saturating_add(128)),
        8 | 32946 => Some(n.saturating_mul(1032).saturating_add(1024)),
        5 => Some(n.saturating_mul(4096).saturating_add(4096)),
        50000 | 34926 => Some(n.saturating_mul(32768).saturating_add(128 << 10)),
        50001 | 34927 => Some(16384 * 16384 * 4),
        _ => None,
    }
}

/// The longest side, in pixels, of a JPEG-compressed tile or strip (a
/// JPEG frame's sides are 16-bit numbers); `None` for other codecs.
pub(super) fn max_jpeg_side(compression: u16) -> Option<usize> {
    (compression == 7).then_some(65535)
}

/// Runs `f`, a call into the `tiff` crate, turning a panic inside it into
/// `None` (the caller's typed error).
pub(super) fn guarded<T>(
    f: impl FnOnce() -> std::result::Result<T, TiffError>,
) -> Option<std::result::Result<T, TiffError>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// A `tiff` error while reading `what` of the directory `label` names
/// (`"page 3"`, `"SubIFD 1 of page 0"`), as this crate's error.
pub(super) fn tiff_error(path: &Path, label: &str, what: &str, e: TiffError) -> Error {
    match e {
        // a read past the end of the file: a pointer or a count in the
        // directory is wrong, or the file was cut
        TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::InvalidHeader {
                path: path.to_path_buf(),
                detail: format!(
                    "{label}, {what}: the file ends inside it (it was truncated, or an \
                     offset in the header points past its end)"
                ),
            }
        }
        TiffError::IoError(io) => Error::io(path, io),
        TiffError::UnsupportedError(u) => Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("TIFF feature in {label} ({what}): {u}"),
        },
        // the only limit set is the file's size (see `decoder_at`)
        TiffError::LimitsExceeded => Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: format!("{label}, {what}: a tag claims more values than the file holds"),
        },
        e => Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: format!("{label}, {what}: {e}"),
        },
    }
}

/// What one image file directory says about its image, read from its own
/// entries (its offset tables are read only for the directories opened).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Ifd {
    /// Where the directory is.
    pub ptr: u64,
    pub width: u64,
    pub height: u64,
    pub samples: u64,
    pub bits: Vec<u16>,
    pub formats: Vec<u16>,
    pub compression: u16,
    pub planar: bool,
    pub tiled: bool,
    pub chunk_h: u64,
    pub chunk_w: u64,
    pub predictor: u16,
    pub photometric: Option<u16>,
    pub subsampling: (u16, u16),
    /// `NewSubfileType`: bit 0 a reduced-resolution image, bit 1 a page
    /// of a multi-page image, bit 2 a transparency mask.
    pub subfile: u32,
    pub subifds: Vec<u64>,
}

impl Ifd {
    /// Whether this is a reduced-resolution version of another image.
    pub fn reduced(&self) -> bool {
        self.subfile & 1 != 0
    }

    /// The sample type, or the error that names what it is.
    pub fn dtype(&self, path: &Path, label: &str) -> Result<DType> {
        let (Some(&b), Some(&f)) = (self.bits.first(), self.formats.first()) else {
            return Err(Error::InvalidHeader {
                path: path.to_path_buf(),
                detail: format!("{label}: empty BitsPerSample or SampleFormat"),
            });
        };
        if self.bits.iter().any(|&x| x != b) || self.formats.iter().any(|&x| x != f) {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "TIFF samples of mixed types (BitsPerSample {:?}, SampleFormat {:?}) in {label}",
                    self.bits, self.formats
                ),
            });
        }
        Ok(match (f, b) {
            (1, 8) => DType::U8,
            (1, 16) => DType::U16,
            (1, 32) => DType::U32,
            (1, 64) => DType::U64,
            (2, 8) => DType::I8,
            (2, 16) => DType::I16,
            (2, 32) => DType::I32,
            (2, 64) => DType::I64,
            (3, 32) => DType::F32,
            (3, 64) => DType::F64,
            _ => {
                let kind = match f {
                    1 => "unsigned",
                    2 => "signed",
                    3 => "floating-point",
                    4 => "undefined",
                    5 => "complex signed",
                    6 => "complex floating-point",
                    _ => "unknown",
                };
                return Err(Error::UnsupportedDType {
                    path: path.to_path_buf(),
                    name: format!(
                        "{b}-bit {kind} samples (TIFF BitsPerSample {b}, SampleFormat {f}) in {label}"
                    ),
                });
            }
        })
    }

    /// What a stack's pages must share: pixel grid, samples, type and the
    /// grid of chunks.
    pub fn same_geometry(&self, other: &Ifd) -> bool {
        (
            self.width,
            self.height,
            self.samples,
            &self.bits,
            &self.formats,
            self.planar,
            self.tiled,
            self.chunk_h,
            self.chunk_w,
        ) == (
            other.width,
            other.height,
            other.samples,
            &other.bits,
            &other.formats,
            other.planar,
            other.tiled,
            other.chunk_h,
            other.chunk_w,
        )
    }

    /// Samples in each chunk: all of a pixel's, or one (planar).
    pub fn chunk_samples(&self) -> u64 {
        if self.planar {
            1
        } else {
            self.samples
        }
    }

    /// A chunk's `(rows, columns, samples)`, as the volume's chunk shape
    /// ends (a strip's columns are the page's width).
    pub fn chunk_shape(&self) -> [usize; 3] {
        [
            self.chunk_h as usize,
            self.chunk_w as usize,
            self.chunk_samples() as usize,
        ]
    }

    /// Chunks down and across the page, and planes of chunks (the samples
    /// of a planar page).
    pub fn chunk_grid(&self) -> (u64, u64, u64) {
        (
            self.height.div_ceil(self.chunk_h),
            self.width.div_ceil(self.chunk_w),
            if self.planar { self.samples } else { 1 },
        )
    }

    /// Reads the facts of `dir`, the directory at `ptr`.
    pub fn parse(
        decoder: &mut TiffDecoder,
        dir: &Directory,
        ptr: u64,
        path: &Path,
        label: &str,
    ) -> Result<Ifd> {
        let invalid = |detail: String| Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: format!("{label}: {detail}"),
        };
        let mut tags = decoder.read_directory_tags(dir);
        let mut tag = |t: Tag| -> Result<Option<u64>> {
            let v = guarded(|| tags.find_tag_unsigned::<u64>(t));
            match v {
                Some(r) => r.map_err(|e| tiff_error(path, label, &format!("tag {t:?}"), e)),
                None => Err(invalid(format!("the TIFF decoder failed on tag {t:?}"))),
            }
        };
        let width = tag(Tag::ImageWidth)?.ok_or_else(|| invalid("no ImageWidth".into()))?;
        let height = tag(Tag::ImageLength)?.ok_or_else(|| invalid("no ImageLength".into()))?;
        if width == 0 || height == 0 {
            return Err(invalid(format!("{width}x{height} pixels")));
        }
        let samples = tag(Tag::SamplesPerPixel)?.unwrap_or(1);
        if samples == 0 || samples > u64::from(u16::MAX) {
            return Err(invalid(format!("{samples} samples per pixel")));
        }
        let compression = tag(Tag::Compression)?.unwrap_or(1);
        let compression = u16::try_from(compression)
            .map_err(|_| invalid(format!("compression {compression}")))?;
        let planar = match tag(Tag::PlanarConfiguration)?.unwrap_or(1) {
            1 => false,
            2 => samples > 1,
            p => return Err(invalid(format!("PlanarConfiguration {p}"))),
        };
        let predictor = tag(Tag::Predictor)?.unwrap_or(1);
        let photometric = tag(Tag::PhotometricInterpretation)?;
        let subfile = tag(Tag::NewSubfileType)?.unwrap_or(0);
        let tile = (tag(Tag::TileWidth)?, tag(Tag::TileLength)?);
        let (tiled, chunk_h, chunk_w) = match tile {
            (Some(tw), Some(th)) => {
                if tw == 0 || th == 0 {
                    return Err(invalid(format!("tiles of {tw}x{th} pixels")));
                }
                (true, th, tw)
            }
            (None, None) => {
                let rows = tag(Tag::RowsPerStrip)?.unwrap_or(height).clamp(1, height);
                (false, rows, width)
            }
            _ => {
                return Err(invalid(
                    "one of TileWidth and TileLength but not the other".into(),
                ))
            }
        };
        let mut tags = decoder.read_directory_tags(dir);
        let mut vec16 = |t: Tag| -> Result<Option<Vec<u16>>> {
            match guarded(|| tags.find_tag_unsigned_vec::<u16>(t)) {
                Some(r) => r.map_err(|e| tiff_error(path, label, &format!("tag {t:?}"), e)),
                None => Err(invalid(format!("the TIFF decoder failed on tag {t:?}"))),
            }
        };
        let bits = vec16(Tag::BitsPerSample)?.unwrap_or_else(|| vec![1]);
        let formats = vec16(Tag::SampleFormat)?.unwrap_or_else(|| vec![1]);
        let subsampling = match vec16(Tag::ChromaSubsampling)?.as_deref() {
            Some([h, v, ..]) => (*h, *v),
            _ => (2, 2),
        };
        let mut tags = decoder.read_directory_tags(dir);
        let subifds = match guarded(|| tags.find_tag(Tag::SubIfd)) {
            Some(Ok(Some(v))) => ifd_pointers(v),
            // a broken SubIFD entry only loses the levels
            _ => Vec::new(),
        };
        Ok(Ifd {
            ptr,
            width,
            height,
            samples,
            bits,
            formats,
            compression,
            planar,
            tiled,
            chunk_h,
            chunk_w,
            predictor: u16::try_from(predictor).unwrap_or(u16::MAX),
            photometric: photometric.and_then(|p| u16::try_from(p).ok()),
            subsampling,
            subfile: u32::try_from(subfile).unwrap_or(0),
            subifds,
        })
    }

    /// The chunk offsets and byte counts of this directory (every chunk's
    /// checked to lie inside the file).
    pub fn tables(
        &self,
        decoder: &mut TiffDecoder,
        dir: &Directory,
        path: &Path,
        label: &str,
        file_len: u64,
    ) -> Result<(Vec<u64>, Vec<u64>)> {
        let invalid = |detail: String| Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: format!("{label}: {detail}"),
        };
        let (down, across, planes) = self.chunk_grid();
        let what = if self.tiled { "tiles" } else { "strips" };
        let count = down
            .checked_mul(across)
            .and_then(|n| n.checked_mul(planes))
            .filter(|&n| n <= u64::from(u32::MAX))
            .ok_or_else(|| invalid(format!("too many {what}")))?;
        let (offsets_tag, counts_tag) = if self.tiled {
            (Tag::TileOffsets, Tag::TileByteCounts)
        } else {
            (Tag::StripOffsets, Tag::StripByteCounts)
        };
        let mut read = |t: Tag, what: &str| -> Result<Vec<u64>> {
            let mut tags = decoder.read_directory_tags(dir);
            match guarded(|| tags.find_tag_unsigned_vec::<u64>(t)) {
                Some(r) => r
                    .map(Option::unwrap_or_default)
                    .map_err(|e| tiff_error(path, label, what, e)),
                None => Err(invalid(format!("the TIFF decoder failed on {what}"))),
            }
        };
        let offsets = read(offsets_tag, "the chunk offsets")?;
        let counts = read(counts_tag, "the chunk byte counts")?;
        for (table, name) in [(&offsets, "offsets"), (&counts, "byte counts")] {
            if (table.len() as u64) < count {
                return Err(invalid(format!(
                    "{} chunk {name} for {count} {what}",
                    table.len()
                )));
            }
        }
        if let Some((i, (o, n))) = offsets
            .iter()
            .zip(&counts)
            .take(count as usize)
            .enumerate()
            .find(|(_, (&o, &n))| o.checked_add(n).is_none_or(|end| end > file_len))
        {
            return Err(invalid(format!(
                "{} {i} at offset {o} with {n} bytes ends past the end of the file ({file_len} bytes)",
                &what[..what.len() - 1]
            )));
        }
        Ok((offsets, counts))
    }
}

/// The directory pointers a SubIFDs entry holds (LONG, LONG8 or IFD
/// values).
fn ifd_pointers(v: Value) -> Vec<u64> {
    match v.clone().into_ifd_vec() {
        Ok(p) => p.into_iter().map(|IfdPointer(p)| p).collect(),
        Err(_) => v.into_u64_vec().unwrap_or_default(),
    }
}

/// Reads the directory at `ptr` and its facts.
pub(super) fn read_ifd(
    decoder: &mut TiffDecoder,
    ptr: u64,
    path: &Path,
    label: &str,
) -> Result<(Directory, Ifd)> {
    let dir = match guarded(|| decoder.read_directory(IfdPointer(ptr))) {
        Some(Ok(d)) => d,
        Some(Err(e)) => return Err(tiff_error(path, label, "its directory", e)),
        None => {
            return Err(Error::InvalidHeader {
                path: path.to_path_buf(),
                detail: format!("{label}: the TIFF decoder failed on its directory"),
            })
        }
    };
    let ifd = Ifd::parse(decoder, &dir, ptr, path, label)?;
    Ok((dir, ifd))
}

/// The main chain of directories (the pages) as far as it reads, each
/// page's facts, the ImageDescription of the first page, and the error
/// that ended the chain early, if one did (a directory past the end of a
/// truncated file, a chain that loops back): the pages before it still
/// open one by one.
pub(super) fn walk_pages(
    decoder: &mut TiffDecoder,
    path: &Path,
) -> Result<(Vec<Ifd>, Option<String>, Option<Error>)> {
    let first = decoder
        .ifd_pointer()
        .map(|IfdPointer(p)| p)
        .ok_or_else(|| Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: "the file has no image file directory".into(),
        })?;
    // a description that is not text (or of a type the decoder does not
    // know) is no description; one whose value lies past the end of the
    // file (a truncated file) is an error, not a plain stack in place of
    // the one its OME-XML or ImageJ header describes
    let description = match guarded(|| decoder.find_tag(Tag::ImageDescription)) {
        Some(Ok(v)) => v.and_then(|v| v.into_string().ok()),
        Some(Err(e @ (TiffError::IoError(_) | TiffError::LimitsExceeded))) => {
            return Err(tiff_error(path, "page 0", "ImageDescription", e))
        }
        Some(Err(_)) => None,
        None => {
            return Err(Error::InvalidHeader {
                path: path.to_path_buf(),
                detail: "page 0: the TIFF decoder failed on its ImageDescription".into(),
            })
        }
    };
    let mut pages = Vec::new();
    let mut seen = HashSet::new();
    let mut next = Some(first);
    while let Some(ptr) = next {
        let label = format!("page {}", pages.len());
        if !seen.insert(ptr) {
            let e = Error::InvalidHeader {
                path: path.to_path_buf(),
                detail: format!("{label}: the chain of directories loops back to offset {ptr}"),
            };
            return Ok((pages, description, Some(e)));
        }
        match read_ifd(decoder, ptr, path, &label) {
            Ok((dir, ifd)) => {
                next = dir.next().map(|IfdPointer(p)| p);
                pages.push(ifd);
            }
            Err(e) if !pages.is_empty() => return Ok((pages, description, Some(e))),
            Err(e) => return Err(e),
        }
    }
    Ok((pages, description, None))
}
