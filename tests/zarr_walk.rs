//! Zarr reads against slicing, and the walk's chunk reuse, on arrays written
//! here with zarrs (no Python needed; zarr-python fixtures are in
//! `zarr_fixtures.rs`).
#![cfg(feature = "zarr")]

use std::sync::Arc;

use impart::{Edge, Error, PadMode, Partition, Volume, ZarrOptions, ZarrVolume};
use ndarray::{s, Array3, ArrayD};
use zarrs::array::{data_type, ArrayBuilder, ArraySubset};
use zarrs::filesystem::FilesystemStore;

const SHAPE: [usize; 3] = [40, 36, 30];

fn data() -> Array3<u16> {
    Array3::from_shape_fn(SHAPE, |(z, y, x)| (z * 1000 + y * 30 + x) as u16)
}

/// Writes `data` as a Zarr v3 array with `chunks`, leaving out the chunks
/// listed in `skip` (they read as the fill value 7).
fn write(dir: &std::path::Path, chunks: [u64; 3], skip: &[[u64; 3]]) -> std::path::PathBuf {
    let path = dir.join("a.zarr");
    let store = Arc::new(FilesystemStore::new(&path).unwrap());
    let shape: Vec<u64> = SHAPE.iter().map(|&n| n as u64).collect();
    let array = ArrayBuilder::new(shape, chunks, data_type::uint16(), 7u16)
        .build(store, "/")
        .unwrap();
    array.store_metadata().unwrap();
    let d = data();
    let grid: Vec<u64> = (0..3)
        .map(|k| (SHAPE[k] as u64).div_ceil(chunks[k]))
        .collect();
    for cz in 0..grid[0] {
        for cy in 0..grid[1] {
            for cx in 0..grid[2] {
                if skip.contains(&[cz, cy, cx]) {
                    continue;
                }
                let lo = [cz * chunks[0], cy * chunks[1], cx * chunks[2]];
                let hi: Vec<u64> = (0..3)
                    .map(|k| (lo[k] + chunks[k]).min(SHAPE[k] as u64))
                    .collect();
                let block = d
                    .slice(s![
                        lo[0] as usize..hi[0] as usize,
                        lo[1] as usize..hi[1] as usize,
                        lo[2] as usize..hi[2] as usize
                    ])
                    .to_owned();
                let subset =
                    ArraySubset::new_with_ranges(&[lo[0]..hi[0], lo[1]..hi[1], lo[2]..hi[2]]);
                array
                    .store_array_subset(&subset, block.as_standard_layout().as_slice().unwrap())
                    .unwrap();
            }
        }
    }
    path
}

fn expected(
    d: &Array3<u16>,
    start: &[usize],
    shape: &[usize],
    missing: &[[u64; 3]],
    chunks: [u64; 3],
) -> ArrayD<u16> {
    ArrayD::from_shape_fn(ndarray::IxDyn(shape), |i| {
        let p = [start[0] + i[0], start[1] + i[1], start[2] + i[2]];
        let c = [
            p[0] as u64 / chunks[0],
            p[1] as u64 / chunks[1],
            p[2] as u64 / chunks[2],
        ];
        if missing.contains(&c) {
            7
        } else {
            d[p]
        }
    })
}

#[test]
fn cells_equal_slicing_and_missing_chunks_read_fill() {
    let dir = tempfile::tempdir().unwrap();
    let chunks = [8, 8, 8];
    let missing = [[0, 0, 0], [2, 3, 1]];
    let path = write(dir.path(), chunks, &missing);
    let vol = ZarrVolume::open(&path).unwrap();
    assert_eq!(vol.shape(), &SHAPE);
    assert_eq!(vol.chunk_shape(), &[8, 8, 8]);
    assert!(vol.layout().is_none());
    let d = data();
    let part = Partition::builder(&vol)
        .cell(&[10, 12, 9])
        .stride(0.5)
        .build()
        .unwrap();
    for cell in part.cells("...").unwrap() {
        let want = expected(
            &d,
            cell.region().start(),
            cell.region().shape(),
            &missing,
            chunks,
        );
        assert_eq!(cell.to_array::<u16>().unwrap(), want, "{:?}", cell.index());
        assert_eq!(cell.to_array_as::<f64>().unwrap(), want.mapv(|v| v as f64));
        assert!(matches!(cell.view::<u16>(), Err(Error::NotZeroCopy { .. })));
    }
    // reflect padding reads outside the cell's own box
    let padded = Partition::builder(&vol)
        .cell(&[16, 16, 16])
        .edge(Edge::Pad(PadMode::Reflect))
        .build()
        .unwrap();
    let last = padded.select(s![-1, -1, -1]).unwrap();
    let got = last.to_array::<u16>().unwrap();
    // x: cells start at 0, 16 -> the last starts at 16, covers 16..32, 30 and 31 reflect to 28, 27
    assert_eq!(
        got[[0, 0, 14]],
        expected(&d, &[32, 32, 28], &[1, 1, 1], &missing, chunks)[[0, 0, 0]]
    );
    assert_eq!(
        got[[0, 0, 15]],
        expected(&d, &[32, 32, 27], &[1, 1, 1], &missing, chunks)[[0, 0, 0]]
    );
}

#[test]
fn a_walk_decodes_each_chunk_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), [8, 8, 8], &[]);
    let vol = ZarrVolume::open(&path).unwrap();
    // cells of 12 with stride 0.5 (step 6) are not aligned to 8-chunks
    let part = Partition::builder(&vol)
        .cell(&[12, 12, 12])
        .stride(0.5)
        .build()
        .unwrap();
    let total_chunks = 5 * 5 * 4;

    vol.reset_decoded_chunks();
    for cell in part.cells("...").unwrap() {
        cell.to_array::<u16>().unwrap();
    }
    let naive = vol.decoded_chunks();
    assert!(
        naive > 2 * total_chunks,
        "naive per-cell reads decode chunks repeatedly: {naive}"
    );

    vol.reset_decoded_chunks();
    let d = data();
    let sums = part
        .par_map_cells::<u16, _, _>("...", |cell, v| {
            let r = cell.region();
            let want = d.slice(s![r.range(0), r.range(1), r.range(2)]).into_dyn();
            assert_eq!(v, want.view());
            v.iter().map(|&x| x as u64).sum::<u64>()
        })
        .unwrap();
    assert_eq!(sums.len(), part.len());
    assert_eq!(
        vol.decoded_chunks(),
        total_chunks,
        "the walk decodes every chunk exactly once"
    );

    // a tiny budget still gives the right values, decoding some chunks again
    let small = ZarrOptions::new()
        .cache_bytes(3 * 8 * 8 * 8 * 2)
        .open(&path)
        .unwrap();
    let part = Partition::builder(&small)
        .cell(&[12, 12, 12])
        .stride(0.5)
        .build()
        .unwrap();
    let again = part
        .par_map_cells::<u16, _, _>("...", |_, v| v.iter().map(|&x| x as u64).sum::<u64>())
        .unwrap();
    assert_eq!(again, sums);
    assert!(small.decoded_chunks() >= total_chunks);
}

/// Two walks over one volume at the same time each decode every chunk once:
/// each has a session and a cache of its own (before, the second walk's
/// announcement reset the first's counts, and the first to finish turned
/// caching off for the other).
#[test]
fn concurrent_walks_each_decode_every_chunk_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), [8, 8, 8], &[]);
    let vol = ZarrVolume::open(&path).unwrap();
    let part = Partition::builder(&vol)
        .cell(&[12, 12, 12])
        .stride(0.5)
        .build()
        .unwrap();
    let total_chunks = 5 * 5 * 4;
    let want = part
        .cells("...")
        .unwrap()
        .map(|c| {
            c.to_array::<u16>()
                .unwrap()
                .iter()
                .map(|&x| x as u64)
                .sum::<u64>()
        })
        .collect::<Vec<u64>>();
    for _ in 0..5 {
        vol.reset_decoded_chunks();
        let barrier = std::sync::Barrier::new(2);
        let walk = || {
            barrier.wait();
            part.par_map_cells::<u16, _, _>("...", |_, v| {
                // slow the cells a little so that the walks overlap
                std::thread::yield_now();
                v.iter().map(|&x| x as u64).sum::<u64>()
            })
            .unwrap()
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(walk);
            let b = s.spawn(walk);
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(a, want);
        assert_eq!(b, want);
        assert_eq!(
            vol.decoded_chunks(),
            2 * total_chunks,
            "each of two concurrent walks decodes every chunk exactly once"
        );
    }
}

/// A chunk source sees the walk's batches: as the first batch starts it is
/// told that batch's chunks, and before each next batch starts that one's,
/// so every chunk the walk decodes was announced, once, with a budget no
/// larger than the walk's.
#[test]
fn a_source_is_told_each_batch_ahead() {
    use impart::{ChunkSource, ChunkedVolume, DType};
    use std::sync::Mutex;

    struct Counting {
        shape: Vec<usize>,
        chunk: Vec<usize>,
        announced: Mutex<Vec<Vec<u64>>>,
        budgets: Mutex<Vec<usize>>,
        decoded: Mutex<Vec<Vec<u64>>>,
    }
    impl ChunkSource for Counting {
        fn name(&self) -> &str {
            "<counting>"
        }
        fn shape(&self) -> &[usize] {
            &self.shape
        }
        fn dtype(&self) -> DType {
            DType::U16
        }
        fn chunk_shape(&self) -> &[usize] {
            &self.chunk
        }
        fn decode(&self, index: &[u64]) -> impart::Result<Vec<u8>> {
            self.decoded.lock().unwrap().push(index.to_vec());
            // each voxel holds its chunk's linear index
            let v = (index[0] * 100 + index[1]) as u16;
            Ok(std::iter::repeat_n(v.to_ne_bytes(), 64).flatten().collect())
        }
        fn prefetch(&self, chunks: &[Vec<u64>], budget: usize) {
            self.announced.lock().unwrap().extend_from_slice(chunks);
            self.budgets.lock().unwrap().push(budget);
        }
        fn kind(&self) -> &'static str {
            "counting"
        }
    }
    let source = Counting {
        shape: vec![256, 64],
        chunk: vec![8, 8],
        announced: Mutex::default(),
        budgets: Mutex::default(),
        decoded: Mutex::default(),
    };
    let vol = ChunkedVolume::new(source, 1 << 20).unwrap();
    let part = Partition::builder(&vol).cell(&[8, 8]).build().unwrap();
    let values = part
        .par_map_cells::<u16, _, _>("...", |cell, v| {
            let i = cell.region().start()[0] / 8;
            let j = cell.region().start()[1] / 8;
            assert!(v.iter().all(|&x| x as usize == i * 100 + j));
            v[[0, 0]]
        })
        .unwrap();
    assert_eq!(values.len(), 32 * 8);
    let src = vol.source();
    let decoded = src.decoded.lock().unwrap().clone();
    let announced = src.announced.lock().unwrap().clone();
    assert_eq!(decoded.len(), 32 * 8, "each chunk decoded once");
    // every chunk is announced once, in the order the walk decodes the
    // batches (within a batch, threads decode in any order)
    let mut sorted = announced.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), announced.len());
    let mut decoded_sorted = decoded.clone();
    decoded_sorted.sort();
    assert_eq!(sorted, decoded_sorted);
    let budgets = src.budgets.lock().unwrap().clone();
    assert!(budgets.len() > 1, "more than one batch: {budgets:?}");
    assert!(budgets.iter().all(|&b| b <= 1 << 20), "{budgets:?}");
}

#[test]
fn bad_paths_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = ZarrVolume::open(dir.path().join("nope.zarr")).unwrap_err();
    assert!(err.to_string().contains("nope.zarr"), "{err}");
    std::fs::create_dir(dir.path().join("empty.zarr")).unwrap();
    let err = ZarrVolume::open(dir.path().join("empty.zarr")).unwrap_err();
    assert!(err.to_string().contains("empty.zarr"), "{err}");
    std::fs::create_dir(dir.path().join("junk.zarr")).unwrap();
    std::fs::write(dir.path().join("junk.zarr/zarr.json"), b"{not json").unwrap();
    assert!(ZarrVolume::open(dir.path().join("junk.zarr")).is_err());
}
