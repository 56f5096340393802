//! Command-line changes to an adaptation config (`tlkit adapt --method dann --seeds 0,1 ...`),
//! applied here so that the binary only parses flags and every front end changes a config the
//! same way.

use super::{AdaptConfig, Method};
use crate::Result;
use crate::data::InputNorm;

/// What `tlkit adapt`'s flags change; `None` or empty: keep the config's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdaptOverrides {
    /// Method names (`source_only`, `dann`, ...), parsed by [`Method::parse`].
    pub methods: Vec<String>,
    /// Source and target dataset names.
    pub source: Option<String>,
    pub target: Option<String>,
    pub seeds: Vec<u64>,
    /// Epochs of the source per run; replaces an iteration budget.
    pub epochs: Option<usize>,
    /// Training iterations per run (the budget stated in iterations, as the examples do).
    pub iterations: Option<usize>,
    pub source_limit: Option<usize>,
    pub target_limit: Option<usize>,
    /// Test samples of each domain.
    pub test_limit: Option<usize>,
    /// An input normalisation name, parsed by [`InputNorm::parse`].
    pub normalize: Option<String>,
}

impl AdaptConfig {
    /// Applies `o` to this config.
    ///
    /// # Errors
    /// An unknown method or normalisation name ([`crate::Error::Unknown`], listing the known
    /// ones); the config is then unchanged.
    pub fn apply(&mut self, o: &AdaptOverrides) -> Result<()> {
        let methods = o
            .methods
            .iter()
            .map(|m| Method::parse(m))
            .collect::<Result<Vec<_>>>()?;
        let normalize = o.normalize.as_deref().map(InputNorm::parse).transpose()?;
        if !methods.is_empty() {
            self.methods = methods;
        }
        if let Some(n) = normalize {
            self.normalize = n;
        }
        if !o.seeds.is_empty() {
            self.study.seeds = o.seeds.clone();
        }
        if let Some(e) = o.epochs {
            self.train.epochs = e;
            self.iterations = None;
        }
        if o.iterations.is_some() {
            self.iterations = o.iterations;
        }
        if o.source.is_some() {
            self.source.dataset = o.source.clone();
        }
        if o.target.is_some() {
            self.target.dataset = o.target.clone();
        }
        if o.source_limit.is_some() {
            self.source.train_limit = o.source_limit;
        }
        if o.target_limit.is_some() {
            self.target.train_limit = o.target_limit;
        }
        if o.test_limit.is_some() {
            self.source.test_limit = o.test_limit;
            self.target.test_limit = o.test_limit;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_replace_what_they_name_and_keep_the_rest() {
        let mut cfg = AdaptConfig::for_pair("mnist", "optdigits", vec![Method::SourceOnly]);
        let before = cfg.clone();
        cfg.apply(&AdaptOverrides::default()).unwrap();
        assert_eq!(cfg, before);
        cfg.iterations = Some(2000);
        cfg.apply(&AdaptOverrides {
            methods: vec!["source-only".into(), "cdan_e".into()],
            target: Some("mnist-m".into()),
            seeds: vec![3, 4],
            epochs: Some(7),
            test_limit: Some(100),
            normalize: Some("instance".into()),
            ..AdaptOverrides::default()
        })
        .unwrap();
        assert_eq!(cfg.methods, [Method::SourceOnly, Method::CdanE]);
        assert_eq!(cfg.source.dataset.as_deref(), Some("mnist"));
        assert_eq!(cfg.target.dataset.as_deref(), Some("mnist-m"));
        assert_eq!(cfg.study.seeds, [3, 4]);
        // An epoch budget replaces the iteration budget.
        assert_eq!((cfg.train.epochs, cfg.iterations), (7, None));
        assert_eq!(cfg.source.test_limit, Some(100));
        assert_eq!(cfg.target.test_limit, Some(100));
        assert_eq!(cfg.normalize, InputNorm::Instance);
    }

    #[test]
    fn an_unknown_name_is_an_error_that_changes_nothing() {
        let mut cfg = AdaptConfig::for_pair("mnist", "optdigits", vec![Method::SourceOnly]);
        let before = cfg.clone();
        for o in [
            AdaptOverrides {
                methods: vec!["dann".into(), "dnn".into()],
                seeds: vec![9],
                ..AdaptOverrides::default()
            },
            AdaptOverrides {
                normalize: Some("per-pixel".into()),
                seeds: vec![9],
                ..AdaptOverrides::default()
            },
        ] {
            let e = cfg.apply(&o).unwrap_err().to_string();
            assert!(e.contains("known:"), "{e}");
            assert_eq!(cfg, before);
        }
    }
}
