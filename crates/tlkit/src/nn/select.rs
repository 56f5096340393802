//! Selecting parameters by glob over their paths (`backbone.*`, `blocks.[0-5].*`).

use globset::{Glob, GlobMatcher};

use crate::{Error, Result};

/// One or more globs over parameter paths. `*` matches across dots.
#[derive(Debug, Clone)]
pub struct Selector {
    patterns: Vec<(String, GlobMatcher)>,
}

impl Selector {
    /// Compiles the patterns; a malformed glob is an error naming it.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self> {
        let patterns = patterns
            .iter()
            .map(|p| {
                let p = p.as_ref();
                Glob::new(p)
                    .map(|g| (p.to_string(), g.compile_matcher()))
                    .map_err(|e| Error::Path(format!("bad parameter glob `{p}`: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(Selector { patterns })
    }

    /// True when any pattern matches `path`.
    pub fn matches(&self, path: &str) -> bool {
        self.patterns.iter().any(|(_, m)| m.is_match(path))
    }

    /// The paths matched by any pattern, in the given order. A pattern that matches nothing is
    /// an error: it is almost always a typo, and silently freezing nothing would hide it.
    pub fn select<'a>(&self, paths: impl Iterator<Item = &'a str> + Clone) -> Result<Vec<String>> {
        for (p, m) in &self.patterns {
            if !paths.clone().any(|x| m.is_match(x)) {
                let examples: Vec<&str> = paths.clone().take(4).collect();
                return Err(Error::Path(format!(
                    "glob `{p}` matches no parameter; paths look like {} (see `tlkit inspect`)",
                    examples.join(", ")
                )));
            }
        }
        Ok(paths
            .filter(|x| self.matches(x))
            .map(str::to_string)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATHS: [&str; 4] = [
        "stem.0.weight",
        "blocks.3.conv.weight",
        "blocks.7.conv.weight",
        "head.bias",
    ];

    #[test]
    fn globs_cross_dots_and_take_classes() {
        let s = Selector::new(&["stem.*", "blocks.[0-5].*"]).unwrap();
        assert_eq!(
            s.select(PATHS.iter().copied()).unwrap(),
            ["stem.0.weight", "blocks.3.conv.weight"]
        );
    }

    #[test]
    fn glob_matching_nothing_is_an_error() {
        let s = Selector::new(&["backbone.*"]).unwrap();
        let err = s.select(PATHS.iter().copied()).unwrap_err().to_string();
        assert!(err.contains("`backbone.*` matches no parameter"), "{err}");
        assert!(err.contains("stem.0.weight"), "{err}");
    }
}
