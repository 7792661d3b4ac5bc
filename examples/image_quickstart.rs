//! The original impart README's quickstart, in Rust: a 1920x1080 RGB
//! image, 128x128 cells with 50 % overlap.
//!
//! `cargo run --example image_quickstart [IMAGE]` (without an argument a
//! test image is made in the temp dir).

use impart::original::ImagePartition;
use ndarray::s;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = match std::env::args().nth(1) {
        Some(p) => p.into(),
        None => {
            let p = std::env::temp_dir().join("impart-quickstart.png");
            image::RgbImage::from_fn(1920, 1080, |x, y| {
                image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
            })
            .save(&p)?;
            p
        }
    };

    // Python: img = ImagePartition("image.png", cell_shape=(128, 128), stride=0.5, channels=(0, 1, 2))
    let img = ImagePartition::new(&path, (128, 128), 0.5, &[0, 1, 2])?;
    println!(
        "image {:?}, grid shape {:?}, step_size {:?}",
        img.image_shape(),
        img.shape(),
        img.step_size()
    );

    // img[:, 0] -> the first column of cells
    let (left, top, width, height) = img.subregion(s![.., 0])?;
    println!("[:, 0]       left {left}, top {top}, width {width}, height {height}");
    // img[:3, 15:21]
    let (left, top, width, height) = img.subregion(s![..3, 15..21])?;
    println!("[:3, 15:21]  left {left}, top {top}, width {width}, height {height}");
    // img.compute_image_subregion(10, -1)
    let (left, top, width, height) = img.subregion(s![10, -1])?;
    println!("[10, -1]     left {left}, top {top}, width {width}, height {height}");
    // img[:10, -1].numpy()
    let pixels = img.select(s![..10, -1])?.to_array::<u8>()?;
    println!(
        "[:10, -1] as an array: shape {:?}, first pixel {:?}",
        pixels.shape(),
        pixels.slice(s![0, 0, ..]).to_vec()
    );
    // and zero copy, since the decoded image is in memory
    let view = img.select(s![10, -1])?.view::<u8>()?;
    println!("[10, -1] viewed in place: shape {:?}", view.shape());
    Ok(())
}
