//! How many chunks the workers of a sharded job decode, all together,
//! against one process: the chunk-aware split of `Partition::shard_split`
//! and a round-robin split (cell `c` to worker `c mod N`), each part walked
//! as its worker walks it (`par_map_cells_where`: one walk, each chunk
//! decoded once), decodes counted by the volume.
//!
//! ```text
//! cargo run --release --example shard_decodes                 # a synthetic chunked volume
//! cargo run --release --example shard_decodes -- in.zarr 64,64,64 0.5 4 [AXES]
//! ```
//!
//! With a path: a Zarr array (or any chunked input), the cell shape, the
//! stride, the number of shards and optionally the partitioned axes
//! (`1,2,3` for a channel-first array).

use impart::{ChunkSource, ChunkedVolume, DType, Partition, Volume};

/// Chunks of a position hash (what they hold does not matter here).
struct Hashed {
    shape: Vec<usize>,
    chunk: Vec<usize>,
}

impl ChunkSource for Hashed {
    fn name(&self) -> &str {
        "<hashed>"
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
        let n: usize = self.chunk.iter().product();
        let seed = index
            .iter()
            .fold(17u64, |h, &i| h.wrapping_mul(31).wrapping_add(i));
        Ok((0..n)
            .flat_map(|k| (((seed as usize + k) % 65521) as u16).to_ne_bytes())
            .collect())
    }
    fn kind(&self) -> &'static str {
        "hashed"
    }
}

/// Decodes of one process, of the chunk-aware split and of round robin.
fn measure<V: Volume>(
    part: &Partition<V>,
    n: usize,
    decoded: impl Fn() -> u64,
) -> impart::Result<(u64, u64, u64, f64)> {
    let cells = part.resolve("...")?;
    let walk = |include: &(dyn Fn(usize) -> bool + Sync)| -> impart::Result<u64> {
        let before = decoded();
        let sums = part.par_map_cells_where::<u16, _, _, _>(&cells, include, |_, v| {
            v.iter().map(|&x| u64::from(x)).sum::<u64>()
        })?;
        std::hint::black_box(sums);
        Ok(decoded() - before)
    };
    let single = walk(&|_| true)?;
    let split = part.shard_split(&cells, n)?;
    let mut ours = 0;
    for k in 0..n {
        ours += walk(&|c| split.owner(c) == k)?;
    }
    let mut rr = 0;
    for k in 0..n {
        rr += walk(&|c| c % n == k)?;
    }
    // the largest part's bytes against an even share
    let total: u64 = (0..n).map(|k| split.part_bytes(k)).sum();
    let largest = (0..n).map(|k| split.part_bytes(k)).max().unwrap_or(0);
    let balance = largest as f64 * n as f64 / total.max(1) as f64;
    Ok((single, ours, rr, balance))
}

fn report(what: &str, cells: usize, n: usize, (single, ours, rr, balance): (u64, u64, u64, f64)) {
    println!(
        "{what}: {cells} cells, {n} shards: one process decodes {single} chunks; chunk-aware split {ours} ({:.2}x), round robin {rr} ({:.2}x); largest part {balance:.3}x an even share",
        ours as f64 / single as f64,
        rr as f64 / single as f64
    );
}

fn main() -> impart::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list =
        |s: &str| -> Vec<usize> { s.split(',').filter_map(|v| v.trim().parse().ok()).collect() };
    if let Some(path) = args.first() {
        let cell = list(args.get(1).map_or("64,64,64", String::as_str));
        let stride: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0.5);
        let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4);
        let volume = impart::open(path)?;
        let mut builder = Partition::builder(volume).cell(&cell).stride(stride);
        if let Some(axes) = args.get(4) {
            builder = builder.axes(&list(axes));
        }
        let part = builder.build()?;
        let cells = part.grid().len();
        let chunks = part.volume().chunk_shape().map(<[usize]>::to_vec);
        let r = measure(&part, n, || part.volume().decoded_chunks().unwrap_or(0))?;
        report(&format!("{path} (chunks {chunks:?})"), cells, n, r);
        return Ok(());
    }
    for (shape, chunk, cell, stride) in [
        (vec![384, 384, 384], vec![40, 40, 40], vec![64, 64, 64], 0.5),
        (vec![8192, 8192], vec![256, 256], vec![512, 512], 0.5),
    ] {
        let vol = ChunkedVolume::new(
            Hashed {
                shape: shape.clone(),
                chunk: chunk.clone(),
            },
            1 << 30,
        )?;
        let part = Partition::builder(&vol)
            .cell(&cell)
            .stride(stride)
            .build()?;
        for n in [4, 16] {
            let r = measure(&part, n, || vol.decoded_chunks())?;
            report(
                &format!("{shape:?} in {chunk:?} chunks, cells {cell:?} at stride {stride}"),
                part.grid().len(),
                n,
                r,
            );
        }
    }
    Ok(())
}
