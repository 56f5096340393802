//! Features as a service: the output of any named layer of a network for every sample of a
//! dataset, computed batch by batch in evaluation mode and, through [`FeatureCache`], kept on
//! disk so that the next request with the same network, weights, layer and data reads them
//! back instead of running the network again.
//!
//! Linear probes (`train::probe`), the proxy A-distance and t-SNE (`adapt`) take their
//! features from here; so can any measure that works on frozen features (LogME, LEEP, PCA).
//!
//! The cache key is a SHA-256 of what the features depend on: the network's spec (the model),
//! the tensors of its state dict that the layer's output depends on (the weights and
//! batch-norm statistics of the layer and of every layer that runs before it, not those of
//! later layers or heads: a study that gives each seed a new head reads the backbone's
//! features once), the layer, the
//! dataset's samples, labels and shape (so the data *and* the transforms applied to it: two
//! transforms that give other samples give another key), and the batch size (the summation
//! order of a batch may change the last bit of a value, and a cached run must give the same
//! numbers as an uncached one). Hashing the data costs about a second per 200 MB of samples,
//! far less than the forward pass it saves.

use std::io::Write;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::Dataset;
use crate::nn::{Mode, Network};
use crate::{Error, Result};

/// Runs `net` in evaluation mode over `data` in batches of `batch_size` and hands each
/// batch's flattened `layer` output (`[batch, width]`, row-major) to `sink`. Returns the width.
fn stream(
    net: &mut Network,
    data: &Dataset,
    layer: &str,
    batch_size: usize,
    progress: bool,
    mut sink: impl FnMut(&[f32]) -> Result<()>,
) -> Result<usize> {
    if data.is_empty() {
        return Err(Error::Spec(format!("dataset `{}` is empty", data.name)));
    }
    let bar = if progress {
        let b = ProgressBar::new(data.len() as u64);
        b.set_style(
            ProgressStyle::with_template("features {msg} [{bar:30}] {pos}/{len} ({eta})")
                .expect("static template")
                .progress_chars("=> "),
        );
        b.set_message(format!("{} @ {layer}", data.name));
        b
    } else {
        ProgressBar::hidden()
    };
    let taps = [layer.to_string()];
    let order: Vec<usize> = (0..data.len()).collect();
    let mut width = 0;
    for idx in order.chunks(batch_size.max(1)) {
        let (values, _) = data.gather_batch(idx)?;
        let input = net.input(values, idx.len())?;
        let f = net.forward_taps(input, Mode::Eval, &taps)?;
        let feats = f.taps[layer].clone().flat();
        width = feats.dims()[1];
        sink(&crate::backend::to_vec(&feats))?;
        bar.inc(idx.len() as u64);
    }
    bar.finish_and_clear();
    Ok(width)
}

/// A dataset of features `x` (`width` per sample) with `data`'s labels and tags, named
/// `<data>@<layer>`.
fn feature_dataset(data: &Dataset, layer: &str, width: usize, x: Vec<f32>) -> Result<Dataset> {
    let mut out = Dataset::new(
        format!("{}@{layer}", data.name),
        vec![width],
        x,
        data.y.clone(),
        data.num_classes,
    )?;
    out.domain = data.domain.clone();
    out.task = data.task.clone();
    out.class_names = data.class_names.clone();
    Ok(out)
}

/// Runs `net` in evaluation mode over `data` and returns the (flattened) output of `layer` for
/// every sample, as a dataset with the same labels, name suffixed with `@layer`. Nothing is
/// cached; see [`FeatureCache::features`] for the cached form.
///
/// # Shapes
/// `data` samples of `net`'s input shape → features `[data.len(), width]`, width the product
/// of `layer`'s output shape.
pub fn extract_features(
    net: &mut Network,
    data: &Dataset,
    layer: &str,
    batch_size: usize,
    progress: bool,
) -> Result<Dataset> {
    let mut x = vec![];
    let width = stream(net, data, layer, batch_size, progress, |b| {
        x.extend_from_slice(b);
        Ok(())
    })?;
    feature_dataset(data, layer, width, x)
}

/// Features served by a [`FeatureCache`].
#[derive(Debug, Clone)]
pub struct Features {
    /// The features with the data's labels (see [`extract_features`]).
    pub data: Dataset,
    /// Whether they were read from the cache rather than computed.
    pub cached: bool,
    /// The cache file holding them.
    pub file: PathBuf,
}

/// What a cache entry's `.json` says about its `.f32` file, for a reader of the folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// SHA-256 of the network spec (JSON), of the state dict, and of the data.
    model: String,
    weights: String,
    data: String,
    layer: String,
    batch_size: usize,
    data_name: String,
    samples: usize,
    width: usize,
}

/// The on-disk cache of layer features: one `<key>.f32` (little-endian f32, samples × width)
/// and one `<key>.json` (what the key was made of) per entry.
#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: PathBuf,
}

impl FeatureCache {
    /// A cache in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FeatureCache { dir: dir.into() }
    }

    /// The cache under the tlkit home (`$TLKIT_HOME/features`, see [`crate::data::cache_dir`]).
    pub fn in_home(cache: &Path) -> Self {
        Self::new(cache.join("features"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The output of `layer` for every sample of `data` (see [`extract_features`]), read from
    /// the cache when an entry for the same spec, weights, layer, data and batch size exists,
    /// otherwise computed in batches, streamed to the cache file as they come, and kept.
    ///
    /// # Errors
    /// As [`extract_features`]; [`Error::Io`] when the cache folder cannot be written.
    pub fn features(
        &self,
        net: &mut Network,
        data: &Dataset,
        layer: &str,
        batch_size: usize,
        progress: bool,
    ) -> Result<Features> {
        let entry = Entry {
            model: hex(Sha256::digest(
                serde_json::to_vec(net.spec()).map_err(|e| Error::Spec(e.to_string()))?,
            )),
            weights: weights_hash(net, layer),
            data: data_hash(data),
            layer: layer.to_string(),
            batch_size: batch_size.max(1),
            data_name: data.name.clone(),
            samples: data.len(),
            width: 0,
        };
        let key = {
            let mut h = Sha256::new();
            for part in [&entry.model, &entry.weights, &entry.data, &entry.layer] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
            h.update((entry.batch_size as u64).to_le_bytes());
            hex(h.finalize())
        };
        let file = self.dir.join(format!("{}.f32", &key[..32]));
        let meta = file.with_extension("json");
        if let Some(x) = self.read(&file, &meta, &entry) {
            let width = x.len() / data.len();
            return Ok(Features {
                data: feature_dataset(data, layer, width, x)?,
                cached: true,
                file,
            });
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io("create directory", &self.dir, e))?;
        let tmp = crate::fsio::temp_file_in(&self.dir)?;
        let mut out = std::io::BufWriter::new(tmp);
        let mut x = vec![];
        let width = stream(net, data, layer, batch_size, progress, |b| {
            for v in b {
                out.write_all(&v.to_le_bytes())
                    .map_err(|e| Error::io("write", &file, e))?;
            }
            x.extend_from_slice(b);
            Ok(())
        })?;
        let tmp = out
            .into_inner()
            .map_err(|e| Error::io("write", &file, e.into_error()))?;
        tmp.persist(&file)
            .map_err(|e| Error::io("rename into place", &file, e.error))?;
        let entry = Entry { width, ..entry };
        let json = serde_json::to_vec_pretty(&entry).map_err(|e| Error::Spec(e.to_string()))?;
        crate::fsio::write_atomic(&meta, &json)?;
        Ok(Features {
            data: feature_dataset(data, layer, width, x)?,
            cached: false,
            file,
        })
    }

    /// [`FeatureCache::features`] of the network a model reference names (a run folder, a
    /// weights file with its spec, an ONNX model, a pretrained built-in), loaded with `ctx`.
    pub fn features_of(
        &self,
        model: &crate::weights::ModelRef,
        ctx: &crate::weights::LoadContext,
        data: &Dataset,
        layer: &str,
        batch_size: usize,
    ) -> Result<Features> {
        let ctx = ctx.clone().with_data(&data.sample_shape, data.num_classes);
        let mut net = model.network(&ctx)?;
        self.features(&mut net, data, layer, batch_size, false)
    }

    /// The cached values, if the entry exists, was made from the same parts and is whole.
    fn read(&self, file: &Path, meta: &Path, want: &Entry) -> Option<Vec<f32>> {
        let got: Entry = serde_json::from_slice(&std::fs::read(meta).ok()?).ok()?;
        let same = got.model == want.model
            && got.weights == want.weights
            && got.data == want.data
            && got.layer == want.layer
            && got.batch_size == want.batch_size
            && got.samples == want.samples;
        let bytes = std::fs::read(file).ok()?;
        if !same || got.width == 0 || bytes.len() != 4 * got.samples * got.width {
            return None;
        }
        Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    }
}

fn hex(bytes: impl AsRef<[u8]>) -> String {
    bytes.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 over the tensors of the state dict that `layer`'s output depends on (name, shape,
/// values): those of `layer` and of the layers listed before it, which in a network's layer
/// table (depth first, in the order they run, the trunk before the heads) are the layers that
/// run before it; the tensors inside `layer` count too when it is a block of several layers.
/// A tensor whose layer cannot be told is kept, which can only cost a cache miss.
fn weights_hash(net: &Network, layer: &str) -> String {
    let layers = net.layers();
    let inside = |name: &str, path: &str| {
        name.strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('.'))
    };
    // The columns of a cross-stitch layer feed each other at every stitch, so a layer inside
    // one depends on the whole cross-stitch layer: count up to its last listed layer.
    let at = match layers
        .iter()
        .position(|l| l.kind == "cross_stitch" && inside(layer, &l.path))
    {
        Some(s) => (s..layers.len())
            .take_while(|&i| i == s || inside(&layers[i].path, &layers[s].path))
            .last(),
        None => layers.iter().position(|l| l.path == layer),
    };
    // The index of the deepest layer that holds tensor `name`.
    let owner = |name: &str| {
        layers
            .iter()
            .enumerate()
            .filter(|(_, l)| inside(name, &l.path))
            .max_by_key(|(_, l)| l.path.len())
            .map(|(i, _)| i)
    };
    let mut h = Sha256::new();
    for (name, (shape, values)) in net.state_dict() {
        let needed = match (at, owner(&name)) {
            (Some(a), Some(o)) => o <= a || inside(&name, layer),
            _ => true,
        };
        if !needed {
            continue;
        }
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        for s in shape {
            h.update((s as u64).to_le_bytes());
        }
        for v in values {
            h.update(v.to_le_bytes());
        }
    }
    hex(h.finalize())
}

/// SHA-256 over a dataset's sample shape, samples, labels and class count.
fn data_hash(data: &Dataset) -> String {
    let mut h = Sha256::new();
    for s in &data.sample_shape {
        h.update((*s as u64).to_le_bytes());
    }
    h.update((data.num_classes as u64).to_le_bytes());
    h.update((data.x.len() as u64).to_le_bytes());
    for v in &data.x {
        h.update(v.to_le_bytes());
    }
    for y in &data.y {
        h.update(y.to_le_bytes());
    }
    // Samples stored before deferred transforms are other values than the same samples
    // transformed: the chain is part of the key (eager data keep their keys).
    if let Some(d) = &data.deferred {
        h.update(format!("{:?}{:?}", d.stored_shape, d.transforms).as_bytes());
    }
    hex(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, Device};
    use crate::data::optdigits_embedded;
    use crate::nn::zoo;

    #[test]
    fn features_equal_the_tapped_forward() {
        let d = Device::flex();
        let data = optdigits_embedded().unwrap();
        let mut net = Network::new(zoo::mlp(&[1, 8, 8], &[32], 10, 0.0), 0, &d).unwrap();
        let feats = extract_features(&mut net, &data.train, "backbone", 100, false).unwrap();
        assert_eq!(feats.sample_shape, [32]);
        assert_eq!(feats.len(), data.train.len());
        assert_eq!(feats.y, data.train.y);
        let (x, _) = data.train.gather_batch(&[5]).unwrap();
        let input = net.input(x, 1).unwrap();
        let direct = net
            .forward_taps(input, Mode::Eval, &["backbone".into()])
            .unwrap();
        // Equal up to the summation order of a batch of 1 against a batch of 100.
        let one = backend::to_vec(&direct.taps["backbone"].clone().flat());
        assert!(
            one.iter()
                .zip(feats.sample(5))
                .all(|(a, b)| (a - b).abs() < 1e-5),
            "{one:?}"
        );
    }

    #[test]
    fn a_model_reference_is_served_too() {
        use crate::weights::{LoadContext, ModelRef};
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference");
        let ctx = LoadContext::new(&fixtures, "/no-cache", Device::flex());
        let data = optdigits_embedded().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path());
        let pt = ModelRef::parse("small_cnn.pt")
            .unwrap()
            .with_spec(Some("small_cnn.toml".into()), vec![])
            .unwrap();
        let a = cache
            .features_of(&pt, &ctx, &data.test, "features", 100)
            .unwrap();
        assert!(!a.cached);
        assert_eq!(a.data.sample_shape, [64]);
        assert!(
            cache
                .features_of(&pt, &ctx, &data.test, "features", 100)
                .unwrap()
                .cached
        );
        // The ONNX export of the same network gives the same features (to float rounding).
        let onnx = ModelRef::parse("small_cnn.onnx").unwrap();
        let b = cache
            .features_of(&onnx, &ctx, &data.test, "features", 100)
            .unwrap();
        assert_eq!(a.data.x.len(), b.data.x.len());
        assert!(
            a.data
                .x
                .iter()
                .zip(&b.data.x)
                .all(|(p, q)| (p - q).abs() < 1e-4)
        );
    }

    #[test]
    fn second_request_reads_the_cache_and_any_change_misses_it() {
        let d = Device::flex();
        let data = optdigits_embedded().unwrap();
        let mut net = Network::new(zoo::mlp(&[1, 8, 8], &[16], 10, 0.0), 0, &d).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::in_home(dir.path());
        let first = cache
            .features(&mut net, &data.test, "backbone", 64, false)
            .unwrap();
        assert!(!first.cached);
        assert!(first.file.starts_with(dir.path().join("features")));
        let written = std::fs::metadata(&first.file).unwrap().modified().unwrap();
        // Exactly what an uncached extraction gives.
        let plain = extract_features(&mut net, &data.test, "backbone", 64, false).unwrap();
        assert_eq!(first.data.x, plain.x);

        let second = cache
            .features(&mut net, &data.test, "backbone", 64, false)
            .unwrap();
        assert!(second.cached);
        assert_eq!(second.file, first.file);
        assert_eq!(second.data.x, first.data.x);
        assert_eq!(second.data.y, data.test.y);
        assert_eq!(second.data.sample_shape, [16]);
        assert_eq!(
            std::fs::metadata(&second.file).unwrap().modified().unwrap(),
            written,
            "the cache file was rewritten"
        );

        // Another layer, other weights or other data is another entry.
        let other_layer = cache
            .features(&mut net, &data.test, "head", 64, false)
            .unwrap();
        assert!(!other_layer.cached);
        assert_eq!(other_layer.data.sample_shape, [10]);
        let mut other_net = Network::new(zoo::mlp(&[1, 8, 8], &[16], 10, 0.0), 1, &d).unwrap();
        let other_weights = cache
            .features(&mut other_net, &data.test, "backbone", 64, false)
            .unwrap();
        assert!(!other_weights.cached);
        assert_ne!(other_weights.data.x, first.data.x);
        let mut shifted = data.test.clone();
        shifted.x.iter_mut().for_each(|v| *v *= 0.5);
        let other_data = cache
            .features(&mut net, &shifted, "backbone", 64, false)
            .unwrap();
        assert!(!other_data.cached);

        // The layers after the tapped one are not part of the key: a new head still reads the
        // backbone's features; a change before the tap is another entry.
        let mut new_head = net.clone();
        let w = new_head.slot("head.weight").unwrap().value.clone();
        new_head
            .set_values("head.weight", backend::plain(w.clone() * 2.0))
            .unwrap();
        let same = cache
            .features(&mut new_head, &data.test, "backbone", 64, false)
            .unwrap();
        assert!(same.cached);
        assert_eq!(same.data.x, first.data.x);
        let mut changed = net.clone();
        let path = changed
            .trainable_paths()
            .into_iter()
            .find(|p| p.starts_with("backbone.") && p.ends_with("weight"))
            .unwrap();
        let w = changed.slot(&path).unwrap().value.clone();
        changed.set_values(&path, backend::plain(w * 2.0)).unwrap();
        let missed = cache
            .features(&mut changed, &data.test, "backbone", 64, false)
            .unwrap();
        assert!(!missed.cached);
        assert_ne!(missed.data.x, first.data.x);

        // A damaged entry is recomputed, not trusted.
        std::fs::write(&first.file, b"cut").unwrap();
        let again = cache
            .features(&mut net, &data.test, "backbone", 64, false)
            .unwrap();
        assert!(!again.cached);
        assert_eq!(again.data.x, plain.x);
    }

    /// A layer inside one column of a cross-stitch layer reads the other columns at the
    /// stitches: changing the other column's first weights must miss the cache.
    #[test]
    fn a_tap_in_a_cross_stitch_column_depends_on_every_column() {
        let spec = crate::nn::NetworkSpec::from_toml(
            r#"
            input_shape = [1, 8, 8]
            [[layers]]
            name = "s"
            type = "cross_stitch"
            tasks = 2
            stitch_after = ["a"]
            layers = [
                { type = "flatten" },
                { name = "fc", type = "linear", out_features = 4 },
                { name = "a", type = "relu" },
                { name = "out", type = "linear", out_features = 3 },
            ]
            "#,
            Path::new("t.toml"),
        )
        .unwrap();
        let data = optdigits_embedded().unwrap();
        let mut net = Network::new(spec, 0, &Device::flex()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::in_home(dir.path());
        let tap = "s.columns.0.out";
        let first = cache
            .features(&mut net, &data.test, tap, 64, false)
            .unwrap();
        let w = net.slot("s.columns.1.fc.weight").unwrap().value.clone();
        net.set_values("s.columns.1.fc.weight", backend::plain(w * 2.0))
            .unwrap();
        let second = cache
            .features(&mut net, &data.test, tap, 64, false)
            .unwrap();
        assert!(!second.cached);
        assert_ne!(second.data.x, first.data.x);
    }
}
