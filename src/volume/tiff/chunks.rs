//! The tiles or strips of a TIFF image (one page, or the planes of a
//! stack), decoded by the `tiff` crate: the [`ChunkSource`] under a
//! chunked [`TiffVolume`](super::TiffVolume).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tiff::TiffError;

use super::ifd::{decoder_at, guarded, max_expansion, max_jpeg_side, Header, Ifd, TiffDecoder};
use crate::chunked::ChunkSource;
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Most decoders kept for reuse (each holds a file handle, a read buffer
/// and its directory's offset tables).
const POOL: usize = 16;

/// The tiles or strips of a TIFF image, decoded by the `tiff` crate.
///
/// Chunks are the image's tiles `(…, 1, tile_length, tile_width,
/// samples)` or strips `(…, 1, rows_per_strip, width, samples)`, one
/// sample for a planar image, and 1 on every axis of a stack's pages.
pub struct TiffChunks {
    path: PathBuf,
    name: String,
    shape: Vec<usize>,
    chunk: Vec<usize>,
    /// The tile's or strip's rows and columns as the file stores them
    /// (`chunk` is cut to the image along an axis the image does not fill).
    stored_hw: (usize, usize),
    dtype: DType,
    /// JPEG-compressed YCbCr, which the decoder leaves as YCbCr.
    ycbcr_jpeg: bool,
    /// Leading axes of the stack's pages (0 for one page).
    lead: usize,
    /// The directory of each plane, in page order.
    planes: Vec<u64>,
    /// Chunk rows and columns of a plane (strips: one column).
    down: u64,
    across: u64,
    header: Header,
    file_len: u64,
    /// Each plane's chunk byte counts, checked against the chunk's size
    /// before a buffer is allocated for it, for the codecs that expand by
    /// a bounded ratio (a corrupt width must not allocate gigabytes for a
    /// strip of a few bytes).
    stored: Vec<Vec<u64>>,
    compression: u16,
    /// Decoders at a directory, reused by whichever thread decodes next
    /// (a decoder reads through a `&mut` file handle).
    pool: Mutex<Vec<(u64, TiffDecoder)>>,
}

impl std::fmt::Debug for TiffChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TiffChunks")
            .field("path", &self.path)
            .field("shape", &self.shape)
            .field("chunk", &self.chunk)
            .field("dtype", &self.dtype)
            .field("planes", &self.planes.len())
            .finish_non_exhaustive()
    }
}

impl TiffChunks {
    /// The chunks of the planes whose directories are `planes` (all of
    /// `first`'s geometry), stacked along `lead` leading axes.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        path: &Path,
        header: Header,
        file_len: u64,
        first: &Ifd,
        dtype: DType,
        lead: &[usize],
        planes: Vec<u64>,
        stored: Vec<Vec<u64>>,
        decoder: TiffDecoder,
    ) -> Result<TiffChunks> {
        let invalid = |detail: String| Error::InvalidHeader {
            path: path.to_path_buf(),
            detail,
        };
        let to_usize =
            |v: u64, what: &str| usize::try_from(v).map_err(|_| invalid(format!("{what} {v}")));
        let mut shape = lead.to_vec();
        shape.extend([
            to_usize(first.height, "height")?,
            to_usize(first.width, "width")?,
            to_usize(first.samples, "samples per pixel")?,
        ]);
        let stored_hw = (
            to_usize(first.chunk_h, "chunk height")?,
            to_usize(first.chunk_w, "chunk width")?,
        );
        // a tile larger than the image along an axis (one chunk along it)
        // is cut to the image there: its padding is never read, so it is
        // neither allocated nor counted against the budget (a 16x16 image
        // may declare 2^20-pixel tiles)
        let (h, w) = (shape[lead.len()], shape[lead.len() + 1]);
        let mut chunk = vec![1; lead.len()];
        chunk.extend([
            stored_hw.0.min(h.max(1)),
            stored_hw.1.min(w.max(1)),
            to_usize(first.chunk_samples(), "samples per chunk")?,
        ]);
        let name = path.display().to_string();
        crate::layout::checked_size(&name, &shape, dtype)?;
        crate::layout::checked_size(&name, &chunk, dtype)?;
        let (down, across, _) = first.chunk_grid();
        Ok(TiffChunks {
            path: path.to_path_buf(),
            name,
            shape,
            chunk,
            stored_hw,
            dtype,
            ycbcr_jpeg: first.compression == 7
                && first.samples == 3
                && dtype == DType::U8
                && first.photometric == Some(6),
            lead: lead.len(),
            pool: Mutex::new(vec![(first.ptr, decoder)]),
            planes,
            down,
            across,
            header,
            file_len,
            stored,
            compression: first.compression,
        })
    }

    fn take_decoder(&self, ifd: u64) -> Result<TiffDecoder> {
        let pooled = self.pool.lock().ok().and_then(|mut p| {
            let i = p.iter().position(|(at, _)| *at == ifd)?;
            Some(p.swap_remove(i).1)
        });
        match pooled {
            Some(d) => Ok(d),
            None => decoder_at(
                &self.path,
                self.header,
                Some(ifd),
                self.file_len,
                &format!("the directory at offset {ifd}"),
            ),
        }
    }

    fn give_back(&self, ifd: u64, decoder: TiffDecoder) {
        if let Ok(mut p) = self.pool.lock() {
            if p.len() >= POOL {
                p.remove(0);
            }
            p.push((ifd, decoder));
        }
    }
}

impl ChunkSource for TiffChunks {
    fn name(&self) -> &str {
        &self.name
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn chunk_shape(&self) -> &[usize] {
        &self.chunk
    }

    fn decode(&self, index: &[u64]) -> Result<Vec<u8>> {
        let fail = |detail: String| Error::Decode {
            path: self.path.clone(),
            chunk: index.to_vec(),
            detail,
            source: None,
        };
        let n = self.lead;
        if index.len() != n + 3 {
            return Err(fail(format!("a chunk index of {} axes", index.len())));
        }
        // the plane: the leading indices in C order
        let mut plane = 0u64;
        for (&i, &extent) in index[..n].iter().zip(&self.shape[..n]) {
            if i >= extent as u64 {
                return Err(fail("outside the chunk grid".into()));
            }
            plane = plane * extent as u64 + i;
        }
        let (r, c, k) = (index[n], index[n + 1], index[n + 2]);
        let (ch, cw, cs) = (self.chunk[n], self.chunk[n + 1], self.chunk[n + 2]);
        let samples = self.shape[n + 2];
        let ifd = usize::try_from(plane)
            .ok()
            .and_then(|p| self.planes.get(p).copied());
        let Some(ifd) =
            ifd.filter(|_| r < self.down && c < self.across && k < samples.div_ceil(cs) as u64)
        else {
            return Err(fail("outside the chunk grid".into()));
        };
        let chunk_index = u32::try_from(k * self.down * self.across + r * self.across + c)
            .map_err(|_| fail("outside the chunk grid".into()))?;
        // the data the decoder writes: the chunk without the padding past
        // the image's right and bottom edges
        let (r, c) = (r as usize, c as usize);
        let dh = ch.min(self.shape[n] - r * ch);
        let dw = cw.min(self.shape[n + 1] - c * cw);
        let size = self.dtype.size();
        let full_row = cw * cs * size;
        let stored = usize::try_from(plane)
            .ok()
            .and_then(|p| self.stored.get(p)?.get(chunk_index as usize).copied());
        let bound = stored.and_then(|n| max_expansion(self.compression, n));
        let mut decoder = self.take_decoder(ifd)?;
        let read = guarded(|| {
            // the decoder's own idea of the chunk's data: a tile of a
            // planar image past the first plane is decoded whole
            let (w, h) = decoder.chunk_data_dimensions(chunk_index);
            let (w, h) = (w as usize, h as usize);
            let (sh, sw) = self.stored_hw;
            if w < dw || h < dh || w > sw || h > sh {
                return Ok(Err(format!(
                    "the decoder gives {w}x{h} pixels for a chunk of {dw}x{dh} (at most {sw}x{sh})"
                )));
            }
            if let Some(side) = max_jpeg_side(self.compression).filter(|&m| w > m || h > m) {
                return Ok(Err(format!(
                    "a JPEG-compressed chunk of {w}x{h} pixels (a JPEG frame has at most {side} on a side)"
                )));
            }
            let data_bytes = h * w * cs * size;
            if let Some(most) = bound.filter(|&m| m < data_bytes as u64) {
                return Ok(Err(format!(
                    "its {} stored bytes decode to at most {most}, not the {data_bytes} of {w}x{h} pixels of {cs} samples of {}",
                    stored.unwrap_or(0),
                    self.dtype
                )));
            }
            // one buffer of the full chunk (or of what the decoder gives,
            // if that is more: a whole tile with its padding), zeroed by
            // the allocator (pages the decoder does not write stay
            // untouched); the data is decoded into its front and spread to
            // full rows below
            let len = (ch * full_row).max(data_bytes);
            let Some(mut buf) = try_zeroed(len) else {
                return Ok(Err(format!(
                    "{len} bytes for the chunk cannot be allocated"
                )));
            };
            decoder.read_chunk_bytes(chunk_index, &mut buf[..data_bytes])?;
            Ok(Ok((buf, w, h)))
        });
        let (mut data, w, h) = match read {
            Some(Ok(Ok(v))) => {
                self.give_back(ifd, decoder);
                v
            }
            Some(Ok(Err(detail))) => return Err(fail(detail)),
            Some(Err(e)) => {
                return Err(fail(match &e {
                    TiffError::UnsupportedError(u) => format!("unsupported: {u}"),
                    e => e.to_string(),
                }))
            }
            None => return Err(fail("the TIFF decoder failed on this chunk".into())),
        };
        let src_row = w * cs * size;
        if self.ycbcr_jpeg {
            ycbcr_to_rgb(&mut data[..h * src_row]);
        }
        if src_row != full_row || dw < cw {
            // rows of `w` pixels to rows of `cw` (in the order that moves
            // no row over one not yet moved: last first when rows grow),
            // and the fill value, 0, past the right edge (also over the
            // padding a whole decoded tile brings)
            let row = dw * cs * size;
            let mut spread = |y: usize| {
                data.copy_within(y * src_row..y * src_row + row, y * full_row);
                data[y * full_row + row..(y + 1) * full_row].fill(0);
            };
            if src_row < full_row {
                (0..dh).rev().for_each(&mut spread);
            } else {
                (0..dh).for_each(&mut spread);
            }
        }
        // and below the bottom edge, where a whole decoded tile brings its
        // padding rows (past them the buffer is still the allocator's zeros)
        let written = (h * src_row).max(dh * full_row).min(ch * full_row);
        data[dh * full_row..written].fill(0);
        data.truncate(ch * full_row);
        data.shrink_to_fit();
        Ok(data)
    }

    fn kind(&self) -> &'static str {
        "tiff"
    }
}

/// JPEG's YCbCr (JFIF, full range) to RGB in place, rounded as libjpeg's
/// integer conversion rounds, for JPEG-compressed TIFF pages stored as
/// YCbCr (`PhotometricInterpretation` 6), which libtiff readers present
/// as RGB.
fn ycbcr_to_rgb(pixels: &mut [u8]) {
    for px in pixels.chunks_exact_mut(3) {
        let y = f64::from(px[0]);
        let cb = f64::from(px[1]) - 128.0;
        let cr = f64::from(px[2]) - 128.0;
        let clamp = |v: f64| v.round().clamp(0.0, 255.0) as u8;
        px[0] = clamp(y + 1.402 * cr);
        px[1] = clamp(y - 0.344_136 * cb - 0.714_136 * cr);
        px[2] = clamp(y + 1.772 * cb);
    }
}

/// `n` zero bytes, or `None` if they cannot be allocated: `calloc`'s
/// zeroed pages, which cost no resident memory until written.
fn try_zeroed(n: usize) -> Option<Vec<u8>> {
    if n == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(n).ok()?;
    // SAFETY: `layout` has a non-zero size (n > 0, checked above), as
    // `alloc_zeroed` requires.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` was allocated just above by the global allocator with
    // the layout of `[u8; n]` (align 1, size n), which is the layout a
    // `Vec<u8>` of capacity `n` frees with; all `n` bytes are initialized
    // (zeroed), so length `n` is valid; nothing else owns `ptr`.
    Some(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

#[cfg(test)]
mod tests {
    use super::try_zeroed;

    #[test]
    fn zeroed_buffers_are_zero_and_absurd_sizes_are_refused() {
        assert_eq!(try_zeroed(0), Some(Vec::new()));
        let v = try_zeroed(1 << 20).expect("1 MiB");
        assert_eq!(v.len(), 1 << 20);
        assert!(v.iter().all(|&b| b == 0));
        assert!(try_zeroed(usize::MAX / 2).is_none());
    }
}
