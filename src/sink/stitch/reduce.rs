//! What becomes of a finished region: the blended channels (cast to a
//! chosen type), their argmax, or a threshold of one channel, written into
//! an output volume.

use ndarray::ArrayViewD;

use super::stitcher::{Accumulator, RegionSink};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::grid::Region;
use crate::output::OutputVolume;

/// How the blended channels of a region are reduced before they are
/// written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reduce {
    /// The blended channels, cast (Rust's `as`: floats to integers saturate)
    /// to the output's type.
    None,
    /// The index of the largest channel (the first of equal ones; NaN never
    /// wins over a number): `u8` labels for up to 256 channels, `u16` up to
    /// 65536.
    Argmax,
    /// `1` where channel `channel` is above `value`, else `0` (`u8`).
    Threshold {
        /// The channel compared.
        channel: usize,
        /// The threshold.
        value: f64,
    },
}

/// Where the channel axis goes in an output that keeps channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelAxis {
    /// `(C, *spatial)`: Zarr, raw, memory (PyTorch's and MONAI's layout).
    First,
    /// `(*spatial, C)`: NIfTI (`x, y, z, C`).
    Last,
}

impl Reduce {
    /// The output's shape and type for `channels` channels over `spatial`:
    /// the spatial axes, plus a channel axis (where `axis` says) when more
    /// than one channel is kept; `dtype` is the type of kept channels
    /// (default `f32`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an argmax over more than 65536
    /// channels, a threshold of a channel past the last.
    pub fn output(
        &self,
        spatial: &[usize],
        channels: usize,
        axis: ChannelAxis,
        dtype: Option<DType>,
    ) -> Result<(Vec<usize>, DType)> {
        match *self {
            Reduce::None => {
                let mut shape = spatial.to_vec();
                if channels > 1 {
                    match axis {
                        ChannelAxis::First => shape.insert(0, channels),
                        ChannelAxis::Last => shape.push(channels),
                    }
                }
                Ok((shape, dtype.unwrap_or(DType::F32)))
            }
            Reduce::Argmax => {
                let dtype = if channels <= 256 {
                    DType::U8
                } else if channels <= 65536 {
                    DType::U16
                } else {
                    return Err(Error::InvalidArgument {
                        what: "argmax",
                        detail: format!(
                            "{channels} channels: labels hold at most 65536 classes (u16)"
                        ),
                    });
                };
                Ok((spatial.to_vec(), dtype))
            }
            Reduce::Threshold { channel, .. } => {
                if channel >= channels {
                    return Err(Error::InvalidArgument {
                        what: "threshold",
                        detail: format!(
                            "channel {channel} of a prediction with {channels} channels"
                        ),
                    });
                }
                Ok((spatial.to_vec(), DType::U8))
            }
        }
    }
}

/// A [`RegionSink`] that reduces each region and writes it into an output
/// volume, and completes the output at the end.
pub struct OutputSink<O> {
    out: O,
    reduce: Reduce,
    channels: usize,
    axis: ChannelAxis,
}

impl<O: OutputVolume> std::fmt::Debug for OutputSink<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputSink")
            .field("out", &self.out.name())
            .field("reduce", &self.reduce)
            .field("channels", &self.channels)
            .field("axis", &self.axis)
            .finish()
    }
}

impl<O: OutputVolume> OutputSink<O> {
    /// Writes `channels`-channel regions into `out`, reduced by `reduce`;
    /// `out` has the shape and type [`Reduce::output`] gives for its spatial
    /// axes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `out` does not have that shape or
    /// type.
    pub fn new(out: O, reduce: Reduce, channels: usize, axis: ChannelAxis) -> Result<Self> {
        let spatial: Vec<usize> = match (reduce, channels > 1, axis) {
            (Reduce::None, true, ChannelAxis::First) => out.shape().get(1..),
            (Reduce::None, true, ChannelAxis::Last) => {
                out.shape().get(..out.shape().len().saturating_sub(1))
            }
            _ => Some(out.shape()),
        }
        .unwrap_or_default()
        .to_vec();
        let (shape, dtype) = reduce.output(&spatial, channels, axis, Some(out.dtype()))?;
        if shape != out.shape() || dtype != out.dtype() {
            return Err(Error::InvalidArgument {
                what: "stitch output",
                detail: format!(
                    "{} is {:?} {}, a {reduce:?} of {channels} channels needs {shape:?} {dtype}",
                    out.name(),
                    out.shape(),
                    out.dtype()
                ),
            });
        }
        Ok(OutputSink {
            out,
            reduce,
            channels,
            axis,
        })
    }

    /// The output.
    pub fn output(&self) -> &O {
        &self.out
    }

    /// The output, given back.
    pub fn into_output(self) -> O {
        self.out
    }
}

impl<A: Accumulator, O: OutputVolume> RegionSink<A> for OutputSink<O> {
    fn region(&self, region: &Region, values: ArrayViewD<'_, A>) -> Result<()> {
        let c = self.channels;
        let v = values.as_slice().ok_or_else(|| Error::InvalidLayout {
            volume: self.out.name().to_string(),
            detail: "region values not in C order".into(),
        })?;
        let n = v.len() / c.max(1);
        match self.reduce {
            Reduce::None => {
                let (target, data): (Region, std::borrow::Cow<'_, [A]>) = if c == 1 {
                    (region.clone(), v.into())
                } else {
                    match self.axis {
                        ChannelAxis::First => {
                            let mut start = vec![0];
                            start.extend_from_slice(region.start());
                            let mut shape = vec![c];
                            shape.extend_from_slice(region.shape());
                            (Region::from_parts(start, shape), v.into())
                        }
                        ChannelAxis::Last => {
                            let mut start = region.start().to_vec();
                            start.push(0);
                            let mut shape = region.shape().to_vec();
                            shape.push(c);
                            let mut t = Vec::with_capacity(v.len());
                            for i in 0..n {
                                t.extend((0..c).map(|ch| v[ch * n + i]));
                            }
                            (Region::from_parts(start, shape), t.into())
                        }
                    }
                };
                crate::dispatch_dtype!(self.out.dtype(), U => {
                    let mut out = vec![U::default(); data.len()];
                    U::convert_from(A::run(&data), &mut out);
                    self.out.write_region(&target, bytemuck::cast_slice(&out))
                })
            }
            Reduce::Argmax => {
                let mut best: Vec<A> = v[..n].to_vec();
                let mut label = vec![0u32; n];
                for ch in 1..c {
                    let row = &v[ch * n..(ch + 1) * n];
                    for ((b, l), &x) in best.iter_mut().zip(&mut label).zip(row) {
                        // NaN is the one value unequal to itself
                        #[allow(clippy::eq_op)]
                        let (b_nan, x_nan) = (*b != *b, x != x);
                        if x > *b || (b_nan && !x_nan) {
                            *b = x;
                            *l = ch as u32;
                        }
                    }
                }
                if self.out.dtype() == DType::U8 {
                    let l: Vec<u8> = label.iter().map(|&x| x as u8).collect();
                    self.out.write_region(region, &l)
                } else {
                    let l: Vec<u16> = label.iter().map(|&x| x as u16).collect();
                    self.out.write_region(region, bytemuck::cast_slice(&l))
                }
            }
            Reduce::Threshold { channel, value } => {
                let row = &v[channel * n..(channel + 1) * n];
                let mask: Vec<u8> = row.iter().map(|&x| u8::from(x.to_f64() > value)).collect();
                self.out.write_region(region, &mask)
            }
        }
    }

    fn finish(&self) -> Result<()> {
        self.out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::ArrayOutput;
    use ndarray::{ArrayD, IxDyn};

    fn values(c: usize, v: &[f32]) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(&[c, v.len() / c]), v.to_vec()).unwrap()
    }

    #[test]
    fn argmax_takes_the_first_largest_and_skips_nan() {
        let out = ArrayOutput::new(&[4], DType::U8).unwrap();
        let sink = OutputSink::new(out, Reduce::Argmax, 3, ChannelAxis::First).unwrap();
        let v = values(
            3,
            &[
                1.0,
                0.0,
                f32::NAN,
                2.0, //
                1.0,
                5.0,
                1.0,
                2.0, //
                0.0,
                5.0,
                0.5,
                3.0,
            ],
        );
        RegionSink::<f32>::region(&sink, &Region::full(&[4]), v.view()).unwrap();
        let labels = sink.into_output().into_array::<u8>().unwrap();
        assert_eq!(labels.as_slice().unwrap(), &[0, 1, 1, 2]);
    }

    #[test]
    fn kept_channels_go_first_or_last_and_are_cast() {
        let v = values(2, &[1.5, 2.5, 300.0, -1.0]);
        let first = ArrayOutput::new(&[2, 2], DType::U8).unwrap();
        let sink = OutputSink::new(first, Reduce::None, 2, ChannelAxis::First).unwrap();
        RegionSink::<f32>::region(&sink, &Region::full(&[2]), v.view()).unwrap();
        let a = sink.into_output().into_array::<u8>().unwrap();
        assert_eq!(a.as_slice().unwrap(), &[1, 2, 255, 0]);
        let last = ArrayOutput::new(&[2, 2], DType::F32).unwrap();
        let sink = OutputSink::new(last, Reduce::None, 2, ChannelAxis::Last).unwrap();
        RegionSink::<f32>::region(&sink, &Region::full(&[2]), v.view()).unwrap();
        let a = sink.into_output().into_array::<f32>().unwrap();
        assert_eq!(a.as_slice().unwrap(), &[1.5, 300.0, 2.5, -1.0]);
    }

    #[test]
    fn threshold_and_limits() {
        let out = ArrayOutput::new(&[2], DType::U8).unwrap();
        let t = Reduce::Threshold {
            channel: 1,
            value: 0.5,
        };
        let sink = OutputSink::new(out, t, 2, ChannelAxis::First).unwrap();
        RegionSink::<f32>::region(
            &sink,
            &Region::full(&[2]),
            values(2, &[9.0, 9.0, 0.5, 0.6]).view(),
        )
        .unwrap();
        assert_eq!(
            sink.into_output()
                .into_array::<u8>()
                .unwrap()
                .as_slice()
                .unwrap(),
            &[0, 1]
        );
        assert_eq!(
            Reduce::Argmax
                .output(&[3], 256, ChannelAxis::First, None)
                .unwrap()
                .1,
            DType::U8
        );
        assert_eq!(
            Reduce::Argmax
                .output(&[3], 257, ChannelAxis::First, None)
                .unwrap()
                .1,
            DType::U16
        );
        assert!(Reduce::Argmax
            .output(&[3], 65537, ChannelAxis::First, None)
            .is_err());
        assert!(t.output(&[3], 1, ChannelAxis::First, None).is_err());
    }
}
