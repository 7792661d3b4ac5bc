//! How the pages of a stack form axes: OME-XML's `DimensionOrder` and
//! sizes, or ImageJ's `images`, `channels`, `slices` and `frames`, read
//! from the first page's ImageDescription.

/// The axes a stack's pages form, slowest first, each with its name
/// (`T`, `Z`, `C` as OME and ImageJ call them) and extent; axes of extent
/// 1 are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Series {
    /// Where the axes come from: `"OME-XML"` or `"ImageJ"`.
    pub source: &'static str,
    pub axes: Vec<(char, usize)>,
    /// ImageJ's `images`: the planes of a file that may hold only the
    /// first page's directory (ImageJ's files over 4 GiB).
    pub images: Option<usize>,
}

impl Series {
    /// Pages the axes cover.
    pub fn pages(&self) -> usize {
        self.axes.iter().map(|a| a.1).product()
    }

    /// The axes of a stack described by `description` for pages of
    /// `samples` samples, or `None` if it describes none.
    pub fn from_description(description: &str, samples: u64) -> Option<Series> {
        if description.starts_with("ImageJ=") {
            return imagej(description);
        }
        if description.contains("<OME") {
            return ome(description, samples);
        }
        None
    }
}

fn imagej(text: &str) -> Option<Series> {
    let value = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().parse::<usize>().ok())?
        })
    };
    let images = value("images");
    let axes: Vec<(char, usize)> = [('T', "frames"), ('Z', "slices"), ('C', "channels")]
        .into_iter()
        .filter_map(|(name, key)| Some((name, value(key)?)))
        .filter(|&(_, n)| n > 1)
        .collect();
    let axes = if axes.is_empty() {
        // a plain ImageJ stack: `images` planes along one axis
        match images {
            Some(n) if n > 1 => vec![('I', n)],
            _ => Vec::new(),
        }
    } else {
        axes
    };
    Some(Series {
        source: "ImageJ",
        axes,
        images,
    })
}

/// The attribute `name` of the XML element that starts `element`.
fn attribute<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let end = element.find('>').unwrap_or(element.len());
    let head = &element[..end];
    let mut from = 0;
    while let Some(at) = head[from..].find(name) {
        let i = from + at;
        let before = head[..i].chars().next_back();
        let rest = head[i + name.len()..].trim_start();
        if before.is_some_and(char::is_whitespace) {
            if let Some(rest) = rest.strip_prefix('=') {
                let rest = rest.trim_start();
                let quote = rest.chars().next()?;
                if quote == '"' || quote == '\'' {
                    let value = &rest[1..];
                    return value.find(quote).map(|e| &value[..e]);
                }
            }
        }
        from = i + name.len();
    }
    None
}

fn ome(text: &str, samples: u64) -> Option<Series> {
    let pixels = &text[text.find("<Pixels")?..];
    let size = |k: &str| -> Option<usize> { attribute(pixels, k)?.trim().parse().ok() };
    let order = attribute(pixels, "DimensionOrder")?;
    let (z, c, t) = (size("SizeZ")?, size("SizeC")?, size("SizeT")?);
    let samples = usize::try_from(samples).ok()?.max(1);
    // channels stored as the samples of each pixel are not pages
    let c_pages = if c % samples == 0 { c / samples } else { c };
    let mut axes: Vec<(char, usize)> = order
        .chars()
        .skip(2)
        .filter_map(|d| match d {
            'Z' => Some(('Z', z)),
            'C' => Some(('C', c_pages)),
            'T' => Some(('T', t)),
            _ => None,
        })
        .collect();
    if axes.len() != 3 || !order.starts_with("XY") {
        return None;
    }
    axes.reverse();
    axes.retain(|&(_, n)| n > 1);
    Some(Series {
        source: "OME-XML",
        axes,
        images: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ome_dimension_order_gives_the_axes_slowest_first() {
        let xml = r#"<?xml version="1.0"?><OME><Image><Pixels ID="P:0" DimensionOrder="XYZCT" Type="uint16" SizeX="45" SizeY="70" SizeZ="1" SizeC="2" SizeT="2"><Channel/></Pixels></Image></OME>"#;
        let s = Series::from_description(xml, 1).expect("series");
        assert_eq!(s.axes, vec![('T', 2), ('C', 2)]);
        let rgb = xml
            .replace("SizeC=\"2\"", "SizeC=\"3\"")
            .replace("SizeZ=\"1\"", "SizeZ=\"4\"");
        let s = Series::from_description(&rgb, 3).expect("series");
        assert_eq!(s.axes, vec![('T', 2), ('Z', 4)]);
    }

    #[test]
    fn imagej_hyperstacks_put_channels_fastest() {
        let d = "ImageJ=1.11a\nimages=6\nchannels=3\nslices=2\nhyperstack=true\nmode=grayscale\n";
        let s = Series::from_description(d, 1).expect("series");
        assert_eq!(s.axes, vec![('Z', 2), ('C', 3)]);
        assert_eq!(s.images, Some(6));
        let plain = Series::from_description("ImageJ=1.53t\nimages=5\n", 1).expect("series");
        assert_eq!(plain.axes, vec![('I', 5)]);
    }

    #[test]
    fn attributes_are_matched_whole() {
        let e = r#"<Pixels xSizeX="9" SizeX = '7' >"#;
        assert_eq!(attribute(e, "SizeX"), Some("7"));
        assert_eq!(attribute("<Pixels>", "SizeX"), None);
    }
}
