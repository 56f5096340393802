//! Named networks: specs, shape inference, built-in architectures and the network itself.

pub mod batch_norm;
pub mod branch;
pub mod conv;
pub mod cross_stitch;
pub mod features;
pub(crate) mod host;
pub mod kernel_profile;
pub mod linear;
pub mod mmoe;
pub mod network;
pub mod pool;
pub mod relu6;
pub mod select;
pub mod shape;
pub mod spec;
pub mod surgery;
#[cfg(test)]
mod testing;
pub mod zoo;

pub use features::{FeatureCache, Features, extract_features};
pub use network::{Act, Additions, Forward, LoadReport, Mode, Network, Slot, SummaryRow};
pub use select::Selector;
pub use shape::{LayerInfo, ParamInfo, ParamRole, fmt_shape};
pub use spec::{HeadSpec, LayerSpec, NetworkSpec, Node, Padding};
pub use surgery::{Edit, SurgeryReport};
