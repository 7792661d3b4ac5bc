//! The encoders: one cell into one file of each format.

use std::fs::File;
use std::io::{Seek, Write};
use std::path::Path;
#[cfg(feature = "zarr")]
use std::sync::Arc;

use ndarray::{ArrayView, ArrayViewD, ArrayViewMut, IxDyn, ShapeBuilder};
use ndarray_npy::npy::header::Header as NpyHeader;
use ndarray_npy::{WritableElement, WriteNpyError, WriteNpyExt};

use super::plan::{invalid_format, join, Plan};
use super::Format;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::format::nifti::{nifti1_header, translation};
use crate::io::write_atomic;
#[cfg(feature = "zarr")]
use crate::io::write_dir_atomic;
use crate::partition::Selected;
use crate::volume::{MemoryOrder, Volume};

/// zstd level of Zarr output (zstd's own default).
#[cfg(feature = "zarr")]
const ZSTD_LEVEL: i32 = 3;

impl<V: Volume> Plan<'_, V> {
    pub(super) fn write_cell<T: Element + WritableElement>(
        &self,
        cell: &Selected<'_, V>,
        buf: &mut Vec<T>,
    ) -> Result<u64> {
        let name = self.name(&cell.index());
        let sync = self.options.sync;
        let dir = self.dir();
        match self.format() {
            Format::Npy => {
                let view = materialize(self.part.volume().name(), cell, buf, self.npy_order)?;
                write_atomic(&dir.join(&name), sync, |w, path| {
                    view.write_npy(w).map_err(|e| match e {
                        WriteNpyError::Io(e) => Error::io(path, e),
                        e => Error::write(path, e),
                    })
                })
            }
            Format::Raw => {
                let view = materialize(self.part.volume().name(), cell, buf, MemoryOrder::C)?;
                let data = contiguous(&view)?;
                write_atomic(&dir.join(&name), sync, |w, path| write_le(w, data, path))
            }
            Format::Nii => {
                let shape = cell.shape();
                let affine = cell
                    .affine()
                    .unwrap_or_else(|| translation(cell.region().start()));
                let header = nifti1_header(
                    &shape,
                    T::DTYPE,
                    &affine,
                    self.part.volume().scaling(),
                    &format!("impart cell {}", join(&cell.index(), ",")),
                )
                .map_err(|d| invalid_format(Format::Nii, d))?;
                let view = materialize(self.part.volume().name(), cell, buf, MemoryOrder::F)?;
                let data = contiguous(&view)?;
                write_atomic(&dir.join(&name), sync, |w, path| {
                    w.write_all(&header).map_err(|e| Error::io(path, e))?;
                    write_le(w, data, path)
                })
            }
            Format::Png => {
                let view = materialize(self.part.volume().name(), cell, buf, MemoryOrder::C)?;
                self.write_image(&name, &view)
            }
            Format::Tiff => {
                let view = materialize(self.part.volume().name(), cell, buf, MemoryOrder::C)?;
                self.write_tiff(&name, &view, cell.region().start())
            }
            Format::Zarr => {
                let view = materialize(self.part.volume().name(), cell, buf, MemoryOrder::C)?;
                self.write_zarr(&name, &view)
            }
        }
    }

    #[cfg(feature = "image")]
    pub(super) fn write_image<T: Element>(
        &self,
        name: &str,
        view: &ArrayViewD<'_, T>,
    ) -> Result<u64> {
        use image::{ExtendedColorType as C, ImageFormat};
        let format = self.format();
        let (height, width, color) =
            image_layout(format, T::DTYPE, view.shape(), self.part.axes())?;
        let data = contiguous(view)?;
        let color = match color {
            (DType::U8, 1) => C::L8,
            (DType::U8, 2) => C::La8,
            (DType::U8, 3) => C::Rgb8,
            (DType::U8, 4) => C::Rgba8,
            (DType::U16, 1) => C::L16,
            (DType::U16, 2) => C::La16,
            (DType::U16, 3) => C::Rgb16,
            _ => C::Rgba16,
        };
        let image_format = if format == Format::Png {
            ImageFormat::Png
        } else {
            ImageFormat::Tiff
        };
        write_atomic(&self.dir().join(name), self.options.sync, |w, path| {
            // 16-bit samples go in native byte order; the encoders convert
            image::write_buffer_with_format(
                w,
                bytemuck::cast_slice(data),
                width,
                height,
                color,
                image_format,
            )
            .map_err(|e| match e {
                image::ImageError::IoError(e) => Error::io(path, e),
                e => Error::write(path, e),
            })
        })
    }

    #[cfg(not(feature = "image"))]
    pub(super) fn write_image<T: Element>(
        &self,
        _name: &str,
        _view: &ArrayViewD<'_, T>,
    ) -> Result<u64> {
        Err(invalid_format(
            self.format(),
            "this build has no image support (feature `image`)".into(),
        ))
    }

    /// A cell as a TIFF through the `tiff` crate: one strip per 64 KiB or
    /// so, uncompressed, the sample type stored, and the GeoTIFF tags of
    /// the cell's window when the options carry a georeference.
    #[cfg(feature = "tiff")]
    pub(super) fn write_tiff<T: Element>(
        &self,
        name: &str,
        view: &ArrayViewD<'_, T>,
        start: &[usize],
    ) -> Result<u64> {
        use tiff::encoder::colortype as ct;
        let (height, width, (dtype, channels)) =
            image_layout(Format::Tiff, T::DTYPE, view.shape(), self.part.axes())?;
        let data = contiguous(view)?;
        let geo = self.options.georeference.as_ref().and_then(|g| {
            let (row, col) = (start.first().copied()?, start.get(1).copied()?);
            g.window(row as f64, col as f64)
        });
        let geo = geo.as_ref();
        write_atomic(&self.dir().join(name), self.options.sync, |w, path| {
            macro_rules! tiff_as {
                ($c:ty) => {
                    encode_tiff::<$c, _>(w, width, height, bytemuck::cast_slice(data), geo)
                };
            }
            let result = match (dtype, channels) {
                (DType::U8, 1) => tiff_as!(ct::Gray8),
                (DType::U8, 3) => tiff_as!(ct::RGB8),
                (DType::U8, 4) => tiff_as!(ct::RGBA8),
                (DType::I8, 1) => tiff_as!(ct::GrayI8),
                (DType::U16, 1) => tiff_as!(ct::Gray16),
                (DType::U16, 3) => tiff_as!(ct::RGB16),
                (DType::U16, 4) => tiff_as!(ct::RGBA16),
                (DType::I16, 1) => tiff_as!(ct::GrayI16),
                (DType::U32, 1) => tiff_as!(ct::Gray32),
                (DType::U32, 3) => tiff_as!(ct::RGB32),
                (DType::U32, 4) => tiff_as!(ct::RGBA32),
                (DType::I32, 1) => tiff_as!(ct::GrayI32),
                (DType::U64, 1) => tiff_as!(ct::Gray64),
                (DType::U64, 3) => tiff_as!(ct::RGB64),
                (DType::U64, 4) => tiff_as!(ct::RGBA64),
                (DType::I64, 1) => tiff_as!(ct::GrayI64),
                (DType::F32, 1) => tiff_as!(ct::Gray32Float),
                (DType::F32, 3) => tiff_as!(ct::RGB32Float),
                (DType::F32, 4) => tiff_as!(ct::RGBA32Float),
                (DType::F64, 1) => tiff_as!(ct::Gray64Float),
                (DType::F64, 3) => tiff_as!(ct::RGB64Float),
                (DType::F64, 4) => tiff_as!(ct::RGBA64Float),
                _ => {
                    return Err(invalid_format(
                        Format::Tiff,
                        format!("no TIFF layout for {channels} samples of {dtype}"),
                    ))
                }
            };
            result.map_err(|e| match e {
                tiff::TiffError::IoError(e) => Error::io(path, e),
                e => Error::write(path, e),
            })
        })
    }

    /// Without the `tiff` feature, TIFF cells go through `image`.
    #[cfg(not(feature = "tiff"))]
    pub(super) fn write_tiff<T: Element>(
        &self,
        name: &str,
        view: &ArrayViewD<'_, T>,
        _start: &[usize],
    ) -> Result<u64> {
        self.write_image(name, view)
    }

    #[cfg(feature = "zarr")]
    pub(super) fn write_zarr<T: Element>(
        &self,
        name: &str,
        view: &ArrayViewD<'_, T>,
    ) -> Result<u64> {
        use zarrs::filesystem::FilesystemStore;

        let data = contiguous(view)?;
        let shape: Vec<u64> = view.shape().iter().map(|&n| n as u64).collect();
        let dtype = T::DTYPE;
        let bytes = bytemuck::cast_slice::<T, u8>(data);
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            let url = remote.key_url(name);
            let store: Arc<dyn zarrs::storage::ReadableWritableStorageTraits> = remote.clone();
            zarr_cell(store, &format!("/{name}"), &shape, dtype, bytes)
                .map_err(|e| Error::write(&url, e))?;
            // the bytes put are counted for the whole run (see `fragment`)
            return Ok(0);
        }
        write_dir_atomic(&self.dir().join(name), self.options.sync, |path| {
            let store = FilesystemStore::new(path).map_err(|e| Error::write(path, e))?;
            zarr_cell(Arc::new(store), "/", &shape, dtype, bytes).map_err(|e| Error::write(path, e))
        })
    }

    #[cfg(not(feature = "zarr"))]
    pub(super) fn write_zarr<T: Element>(
        &self,
        _name: &str,
        _view: &ArrayViewD<'_, T>,
    ) -> Result<u64> {
        Err(invalid_format(
            self.format(),
            "this build has no Zarr support (feature `zarr`)".into(),
        ))
    }
}

/// Materializes a cell into `buf` (reused from cell to cell) in `order`.
fn materialize<'b, T: Element, V: Volume>(
    volume: &str,
    cell: &Selected<'_, V>,
    buf: &'b mut Vec<T>,
    order: MemoryOrder,
) -> Result<ArrayViewD<'b, T>> {
    let shape = cell.shape();
    let too_large = || Error::TooLarge {
        volume: volume.to_string(),
        shape: shape.clone(),
    };
    let n = shape
        .iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .filter(|n| {
            n.checked_mul(std::mem::size_of::<T>())
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(too_large)?;
    // every element is overwritten: only grow, never clear
    buf.truncate(n);
    buf.try_reserve(n - buf.len()).map_err(|_| too_large())?;
    buf.resize(n, T::default());
    let f = order == MemoryOrder::F;
    let layout_error = |e: ndarray::ShapeError| Error::InvalidLayout {
        volume: volume.to_string(),
        detail: format!("cell buffer layout: {e}"),
    };
    let dst = ArrayViewMut::from_shape(IxDyn(&shape).set_f(f), buf.as_mut_slice())
        .map_err(layout_error)?;
    cell.read_into(dst)?;
    ArrayView::from_shape(IxDyn(&shape).set_f(f), buf.as_slice()).map_err(layout_error)
}

/// The elements of a contiguous view in memory order.
fn contiguous<'b, T>(view: &ArrayViewD<'b, T>) -> Result<&'b [T]> {
    view.to_slice_memory_order()
        .ok_or_else(|| Error::InvalidLayout {
            volume: "<cell buffer>".into(),
            detail: "a materialized cell is not contiguous".into(),
        })
}

/// Writes elements as little-endian bytes.
fn write_le<T: Element>(w: &mut impl Write, data: &[T], path: &Path) -> Result<()> {
    let io = |e| Error::io(path, e);
    if cfg!(target_endian = "little") || std::mem::size_of::<T>() == 1 {
        return w.write_all(bytemuck::cast_slice(data)).map_err(io);
    }
    let size = std::mem::size_of::<T>();
    let mut scratch = Vec::with_capacity(1 << 16);
    for chunk in data.chunks((1 << 16) / size) {
        scratch.clear();
        for x in chunk {
            let b = bytemuck::bytes_of(x);
            scratch.extend(b.iter().rev());
        }
        w.write_all(&scratch).map_err(io)?;
    }
    Ok(())
}

/// Whether `path` is a complete `.npy` of `shape` and `T`: its header
/// parses, names this type and shape, and the file holds exactly the header
/// plus `data` bytes.
pub(super) fn npy_complete<T: WritableElement>(
    path: &Path,
    shape: &[usize],
    data: u64,
    len: u64,
) -> bool {
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let Ok(header) = NpyHeader::from_reader(&mut f) else {
        return false;
    };
    let Ok(header_len) = f.stream_position() else {
        return false;
    };
    header.shape == shape
        && header.type_descriptor == T::type_descriptor()
        && header_len.checked_add(data) == Some(len)
}

// ---------------------------------------------------------------------------
// Images

/// One image of color type `C` and its GeoTIFF tags into `w`.
#[cfg(feature = "tiff")]
fn encode_tiff<C, W>(
    w: &mut W,
    width: u32,
    height: u32,
    data: &[C::Inner],
    geo: Option<&crate::volume::tiff::GeoTiff>,
) -> tiff::TiffResult<()>
where
    C: tiff::encoder::colortype::ColorType,
    [C::Inner]: tiff::encoder::TiffValue,
    W: Write + Seek,
{
    use crate::volume::tiff::geo_tags as g;
    use tiff::tags::Tag;
    let mut encoder = tiff::encoder::TiffEncoder::new(w)?;
    let mut image = encoder.new_image::<C>(width, height)?;
    if let Some(geo) = geo {
        let dir = image.encoder();
        if let Some(v) = &geo.pixel_scale {
            dir.write_tag(Tag::Unknown(g::MODEL_PIXEL_SCALE), &v[..])?;
        }
        if let Some(v) = &geo.tiepoints {
            dir.write_tag(Tag::Unknown(g::MODEL_TIEPOINT), &v[..])?;
        }
        if let Some(v) = &geo.transformation {
            dir.write_tag(Tag::Unknown(g::MODEL_TRANSFORMATION), &v[..])?;
        }
        if let Some(v) = &geo.geo_keys {
            dir.write_tag(Tag::Unknown(g::GEO_KEY_DIRECTORY), &v[..])?;
        }
        if let Some(v) = &geo.geo_doubles {
            dir.write_tag(Tag::Unknown(g::GEO_DOUBLE_PARAMS), &v[..])?;
        }
        if let Some(v) = &geo.geo_ascii {
            dir.write_tag(Tag::Unknown(g::GEO_ASCII_PARAMS), v.as_str())?;
        }
    }
    image.write_data(data)
}

/// `(height, width, (dtype, channels))` of a cell written as an image, or
/// why it cannot be one.
pub(super) fn image_layout(
    format: Format,
    dtype: DType,
    shape: &[usize],
    partitioned: &[usize],
) -> Result<(u32, u32, (DType, usize))> {
    // TIFF through the `tiff` crate stores every sample type; PNG (and
    // TIFF through `image`) 8 and 16 bits
    let any_type = format == Format::Tiff && cfg!(feature = "tiff");
    if !any_type && !matches!(dtype, DType::U8 | DType::U16) {
        return Err(invalid_format(
            format,
            format!(
                "image cells must be u8 or u16, not {dtype} (write npy, nii, raw, tiff or zarr)"
            ),
        ));
    }
    let channels = match shape.len() {
        2 => 1,
        3 if !partitioned.contains(&2) && (1..=4).contains(&shape[2]) => shape[2],
        _ => {
            return Err(invalid_format(
                format,
                format!(
                    "image cells are (height, width) or (height, width, channels) with 1-4 \
                     channels on a carried last axis; these cells have shape {shape:?} with \
                     partitioned axes {partitioned:?}"
                ),
            ))
        }
    };
    if any_type && channels != 1 && dtype.name().starts_with('i') {
        return Err(invalid_format(
            format,
            format!("TIFF cells of {channels} samples of signed {dtype} have no photometric interpretation; select one channel"),
        ));
    }
    if format == Format::Tiff && channels == 2 {
        return Err(invalid_format(
            format,
            "the TIFF encoder cannot write gray+alpha (2 channels); write png, or select \
             1, 3 or 4 channels"
                .into(),
        ));
    }
    let side = |n: usize| {
        u32::try_from(n).map_err(|_| {
            invalid_format(
                format,
                format!("a cell side of {n} pixels is too large for an image"),
            )
        })
    };
    Ok((side(shape[0])?, side(shape[1])?, (dtype, channels)))
}

/// A Zarr cell: one chunk of the cell's shape (zstd, fill value 0: all-zero
/// bytes are 0 in every supported type) at `at` in `store`, the chunk put
/// first and the metadata last (no zarrs version stamp: the output depends
/// on the data only), so that in an object store a cell is an array only
/// once whole.
#[cfg(feature = "zarr")]
fn zarr_cell<S>(
    store: Arc<S>,
    at: &str,
    shape: &[u64],
    dtype: DType,
    bytes: &[u8],
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    S: ?Sized + zarrs::storage::ReadableWritableStorageTraits + 'static,
{
    use zarrs::array::codec::bytes_to_bytes::zstd::ZstdCodec;
    use zarrs::array::{ArrayBuilder, ArrayBytes, ArrayMetadataOptions, FillValue};
    let array = ArrayBuilder::new(
        shape.to_vec(),
        shape.to_vec(),
        crate::format::zarr::data_type(dtype),
        FillValue::from(vec![0u8; dtype.size()]),
    )
    .bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(ZSTD_LEVEL, false))])
    .build(store, at)?;
    array.store_chunk(&vec![0u64; shape.len()], ArrayBytes::from(bytes))?;
    array
        .store_metadata_opt(&ArrayMetadataOptions::default().with_include_zarrs_metadata(false))?;
    Ok(())
}
