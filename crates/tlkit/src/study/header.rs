//! The config header every study shares: `name`, `seeds` and `device` at the top of a family's
//! TOML. Family configs embed it with `#[serde(flatten)]`; their own `deny_unknown_fields`
//! still rejects a key that neither they nor the header know (serde checks the keys left over
//! after the flattened header has taken its own).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::DeviceKind;
use crate::{Error, Result};

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// `name`, `seeds` and `device` of a study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyHeader {
    /// Names the run folder (`<name>-<time>`); empty: the family's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Every arm is trained once per seed.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    #[serde(default)]
    pub device: DeviceKind,
}

impl StudyHeader {
    /// A header named `name` with one seed (0) on the CPU.
    pub fn new(name: impl Into<String>) -> Self {
        StudyHeader {
            name: name.into(),
            seeds: default_seeds(),
            device: DeviceKind::Cpu,
        }
    }

    /// Gives an unnamed study the family's name.
    pub fn or_name(mut self, family: &str) -> Self {
        if self.name.is_empty() {
            self.name = family.into();
        }
        self
    }

    /// Checks what can be checked before any data is read; `config` names the file in errors.
    pub fn check(&self, config: &Path) -> Result<()> {
        if self.seeds.is_empty() {
            return Err(Error::Config {
                path: config.to_path_buf(),
                msg: "`seeds` is empty; give at least one, e.g. `seeds = [0]`".into(),
            });
        }
        let mut seen = self.seeds.clone();
        seen.sort_unstable();
        if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Config {
                path: config.to_path_buf(),
                msg: format!(
                    "seed {} is listed twice in `seeds`; each seed names one run folder",
                    w[0]
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Family {
        #[serde(flatten)]
        study: StudyHeader,
        epochs: usize,
    }

    #[test]
    fn flattened_header_reads_the_top_level_keys_and_unknown_keys_stay_errors() {
        let f: Family = toml::from_str("name = \"x\"\nseeds = [1, 2]\nepochs = 3\n").unwrap();
        assert_eq!(
            (f.study.name.as_str(), &f.study.seeds[..]),
            ("x", &[1, 2][..])
        );
        assert_eq!(f.study.device, DeviceKind::Cpu);
        let d: Family = toml::from_str("epochs = 3\n").unwrap();
        assert_eq!(d.study, StudyHeader::new(""));
        let err = toml::from_str::<Family>("seeds = [1]\nepochs = 3\nsedes = [2]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `sedes`"), "{err}");
        // The header round-trips through the family's TOML.
        let text = toml::to_string_pretty(&f).unwrap();
        let back: Family = toml::from_str(&text).unwrap();
        assert_eq!(back.study, f.study);
    }

    #[test]
    fn empty_or_repeated_seeds_are_config_errors() {
        let mut h = StudyHeader::new("s");
        h.seeds.clear();
        let err = h.check(Path::new("a.toml")).unwrap_err().to_string();
        assert!(
            err.contains("a.toml") && err.contains("`seeds` is empty"),
            "{err}"
        );
        h.seeds = vec![3, 1, 3];
        let err = h.check(Path::new("a.toml")).unwrap_err().to_string();
        assert!(err.contains("seed 3 is listed twice"), "{err}");
    }
}
