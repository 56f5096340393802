//! A learned basis (a sparse-coding dictionary or PCA components) as a folder that
//! `tlkit features encode` reads back: `basis.safetensors` (the atoms, and PCA's mean and
//! variances) and `basis.toml` (method, α and its convention, shapes, patches, seed, data).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::dictionary::{self, DictionaryConfig, IterRecord};
use super::fista::{self, FistaConfig};
use super::pooling::{self, PatchEncoding};
use crate::data::Dataset;
use crate::data::patches::dataset_images;
use crate::linalg::{Pca, PcaConfig, Whitening};
use crate::train::checkpoint::{HostTensors, load, save_weights};
use crate::{Error, Result};

/// The file names of a basis folder.
pub const BASIS_TENSORS: &str = "basis.safetensors";
pub const BASIS_META: &str = "basis.toml";

/// How the basis was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A dictionary by [`dictionary::learn`]; codes by FISTA.
    SparseCoding,
    /// PCA components ([`Pca`]); codes by projection (and whitening).
    Pca,
}

/// The α convention written into `basis.toml`, so a reader never has to guess it.
pub const ALPHA_CONVENTION: &str = "min_c 0.5*||x - c D||^2 + alpha*||c||_1 per sample: the alpha \
     of scikit-learn's sparse_encode (lasso_lars, lasso_cd) and DictionaryLearning; \
     Lasso(alpha = alpha / n_features)";

/// What `basis.toml` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasisMeta {
    pub method: Method,
    /// Number of atoms (components) `k`.
    pub atoms: usize,
    /// Shape of one atom: the shape of the samples it was learned on (`[C, p, p]` for
    /// patches).
    pub atom_shape: Vec<usize>,
    /// Sparse coding: the L1 weight, its convention and FISTA's settings for encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha_convention: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fista_max_iter: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fista_tol: Option<f64>,
    /// Sparse coding: the learning run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dictionary: Option<DictionaryConfig>,
    /// PCA: whitening and its ε.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whitening: Option<Whitening>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    /// Encoding of whole images by patches; absent when the atoms are whole samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<PatchEncoding>,
    pub seed: u64,
    /// The unlabeled data it was learned from, and how many samples.
    pub data: String,
    pub samples: usize,
}

/// A learned basis: atoms and what it takes to encode with them.
#[derive(Debug, Clone)]
pub struct Basis {
    pub meta: BasisMeta,
    /// Row-major `k × d` (`d` = the product of `atom_shape`).
    pub atoms: Vec<f32>,
    /// PCA only: the mean and the variance per component.
    pub pca: Option<(Vec<f32>, Vec<f64>)>,
}

/// What to learn.
#[derive(Debug, Clone, PartialEq)]
pub enum LearnMethod {
    SparseCoding(DictionaryConfig),
    Pca(PcaConfig),
}

/// A learned basis and the reconstruction error per iteration (empty for PCA, which has no
/// iterations).
#[derive(Debug, Clone)]
pub struct LearnedBasis {
    pub basis: Basis,
    pub history: Vec<IterRecord>,
}

/// Learns a basis from the unlabeled samples `data` (whole images, or patches already cut);
/// `patches` says how whole images will be encoded when the samples are patches.
///
/// # Errors
/// [`Error::Invalid`] for an empty set, too many atoms, α ≤ 0 and the other checks of
/// [`dictionary::learn`] and [`Pca::fit`].
pub fn learn(
    data: &Dataset,
    method: &LearnMethod,
    patches: Option<PatchEncoding>,
) -> Result<LearnedBasis> {
    let (n, d) = (data.len(), data.sample_width());
    if n == 0 {
        return Err(Error::invalid(
            format!("unlabeled samples of `{}`", data.name),
            0,
            "the unlabeled set is empty; choose other data or classes",
        ));
    }
    let common = |method, atoms| BasisMeta {
        method,
        atoms,
        atom_shape: data.sample_shape.clone(),
        alpha: None,
        alpha_convention: None,
        fista_max_iter: None,
        fista_tol: None,
        dictionary: None,
        whitening: None,
        epsilon: None,
        patches: patches.clone(),
        seed: 0,
        data: data.name.clone(),
        samples: n,
    };
    match method {
        LearnMethod::SparseCoding(cfg) => {
            let learned = dictionary::learn(&data.x, n, d, cfg)?;
            let fista = FistaConfig::new(cfg.alpha);
            Ok(LearnedBasis {
                basis: Basis {
                    meta: BasisMeta {
                        alpha: Some(cfg.alpha),
                        alpha_convention: Some(ALPHA_CONVENTION.into()),
                        fista_max_iter: Some(fista.max_iter),
                        fista_tol: Some(fista.tol),
                        dictionary: Some(cfg.clone()),
                        seed: cfg.seed,
                        ..common(Method::SparseCoding, cfg.atoms)
                    },
                    atoms: learned.dictionary.atoms,
                    pca: None,
                },
                history: learned.history,
            })
        }
        LearnMethod::Pca(cfg) => {
            let pca = Pca::fit(&data.x, n, d, cfg)?;
            Ok(LearnedBasis {
                basis: Basis {
                    meta: BasisMeta {
                        whitening: Some(cfg.whitening),
                        epsilon: Some(cfg.epsilon),
                        ..common(Method::Pca, cfg.components)
                    },
                    atoms: pca.components.clone(),
                    pca: Some((pca.mean, pca.explained_variance)),
                },
                history: Vec::new(),
            })
        }
    }
}

impl Basis {
    /// Values per atom `d`.
    pub fn atom_width(&self) -> usize {
        self.meta.atom_shape.iter().product()
    }

    /// The fitted PCA this basis holds.
    fn as_pca(&self) -> Result<Pca> {
        let Some((mean, var)) = &self.pca else {
            return Err(Error::invalid("method", "pca", "the basis has no PCA mean"));
        };
        let total: f64 = var.iter().sum();
        Ok(Pca {
            dim: self.atom_width(),
            mean: mean.clone(),
            components: self.atoms.clone(),
            explained_variance: var.clone(),
            // Only the fraction of the kept variance is known here.
            explained_variance_ratio: var.iter().map(|v| v / total).collect(),
            whitening: self.meta.whitening.unwrap_or_default(),
            epsilon: self.meta.epsilon.unwrap_or(0.0),
        })
    }

    /// Codes of `m` samples of one atom's shape (`m × d` → `m × width`).
    fn code(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        match self.meta.method {
            Method::SparseCoding => {
                let cfg = FistaConfig {
                    alpha: self.meta.alpha.unwrap_or(0.0),
                    max_iter: self.meta.fista_max_iter.unwrap_or(1000),
                    tol: self.meta.fista_tol.unwrap_or(1e-6),
                };
                let codes =
                    fista::encode(x, m, &self.atoms, self.meta.atoms, self.atom_width(), &cfg)?;
                Ok(codes.codes)
            }
            Method::Pca => self.as_pca()?.transform(x, m),
        }
    }

    /// Values per code of one atom-shaped sample.
    fn code_width(&self) -> usize {
        match (self.meta.method, self.meta.whitening) {
            (Method::Pca, Some(Whitening::Zca)) => self.atom_width(),
            _ => self.meta.atoms,
        }
    }

    /// The features of every sample of `data`: its codes (atoms of the samples' shape), or its
    /// patches' codes pooled over a grid (atoms of patches). Labels are kept.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the samples' shape does not match the atoms (or the patches do
    /// not fit the images).
    pub fn encode(&self, data: &Dataset) -> Result<Dataset> {
        let (x, width) = match &self.meta.patches {
            None => {
                if data.sample_width() != self.atom_width() {
                    return Err(self.mismatch(data));
                }
                (self.code(&data.x, data.len())?, self.code_width())
            }
            Some(enc) => {
                let images = dataset_images(data)?;
                if data.sample_shape.first() != self.meta.atom_shape.first() {
                    return Err(self.mismatch(data));
                }
                let k = self.code_width();
                let code = |x: &[f32], m: usize| self.code(x, m);
                (
                    pooling::encode_images(&images, k, enc, &code)?,
                    enc.width(k),
                )
            }
        };
        let mut out = Dataset::new(
            format!("{} ({} codes)", data.name, self.meta.method.name()),
            vec![width],
            x,
            data.y.clone(),
            data.num_classes,
        )?;
        out.domain = data.domain.clone();
        out.class_names = data.class_names.clone();
        Ok(out)
    }

    fn mismatch(&self, data: &Dataset) -> Error {
        Error::invalid(
            "dictionary atom size",
            format!("{:?}", self.meta.atom_shape),
            format!(
                "the samples of `{}` are {:?}; learn the basis on data of that shape{}",
                data.name,
                data.sample_shape,
                if self.meta.patches.is_some() {
                    " (patches need the same channel count)"
                } else {
                    ", or on patches to encode images of any size"
                }
            ),
        )
    }

    /// Draws the atoms as an image grid PNG at `path` (atoms of images as tiles of their
    /// shape, flat atoms as one-row strips), about 96 pixels per tile side.
    pub fn save_image(&self, path: &Path) -> Result<()> {
        let shape = &self.meta.atom_shape;
        let tile_shape = match shape.len() {
            3 => shape.clone(),
            _ => vec![1, 1, self.atom_width()],
        };
        let zoom = (96 / tile_shape[1].max(tile_shape[2])).clamp(1, 8);
        let cols = (self.meta.atoms as f64).sqrt().ceil() as usize;
        crate::plot::image_grid(path, &self.atoms, &tile_shape, cols, zoom)
    }

    /// Writes `basis.safetensors` and `basis.toml` into `dir` (created if missing).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
        let mut t = HostTensors::new();
        t.insert(
            "atoms".into(),
            (vec![self.meta.atoms, self.atom_width()], self.atoms.clone()),
        );
        if let Some((mean, var)) = &self.pca {
            t.insert("mean".into(), (vec![mean.len()], mean.clone()));
            let v = var.iter().map(|&v| v as f32).collect();
            t.insert("explained_variance".into(), (vec![var.len()], v));
        }
        save_weights(&dir.join(BASIS_TENSORS), &t)?;
        let toml = toml::to_string_pretty(&self.meta)
            .map_err(|e| Error::Training(format!("cannot write {BASIS_META}: {e}")))?;
        crate::fsio::write_atomic(&dir.join(BASIS_META), toml.as_bytes())
    }

    /// Reads a basis folder written by [`Basis::save`].
    ///
    /// # Errors
    /// [`Error::Io`]/[`Error::Config`] for a missing or invalid `basis.toml`,
    /// [`Error::Checkpoint`] for a bad `basis.safetensors`, [`Error::Format`] when their shapes
    /// disagree.
    pub fn load(dir: &Path) -> Result<Basis> {
        let autoencoder = dir.join(super::autoencoder::AUTOENCODER_META);
        if autoencoder.is_file() && !dir.join(BASIS_META).is_file() {
            return Err(Error::invalid(
                "basis folder",
                dir.display(),
                "holds an autoencoder, not a basis: read it with TrainedAutoencoder::load (`tlkit features encode` tells them apart)",
            ));
        }
        let meta: BasisMeta = crate::config::load_toml(&dir.join(BASIS_META))?;
        let path = dir.join(BASIS_TENSORS);
        let mut t = load(&path)?.model;
        let d: usize = meta.atom_shape.iter().product();
        let mut take = |name: &str, shape: Vec<usize>| match t.remove(name) {
            Some((s, v)) if s == shape => Ok(v),
            Some((s, _)) => Err(Error::format(
                &path,
                Some(format!("tensor {name}")),
                format!("shape {s:?}, but {BASIS_META} says {shape:?}"),
            )),
            None => Err(Error::format(&path, None, format!("no tensor `{name}`"))),
        };
        let atoms = take("atoms", vec![meta.atoms, d])?;
        let pca = match meta.method {
            Method::Pca => Some((
                take("mean", vec![d])?,
                take("explained_variance", vec![meta.atoms])?
                    .into_iter()
                    .map(f64::from)
                    .collect(),
            )),
            Method::SparseCoding => None,
        };
        Ok(Basis { meta, atoms, pca })
    }
}

impl Method {
    /// The name on the command line and in `basis.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Method::SparseCoding => "sparse-coding",
            Method::Pca => "pca",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::optdigits_embedded;
    use crate::data::patches::{PatchNorm, dataset_images, random_patches};
    use crate::selftaught::Pool;

    #[test]
    fn a_saved_basis_encodes_as_the_learned_one_did() {
        let s = optdigits_embedded().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sparse = LearnMethod::SparseCoding(DictionaryConfig {
            iterations: 5,
            batch_size: 64,
            ..DictionaryConfig::new(12, 0.1)
        });
        let pca = LearnMethod::Pca(PcaConfig {
            whitening: Whitening::Zca,
            epsilon: 0.01,
            ..PcaConfig::new(10)
        });
        for (i, method) in [sparse, pca].iter().enumerate() {
            let learned = learn(&s.train, method, None).unwrap();
            let path = dir.path().join(i.to_string());
            learned.basis.save(&path).unwrap();
            let back = Basis::load(&path).unwrap();
            assert_eq!(back.meta, learned.basis.meta);
            let a = learned.basis.encode(&s.test).unwrap();
            let b = back.encode(&s.test).unwrap();
            assert_eq!((a.len(), a.y.clone()), (s.test.len(), s.test.y.clone()));
            for (x, y) in a.x.iter().zip(&b.x) {
                assert!((x - y).abs() < 1e-4, "{method:?}: {x} vs {y}");
            }
        }
        let text = std::fs::read_to_string(dir.path().join("0").join(BASIS_META)).unwrap();
        assert!(text.contains("method = \"sparse-coding\"") && text.contains("sparse_encode"));
    }

    #[test]
    fn patch_bases_encode_whole_images_and_wrong_shapes_are_named() {
        let s = optdigits_embedded().unwrap();
        let images = dataset_images(&s.train).unwrap();
        let patches = random_patches(&images, 4, 1000, PatchNorm::Center, 0, "d").unwrap();
        let enc = PatchEncoding {
            size: 4,
            stride: 2,
            grid: 2,
            pool: Pool::Sum,
            norm: PatchNorm::Center,
        };
        let method = LearnMethod::SparseCoding(DictionaryConfig {
            iterations: 5,
            ..DictionaryConfig::new(8, 0.05)
        });
        let basis = learn(&patches, &method, Some(enc)).unwrap().basis;
        let codes = basis.encode(&s.test).unwrap();
        assert_eq!(codes.sample_shape, vec![2 * 2 * 8]);
        // A whole-image basis meets samples of another size: the error names both shapes.
        let whole = learn(&s.train, &LearnMethod::Pca(PcaConfig::new(4)), None)
            .unwrap()
            .basis;
        let e = whole.encode(&patches).unwrap_err().to_string();
        assert!(
            e.contains("atom size = [1, 8, 8]") && e.contains("[1, 4, 4]"),
            "{e}"
        );
        let empty = s.train.subset(&[], "none");
        let e = learn(&empty, &method, None).unwrap_err().to_string();
        assert!(e.contains("unlabeled set is empty"), "{e}");
    }
}
