//! Loss-weighting methods, one file each, behind the trainer's
//! [`crate::train::GradientStrategy`]; [`METHODS`] maps their names to constructors.

pub mod cagrad;
pub mod dwa;
pub mod ew;
pub mod gradnorm;
pub mod learnable;
pub mod methods;
pub mod mgda;
pub mod pcgrad;
pub mod uw;

#[cfg(test)]
mod tests;

pub use cagrad::CaGrad;
pub use dwa::Dwa;
pub use ew::Equal;
pub use gradnorm::GradNorm;
pub use methods::{
    METHODS, MethodInfo, Settings, method, method_names, method_with, settings_help,
};
pub use mgda::{Mgda, Normalization};
pub use pcgrad::PcGrad;
pub use uw::Uncertainty;
