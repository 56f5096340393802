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

/// The header's keys.
const HEADER_KEYS: [&str; 3] = ["name", "seeds", "device"];

/// The text of built-in config `name` of a family's `(name, TOML)` table, and the origin
/// its errors are reported under (`<benchmark NAME>`); an unknown name lists the known ones.
pub fn builtin_config<'a>(
    kind: &'static str,
    table: &'a [(&'a str, &'a str)],
    name: &str,
) -> Result<(&'a str, std::path::PathBuf)> {
    let (_, text) = table
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| Error::Unknown {
            kind,
            name: name.into(),
            known: table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
        })?;
    Ok((
        text,
        std::path::PathBuf::from(format!("<benchmark {name}>")),
    ))
}

/// Reads a study config whose top-level keys are the header's and `family_keys`. A key that
/// neither knows is an error naming its line and the known keys: serde rejects it too, but
/// behind `flatten` it can no longer say where it is or what was expected.
pub fn load_study_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    family_keys: &[&str],
) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    if let Some((line, key)) = unknown_top_level_key(&text, family_keys) {
        let known: Vec<String> = HEADER_KEYS
            .iter()
            .chain(family_keys)
            .map(|k| format!("`{k}`"))
            .collect();
        return Err(Error::Config {
            path: path.to_path_buf(),
            msg: format!(
                "line {line}: unknown field `{key}`, expected one of {}",
                known.join(", ")
            ),
        });
    }
    // Behind `flatten` a wrong type in the header is reported at line 1; read on its own, the
    // header's keys keep their places (it ignores the family's keys).
    crate::config::parse_toml::<StudyHeader>(&text, path)?;
    crate::config::parse_toml(&text, path)
}

/// The first key before the first table header that is neither the header's nor the
/// family's, with its 1-based line. Lines inside a multi-line array or inline table are
/// skipped (brackets outside strings are counted).
fn unknown_top_level_key(text: &str, family_keys: &[&str]) -> Option<(usize, String)> {
    let mut depth = 0i32;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if depth == 0 {
            if t.starts_with('[') {
                return None;
            }
            if let Some((key, _)) = t.split_once('=')
                && !t.starts_with('#')
            {
                let key = key.trim().trim_matches('"');
                let key = key.split('.').next().unwrap_or(key).trim();
                if !HEADER_KEYS.contains(&key) && !family_keys.contains(&key) {
                    return Some((i + 1, key.to_string()));
                }
            }
        }
        let mut in_string = None;
        for c in line.chars() {
            match (in_string, c) {
                (None, '#') => break,
                (None, '"' | '\'') => in_string = Some(c),
                (Some(q), c) if c == q => in_string = None,
                (None, '[' | '{') => depth += 1,
                (None, ']' | '}') => depth -= 1,
                _ => {}
            }
        }
    }
    None
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
    fn an_unknown_top_level_key_is_named_with_its_line() {
        let text = "name = \"x\"\nmethods = [\n  \"a\",\n]\nt = [{ op = \"pad\" },\n  { op = \"x\" }]\n\
                    sedes = [1]\n[train]\nlr = 1\n";
        assert_eq!(
            unknown_top_level_key(text, &["methods", "t", "train"]),
            Some((7, "sedes".to_string()))
        );
        let ok = "seeds = [0]\nmethods = [\"a = b\"]\n[train]\nwhatever = 1\n";
        assert_eq!(unknown_top_level_key(ok, &["methods", "train"]), None);
    }

    #[test]
    fn a_header_value_of_the_wrong_type_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("study.toml");
        std::fs::write(
            &path,
            "# a study\nname = \"x\"\nseeds = \"zero\"\nepochs = 3\n",
        )
        .unwrap();
        let err = load_study_toml::<Family>(&path, &["epochs"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("expected a sequence"), "{err}");
        let ok = "seeds = [4]\nepochs = 3\n";
        std::fs::write(&path, ok).unwrap();
        let f = load_study_toml::<Family>(&path, &["epochs"]).unwrap();
        assert_eq!((f.study.seeds, f.epochs), (vec![4], 3));
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
