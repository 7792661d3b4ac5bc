//! PNG through the `png` crate, with the transformations the `image` crate
//! applied (`EXPAND`: palette to RGB or RGBA, 1/2/4-bit gray scaled to
//! 8 bits, a `tRNS` chunk to an alpha channel; 16-bit samples kept), so
//! the pixels are the ones `image` decoded before.
//!
//! Before anything is decoded, the file's chunk structure is walked (one
//! 8-byte read per chunk): a chunk that runs past the end of the file is an
//! [`Error::Truncated`] naming the offset it needs, and the compressed
//! image data (`IDAT`) is measured, so that a header claiming more pixels
//! than that data can hold (deflate expands at most 1032 times) is an
//! [`Error::InvalidHeader`] before any allocation.
//!
//! Non-interlaced images are decoded row by row into a batch of rows of
//! about [`BATCH_BYTES`] and appended to the decode-cache file, so resident
//! memory is that batch whatever the image's size; interlaced (Adam7) ones
//! need the whole frame and are decoded into a mapping of the file
//! ([`fill_mapped`]).

use std::fs::File;
use std::io::{BufReader, Seek};
use std::path::{Path, PathBuf};

use super::target::{be16_to_native, fill_mapped, Buffer, PixelFile, Shape};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::volume::raw::read_at;

/// The first bytes of every PNG file.
const SIGNATURE: [u8; 8] = [137, 80, 78, 71, 13, 10, 26, 10];

/// What the decoder may allocate for metadata chunks (text, ICC profile,
/// EXIF): the `png` crate's own default, against hostile chunk lengths.
/// Image rows come on top of it (see [`PngImage::open`]).
const METADATA_BYTES: usize = 64 << 20;

/// Deflate's largest expansion: a 258-byte match coded in two bits.
const DEFLATE_MAX_RATIO: u128 = 1032;

/// Rows are decoded into a batch of about this many bytes (at least one
/// row) before they are written out.
pub(super) const BATCH_BYTES: usize = 4 << 20;

/// Bytes read at a time from the file.
const READ_BUFFER: usize = 256 << 10;

/// Whether `magic` (the file's first bytes) starts like a PNG.
pub(super) fn is_png(magic: &[u8]) -> bool {
    magic.starts_with(&SIGNATURE)
}

/// A PNG whose header has been read, ready to decode.
pub(super) struct PngImage {
    path: PathBuf,
    /// The file's length.
    len: u64,
    reader: png::Reader<BufReader<File>>,
    shape: Shape,
    interlaced: bool,
}

impl PngImage {
    /// Checks the file's structure and reads its header.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file if it cannot be read;
    /// [`Error::Truncated`] if a chunk runs past its end;
    /// [`Error::InvalidHeader`] if the header is malformed or claims more
    /// pixels than the compressed data can hold; [`Error::Unsupported`]
    /// for metadata chunks beyond [`METADATA_BYTES`]; [`Error::TooLarge`]
    /// for an image whose bytes overflow memory addresses.
    pub fn open(path: &Path, mut file: File) -> Result<Self> {
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let (idat, complete) = scan_chunks(path, &file, len)?;
        // a file that ends between chunks, before IEND, is cut short
        // wherever the decoder finds data missing
        let cut_short = || Error::Truncated {
            path: path.to_path_buf(),
            needed: len + 12,
            actual: len,
        };
        file.rewind().map_err(|e| Error::io(path, e))?;
        let mut decoder = png::Decoder::new_with_limits(
            BufReader::with_capacity(READ_BUFFER, file),
            png::Limits {
                bytes: METADATA_BYTES,
            },
        );
        decoder.set_transformations(png::Transformations::EXPAND);
        let info = decoder
            .read_header_info()
            .map_err(|e| header_error(path, e, len))?;
        let (width, height) = info.size();
        let interlaced = info.interlaced;
        // the image's own bits, whatever the filters and interlacing add
        let pixel_bytes =
            (u128::from(width) * u128::from(height) * info.bits_per_pixel() as u128).div_ceil(8);
        let most = (u128::from(idat) + 1) * DEFLATE_MAX_RATIO;
        if pixel_bytes > most && !complete {
            return Err(cut_short());
        }
        if pixel_bytes > most {
            return Err(Error::InvalidHeader {
                path: path.to_path_buf(),
                detail: format!(
                    "the header claims {width} x {height} pixels of {:?} {}-bit samples \
                     ({pixel_bytes} bytes), but the file's {idat} bytes of compressed image \
                     data can hold at most {most} (deflate expands at most \
                     {DEFLATE_MAX_RATIO} times): the header or the file is damaged",
                    info.color_type, info.bit_depth as u8,
                ),
            });
        }
        // one output row (RGBA, 16 bits at most) on top of the metadata;
        // the check above bounds it by the file's size
        let row_limit = (width as usize).saturating_mul(8);
        decoder.set_limits(png::Limits {
            bytes: METADATA_BYTES.saturating_add(row_limit),
        });
        let reader = decoder
            .read_info()
            .map_err(|e| header_error(path, e, len))?;
        let (color, depth) = reader.output_color_type();
        let dtype = match depth {
            png::BitDepth::Sixteen => DType::U16,
            _ => DType::U8,
        };
        let shape = Shape {
            height: height as usize,
            width: width as usize,
            channels: color.samples(),
            dtype,
        };
        if shape.bytes().is_none() || reader.output_line_size(width) != shape.row_bytes() {
            return Err(Error::TooLarge {
                volume: path.display().to_string(),
                shape: shape.dims().to_vec(),
            });
        }
        Ok(PngImage {
            path: path.to_path_buf(),
            len,
            reader,
            shape,
            interlaced,
        })
    }

    /// The decoded image's shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Decodes the whole image into memory.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if the memory cannot be had; [`Error::Decode`]
    /// (the decoder's error as its source) or [`Error::Io`] if the data
    /// does not decode.
    pub fn decode_to_memory(mut self) -> Result<Buffer> {
        let mut buffer = Buffer::zeroed(&self.path, &self.shape)?;
        let (path, len) = (self.path.clone(), self.len);
        self.reader
            .next_frame(buffer.bytes_mut())
            .map_err(|e| data_error(&path, e, None, len))?;
        if let Buffer::U16(samples) = &mut buffer {
            for s in samples.iter_mut() {
                *s = u16::from_be(*s);
            }
        }
        Ok(buffer)
    }

    /// Decodes the image into the decode-cache file `out`: row by row,
    /// or, when interlaced, through a mapping of the file.
    ///
    /// # Errors
    ///
    /// As [`decode_to_memory`](Self::decode_to_memory), and [`Error::Io`]
    /// naming the cache file if it cannot be written.
    pub fn decode_to_file(mut self, out: &mut PixelFile<'_>) -> Result<()> {
        let sixteen = self.shape.dtype == DType::U16;
        let (path, len) = (self.path.clone(), self.len);
        if self.interlaced {
            let mut map = out.map()?;
            fill_mapped(&mut map, None, |pixels| {
                self.reader
                    .next_frame(pixels)
                    .map_err(|e| data_error(&path, e, None, len))?;
                if sixteen {
                    be16_to_native(pixels);
                }
                Ok::<(), Error>(())
            })?;
            return out.unmap(map);
        }
        // `open` checked that rows and the image fit in `usize`
        let line = self.shape.row_bytes().unwrap_or(0).max(1);
        let height = self.shape.height;
        let rows = (BATCH_BYTES / line).clamp(1, height.max(1));
        let mut batch: Vec<u8> =
            bytemuck::allocation::try_zeroed_vec(rows * line).map_err(|()| Error::TooLarge {
                volume: path.display().to_string(),
                shape: vec![rows, self.shape.width, self.shape.channels],
            })?;
        let mut row = 0;
        while row < height {
            let n = rows.min(height - row);
            for (k, slot) in batch.chunks_exact_mut(line).take(n).enumerate() {
                match self.reader.read_row(slot) {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        return Err(Error::Decode {
                            path: path.clone(),
                            chunk: Vec::new(),
                            detail: format!(
                                "the image data ends after row {} of {height}",
                                row + k
                            ),
                            source: None,
                        })
                    }
                    Err(e) => return Err(data_error(&path, e, Some(row + k), len)),
                }
            }
            let bytes = &mut batch[..n * line];
            if sixteen {
                be16_to_native(bytes);
            }
            out.write(bytes)?;
            row += n;
        }
        // read what is left of the image data (its checksum included), as
        // a whole-frame decode does
        match self.reader.read_row(&mut batch[..line]) {
            Ok(_) => Ok(()),
            Err(e) => Err(data_error(&path, e, Some(height), len)),
        }
    }
}

/// Walks the chunks from the signature on and returns the bytes of
/// compressed image data (`IDAT`) before `IEND`, and whether `IEND` was
/// found (a file that ends between chunks without it may still hold all
/// its image data: the decoder then says).
fn scan_chunks(path: &Path, file: &File, len: u64) -> Result<(u64, bool)> {
    let mut head = [0u8; 8];
    let mut pos = SIGNATURE.len() as u64;
    let mut idat = 0u64;
    while pos < len {
        // length, type, data, CRC
        if pos + 12 > len {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                needed: pos + 12,
                actual: len,
            });
        }
        read_at(file, &mut head, pos).map_err(|e| Error::io(path, e))?;
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = &head[4..8];
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(Error::Decode {
                path: path.to_path_buf(),
                chunk: Vec::new(),
                detail: format!(
                    "the bytes at offset {pos} are not a PNG chunk (type bytes {kind:02x?}): the file is damaged"
                ),
                source: None,
            });
        }
        let kind_text = String::from_utf8_lossy(kind);
        if length > i32::MAX as u32 {
            return Err(Error::InvalidHeader {
                path: path.to_path_buf(),
                detail: format!(
                    "chunk {kind_text} at offset {pos} claims {length} bytes, more than PNG's limit of 2^31 - 1"
                ),
            });
        }
        let end = pos + 12 + u64::from(length);
        if end > len {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                needed: end,
                actual: len,
            });
        }
        match kind {
            b"IDAT" => idat += u64::from(length),
            b"IEND" => return Ok((idat, true)),
            // the spec's rule, checked here because the png crate (0.18.1)
            // panics expanding a palette whose length is not a multiple of
            // 3 (found by the `png` fuzz target)
            b"PLTE" if length % 3 != 0 || length > 768 || length == 0 => {
                return Err(Error::InvalidHeader {
                    path: path.to_path_buf(),
                    detail: format!(
                        "PLTE chunk at offset {pos} holds {length} bytes, not 1 to 256 RGB entries of 3 bytes"
                    ),
                })
            }
            _ => {}
        }
        pos = end;
    }
    Ok((idat, false))
}

/// An error of the header phase: the file's own header is at fault unless
/// the file could not be read.
fn header_error(path: &Path, e: png::DecodingError, len: u64) -> Error {
    use png::DecodingError as D;
    match e {
        // the chunk walk saw whole chunks only: at least one more is missing
        D::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Error::Truncated {
            path: path.to_path_buf(),
            needed: len + 12,
            actual: len,
        },
        D::IoError(e) => Error::io(path, e),
        D::Format(e) => Error::InvalidHeader {
            path: path.to_path_buf(),
            detail: format!("not a valid PNG header: {e}"),
        },
        D::LimitsExceeded => Error::Unsupported {
            path: path.to_path_buf(),
            what: format!(
                "PNG metadata: its chunks before the image data (text, ICC profile, EXIF) \
                 need more than the {} MiB the decoder allows",
                METADATA_BYTES >> 20
            ),
        },
        other => data_error(path, other, None, len),
    }
}

/// An error while decoding the image data, at `row` when known, of a file
/// of `len` bytes.
fn data_error(path: &Path, e: png::DecodingError, row: Option<usize>, len: u64) -> Error {
    let at = row.map(|r| format!("at row {r}: ")).unwrap_or_default();
    match e {
        // the chunk walk saw whole chunks only: at least one more is missing
        png::DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::Truncated {
                path: path.to_path_buf(),
                needed: len + 12,
                actual: len,
            }
        }
        png::DecodingError::IoError(io) => Error::io(path, io),
        other => Error::Decode {
            path: path.to_path_buf(),
            chunk: Vec::new(),
            detail: format!("{at}{other}"),
            source: Some(Box::new(other)),
        },
    }
}
