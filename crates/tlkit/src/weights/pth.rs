//! PyTorch checkpoints (`torch.save` files) read into [`HostTensors`], without Python.
//!
//! `torch.save` has written two formats, both built on Python's pickle:
//!
//! - **zip** (torch >= 1.6, the default since): a zip archive (stored, not compressed) whose
//!   members sit under one folder, `<name>/` (`archive/` in recent versions). `data.pkl` is the
//!   pickled object (usually a dict of tensors); every tensor in it refers to a storage by a
//!   persistent id `("storage", torch.FloatStorage, "<key>", "cpu", numel)` and the storage's raw
//!   bytes are the member `data/<key>`. `byteorder` says `little` or `big`. Dtypes without a
//!   legacy storage class (`uint16`, float8) are saved as `torch.storage.UntypedStorage` (bytes)
//!   and rebuilt by `_rebuild_tensor_v3`, which names the dtype.
//! - **legacy** (before 1.6, or `_use_new_zipfile_serialization=False`): pickles back to back.
//!   The magic number 0x1950a86a20f9469cfc6c, the protocol version 1001, a `sys_info` dict
//!   (`little_endian`, type sizes), then the object pickle, whose persistent ids are
//!   `("storage", torch.FloatStorage, "<key>", "cpu", numel, view_metadata)`, then a pickle
//!   listing the storage keys, then each storage in that order as a little-endian u64 element
//!   count followed by its raw bytes.
//!
//! In both, a tensor is `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`:
//! a strided view of its storage, in elements. Views are common (a transposed weight, a slice
//! of a shared buffer; the EfficientNet-Lite0 release stores conv weights with permuted
//! strides), so values are gathered through the stored offset and strides into C order.
//! Every dtype becomes f32, integer buffers such as `num_batches_tracked` included.
//!
//! A checkpoint that wraps its state dict (`{"state_dict": ...}`, `{"model_state_dict": ...}`
//! or `{"model": ...}`) is unwrapped; nested dicts (and lists) are flattened with dots
//! (`{"enc": {"w": t}}` gives `enc.w`); numbers and strings next to the tensors (`epoch`) are
//! skipped. Nothing in the file is executed: the pickle VM (`pickle.rs`) knows a fixed set of
//! callables and builds data only.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use super::pickle::{Id, Obj, Pickle, PickleError, TensorRef, unpickle};
use crate::train::checkpoint::HostTensors;
use crate::{Error, Result};

/// The legacy format's magic number 0x1950a86a20f9469cfc6c as pickle protocol 2 writes it:
/// LONG1, 10 bytes, little-endian.
const LEGACY_MAGIC: [u8; 12] = [
    0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];

/// The protocol version the legacy format writes after the magic number.
const LEGACY_PROTOCOL_VERSION: i64 = 1001;

/// Keys whose value is taken as the state dict when the top-level dict has one.
const WRAPPER_KEYS: [&str; 3] = ["state_dict", "model_state_dict", "model"];

/// How deeply dicts may nest in a state dict.
const MAX_DEPTH: usize = 32;

/// Longest tensor name accepted.
const MAX_NAME: usize = 4096;

/// Whether `bytes` start like a zip archive (a zip-format checkpoint).
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// Whether `bytes` start with the legacy format's magic number (after the PROTO opcode).
pub fn is_legacy(bytes: &[u8]) -> bool {
    bytes.get(2..14) == Some(&LEGACY_MAGIC[..]) || bytes.get(..12) == Some(&LEGACY_MAGIC[..])
}

/// Whether `bytes` (the first 16 are enough) look like `torch.save` output: a zip, the legacy
/// magic, or at least a pickle (which then fails with a clear "bad magic" error rather than as
/// some other format). A safetensors file, whose header length may well start with the byte
/// 0x80 of a pickle's PROTO, is told apart by the `{` of its JSON header at byte 8.
pub fn looks_like_pth(bytes: &[u8]) -> bool {
    is_zip(bytes)
        || is_legacy(bytes)
        || (bytes.first() == Some(&0x80) && bytes.get(8) != Some(&b'{'))
}

/// Reads the PyTorch checkpoint at `path` (zip or legacy format, chosen by content).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Format`] naming the file and the
/// position (pickle byte, zip member or tensor) when it is truncated, has a bad magic number,
/// an unknown opcode, an object of a class this reader does not know where a tensor or dict
/// should be (naming the class), or a storage shorter than a tensor needs.
pub fn load_pth(path: &Path) -> Result<HostTensors> {
    Ok(load_pth_typed(path)?.0)
}

/// Like [`load_pth`], also giving each tensor's element type as stored in the file
/// (`float32`, `int64`, ...), which the values, all converted to f32, no longer show.
pub fn load_pth_typed(path: &Path) -> Result<(HostTensors, Dtypes)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    read_typed(&bytes, path)
}

/// Reads a PyTorch checkpoint held in memory; `path` names it in errors. See [`load_pth`].
pub fn load_pth_bytes(bytes: &[u8], path: &Path) -> Result<HostTensors> {
    Ok(read_typed(bytes, path)?.0)
}

/// Each tensor's stored element type by name (`float32`, `int64`, `bfloat16`, ...).
pub type Dtypes = BTreeMap<String, &'static str>;

fn read_typed(bytes: &[u8], path: &Path) -> Result<(HostTensors, Dtypes)> {
    if is_zip(bytes) {
        read_zip(bytes, path)
    } else if is_legacy(bytes) {
        read_legacy(bytes, path)
    } else {
        let what = if bytes.is_empty() {
            "the file is empty".to_string()
        } else if bytes.first() == Some(&0x80) {
            "a pickle without PyTorch's magic number".to_string()
        } else {
            format!("it starts with {:02x?}", &bytes[..bytes.len().min(8)])
        };
        Err(Error::format(
            path,
            Some("byte 0".into()),
            format!(
                "not a PyTorch checkpoint ({what}): torch.save writes a zip archive (`PK`) or, \
                 before torch 1.6, a pickle starting with the magic number \
                 0x1950a86a20f9469cfc6c"
            ),
        ))
    }
}

/// A storage's element type, from its class (`torch.HalfStorage`) or a v3 dtype (`uint16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    U16,
    U32,
    U64,
    Bool,
    F8E4M3,
    F8E5M2,
    /// `UntypedStorage`: bytes, typed by the tensor.
    Untyped,
    /// A type tlkit does not convert (complex, quantized), with its element size.
    Other(&'static str, usize),
}

impl DType {
    fn from_storage_class(global: &str) -> Option<DType> {
        let class = global.rsplit('.').next().unwrap_or(global);
        Some(match class {
            "FloatStorage" => DType::F32,
            "DoubleStorage" => DType::F64,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            "UntypedStorage" => DType::Untyped,
            "ComplexFloatStorage" => DType::Other("complex64", 8),
            "ComplexDoubleStorage" => DType::Other("complex128", 16),
            "QInt32Storage" => DType::Other("qint32", 4),
            "QInt8Storage" | "QUInt8Storage" | "QUInt4x2Storage" | "QUInt2x4Storage" => {
                DType::Other("quantized", 1)
            }
            _ => return None,
        })
    }

    fn from_dtype_name(name: &str) -> Option<DType> {
        Some(match name {
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "int64" | "long" => DType::I64,
            "int32" | "int" => DType::I32,
            "int16" | "short" => DType::I16,
            "int8" => DType::I8,
            "uint8" => DType::U8,
            "uint16" => DType::U16,
            "uint32" => DType::U32,
            "uint64" => DType::U64,
            "bool" => DType::Bool,
            "float8_e4m3fn" => DType::F8E4M3,
            "float8_e5m2" => DType::F8E5M2,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::I8 | DType::U8 | DType::Bool | DType::F8E4M3 | DType::F8E5M2 => 1,
            DType::Untyped => 1,
            DType::Other(_, n) => n,
        }
    }

    /// One element, its bytes already in little-endian order.
    fn decode(self, b: &[u8]) -> f32 {
        let mut a = [0u8; 8];
        a[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
        let u16v = u16::from_le_bytes([a[0], a[1]]);
        match self {
            DType::F32 => f32::from_le_bytes([a[0], a[1], a[2], a[3]]),
            DType::F64 => f64::from_le_bytes(a) as f32,
            DType::F16 => half::f16::from_bits(u16v).to_f32(),
            DType::BF16 => half::bf16::from_bits(u16v).to_f32(),
            DType::I64 => i64::from_le_bytes(a) as f32,
            DType::U64 => u64::from_le_bytes(a) as f32,
            DType::I32 => i32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f32,
            DType::U32 => u32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f32,
            DType::I16 => u16v as i16 as f32,
            DType::U16 => u16v as f32,
            DType::I8 => a[0] as i8 as f32,
            DType::U8 | DType::Untyped => a[0] as f32,
            DType::Bool => (a[0] != 0) as u8 as f32,
            DType::F8E5M2 => half::f16::from_bits((a[0] as u16) << 8).to_f32(),
            DType::F8E4M3 => f8e4m3fn(a[0]),
            DType::Other(..) => f32::NAN,
        }
    }

    fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::I16 => "int16",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::Bool => "bool",
            DType::F8E4M3 => "float8_e4m3fn",
            DType::F8E5M2 => "float8_e5m2",
            DType::Untyped => "untyped",
            DType::Other(n, _) => n,
        }
    }
}

/// float8 e4m3fn: bias 7, no infinities, NaN at S.1111.111.
fn f8e4m3fn(b: u8) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = ((b >> 3) & 0x0f) as i32;
    let man = (b & 0x07) as f32;
    if exp == 0x0f && b & 0x07 == 0x07 {
        return f32::NAN;
    }
    if exp == 0 {
        return sign * man / 8.0 * 2f32.powi(-6);
    }
    sign * (1.0 + man / 8.0) * 2f32.powi(exp - 7)
}

/// A storage as a persistent id names it.
#[derive(Debug, Clone, PartialEq)]
struct StorageRef<'p> {
    key: Cow<'p, str>,
    dtype: DType,
    /// Legacy `view_metadata`: the storage is elements `offset..offset + len` of `key`.
    view: Option<(u64, u64)>,
}

/// Where in the file a pickle lies, for error positions.
struct Place<'a> {
    path: &'a Path,
    /// Zip member holding the pickle; `None` for the legacy format (offsets are file bytes).
    member: Option<&'a str>,
}

impl Place<'_> {
    fn at(&self, byte: usize) -> Option<String> {
        Some(match self.member {
            Some(m) => format!("{m}, byte {byte}"),
            None => format!("byte {byte}"),
        })
    }

    fn pickle_err(&self, e: PickleError) -> Error {
        Error::format(self.path, self.at(e.at), e.msg)
    }

    fn err(&self, byte: usize, msg: impl Into<String>) -> Error {
        Error::format(self.path, self.at(byte), msg)
    }

    /// An error about the pickle as a whole.
    fn whole(&self, msg: impl Into<String>) -> Error {
        Error::format(self.path, self.member.map(str::to_string), msg)
    }
}

/// Parses a persistent id `("storage", <storage class>, key, location, numel[, view])`.
fn storage_ref(p: &Pickle, pid: Id) -> std::result::Result<StorageRef<'_>, String> {
    let Obj::Tuple(items) = p.get(pid) else {
        return Err(format!(
            "a persistent id is {}, not a (\"storage\", ...) tuple",
            p.get(pid).kind()
        ));
    };
    if items.len() < 5 || p.str(items[0]) != Some("storage") {
        return Err(
            "a persistent id is not a (\"storage\", type, key, location, numel) tuple".into(),
        );
    }
    let dtype = match p.get(items[1]) {
        Obj::Global { name, .. } => DType::from_storage_class(name)
            .ok_or_else(|| format!("unknown storage class {name}"))?,
        other => return Err(format!("a storage class is {}", other.kind())),
    };
    let key = storage_key(p.get(items[2]))?;
    let view = match items.get(5).map(|&i| p.get(i)) {
        None | Some(Obj::None) => None,
        Some(Obj::Tuple(v)) if v.len() == 3 => match (p.get(v[1]), p.get(v[2])) {
            (Obj::Int(o), Obj::Int(n)) if *o >= 0 && *n >= 0 => Some((*o as u64, *n as u64)),
            _ => return Err(format!("storage `{key}` has a malformed view")),
        },
        Some(_) => return Err(format!("storage `{key}` has a malformed view")),
    };
    Ok(StorageRef { key, dtype, view })
}

/// A storage key: a string (an int in some old files), borrowed from the pickle.
fn storage_key(obj: &Obj) -> std::result::Result<Cow<'_, str>, String> {
    match obj {
        Obj::Str(s) => Ok(Cow::Borrowed(s.as_str())),
        Obj::Int(i) => Ok(Cow::Owned(i.to_string())),
        other => Err(format!("a storage key is {}, not a string", other.kind())),
    }
}

/// The tensor tree: the state dict inside a wrapper, or the whole object.
fn select_root(p: &Pickle) -> Id {
    if let Obj::Dict(items) = p.get(p.root) {
        for want in WRAPPER_KEYS {
            let found = items
                .iter()
                .rev()
                .find(|(k, _)| p.str(*k) == Some(want))
                .map(|&(_, v)| v);
            if let Some(v) = found
                && matches!(p.get(v), Obj::Dict(_))
            {
                return v;
            }
        }
    }
    p.root
}

/// The tensors under `root`, named by their dotted paths, in file order.
fn flatten<'p>(
    p: &'p Pickle,
    root: Id,
    place: &Place,
    file_len: usize,
) -> Result<Vec<(String, &'p TensorRef)>> {
    let mut out = Vec::new();
    // Shared sub-objects are visited once per path; the budgets keep a crafted graph of
    // shared dicts (or one long key used a million times) from multiplying paths or names
    // far beyond the file's size.
    let mut visits = p.objs.len().saturating_mul(2).saturating_add(64);
    let mut name_bytes = file_len.saturating_mul(16).saturating_add(1 << 24);
    let shared =
        || place.whole("the object graph is shared or cyclic beyond what a state dict can be");
    let mut todo = vec![(root, String::new(), 0usize)];
    while let Some((id, name, depth)) = todo.pop() {
        visits = visits.checked_sub(1).ok_or_else(shared)?;
        let kids: Vec<(Option<Cow<'_, str>>, Id)> = match p.get(id) {
            Obj::Tensor(t) => {
                out.push((name, t));
                continue;
            }
            Obj::Opaque { class, at } => {
                let what = if name.is_empty() {
                    "the checkpoint".to_string()
                } else {
                    format!("`{name}`")
                };
                return Err(place.err(
                    *at,
                    format!(
                        "{what} is an object of class {class}, which tlkit does not read \
                         (only tensors in dicts); save `model.state_dict()` instead of objects"
                    ),
                ));
            }
            Obj::Dict(items) => items
                .iter()
                .map(|&(k, v)| {
                    let key = match p.get(k) {
                        Obj::Str(s) => Some(Cow::Borrowed(s.as_str())),
                        Obj::Int(i) => Some(Cow::Owned(i.to_string())),
                        Obj::Bool(b) => Some(Cow::Owned(b.to_string())),
                        // Keys that cannot be named hold no weights in any checkpoint we read.
                        _ => None,
                    };
                    (key, v)
                })
                .collect(),
            Obj::List(items) | Obj::Tuple(items) => items
                .iter()
                .enumerate()
                .map(|(i, &v)| (Some(Cow::Owned(i.to_string())), v))
                .collect(),
            // Numbers, strings, None, bare storages and globals carry no tensors.
            _ => continue,
        };
        todo_children(&mut todo, &name, depth, kids, &mut name_bytes, place)?;
    }
    Ok(out)
}

/// Queues the children of the container `name` (its keys and values) for [`flatten`].
fn todo_children(
    todo: &mut Vec<(Id, String, usize)>,
    name: &str,
    depth: usize,
    kids: Vec<(Option<Cow<'_, str>>, Id)>,
    name_bytes: &mut usize,
    place: &Place,
) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Err(place.whole(format!(
            "`{name}` nests dicts more than {MAX_DEPTH} levels deep"
        )));
    }
    // Reversed so that popping visits children in file order.
    for (key, v) in kids.into_iter().rev() {
        let Some(key) = key else { continue };
        let len = name.len() + 1 + key.len();
        if len > MAX_NAME {
            let shown = format!("{name}.{}", &key[..key.floor_char_boundary(60)]);
            return Err(place.whole(format!(
                "a tensor name is longer than {MAX_NAME} bytes: `{}...`",
                &shown[..shown.floor_char_boundary(80)]
            )));
        }
        *name_bytes = name_bytes.checked_sub(len).ok_or_else(|| {
            place.whole("the tensor names add up to far more than the file holds")
        })?;
        let child = if name.is_empty() {
            key.into_owned()
        } else {
            format!("{name}.{key}")
        };
        todo.push((v, child, depth + 1));
    }
    Ok(())
}

/// Converts the tensors of the unpickled object `p` into host tensors. `storage` returns the
/// bytes of a storage key (already little-endian), `None` when the file has no such storage.
fn build<'d>(
    p: &Pickle,
    place: &Place,
    file_len: usize,
    mut storage: impl FnMut(&str, usize) -> Result<Option<Cow<'d, [u8]>>>,
) -> Result<(HostTensors, Dtypes)> {
    let leaves = flatten(p, select_root(p), place, file_len)?;
    // No real checkpoint holds more values than twice its bytes (tied weights, uint8 data);
    // the floor covers tiny files with broadcast views.
    let mut budget = (file_len as u64).saturating_mul(2).saturating_add(1 << 24);
    let mut cache: HashMap<Cow<'_, str>, Option<Cow<'d, [u8]>>> = HashMap::new();
    let mut out = BTreeMap::new();
    let mut dtypes = Dtypes::new();
    for (name, t) in leaves {
        let tensor_err =
            |msg: String| Error::format(place.path, Some(format!("tensor `{name}`")), msg);
        let Obj::Persistent(pid) = p.get(t.storage) else {
            return Err(place.err(t.at, "a tensor's storage is not a persistent id"));
        };
        let sref = storage_ref(p, *pid).map_err(|m| place.err(t.at, m))?;
        let dtype = match (&t.dtype, sref.dtype) {
            (Some(d), _) => DType::from_dtype_name(d)
                .ok_or_else(|| tensor_err(format!("dtype torch.{d} is not supported")))?,
            (None, DType::Untyped) => {
                return Err(tensor_err(
                    "an untyped storage without a dtype (expected _rebuild_tensor_v3)".into(),
                ));
            }
            (None, d) => d,
        };
        if let DType::Other(n, _) = dtype {
            return Err(tensor_err(format!(
                "dtype {n} is not supported (real float and integer tensors are)"
            )));
        }
        let numel = t
            .size
            .iter()
            .try_fold(1u64, |a, &s| a.checked_mul(s))
            .filter(|&n| n <= budget)
            .ok_or_else(|| {
                tensor_err(format!(
                    "shape {:?} holds more values than the whole file could store",
                    t.size
                ))
            })?;
        budget -= numel;
        let shape: Vec<usize> = t.size.iter().map(|&s| s as usize).collect();
        dtypes.insert(name.clone(), dtype.name());
        if numel == 0 {
            out.insert(name, (shape, Vec::new()));
            continue;
        }
        if !cache.contains_key(&sref.key) {
            let bytes = storage(&sref.key, dtype.size().max(sref.dtype.size()))?;
            cache.insert(sref.key.clone(), bytes);
        }
        let Some(Some(root)) = cache.get(&sref.key) else {
            return Err(tensor_err(format!(
                "its storage `{}` is not in the file",
                sref.key
            )));
        };
        // A legacy view is a slice of its root storage, in elements of the storage's type.
        let data: &[u8] = match sref.view {
            None => root,
            Some((off, len)) => {
                let es = sref.dtype.size() as u64;
                let range = off
                    .checked_mul(es)
                    .zip(off.checked_add(len).and_then(|e| e.checked_mul(es)))
                    .filter(|&(_, e)| e <= root.len() as u64);
                match range {
                    Some((s, e)) => &root[s as usize..e as usize],
                    None => {
                        return Err(tensor_err(format!(
                            "its storage view {off}..+{len} lies outside storage `{}` ({} bytes)",
                            sref.key,
                            root.len()
                        )));
                    }
                }
            }
        };
        let values = gather(t, dtype, data).map_err(|m| {
            tensor_err(format!(
                "{m} (storage `{}`, {}, shape {:?}, stride {:?}, offset {})",
                sref.key,
                dtype.name(),
                t.size,
                t.stride,
                t.offset
            ))
        })?;
        out.insert(name, (shape, values));
    }
    Ok((out, dtypes))
}

/// The values of the strided view `t` of `data`, in C order.
fn gather(t: &TensorRef, dtype: DType, data: &[u8]) -> std::result::Result<Vec<f32>, String> {
    let es = dtype.size();
    let available = (data.len() / es) as u64;
    if t.size.contains(&0) {
        return Ok(Vec::new());
    }
    // A dimension of size 1 is never stepped along, whatever its stride says.
    let stride: Vec<u64> = t
        .size
        .iter()
        .zip(&t.stride)
        .map(|(&n, &s)| if n == 1 { 0 } else { s })
        .collect();
    let last = t
        .size
        .iter()
        .zip(&stride)
        .try_fold(t.offset, |acc, (&n, &s)| {
            n.checked_sub(1)
                .and_then(|m| m.checked_mul(s))
                .and_then(|x| acc.checked_add(x))
        })
        .ok_or("the strides point past any possible storage")?;
    if last >= available {
        return Err(format!(
            "the storage holds {available} elements but the tensor reaches element {last}; \
             the file is truncated or corrupt"
        ));
    }
    let Some(numel) = t.size.iter().try_fold(1u64, |a, &n| a.checked_mul(n)) else {
        return Err("the shape holds more than 2^64 values".into());
    };
    let mut out = Vec::with_capacity(numel as usize);
    let elem = |i: u64| {
        let s = i as usize * es;
        dtype.decode(&data[s..s + es])
    };
    // Contiguous C-order views (most tensors) are one slice.
    let mut contiguous = true;
    let mut expect = 1u64;
    for (&n, &s) in t.size.iter().zip(&stride).rev() {
        if n != 1 && s != expect {
            contiguous = false;
            break;
        }
        expect = expect.saturating_mul(n);
    }
    if contiguous {
        let start = t.offset as usize * es;
        let bytes = &data[start..start + numel as usize * es];
        out.extend(bytes.chunks_exact(es).map(|b| dtype.decode(b)));
        return Ok(out);
    }
    // Odometer over the indices; `pos` stays within `offset..=last` except transiently at a
    // carry, where it is at most last + stride (no overflow: stride <= last < 2^63).
    let rank = t.size.len();
    let mut idx = vec![0u64; rank];
    let mut pos = t.offset;
    loop {
        out.push(elem(pos));
        let mut d = rank;
        loop {
            if d == 0 {
                return Ok(out);
            }
            d -= 1;
            idx[d] += 1;
            pos += stride[d];
            if idx[d] < t.size[d] {
                break;
            }
            pos -= stride[d] * t.size[d];
            idx[d] = 0;
        }
    }
}

/// Swaps each `es`-byte element of `bytes` in place (big-endian files).
fn swap_bytes(bytes: &mut [u8], es: usize) {
    if es > 1 {
        for c in bytes.chunks_exact_mut(es) {
            c.reverse();
        }
    }
}

fn read_zip(bytes: &[u8], path: &Path) -> Result<(HostTensors, Dtypes)> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| {
        Error::format(
            path,
            None,
            format!("not a valid zip archive ({e}); the file is truncated or corrupt"),
        )
    })?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let Some(pkl) = names
        .iter()
        .filter(|n| n.ends_with("data.pkl") && n.matches('/').count() <= 1)
        .min_by_key(|n| n.len())
        .cloned()
    else {
        return Err(Error::format(
            path,
            None,
            "a zip archive without data.pkl: not a torch.save checkpoint",
        ));
    };
    let prefix = &pkl[..pkl.len() - "data.pkl".len()];
    if names
        .iter()
        .any(|n| n.starts_with(&format!("{prefix}code/")))
    {
        return Err(Error::format(
            path,
            None,
            "a TorchScript archive (torch.jit.save); save `model.state_dict()` with torch.save",
        ));
    }
    let member = |zip: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
                  name: &str,
                  limit: u64|
     -> Result<Option<Vec<u8>>> {
        let mut f = match zip.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => {
                return Err(Error::format(
                    path,
                    Some(format!("member {name}")),
                    format!("cannot read the member: {e}"),
                ));
            }
        };
        let mut out = Vec::new();
        (&mut f).take(limit).read_to_end(&mut out).map_err(|e| {
            Error::format(
                path,
                Some(format!("member {name}")),
                format!("cannot read the member ({e}); the file is truncated or corrupt"),
            )
        })?;
        Ok(Some(out))
    };
    // Deflate could expand a small hostile archive; a real data.pkl is far smaller than this.
    let limit = (bytes.len() as u64).saturating_mul(1032).max(1 << 20);
    let big_endian = match member(&mut zip, &format!("{prefix}byteorder"), 16)? {
        None => false,
        Some(b) if b == b"little" => false,
        Some(b) if b == b"big" => true,
        Some(b) => {
            return Err(Error::format(
                path,
                Some(format!("member {prefix}byteorder")),
                format!(
                    "byteorder is {:?}, not little or big",
                    String::from_utf8_lossy(&b)
                ),
            ));
        }
    };
    let pickle_bytes = member(&mut zip, &pkl, limit)?.unwrap_or_default();
    let place = Place {
        path,
        member: Some(&pkl),
    };
    let p = unpickle(&pickle_bytes, 0).map_err(|e| place.pickle_err(e))?;
    build(&p, &place, bytes.len(), |key, es| {
        if key.contains('/') || key.contains('\\') {
            return Ok(None);
        }
        let Some(mut data) = member(&mut zip, &format!("{prefix}data/{key}"), limit)? else {
            return Ok(None);
        };
        if big_endian {
            swap_bytes(&mut data, es);
        }
        Ok(Some(Cow::Owned(data)))
    })
}

fn read_legacy(bytes: &[u8], path: &Path) -> Result<(HostTensors, Dtypes)> {
    let place = Place { path, member: None };
    let run = |start: usize| unpickle(bytes, start).map_err(|e| place.pickle_err(e));
    let magic = run(0)?;
    let version = run(magic.end)?;
    match version.get(version.root) {
        Obj::Int(LEGACY_PROTOCOL_VERSION) => {}
        other => {
            return Err(place.err(
                magic.end,
                format!(
                    "legacy protocol version is {}, expected {LEGACY_PROTOCOL_VERSION}",
                    match other {
                        Obj::Int(v) => v.to_string(),
                        o => o.kind().to_string(),
                    }
                ),
            ));
        }
    }
    let sys_info = run(version.end)?;
    let mut big_endian = false;
    if let Obj::Dict(items) = sys_info.get(sys_info.root) {
        for &(k, v) in items {
            if sys_info.str(k) == Some("little_endian") {
                big_endian = sys_info.get(v) == &Obj::Bool(false);
            }
        }
    }
    let main = run(sys_info.end)?;
    let keys = run(main.end)?;
    let Obj::List(key_ids) = keys.get(keys.root) else {
        return Err(place.err(
            main.end,
            format!(
                "the storage key list is {}, not a list",
                keys.get(keys.root).kind()
            ),
        ));
    };

    // Every persistent id in the object pickle, for each key's element size.
    let mut sizes: HashMap<Cow<'_, str>, usize> = HashMap::new();
    for obj in &main.objs {
        if let Obj::Persistent(pid) = obj {
            let s = storage_ref(&main, *pid).map_err(|m| place.err(sys_info.end, m))?;
            sizes.entry(s.key).or_insert(s.dtype.size());
        }
    }

    // The storages follow the key list: u64 element count, then the bytes.
    let mut table: HashMap<Cow<'_, str>, (usize, usize, usize)> = HashMap::new();
    let mut pos = keys.end;
    for &kid in key_ids {
        let key = storage_key(keys.get(kid)).map_err(|m| place.err(main.end, m))?;
        let Some(&es) = sizes.get(&key) else {
            return Err(place.err(
                main.end,
                format!("storage `{key}` is listed but no tensor names its type"),
            ));
        };
        let Some(count) = bytes.get(pos..pos + 8) else {
            return Err(place.err(
                pos,
                format!(
                    "the file is truncated: storage `{key}` should start here, the file has {} bytes",
                    bytes.len()
                ),
            ));
        };
        let count = u64::from_le_bytes(count.try_into().unwrap_or_default());
        let count = if big_endian {
            count.swap_bytes()
        } else {
            count
        };
        let start = pos + 8;
        let left = (bytes.len() - start) as u64;
        let len = count
            .checked_mul(es as u64)
            .filter(|&n| n <= left)
            .ok_or_else(|| {
                place.err(
                pos,
                format!(
                    "the file is truncated: storage `{key}` holds {count} elements of {es} bytes \
                     but only {left} bytes are left"
                ),
            )
            })? as usize;
        table.insert(key, (start, len, es));
        pos = start + len;
    }
    build(&main, &place, bytes.len(), |key, _| {
        Ok(table.get(key).map(|&(start, len, es)| {
            let data = &bytes[start..start + len];
            if big_endian {
                let mut v = data.to_vec();
                swap_bytes(&mut v, es);
                Cow::Owned(v)
            } else {
                Cow::Borrowed(data)
            }
        }))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::weights::load::fixture;

    #[test]
    fn float8_decodes() {
        assert_eq!(f8e4m3fn(0x38), 1.0);
        assert_eq!(f8e4m3fn(0xc0), -2.0);
        assert_eq!(f8e4m3fn(0x7e), 448.0);
        assert_eq!(f8e4m3fn(0x01), 2f32.powi(-9));
        assert!(f8e4m3fn(0x7f).is_nan());
        assert_eq!(DType::F8E5M2.decode(&[0x3c]), 1.0);
    }

    fn tref(offset: u64, size: &[u64], stride: &[u64]) -> TensorRef {
        TensorRef {
            storage: 0,
            offset,
            size: size.to_vec(),
            stride: stride.to_vec(),
            dtype: None,
            at: 0,
        }
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn gather_honours_offset_and_strides() {
        let data = f32s(&(0..12).map(|i| i as f32).collect::<Vec<_>>());
        // arange(12).reshape(3, 4).t(): shape [4, 3], stride [1, 4].
        let t = gather(&tref(0, &[4, 3], &[1, 4]), DType::F32, &data).unwrap();
        assert_eq!(t, vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]);
        // arange(12).reshape(3, 4)[1:, 1::2]: offset 5, shape [2, 2], stride [4, 2].
        let t = gather(&tref(5, &[2, 2], &[4, 2]), DType::F32, &data).unwrap();
        assert_eq!(t, vec![5., 7., 9., 11.]);
        // A size-1 dimension's stride is never used, however large (EfficientNet's 1x1 convs).
        let t = gather(&tref(2, &[3, 1], &[1, u64::MAX]), DType::F32, &data).unwrap();
        assert_eq!(t, vec![2., 3., 4.]);
        // Stride 0 broadcasts.
        let t = gather(&tref(7, &[3], &[0]), DType::F32, &data).unwrap();
        assert_eq!(t, vec![7., 7., 7.]);
        // Scalars.
        assert_eq!(
            gather(&tref(11, &[], &[]), DType::F32, &data).unwrap(),
            vec![11.]
        );
    }

    #[test]
    fn gather_rejects_views_past_the_storage() {
        let data = f32s(&[0.0; 12]);
        let e = gather(&tref(1, &[3, 4], &[4, 1]), DType::F32, &data).unwrap_err();
        assert!(
            e.contains("holds 12 elements") && e.contains("element 12"),
            "{e}"
        );
        let e = gather(&tref(0, &[3, 4], &[u64::MAX / 2, 1]), DType::F32, &data).unwrap_err();
        assert!(e.contains("past any possible storage"), "{e}");
    }

    #[test]
    fn non_checkpoints_fail_with_bad_magic() {
        let p = Path::new("x.pth");
        for bytes in [&b""[..], b"\x80\x02K\x01.", b"hello world"] {
            let e = load_pth_bytes(bytes, p).unwrap_err().to_string();
            assert!(
                e.contains("x.pth (byte 0)") && e.contains("not a PyTorch checkpoint"),
                "{e}"
            );
        }
    }

    /// The tensors of `tiny_*` as make_fixtures.py prints them (torch 2.15):
    /// ```text
    /// transposed: torch.float32 shape [4, 3] stride (1, 4) offset 0 values [0.0, 4.0, 8.0, 1.0, 5.0, 9.0, 2.0, 6.0, 10.0, 3.0, 7.0, 11.0]
    /// base: torch.float32 shape [4, 5] stride (5, 1) offset 0 values [-1.0, -0.75, ..., 3.75]
    /// view: torch.float32 shape [2, 2] stride (5, 2) offset 6 values [0.5, 1.0, 1.75, 2.25]
    /// buf: torch.int64 shape [4] stride (1,) offset 0 values [0.0, -3.0, 7.0, 1099511627776.0]
    /// bn.num_batches_tracked: torch.int64 shape [] stride () offset 0 values [42.0]
    /// half: torch.float16 shape [4] stride (1,) offset 0 values [1.5, -2.25, 65504.0, 5.960464477539063e-08]
    /// bf16: torch.bfloat16 shape [3] stride (1,) offset 0 values [1.0, -0.5, 3.00405527047391e+38]
    /// double: torch.float64 shape [1, 2] stride (2, 1) offset 0 values [0.10000000149011612, -0.20000000298023224]
    /// int32: torch.int32 shape [2, 1] stride (1, 1) offset 0 values [-7.0, 8.0]
    /// ```
    pub(crate) fn tiny_expected() -> Vec<(&'static str, Vec<usize>, Vec<f32>)> {
        vec![
            (
                "transposed",
                vec![4, 3],
                vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.],
            ),
            (
                "base",
                vec![4, 5],
                (0..20).map(|i| i as f32 / 4.0 - 1.0).collect(),
            ),
            ("view", vec![2, 2], vec![0.5, 1.0, 1.75, 2.25]),
            ("buf", vec![4], vec![0.0, -3.0, 7.0, 1_099_511_627_776.0]),
            ("bn.num_batches_tracked", vec![], vec![42.0]),
            ("half", vec![4], vec![1.5, -2.25, 65504.0, 5.960_464_5e-8]),
            ("bf16", vec![3], vec![1.0, -0.5, 3.004_055_3e38]),
            ("double", vec![1, 2], vec![0.1, -0.2]),
            ("int32", vec![2, 1], vec![-7.0, 8.0]),
        ]
    }

    fn read_fixture(name: &str) -> (Vec<u8>, std::path::PathBuf) {
        let path = fixture(name);
        (std::fs::read(&path).unwrap(), path)
    }

    #[test]
    fn zip_and_legacy_fixtures_match_pytorch() {
        for name in ["tiny_zip.pth", "tiny_legacy.pth"] {
            let got = load_pth(&fixture(name)).unwrap();
            let expected = tiny_expected();
            assert_eq!(got.len(), expected.len(), "{name}: {:?}", got.keys());
            for (k, shape, values) in expected {
                assert_eq!(got[k], (shape, values), "{name}: {k}");
            }
        }
    }

    #[test]
    fn wrapped_checkpoint_is_unwrapped_and_flattened() {
        // {"epoch": 3, "args": argparse.Namespace(lr=0.1),
        //  "state_dict": {"enc": {"w": transposed}, "head.b": tensor([0.5])}}
        let got = load_pth(&fixture("wrapped.pth")).unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), ["enc.w", "head.b"]);
        assert_eq!(got["enc.w"].0, vec![4, 3]);
        assert_eq!(got["enc.w"].1, tiny_expected()[0].2);
        assert_eq!(got["head.b"], (vec![1], vec![0.5]));
    }

    #[test]
    fn dtype_named_untyped_storages_read() {
        // u16: torch.uint16 values [1.0, 65535.0, 300.0]
        // f8: torch.float8_e4m3fn values [1.0, -2.0, 448.0, 0.001953125]
        let got = load_pth(&fixture("new_dtypes.pth")).unwrap();
        assert_eq!(got["u16"], (vec![3], vec![1.0, 65535.0, 300.0]));
        assert_eq!(got["f8"], (vec![4], vec![1.0, -2.0, 448.0, 0.001_953_125]));
    }

    #[test]
    fn big_endian_archive_is_swapped() {
        let got = load_pth(&fixture("big_endian.pth")).unwrap();
        assert_eq!(got.len(), 3);
        for (k, shape, values) in tiny_expected() {
            if let Some(t) = got.get(k) {
                assert_eq!(t, &(shape, values), "{k}");
            }
        }
    }

    #[test]
    fn pickled_module_names_its_class() {
        let e = load_pth(&fixture("module.pth")).unwrap_err().to_string();
        assert!(
            e.contains("module.pth (module/data.pkl, byte ")
                && e.contains("torch.nn.modules.linear.Linear")
                && e.contains("state_dict()"),
            "{e}"
        );
    }

    #[test]
    fn every_truncation_is_a_clear_error() {
        for name in [
            "tiny_zip.pth",
            "tiny_legacy.pth",
            "wrapped.pth",
            "new_dtypes.pth",
            "big_endian.pth",
        ] {
            let (bytes, path) = read_fixture(name);
            for n in 0..bytes.len() {
                let e = match load_pth_bytes(&bytes[..n], &path) {
                    Ok(t) => panic!("{name} cut at {n} of {} read as {t:?}", bytes.len()),
                    Err(e) => e.to_string(),
                };
                assert!(e.contains(name), "{name} cut at {n}: {e}");
            }
        }
    }

    #[test]
    fn truncation_messages_say_where() {
        let (bytes, path) = read_fixture("tiny_legacy.pth");
        // Inside the object pickle.
        let e = load_pth_bytes(&bytes[..300], &path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("(byte ") && e.contains("truncated"), "{e}");
        // Inside the last storage's data.
        let e = load_pth_bytes(&bytes[..bytes.len() - 3], &path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the file is truncated: storage") && e.contains("bytes are left"),
            "{e}"
        );
        let (bytes, path) = read_fixture("tiny_zip.pth");
        let e = load_pth_bytes(&bytes[..bytes.len() / 2], &path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid zip archive"), "{e}");
    }

    #[test]
    fn flipped_pickle_bytes_never_panic() {
        let (bytes, path) = read_fixture("tiny_legacy.pth");
        // The first GLOBAL of the object pickle turned into an unknown opcode.
        let at = bytes
            .windows(24)
            .position(|w| w == b"ccollections\nOrderedDict")
            .unwrap();
        let mut bad = bytes.clone();
        bad[at] = 0xff;
        let e = load_pth_bytes(&bad, &path).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{} (byte {at}): unknown pickle opcode 0xff; the file is corrupt or not a \
                 PyTorch checkpoint",
                path.display()
            )
        );
        // Every byte of every pickle, flipped: an error or a (possibly different) result.
        let pickles_end = bytes.len() - 200;
        for i in 0..pickles_end {
            for flip in [0xff, 0x01, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                if let Err(e) = load_pth_bytes(&b, &path) {
                    assert!(e.to_string().contains("tiny_legacy.pth"), "{e}");
                }
            }
        }
    }

    #[test]
    fn short_storage_is_named() {
        // tiny_zip.pth rewritten with storage 0 (`transposed`, 12 floats) 4 bytes short.
        use std::io::Write;
        let (bytes, _) = read_fixture("tiny_zip.pth");
        let mut src = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).unwrap();
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..src.len() {
            let mut f = src.by_index(i).unwrap();
            let name = f.name().to_string();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            if name.ends_with("/data/0") {
                data.truncate(data.len() - 4);
            }
            out.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            out.write_all(&data).unwrap();
        }
        let short = out.finish().unwrap().into_inner();
        let e = load_pth_bytes(&short, Path::new("short.pth"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "short.pth (tensor `transposed`): the storage holds 11 elements but the tensor \
             reaches element 11; the file is truncated or corrupt (storage `0`, float32, shape \
             [4, 3], stride [1, 4], offset 0)"
        );
    }

    #[test]
    fn one_long_key_used_many_times_hits_the_name_budget() {
        // A dict of 20000 entries whose keys are all one memoized 4000-byte string: 80 MB of
        // names from 64 kB of pickle.
        let mut bytes = b"\x80\x02}X\xa0\x0f\x00\x00".to_vec();
        bytes.extend(std::iter::repeat_n(b'k', 4000));
        bytes.extend_from_slice(b"q\x000(");
        for _ in 0..20_000 {
            bytes.extend_from_slice(b"h\x00N");
        }
        bytes.extend_from_slice(b"u.");
        let p = unpickle(&bytes, 0).unwrap();
        let place = Place {
            path: Path::new("x.pth"),
            member: None,
        };
        let e = flatten(&p, p.root, &place, bytes.len())
            .unwrap_err()
            .to_string();
        assert!(e.contains("names add up"), "{e}");
    }

    #[test]
    fn shared_dicts_cannot_multiply_paths() {
        // d0 = {"a": None, "b": None}; d(i+1) = {"a": d(i), "b": d(i)}, 30 levels: 2^30 paths.
        let mut bytes = b"\x80\x02}q\x00(X\x01\x00\x00\x00aNX\x01\x00\x00\x00bNu".to_vec();
        for i in 0..30u8 {
            bytes.extend_from_slice(b"}(X\x01\x00\x00\x00ah");
            bytes.push(i);
            bytes.extend_from_slice(b"X\x01\x00\x00\x00bh");
            bytes.push(i);
            bytes.extend_from_slice(b"uq");
            bytes.push(i + 1);
        }
        bytes.push(b'.');
        let p = unpickle(&bytes, 0).unwrap();
        let place = Place {
            path: Path::new("x.pth"),
            member: None,
        };
        let e = flatten(&p, p.root, &place, bytes.len())
            .unwrap_err()
            .to_string();
        assert!(e.contains("shared or cyclic"), "{e}");
    }
}
