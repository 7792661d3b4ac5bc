//! Raw option validation and reading, against a model of the layout.
//!
//! A structured input (shape, type, byte order, memory order, offset,
//! optional strides, file length, mapped or not) opens a file of that length
//! whose byte `i` is a function of `i`. The model:
//! - an open that succeeds must have every element of the shape inside the
//!   file (offset + the largest stride sum + element size ≤ length);
//! - default strides with every element inside the file and no overflow
//!   must open (a valid file is never refused);
//! - every element read (the probe regions) equals the bytes at the
//!   model's offset, byte-swapped to native order.
#![no_main]

use arbitrary::Arbitrary;
use impart::{ByteOrder, DType, MemoryOrder, RawOptions, Volume};
use std::sync::OnceLock;

use impart_fuzz::{probe_regions_within, read_regions, write_file};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Extent {
    Small(u8),
    Any(u64),
}

impl Extent {
    fn get(&self) -> usize {
        match *self {
            Extent::Small(n) => n as usize % 24,
            Extent::Any(n) => n as usize,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    shape: Vec<Extent>,
    dtype: u8,
    big_endian: bool,
    fortran: bool,
    offset: Extent,
    strides: Option<Vec<Extent>>,
    /// The file's length, up to 64 KiB.
    len: u16,
    mmap: bool,
}

/// Byte `i` of every file.
fn byte(i: u64) -> u8 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

fuzz_target!(|input: Input| {
    if input.shape.len() > 6 {
        return;
    }
    let shape: Vec<usize> = input.shape.iter().map(Extent::get).collect();
    let dtype = DType::ALL[input.dtype as usize % DType::ALL.len()];
    let size = dtype.size();
    let offset = input.offset.get() as u64;
    let len = input.len as u64;
    // the file's bytes are the same function of the offset in every run
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    let file = FILE.get_or_init(|| (0..=u16::MAX as u64).map(byte).collect());
    let path = write_file("x.raw", &file[..len as usize]);

    let mut options = RawOptions::new(&shape, dtype)
        .byte_order(if input.big_endian {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        })
        .order(if input.fortran {
            MemoryOrder::F
        } else {
            MemoryOrder::C
        })
        .offset(offset)
        .mmap(input.mmap);
    let default_strides = {
        let mut s = vec![0usize; shape.len()];
        let mut acc: Option<usize> = Some(1);
        let axes: Vec<usize> = if input.fortran {
            (0..shape.len()).collect()
        } else {
            (0..shape.len()).rev().collect()
        };
        for a in axes {
            s[a] = acc.unwrap_or(0);
            acc = acc.and_then(|x| x.checked_mul(shape[a]));
        }
        acc.map(|_| s)
    };
    let strides: Option<Vec<usize>> = match &input.strides {
        Some(list) if list.len() == shape.len() => {
            let s: Vec<usize> = list.iter().map(Extent::get).collect();
            options = options.strides(&s);
            Some(s)
        }
        Some(list) => {
            // a stride list of the wrong rank must be refused
            let s: Vec<usize> = list.iter().map(Extent::get).collect();
            options = options.strides(&s);
            assert!(
                options.open(&path).is_err(),
                "strides {s:?} for shape {shape:?} opened"
            );
            return;
        }
        None => default_strides.clone(),
    };
    // The end of the last byte of the element furthest in, by the model.
    let end: Option<u64> = strides.as_ref().and_then(|st| {
        if shape.is_empty() || shape.contains(&0) {
            return None;
        }
        let mut far: u64 = 0;
        for (&n, &s) in shape.iter().zip(st) {
            far = far.checked_add((n as u64 - 1).checked_mul(s as u64)?)?;
        }
        offset
            .checked_add(far.checked_mul(size as u64)?)?
            .checked_add(size as u64)
    });

    let opened = options.open(&path);
    let volume = match opened {
        Ok(v) => v,
        Err(e) => {
            let valid = input.strides.is_none()
                && end.is_some_and(|end| end <= len)
                && shape.iter().product::<usize>() < (1 << 20);
            assert!(
                !valid,
                "a valid raw file is refused: {shape:?} {dtype} at {offset} in {len} bytes: {e}"
            );
            return;
        }
    };
    let end = end.expect("an opened layout has a model end");
    assert!(
        end <= len,
        "opened, but the data ends at byte {end} of {len}: {shape:?} {strides:?}"
    );
    assert_eq!(volume.shape(), shape.as_slice());
    let strides = strides.expect("opened with strides");
    // 4 KiB per region: every element read is checked against the model
    let regions = probe_regions_within(&shape, size, 4096);
    for (region, got) in regions.iter().zip(read_regions(&volume, &regions)) {
        let got = got.unwrap_or_else(|| panic!("{region:?} of an opened raw file does not read"));
        // C order over the region, each element from the model's offset
        let voxels = region.voxels().expect("a probe region is small");
        for k in 0..voxels {
            let mut rest = k;
            let mut at = 0u64;
            for a in (0..shape.len()).rev() {
                let i = region.start()[a] + rest % region.shape()[a];
                rest /= region.shape()[a];
                at += (i * strides[a]) as u64;
            }
            let at = offset + at * size as u64;
            let mut want: Vec<u8> = (at..at + size as u64).map(byte).collect();
            if input.big_endian != cfg!(target_endian = "big") {
                want.reverse();
            }
            assert_eq!(
                &got[k * size..(k + 1) * size],
                want.as_slice(),
                "element {k} of {region:?} in {shape:?}"
            );
        }
    }
});
