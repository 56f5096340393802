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
    /// ([`choose_device`]); for a GPU kind, the first of the devices chosen for data-parallel
    /// training ([`choose_devices`]) when they are of that kind.
    pub fn device(self) -> crate::Result<Device> {
        let kind = CHOSEN.get().copied().unwrap_or(self);
        // With a data-parallel list of this kind, networks live on its first device.
        if let Some(first) = chosen_devices()
            .and_then(<[DeviceSlot]>::first)
            .filter(|d| d.kind == kind && kind != DeviceKind::Cpu)
        {
            return first.device();
        }
        match kind {
            DeviceKind::Cpu => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda => Ok(Device::cuda(0usize)),
            #[cfg(feature = "wgpu")]
            DeviceKind::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)]
            kind => Err(kind.not_built()),
        }
    }

    /// The error for a GPU kind this build has no backend for.
    fn not_built(self) -> crate::Error {
        crate::Error::Spec(format!(
            "device `{0}` needs tlkit built with `--features {0}` (see the README's GPU section)",
            self.as_str()
        ))
    }
}

/// One device of a data-parallel list (`tlkit --devices cpu:0,cpu:1`): a kind and its index.
///
/// Burn's CPU backend has a single device, so `cpu:0` and `cpu:1` are the same memory and
/// threads: on the CPU a list names shards, not hardware (see [`crate::train::parallel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceSlot {
    pub kind: DeviceKind,
    pub index: usize,
}

impl std::fmt::Display for DeviceSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.index)
    }
}

impl DeviceSlot {
    /// The Burn device: the CPU backend's only device, CUDA device `index`, or the wgpu
    /// adapter of discrete GPU `index`.
    pub fn device(self) -> crate::Result<Device> {
        match self.kind {
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda => Ok(Device::cuda(self.index)),
            #[cfg(feature = "wgpu")]
            DeviceKind::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(
                self.index,
            ))),
            DeviceKind::Cpu => Ok(Device::flex()),
            #[allow(unreachable_patterns)]
            kind => Err(kind.not_built()),
        }
    }
}

/// Parses a `--devices` value: a count (`2`: indices 0 and 1 of `kind`, the `--device` kind or
/// the CPU) or a comma-separated list of `kind:index` (`cuda:0,cuda:1`), all of one kind, each
/// once.
pub fn parse_devices(text: &str, kind: DeviceKind) -> crate::Result<Vec<DeviceSlot>> {
    let invalid = |msg: String| crate::Error::Invalid {
        field: "--devices".into(),
        value: text.to_string(),
        msg,
    };
    let text = text.trim();
    if let Ok(n) = text.parse::<usize>() {
        if n == 0 {
            return Err(invalid("give at least one device".into()));
        }
        return Ok((0..n).map(|index| DeviceSlot { kind, index }).collect());
    }
    let mut out: Vec<DeviceSlot> = vec![];
    for item in text.split(',').map(str::trim) {
        let (name, index) = item.split_once(':').unwrap_or((item, "0"));
        let kind = match name {
            "cpu" => DeviceKind::Cpu,
            "cuda" => DeviceKind::Cuda,
            "wgpu" => DeviceKind::Wgpu,
            _ => {
                return Err(invalid(format!(
                    "`{item}` is not a device; write a count (`2`) or a list such as `cpu:0,cpu:1` or `cuda:0,cuda:1` (kinds: cpu, cuda, wgpu)"
                )));
            }
        };
        let index = index.parse::<usize>().map_err(|_| {
            invalid(format!(
                "`{item}`: the index after `:` must be a whole number, as in `{name}:1`"
            ))
        })?;
        let slot = DeviceSlot { kind, index };
        if let Some(first) = out.first()
            && first.kind != kind
        {
            return Err(invalid(format!(
                "`{first}` and `{slot}` are of different kinds; every device of one run must be of one kind"
            )));
        }
        if out.contains(&slot) {
            return Err(invalid(format!("`{slot}` is listed twice")));
        }
        out.push(slot);
    }
    Ok(out)
}

/// The data-parallel devices chosen for the whole process (`tlkit --devices`).
static CHOSEN_DEVICES: std::sync::OnceLock<Vec<DeviceSlot>> = std::sync::OnceLock::new();

/// Makes every [`crate::train::Trainer`] of this process split its batches over `devices`
/// (unless given others with [`crate::train::Trainer::with_devices`]); the first choice stays.
pub fn choose_devices(devices: Vec<DeviceSlot>) {
    let _ = CHOSEN_DEVICES.set(devices);
}

/// The devices chosen for the process by [`choose_devices`], if any.
pub fn chosen_devices() -> Option<&'static [DeviceSlot]> {
    CHOSEN_DEVICES.get().map(Vec::as_slice)
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

/// Whose kernels run 2-D convolutions, linear layers, max pooling, training-mode batch norm and
/// ReLU6 on the CPU backend, and whether Adam's update is one fused pass or tensor operations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConvKernels {
    /// Burn's `flex` kernels (`TLKIT_CONV=burn`): the kernels every number recorded before
    /// 2026-12-02 was measured with.
    Burn,
    /// tlkit's own kernels, the default (the `tlkit-kernels` crate: im2col with faer's matrix
    /// products, direct loops for depthwise convolutions, rayon over the batch; max pooling;
    /// batch norm; ReLU6; linear layers on faer's products; their Burn operations in `nn::conv`,
    /// `nn::pool`, `nn::batch_norm`, `nn::relu6`, `nn::linear`; Adam's update in
    /// `train::fused_adam`).
    #[default]
    Own,
}

/// The convolution kernels chosen by the environment variable `TLKIT_CONV` (`own` or `burn`;
/// unset or empty: `own`), read once per process.
pub fn conv_kernels() -> crate::Result<ConvKernels> {
    static CHOSEN: std::sync::OnceLock<Result<ConvKernels, String>> = std::sync::OnceLock::new();
    let chosen = CHOSEN.get_or_init(|| match std::env::var("TLKIT_CONV") {
        Err(_) => Ok(ConvKernels::Own),
        Ok(v) => match v.trim() {
            "" | "own" => Ok(ConvKernels::Own),
            "burn" => Ok(ConvKernels::Burn),
            _ => Err(v),
        },
    });
    chosen.clone().map_err(|value| crate::Error::Invalid {
        field: "TLKIT_CONV (environment variable)".into(),
        value,
        msg: "must be `own` (tlkit's convolution kernels, the default) or `burn` (Burn's)".into(),
    })
}

/// What [`keep_freed_buffers`] did to the process's C allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAllocator {
    /// glibc's thresholds raised to these byte counts.
    Raised {
        /// `M_MMAP_THRESHOLD`: larger requests are mapped on their own and unmapped when freed.
        mmap_threshold: usize,
        /// `M_TRIM_THRESHOLD`: free memory at the heap's top beyond this goes back to the kernel.
        trim_threshold: usize,
    },
    /// Left as it was: `TLKIT_MALLOC=system`, or `GLIBC_TUNABLES` already sets malloc's
    /// tunables (the user's choice stays).
    LeftToUser,
    /// Left as it was: glibc refused the values (an old version caps the mmap threshold).
    Refused,
    /// Not glibc (musl, macOS, Windows): nothing to do.
    NotGlibc,
}

/// Mmap threshold [`keep_freed_buffers`] asks for: a buffer up to this size is served from the
/// heap and reused after it is freed.
const MMAP_THRESHOLD: usize = 256 << 20;
/// The fallback where glibc caps the mmap threshold at half its largest heap (some versions).
const MMAP_THRESHOLD_CAPPED: usize = 32 << 20;
/// Free memory kept at the heap's top before glibc trims it.
const TRIM_THRESHOLD: usize = 256 << 20;

/// Keeps large freed buffers in the process's heap, for the next training step to reuse.
///
/// A step allocates and frees the same activation and gradient buffers, many of them megabytes,
/// every step. glibc maps a buffer above its mmap threshold on its own and unmaps it when it is
/// freed, and gives the heap's top back to the kernel beyond its trim threshold; both thresholds
/// rise only as far as the largest mapped buffer the process has freed so far. Whether a step
/// then maps its buffers anew (page faults, zero-filling, TLB shootdowns on every compute
/// thread) depends on what the process allocated before: in a benchmark on random data it
/// took a quarter of the MNIST-M network's step; in a run that loaded a dataset first, far less
/// (BENCHMARKS.md, "The allocator setting moves into the binary"). This fixes both thresholds
/// at 256 MiB (the mmap threshold at 32 MiB where a glibc version caps it), so the process keeps
/// up to that much freed memory for reuse. The numbers a run computes do not change.
///
/// The `tlkit` binary calls it once at start-up. A program that embeds the library decides for
/// its own process: call it before the first tensor is made. `TLKIT_MALLOC=system` (or any
/// `glibc.malloc.*` in `GLIBC_TUNABLES`) leaves the allocator as it is; `TLKIT_MALLOC=keep`,
/// empty or unset, is the default; any other value is an error, before anything is changed.
pub fn keep_freed_buffers() -> crate::Result<HostAllocator> {
    let system = malloc_choice(std::env::var("TLKIT_MALLOC").ok().as_deref())?;
    if system || glibc_tunables_set() {
        return Ok(HostAllocator::LeftToUser);
    }
    Ok(glibc_thresholds())
}

/// What a `TLKIT_MALLOC` value asks for: `true` to leave glibc's thresholds alone (`system`),
/// `false` for tlkit's (`keep`, empty or unset).
fn malloc_choice(value: Option<&str>) -> crate::Result<bool> {
    env_switch(
        "TLKIT_MALLOC",
        value,
        ("keep", "system"),
        "must be `keep` (large freed buffers stay in the heap, the default) or `system` \
         (glibc's own malloc thresholds)",
    )
}

/// A two-valued environment variable: `false` for the default (`values.0`, empty or unset),
/// `true` for `values.1` (spaces around either allowed), an error naming the variable, the
/// value and `msg` otherwise.
fn env_switch(
    var: &str,
    value: Option<&str>,
    values: (&str, &str),
    msg: &str,
) -> crate::Result<bool> {
    match value.map(str::trim) {
        None | Some("") => Ok(false),
        Some(v) if v == values.0 => Ok(false),
        Some(v) if v == values.1 => Ok(true),
        Some(other) => Err(crate::Error::invalid(
            format!("{var} (environment variable)"),
            other,
            msg,
        )),
    }
}

/// How [`compute_on_this_thread`] left the process's compute threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputePool {
    /// The calling thread is compute thread 0 of rayon's global pool, beside `threads - 1`
    /// spawned ones that spin for [`SPIN_IDLE`] after an operation before they sleep.
    Joined {
        /// Compute threads in all, the calling one included.
        threads: usize,
    },
    /// Rayon's own global pool, its threads sleeping between operations: `TLKIT_POOL=rayon`, a
    /// single compute thread, or the pool was already built.
    Rayon,
}

/// How long the compute threads look for work after an operation before they sleep.
pub const SPIN_IDLE: std::time::Duration = std::time::Duration::from_millis(5);

/// Makes the calling thread compute thread 0 of rayon's global pool, and the other compute
/// threads spin between operations instead of sleeping.
///
/// A training step is a few hundred tensor operations, each split over the compute threads, with
/// a little serial work between them. With rayon's defaults the thread running the step is not
/// a compute thread, and a compute thread that found no work for a few dozen yields sleeps
/// until the next operation wakes it; on a virtual machine that wake-up took as long as half a
/// matrix product (BENCHMARKS.md, "Compute threads that spin"). Here the step's thread runs its
/// share of every split itself, and after each of tlkit's kernels the other threads keep looking
/// for work (Burn's operations' included) for [`SPIN_IDLE`] before they sleep, as PyTorch's
/// OpenMP threads do: the benchmark MLP trained 14–17% faster. The cost is CPU time: while a run
/// trains, every compute thread is busy, also between operations. The thread count is rayon's
/// (`RAYON_NUM_THREADS`, else the cores; with one, rayon's own pool stays). The numbers a step
/// computes do not change: every kernel splits its work the same way whichever thread runs a
/// piece.
///
/// The `tlkit` binary calls it once at start-up, on its main thread. A program that embeds the
/// library decides for its own process, before the first tensor operation (after one, rayon's
/// pool exists and this returns [`ComputePool::Rayon`]), and runs its training on the thread
/// that called it. `TLKIT_POOL=rayon` keeps rayon's own pool; `TLKIT_POOL=caller`, empty or
/// unset, is the default; any other value is an error, before anything is changed.
pub fn compute_on_this_thread() -> crate::Result<ComputePool> {
    if pool_choice(std::env::var("TLKIT_POOL").ok().as_deref())? {
        return Ok(ComputePool::Rayon);
    }
    // Alone in its pool, the calling thread would be the only one to run work that another
    // thread hands to the pool (the batch prefetcher's transforms) while it waits for that
    // thread: it then keeps rayon's own.
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|n| n.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads < 2 {
        return Ok(ComputePool::Rayon);
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .use_current_thread()
        .build_global()
    {
        Ok(()) => {
            tlkit_kernels::threads::spin_between_operations(SPIN_IDLE);
            Ok(ComputePool::Joined {
                threads: rayon::current_num_threads(),
            })
        }
        // Built already, by an earlier call or a first parallel operation: it stays as it is.
        Err(_) => Ok(ComputePool::Rayon),
    }
}

/// What a `TLKIT_POOL` value asks for: `true` for rayon's own pool (`rayon`), `false` for the
/// calling thread joining it (`caller`, empty or unset).
fn pool_choice(value: Option<&str>) -> crate::Result<bool> {
    env_switch(
        "TLKIT_POOL",
        value,
        ("caller", "rayon"),
        "must be `caller` (the calling thread is a compute thread, the default) or `rayon` \
         (rayon's own pool, whose threads sleep between operations)",
    )
}

/// Malloc tunables in `GLIBC_TUNABLES`: the user's choice stays.
fn glibc_tunables_set() -> bool {
    std::env::var("GLIBC_TUNABLES").is_ok_and(|v| v.contains("glibc.malloc."))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_thresholds() -> HostAllocator {
    let set = |param: libc::c_int, bytes: usize| {
        let Ok(value) = libc::c_int::try_from(bytes) else {
            return false;
        };
        // SAFETY: `mallopt` only changes malloc's tunables under malloc's own lock; it takes
        // two integers and touches no memory of ours.
        unsafe { libc::mallopt(param, value) == 1 }
    };
    let mmap_threshold = if set(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) {
        MMAP_THRESHOLD
    } else if set(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_CAPPED) {
        MMAP_THRESHOLD_CAPPED
    } else {
        return HostAllocator::Refused;
    };
    if !set(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) {
        return HostAllocator::Refused;
    }
    HostAllocator::Raised {
        mmap_threshold,
        trim_threshold: TRIM_THRESHOLD,
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn glibc_thresholds() -> HostAllocator {
    HostAllocator::NotGlibc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_buffers_are_kept_unless_the_user_chose() {
        let system = match (
            malloc_choice(std::env::var("TLKIT_MALLOC").ok().as_deref()),
            keep_freed_buffers(),
        ) {
            // A value this test's environment got wrong is refused, and nothing is set.
            (Err(_), Err(_)) => return,
            (Ok(system), Ok(got)) => (system, got),
            (chose, got) => panic!("TLKIT_MALLOC read as {chose:?}, yet {got:?}"),
        };
        let (system, got) = system;
        if system || glibc_tunables_set() {
            assert_eq!(got, HostAllocator::LeftToUser);
        } else if cfg!(all(target_os = "linux", target_env = "gnu")) {
            // Versions that cap the mmap threshold accept the fallback, 32 MiB.
            match got {
                HostAllocator::Raised {
                    mmap_threshold,
                    trim_threshold,
                } => {
                    assert!(
                        [MMAP_THRESHOLD, MMAP_THRESHOLD_CAPPED].contains(&mmap_threshold),
                        "{mmap_threshold}"
                    );
                    assert_eq!(trim_threshold, TRIM_THRESHOLD);
                }
                other => panic!("glibc refused the thresholds: {other:?}"),
            }
            // A second call sets the same values again.
            assert_eq!(keep_freed_buffers().ok(), Some(got));
        } else {
            assert_eq!(got, HostAllocator::NotGlibc);
        }
    }

    /// `keep` or `system` (spaces around allowed); anything else names the variable and the
    /// two values it takes.
    #[test]
    fn tlkit_malloc_takes_keep_or_system() {
        for (value, system) in [(None, false), (Some(""), false), (Some(" keep"), false)] {
            assert_eq!(malloc_choice(value).ok(), Some(system), "{value:?}");
        }
        assert_eq!(malloc_choice(Some("system \n")).ok(), Some(true));
        let err = malloc_choice(Some("sytem"))
            .expect_err("a typo")
            .to_string();
        for part in ["TLKIT_MALLOC", "sytem", "`keep`", "`system`"] {
            assert!(err.contains(part), "{err}");
        }
    }

    /// `caller` or `rayon` (spaces around allowed); anything else names the variable and the
    /// two values it takes.
    #[test]
    fn tlkit_pool_takes_caller_or_rayon() {
        for (value, rayon) in [
            (None, false),
            (Some(""), false),
            (Some("caller "), false),
            (Some(" rayon"), true),
        ] {
            assert_eq!(pool_choice(value).ok(), Some(rayon), "{value:?}");
        }
        let err = pool_choice(Some("omp"))
            .expect_err("not a pool")
            .to_string();
        for part in ["TLKIT_POOL", "omp", "`caller`", "`rayon`"] {
            assert!(err.contains(part), "{err}");
        }
    }

    #[test]
    fn a_count_or_a_list_of_one_kind_names_the_devices() {
        let names = |text: &str, kind| {
            parse_devices(text, kind)
                .map(|d| {
                    d.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(names("2", DeviceKind::Cpu).unwrap(), "cpu:0,cpu:1");
        assert_eq!(
            names("3", DeviceKind::Cuda).unwrap(),
            "cuda:0,cuda:1,cuda:2"
        );
        assert_eq!(
            names(" cuda:1, cuda:3 ", DeviceKind::Cpu).unwrap(),
            "cuda:1,cuda:3"
        );
        assert_eq!(names("wgpu", DeviceKind::Cpu).unwrap(), "wgpu:0");
        let err = names("0", DeviceKind::Cpu).unwrap_err();
        assert!(
            err.contains("--devices = 0: give at least one device"),
            "{err}"
        );
        let err = names("cuda:x", DeviceKind::Cpu).unwrap_err();
        assert!(err.contains("must be a whole number"), "{err}");
    }
}
