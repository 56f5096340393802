//! The weighting methods by name: what `--method` and a config's `method` accept, and
//! their settings (`[settings.<method>]` in a multi-task config; each method's file declares
//! its settings struct, with the file's defaults).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cagrad::CaGradSettings;
use super::dwa::DwaSettings;
use super::ew::NoSettings;
use super::gradnorm::GradNormSettings;
use super::mgda::MgdaSettings;
use super::pcgrad::PcGradSettings;
use super::uw::UwSettings;
use super::{CaGrad, Dwa, Equal, GradNorm, Mgda, PcGrad, Uncertainty};
use crate::train::GradientStrategy;
use crate::{Error, Result};

/// A method's settings table as written in a config (`None`: every default).
pub type Settings<'a> = Option<&'a toml::Table>;

type Built = Result<Box<dyn GradientStrategy>>;

/// Reads `method`'s settings into its struct; an unknown or ill-typed field is an error
/// naming `settings.<method>` and the field.
fn read<T: DeserializeOwned + Default>(method: &str, s: Settings<'_>) -> Result<T> {
    match s {
        None => Ok(T::default()),
        Some(t) => toml::Value::Table(t.clone()).try_into().map_err(|e| {
            Error::Spec(format!(
                "[settings.{method}]: {}",
                e.to_string().trim().replace('\n', " ")
            ))
        }),
    }
}

/// `T`'s defaults as a config writes them, `field = value` pairs joined by ", " (empty when `T`
/// has no fields).
fn defaults<T: Serialize + Default>() -> String {
    match toml::Value::try_from(T::default()) {
        Ok(toml::Value::Table(t)) => t
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

/// A weighting method's name, what it is, and its constructor (the defaults of its file).
pub struct MethodInfo {
    pub name: &'static str,
    pub about: &'static str,
    /// Whether it needs each task's gradient (one backward pass per task).
    pub per_task_gradients: bool,
    /// Builds the method from its settings table.
    pub new: fn(Settings<'_>) -> Built,
    /// Its settings' defaults as `field = value` pairs (empty: it has none).
    pub settings: fn() -> String,
}

/// Every weighting method, in the order tables list them.
pub const METHODS: &[MethodInfo] = &[
    MethodInfo {
        name: "ew",
        about: "equal weighting",
        per_task_gradients: false,
        new: |s| read::<NoSettings>("ew", s).map(|_| Box::new(Equal) as _),
        settings: defaults::<NoSettings>,
    },
    MethodInfo {
        name: "uw",
        about: "uncertainty weighting (Kendall et al. 2018)",
        per_task_gradients: false,
        new: |s| Ok(Box::new(Uncertainty::from(read::<UwSettings>("uw", s)?))),
        settings: defaults::<UwSettings>,
    },
    MethodInfo {
        name: "dwa",
        about: "dynamic weight average (Liu et al. 2019)",
        per_task_gradients: false,
        new: |s| Ok(Box::new(Dwa::from(read::<DwaSettings>("dwa", s)?))),
        settings: defaults::<DwaSettings>,
    },
    MethodInfo {
        name: "gradnorm",
        about: "GradNorm (Chen et al. 2018)",
        per_task_gradients: true,
        new: |s| {
            Ok(Box::new(GradNorm::from(read::<GradNormSettings>(
                "gradnorm", s,
            )?)))
        },
        settings: defaults::<GradNormSettings>,
    },
    MethodInfo {
        name: "pcgrad",
        about: "projecting conflicting gradients (Yu et al. 2020)",
        per_task_gradients: true,
        new: |s| {
            let p: PcGradSettings = read("pcgrad", s)?;
            Ok(Box::new(PcGrad { seed: p.seed }))
        },
        settings: defaults::<PcGradSettings>,
    },
    MethodInfo {
        name: "mgda",
        about: "min-norm gradient combination (Sener & Koltun 2018)",
        per_task_gradients: true,
        new: |s| {
            let m: MgdaSettings = read("mgda", s)?;
            Ok(Box::new(Mgda {
                normalization: m.normalization,
                upper_bound: false,
            }))
        },
        settings: defaults::<MgdaSettings>,
    },
    MethodInfo {
        name: "mgda_ub",
        about: "MGDA-UB: the min-norm combination on the shared representation's gradients",
        per_task_gradients: true,
        new: |s| {
            let m: MgdaSettings = read("mgda_ub", s)?;
            Ok(Box::new(Mgda {
                normalization: m.normalization,
                upper_bound: true,
            }))
        },
        settings: defaults::<MgdaSettings>,
    },
    MethodInfo {
        name: "cagrad",
        about: "conflict-averse gradient descent (Liu et al. 2021)",
        per_task_gradients: true,
        new: |s| Ok(Box::new(CaGrad::from(read::<CaGradSettings>("cagrad", s)?))),
        settings: defaults::<CaGradSettings>,
    },
];

/// The names of [`METHODS`], comma-separated.
pub fn method_names() -> String {
    METHODS
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per method with settings: `<method>: field = default, ...`, the `[settings.<method>]`
/// fields a config may set.
pub fn settings_help() -> String {
    METHODS
        .iter()
        .filter_map(|m| {
            let d = (m.settings)();
            (!d.is_empty()).then(|| format!("{}: {d}", m.name))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The method called `name`, with its defaults.
pub fn method(name: &str) -> Result<Box<dyn GradientStrategy>> {
    method_with(name, None)
}

/// The method called `name` with the settings of its `[settings.<name>]` table.
pub fn method_with(name: &str, settings: Settings<'_>) -> Result<Box<dyn GradientStrategy>> {
    let info = METHODS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::Unknown {
            kind: "weighting method",
            name: name.into(),
            known: method_names(),
        })?;
    (info.new)(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_settings_help_lists_each_method_with_settings_and_its_defaults() {
        let help = settings_help();
        let lines: Vec<&str> = help.lines().collect();
        assert!(
            lines.contains(&"gradnorm: alpha = 1.5, lr = 0.025"),
            "{help}"
        );
        assert!(lines.contains(&"uw: init = -0.5, lr = 0.001"), "{help}");
        assert!(lines.contains(&"dwa: temperature = 2.0"), "{help}");
        assert!(lines.contains(&"cagrad: c = 0.5"), "{help}");
        assert!(
            lines.contains(&"mgda_ub: normalization = \"none\""),
            "{help}"
        );
        assert!(lines.contains(&"pcgrad: seed = 0"), "{help}");
        // Equal weighting has no settings, so no line.
        assert!(!help.contains("ew:"), "{help}");
        assert_eq!(lines.len(), METHODS.len() - 1, "{help}");
    }

    #[test]
    fn settings_fill_the_defaults_and_name_a_bad_field() {
        let g: GradNormSettings = read("gradnorm", Some(&table("alpha = 1.0"))).unwrap();
        assert_eq!((g.alpha, g.lr), (1.0, 0.025));
        assert_eq!(GradNorm::from(g).alpha, 1.0);
        let d: DwaSettings = read("dwa", None).unwrap();
        assert_eq!(d.temperature, 2.0);
        let c: CaGradSettings = read("cagrad", Some(&table("c = 0.4"))).unwrap();
        assert_eq!(CaGrad::from(c).c, 0.4);
        let u: UwSettings = read("uw", Some(&table("init = 0.0"))).unwrap();
        assert_eq!((u.init, u.lr), (0.0, 1e-3));
        let m: MgdaSettings = read("mgda", Some(&table("normalization = \"loss_plus\""))).unwrap();
        assert_eq!(m.normalization, super::super::Normalization::LossPlus);
        let err = method_with("gradnorm", Some(&table("alpa = 1.0")))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("[settings.gradnorm]") && err.contains("alpa") && err.contains("alpha"),
            "{err}"
        );
        let err = method_with("dwa", Some(&table("temperature = \"hot\"")))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("[settings.dwa]") && err.contains("hot"),
            "{err}"
        );
        let err = method_with("ew", Some(&table("alpha = 1.0")))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("[settings.ew]") && err.contains("alpha"),
            "{err}"
        );
        for m in METHODS {
            (m.new)(None).unwrap();
            (m.new)(Some(&toml::Table::new())).unwrap();
        }
    }
}
