//! The thin layer over Burn.
//!
//! Everything else in tlkit talks to tensors through these aliases and helpers, so that a Burn
//! version change touches this file and the network interpreter (`nn::network`), not the
//! methods.

pub use burn::tensor::activation;
pub use burn::tensor::module as ops;
pub use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use serde::{Deserialize, Serialize};

/// Where tensors live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// Burn's `flex` CPU backend (default).
    #[default]
    Cpu,
    /// An NVIDIA GPU through Burn's CUDA backend (needs the `cuda` feature, whose build
    /// downloads an LLVM bundle and so needs web access).
    Cuda,
    /// The default GPU through Burn's wgpu backend: Vulkan, Metal, DirectX 12 or WebGPU,
    /// whichever the machine offers (needs the `wgpu` feature).
    Wgpu,
}

/// The device chosen for the whole process (`tlkit --device`), over what configs say.
static CHOSEN: std::sync::OnceLock<DeviceKind> = std::sync::OnceLock::new();

/// Makes every [`DeviceKind::device`] of this process give `kind`'s device, whatever a config
/// says; the first choice stays.
pub fn choose_device(kind: DeviceKind) {
    let _ = CHOSEN.set(kind);
}

impl DeviceKind {
    /// The name configs and `--device` use.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
            DeviceKind::Wgpu => "wgpu",
        }
    }

    /// The device for plain (inference) work: this kind's, or the one chosen for the process
    /// ([`choose_device`]).
    pub fn device(self) -> crate::Result<Device> {
        let kind = CHOSEN.get().copied().unwrap_or(self);
        let missing = |feature: &str| {
            Err(crate::Error::Spec(format!(
                "device `{}` needs tlkit built with `--features {feature}` (see the README's GPU section)",
                kind.as_str()
            )))
        };
        match kind {
            DeviceKind::Cpu => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda => Ok(Device::cuda(0usize)),
            #[cfg(not(feature = "cuda"))]
            DeviceKind::Cuda => missing("cuda"),
            #[cfg(feature = "wgpu")]
            DeviceKind::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(not(feature = "wgpu"))]
            DeviceKind::Wgpu => missing("wgpu"),
        }
    }
}

/// The device for work no config places: Burn's CPU backend, or the one chosen for the
/// process ([`choose_device`], `tlkit --device`).
pub fn default_device() -> crate::Result<Device> {
    DeviceKind::default().device()
}

/// A float tensor of any rank from host values; `shape` must multiply to `values.len()`.
pub fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// An integer tensor of labels, `[n]`.
pub fn labels(values: &[u32], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = values.iter().map(|&l| l as i64).collect();
    let n = v.len();
    Tensor::from_data(TensorData::new(v, [n]), device)
}

/// Host copy of a float tensor's values (row-major).
pub fn to_vec<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().try_into_vec_as::<f32>().unwrap_or_default()
}

/// Host copy of an integer tensor's values.
pub fn to_vec_int<const D: usize>(t: &Tensor<D, Int>) -> Vec<i64> {
    t.to_data().try_into_vec_as::<i64>().unwrap_or_default()
}

/// A scalar read back to the host.
pub fn scalar(t: &Tensor<1>) -> f32 {
    to_vec(t).first().copied().unwrap_or(f32::NAN)
}

/// A trainable leaf: autodiff enabled and gradient retained.
pub fn leaf(t: Tensor<1>) -> Tensor<1> {
    t.inner().autodiff().require_grad()
}

/// The same values without autodiff (for evaluation and optimizer arithmetic).
pub fn plain<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    t.inner()
}

/// Whose kernels run 2-D convolutions, max pooling and training-mode batch norm on the CPU
/// backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConvKernels {
    /// Burn's `flex` kernels (default until the lead flips it).
    #[default]
    Burn,
    /// tlkit's own kernels (`nn::conv`: im2col with faer's matrix products, direct loops for
    /// depthwise convolutions, rayon over the batch; `nn::pool`; `nn::batch_norm`).
    Own,
}

/// The convolution kernels chosen by the environment variable `TLKIT_CONV` (`own` or `burn`;
/// unset or empty: `burn`), read once per process.
pub fn conv_kernels() -> crate::Result<ConvKernels> {
    static CHOSEN: std::sync::OnceLock<Result<ConvKernels, String>> = std::sync::OnceLock::new();
    let chosen = CHOSEN.get_or_init(|| match std::env::var("TLKIT_CONV") {
        Err(_) => Ok(ConvKernels::Burn),
        Ok(v) => match v.trim() {
            "" | "burn" => Ok(ConvKernels::Burn),
            "own" => Ok(ConvKernels::Own),
            _ => Err(v),
        },
    });
    chosen.clone().map_err(|value| crate::Error::Invalid {
        field: "TLKIT_CONV (environment variable)".into(),
        value,
        msg: "must be `own` (tlkit's convolution kernels) or `burn` (Burn's, the default)".into(),
    })
}
