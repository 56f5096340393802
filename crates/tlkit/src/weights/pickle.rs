//! A small pickle virtual machine: the part of Python's pickle protocols 0–5 that PyTorch
//! checkpoints use, and nothing that runs code.
//!
//! Python's unpickler imports whatever `GLOBAL` names and calls whatever `REDUCE` asks for;
//! this one knows a fixed set of callables (`collections.OrderedDict`, torch's
//! `_rebuild_tensor*` and `_rebuild_parameter*`, `torch.Size`, `_codecs.encode`, sets) and
//! turns every other call into an [`Obj::Opaque`] that remembers the class and the byte where
//! it was named. An opaque object is harmless until someone needs its value; the reader then
//! reports the class, so an `argparse.Namespace` next to a state dict does not stop a load,
//! but a pickled `nn.Module` in place of a state dict is a clear error.
//!
//! Objects live in an arena and are referred to by index, as Python refers to them by
//! reference: the memo (`BINPUT`/`BINGET`) shares objects instead of copying them, so a
//! crafted file cannot make copies grow exponentially, and self-referencing containers need
//! no reference counting. Every read is bounds-checked and every length is checked against
//! the bytes left before anything is allocated, so a hostile file costs at most a few times
//! its own size in memory.

use std::collections::HashMap;
use std::rc::Rc;

/// Index of an object in [`Pickle::objs`].
pub(crate) type Id = usize;

/// How deeply `_rebuild_from_type_v2` may nest calls before the file is called corrupt.
const MAX_CALL_DEPTH: usize = 16;

/// Longest `module.name` of a global; Python's are far shorter.
const MAX_GLOBAL: usize = 1024;

/// A Python object as far as checkpoints need to know it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Obj {
    None,
    Bool(bool),
    Int(i64),
    /// An integer that does not fit in 64 bits.
    BigInt,
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Id>),
    /// Lists, sets and frozensets.
    List(Vec<Id>),
    /// Dicts and OrderedDicts, in insertion order; a repeated key is kept twice and the last
    /// one wins when the dict is read.
    Dict(Vec<(Id, Id)>),
    /// `module.name` named by GLOBAL or STACK_GLOBAL, with the byte where it was named.
    Global {
        name: Rc<str>,
        at: usize,
    },
    /// A persistent id (BINPERSID): the argument names a storage that the caller resolves.
    Persistent(Id),
    /// A tensor rebuilt by `torch._utils._rebuild_tensor*`.
    Tensor(TensorRef),
    /// The result of calling or instantiating `class`, which this reader does not know.
    Opaque {
        class: Rc<str>,
        at: usize,
    },
}

impl Obj {
    /// A short name of the object's kind for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Obj::None => "None",
            Obj::Bool(_) => "a bool",
            Obj::Int(_) | Obj::BigInt => "an int",
            Obj::Float(_) => "a float",
            Obj::Str(_) => "a str",
            Obj::Bytes(_) => "bytes",
            Obj::Tuple(_) => "a tuple",
            Obj::List(_) => "a list",
            Obj::Dict(_) => "a dict",
            Obj::Global { .. } => "a global",
            Obj::Persistent(_) => "a storage",
            Obj::Tensor(_) => "a tensor",
            Obj::Opaque { .. } => "an object",
        }
    }
}

/// A tensor as `_rebuild_tensor_v2(storage, offset, size, stride, ...)` describes it: a view
/// of a storage, in elements.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorRef {
    /// An [`Obj::Persistent`] naming the storage.
    pub storage: Id,
    pub offset: u64,
    pub size: Vec<u64>,
    pub stride: Vec<u64>,
    /// The dtype given to `_rebuild_tensor_v3` (`"uint16"`), which reads untyped storages;
    /// `None` when the storage's class says it.
    pub dtype: Option<String>,
    /// Byte of the REDUCE that built the tensor.
    pub at: usize,
}

/// An error at a byte offset of the pickle.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PickleError {
    pub at: usize,
    pub msg: String,
}

/// An unpickled object graph.
#[derive(Debug)]
pub(crate) struct Pickle {
    pub objs: Vec<Obj>,
    /// The object STOP returned.
    pub root: Id,
    /// Offset just after STOP, where a following pickle starts.
    pub end: usize,
}

impl Pickle {
    /// The object with index `id`.
    pub(crate) fn get(&self, id: Id) -> &Obj {
        // Ids only come from this arena, so they are always in range; `None` keeps a bug
        // from becoming a panic.
        self.objs.get(id).unwrap_or(&Obj::None)
    }

    /// The string at `id`, if it is one.
    pub(crate) fn str(&self, id: Id) -> Option<&str> {
        match self.get(id) {
            Obj::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Runs the pickle starting at `data[start]` up to its STOP.
pub(crate) fn unpickle(data: &[u8], start: usize) -> Result<Pickle, PickleError> {
    let mut vm = Vm {
        data,
        pos: start,
        objs: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        copy_budget: data.len().saturating_mul(4).saturating_add(4096),
    };
    let root = vm.run()?;
    Ok(Pickle {
        objs: vm.objs,
        root,
        end: vm.pos,
    })
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    objs: Vec<Obj>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
    /// Items that calls may still copy out of shared (memoized) objects. Each opcode costs a
    /// byte, but a call on a memoized tuple copies all of it; this keeps a small file from
    /// asking for gigabytes that way.
    copy_budget: usize,
}

fn err<T>(at: usize, msg: impl Into<String>) -> Result<T, PickleError> {
    Err(PickleError {
        at,
        msg: msg.into(),
    })
}

impl<'a> Vm<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], PickleError> {
        let left = (self.data.len() - self.pos.min(self.data.len())) as u64;
        if n > left {
            return err(
                self.pos,
                format!("the file is truncated: the pickle needs {n} more bytes, {left} are left"),
            );
        }
        let start = self.pos;
        // n <= left, so this fits in usize.
        self.pos += n as usize;
        let data: &'a [u8] = self.data;
        Ok(&data[start..self.pos])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A newline-terminated line, without the newline.
    fn line(&mut self) -> Result<&'a [u8], PickleError> {
        let data: &'a [u8] = self.data;
        let rest = data.get(self.pos..).unwrap_or_default();
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return err(self.pos, "the file is truncated: a text line has no end");
        };
        let start = self.pos;
        self.pos += n + 1;
        Ok(&data[start..start + n])
    }

    fn text_line(&mut self) -> Result<String, PickleError> {
        Ok(String::from_utf8_lossy(self.line()?).into_owned())
    }

    fn alloc(&mut self, obj: Obj) -> Id {
        self.objs.push(obj);
        self.objs.len() - 1
    }

    fn push(&mut self, obj: Obj) {
        let id = self.alloc(obj);
        self.stack.push(id);
    }

    fn pop(&mut self, at: usize) -> Result<Id, PickleError> {
        match self.stack.pop() {
            Some(id) => Ok(id),
            None => err(at, "the pickle pops from an empty stack"),
        }
    }

    fn top(&self, at: usize) -> Result<Id, PickleError> {
        match self.stack.last() {
            Some(&id) => Ok(id),
            None => err(at, "the pickle reads from an empty stack"),
        }
    }

    /// Pops everything above the last MARK, and the mark.
    fn pop_mark(&mut self, at: usize) -> Result<Vec<Id>, PickleError> {
        let Some(mark) = self.marks.pop() else {
            return err(at, "the pickle needs a MARK that is not there");
        };
        if mark > self.stack.len() {
            return err(at, "the pickle's MARK lies above the stack");
        }
        Ok(self.stack.split_off(mark))
    }

    fn memo_put(&mut self, key: u64, at: usize) -> Result<(), PickleError> {
        let id = self.top(at)?;
        self.memo.insert(key, id);
        Ok(())
    }

    fn memo_get(&mut self, key: u64, at: usize) -> Result<(), PickleError> {
        match self.memo.get(&key) {
            Some(&id) => {
                self.stack.push(id);
                Ok(())
            }
            None => err(
                at,
                format!("the pickle reads memo entry {key}, never written"),
            ),
        }
    }

    fn string(&mut self, len: u64) -> Result<String, PickleError> {
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    fn bytes(&mut self, len: u64) -> Result<Vec<u8>, PickleError> {
        Ok(self.take(len)?.to_vec())
    }

    fn run(&mut self) -> Result<Id, PickleError> {
        loop {
            let at = self.pos;
            if at >= self.data.len() {
                return err(at, "the file is truncated: the pickle ends without STOP");
            }
            let op = self.u8()?;
            match op {
                0x80 => {
                    // PROTO: any version we can parse is fine.
                    self.u8()?;
                }
                0x95 => {
                    // FRAME: only a hint for buffered readers.
                    self.u64()?;
                }
                b'.' => return self.pop(at),
                b'(' => self.marks.push(self.stack.len()),
                b'}' => self.push(Obj::Dict(Vec::new())),
                b']' => self.push(Obj::List(Vec::new())),
                b')' => self.push(Obj::Tuple(Vec::new())),
                0x8f => self.push(Obj::List(Vec::new())), // EMPTY_SET
                b'N' => self.push(Obj::None),
                0x88 => self.push(Obj::Bool(true)),
                0x89 => self.push(Obj::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.push(Obj::Int(v.into()));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Obj::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.push(Obj::Int(v.into()));
                }
                0x8a => {
                    let n = self.u8()?;
                    let v = long(self.take(n.into())?);
                    self.push(v);
                }
                0x8b => {
                    let n = i32::from_le_bytes(self.array()?);
                    if n < 0 {
                        return err(at, "LONG4 with a negative length");
                    }
                    let v = long(self.take(n as u64)?);
                    self.push(v);
                }
                b'I' => {
                    let s = self.text_line()?;
                    let v = match s.as_str() {
                        "01" => Obj::Bool(true),
                        "00" => Obj::Bool(false),
                        s => parse_int(s, at)?,
                    };
                    self.push(v);
                }
                b'L' => {
                    let s = self.text_line()?;
                    let v = parse_int(s.strip_suffix('L').unwrap_or(&s), at)?;
                    self.push(v);
                }
                b'F' => {
                    let s = self.text_line()?;
                    match s.trim().parse::<f64>() {
                        Ok(v) => self.push(Obj::Float(v)),
                        Err(_) => return err(at, format!("FLOAT `{s}` is not a number")),
                    }
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.push(Obj::Float(v));
                }
                b'X' => {
                    let n = self.u32()?;
                    let s = self.string(n.into())?;
                    self.push(Obj::Str(s));
                }
                0x8c => {
                    let n = self.u8()?;
                    let s = self.string(n.into())?;
                    self.push(Obj::Str(s));
                }
                0x8d => {
                    let n = self.u64()?;
                    let s = self.string(n)?;
                    self.push(Obj::Str(s));
                }
                b'V' => {
                    // UNICODE: raw-unicode-escape; checkpoint keys are plain text.
                    let s = self.text_line()?;
                    self.push(Obj::Str(s));
                }
                b'T' => {
                    let n = i32::from_le_bytes(self.array()?);
                    if n < 0 {
                        return err(at, "BINSTRING with a negative length");
                    }
                    // Python 2 str: torch.load decodes it as UTF-8.
                    let s = self.string(n as u64)?;
                    self.push(Obj::Str(s));
                }
                b'U' => {
                    let n = self.u8()?;
                    let s = self.string(n.into())?;
                    self.push(Obj::Str(s));
                }
                b'S' => {
                    let s = self.text_line()?;
                    let t = s.trim();
                    let unquoted = t
                        .strip_prefix('\'')
                        .and_then(|t| t.strip_suffix('\''))
                        .or_else(|| t.strip_prefix('"').and_then(|t| t.strip_suffix('"')));
                    match unquoted {
                        Some(u) => self.push(Obj::Str(u.to_string())),
                        None => return err(at, "STRING argument is not quoted"),
                    }
                }
                b'B' => {
                    let n = self.u32()?;
                    let b = self.bytes(n.into())?;
                    self.push(Obj::Bytes(b));
                }
                b'C' => {
                    let n = self.u8()?;
                    let b = self.bytes(n.into())?;
                    self.push(Obj::Bytes(b));
                }
                0x8e | 0x96 => {
                    // BINBYTES8, BYTEARRAY8
                    let n = self.u64()?;
                    let b = self.bytes(n)?;
                    self.push(Obj::Bytes(b));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return err(at, "TUPLE needs more items than the stack holds");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Obj::Tuple(items));
                }
                b't' => {
                    let items = self.pop_mark(at)?;
                    self.push(Obj::Tuple(items));
                }
                b'l' => {
                    let items = self.pop_mark(at)?;
                    self.push(Obj::List(items));
                }
                0x91 => {
                    // FROZENSET
                    let items = self.pop_mark(at)?;
                    self.push(Obj::List(items));
                }
                b'd' => {
                    let items = self.pop_mark(at)?;
                    let pairs = pairs(&items, at)?;
                    self.push(Obj::Dict(pairs));
                }
                b'a' => {
                    let v = self.pop(at)?;
                    let target = self.top(at)?;
                    self.extend(target, vec![v], at)?;
                }
                b'e' | 0x90 => {
                    // APPENDS, ADDITEMS
                    let items = self.pop_mark(at)?;
                    let target = self.top(at)?;
                    self.extend(target, items, at)?;
                }
                b's' => {
                    let v = self.pop(at)?;
                    let k = self.pop(at)?;
                    let target = self.top(at)?;
                    self.set_items(target, vec![(k, v)], at)?;
                }
                b'u' => {
                    let items = self.pop_mark(at)?;
                    let target = self.top(at)?;
                    let pairs = pairs(&items, at)?;
                    self.set_items(target, pairs, at)?;
                }
                b'c' => {
                    let module = self.text_line()?;
                    let name = self.text_line()?;
                    let g = global(&module, &name, at)?;
                    self.push(g);
                }
                0x93 => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let (Obj::Str(m), Obj::Str(n)) = (&self.objs[module], &self.objs[name]) else {
                        return err(at, "STACK_GLOBAL needs two strings");
                    };
                    let g = global(m, n, at)?;
                    self.push(g);
                }
                b'i' => {
                    // INST: class named inline, arguments above the mark.
                    let module = self.text_line()?;
                    let name = self.text_line()?;
                    let args = self.pop_mark(at)?;
                    let g = global(&module, &name, at)?;
                    let class = self.alloc(g);
                    let args = self.alloc(Obj::Tuple(args));
                    let v = self.call(class, args, at, 0)?;
                    self.stack.push(v);
                }
                b'o' => {
                    // OBJ: class and arguments above the mark.
                    let mut items = self.pop_mark(at)?;
                    if items.is_empty() {
                        return err(at, "OBJ without a class");
                    }
                    let class = items.remove(0);
                    let args = self.alloc(Obj::Tuple(items));
                    let v = self.call(class, args, at, 0)?;
                    self.stack.push(v);
                }
                b'R' | 0x81 => {
                    // REDUCE, NEWOBJ: call(args) and cls.__new__(cls, *args) are the same
                    // to a reader that only builds data.
                    let args = self.pop(at)?;
                    let func = self.pop(at)?;
                    let v = self.call(func, args, at, 0)?;
                    self.stack.push(v);
                }
                0x92 => {
                    // NEWOBJ_EX: keyword arguments are dropped.
                    let _kwargs = self.pop(at)?;
                    let args = self.pop(at)?;
                    let cls = self.pop(at)?;
                    let v = self.call(cls, args, at, 0)?;
                    self.stack.push(v);
                }
                b'b' => {
                    // BUILD: the state of tensors (hooks), of OrderedDicts (`_metadata`) and
                    // of unknown objects carries no weights.
                    self.pop(at)?;
                    self.top(at)?;
                }
                b'Q' => {
                    let pid = self.pop(at)?;
                    self.push(Obj::Persistent(pid));
                }
                b'P' => {
                    let s = self.text_line()?;
                    let pid = self.alloc(Obj::Str(s));
                    self.push(Obj::Persistent(pid));
                }
                b'q' => {
                    let k = self.u8()?;
                    self.memo_put(k.into(), at)?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k.into(), at)?;
                }
                b'p' => {
                    let s = self.text_line()?;
                    let k = parse_memo_key(&s, at)?;
                    self.memo_put(k, at)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k, at)?;
                }
                b'h' => {
                    let k = self.u8()?;
                    self.memo_get(k.into(), at)?;
                }
                b'j' => {
                    let k = self.u32()?;
                    self.memo_get(k.into(), at)?;
                }
                b'g' => {
                    let s = self.text_line()?;
                    let k = parse_memo_key(&s, at)?;
                    self.memo_get(k, at)?;
                }
                b'0' => {
                    self.pop(at)?;
                }
                b'1' => {
                    self.pop_mark(at)?;
                }
                b'2' => {
                    let id = self.top(at)?;
                    self.stack.push(id);
                }
                0x82..=0x84 => {
                    return err(
                        at,
                        format!("opcode 0x{op:02x} (EXT) needs Python's extension registry"),
                    );
                }
                0x97 | 0x98 => {
                    return err(
                        at,
                        format!("opcode 0x{op:02x} needs out-of-band buffers (protocol 5)"),
                    );
                }
                _ => {
                    return err(
                        at,
                        format!(
                            "unknown pickle opcode 0x{op:02x}; the file is corrupt or not a \
                             PyTorch checkpoint"
                        ),
                    );
                }
            }
        }
    }

    fn extend(&mut self, target: Id, items: Vec<Id>, at: usize) -> Result<(), PickleError> {
        match &mut self.objs[target] {
            Obj::List(v) => {
                v.extend(items);
                Ok(())
            }
            Obj::Opaque { .. } => Ok(()),
            other => err(at, format!("APPEND to {}", other.kind())),
        }
    }

    fn set_items(
        &mut self,
        target: Id,
        items: Vec<(Id, Id)>,
        at: usize,
    ) -> Result<(), PickleError> {
        match &mut self.objs[target] {
            Obj::Dict(v) => {
                v.extend(items);
                Ok(())
            }
            Obj::Opaque { .. } => Ok(()),
            other => err(at, format!("SETITEM on {}", other.kind())),
        }
    }

    fn tuple_items(&mut self, args: Id, what: &str, at: usize) -> Result<Vec<Id>, PickleError> {
        let items = match &self.objs[args] {
            Obj::Tuple(v) | Obj::List(v) => v.clone(),
            other => return err(at, format!("{what} takes a tuple, got {}", other.kind())),
        };
        self.spend(items.len(), at)?;
        Ok(items)
    }

    fn spend(&mut self, n: usize, at: usize) -> Result<(), PickleError> {
        match self.copy_budget.checked_sub(n) {
            Some(left) => {
                self.copy_budget = left;
                Ok(())
            }
            None => err(
                at,
                "the pickle copies shared objects over and over, far more than a checkpoint \
                 does; the file is corrupt or hostile",
            ),
        }
    }

    /// Calls the global `func` with the tuple `args`.
    fn call(&mut self, func: Id, args: Id, at: usize, depth: usize) -> Result<Id, PickleError> {
        let name: Rc<str> = match &self.objs[func] {
            Obj::Global { name, .. } => name.clone(),
            Obj::Opaque { class, .. } => {
                let class = class.clone();
                return Ok(self.alloc(Obj::Opaque { class, at }));
            }
            other => return err(at, format!("the pickle calls {}", other.kind())),
        };
        let args = self.tuple_items(args, &name, at)?;
        let arg = |i: usize| -> Result<Id, PickleError> {
            match args.get(i) {
                Some(&id) => Ok(id),
                None => err(at, format!("{name} needs at least {} arguments", i + 1)),
            }
        };
        let obj = match &*name {
            "collections.OrderedDict" | "builtins.dict" | "__builtin__.dict" => {
                // OrderedDict() in protocol 2+, OrderedDict([[k, v], ...]) in older pickles.
                let mut pairs = Vec::new();
                if let Some(&items) = args.first() {
                    for item in self.tuple_items(items, &name, at)? {
                        match &self.objs[item] {
                            Obj::Tuple(kv) | Obj::List(kv) if kv.len() == 2 => {
                                pairs.push((kv[0], kv[1]))
                            }
                            _ => return err(at, format!("{name} takes (key, value) pairs")),
                        }
                    }
                }
                Obj::Dict(pairs)
            }
            "torch._utils._rebuild_tensor"
            | "torch._utils._rebuild_tensor_v2"
            | "torch._utils._rebuild_tensor_v3" => {
                let dtype = if name.ends_with("v3") {
                    match &self.objs[arg(6)?] {
                        Obj::Global { name: d, .. } if d.starts_with("torch.") => {
                            Some(d["torch.".len()..].to_string())
                        }
                        other => {
                            return err(at, format!("{name}: dtype is {}", other.kind()));
                        }
                    }
                } else {
                    None
                };
                let storage = arg(0)?;
                if !matches!(self.objs[storage], Obj::Persistent(_)) {
                    return err(
                        at,
                        format!(
                            "{name}: the storage is {}, not a persistent storage id",
                            self.objs[storage].kind()
                        ),
                    );
                }
                let offset = self.uint(arg(1)?, &name, "storage offset", at)?;
                let size = self.uints(arg(2)?, &name, "size", at)?;
                let stride = self.uints(arg(3)?, &name, "stride", at)?;
                if size.len() != stride.len() {
                    return err(
                        at,
                        format!("{name}: size {size:?} and stride {stride:?} differ in length"),
                    );
                }
                Obj::Tensor(TensorRef {
                    storage,
                    offset,
                    size,
                    stride,
                    dtype,
                    at,
                })
            }
            "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => {
                return arg(0);
            }
            "torch._tensor._rebuild_from_type_v2" => {
                if depth >= MAX_CALL_DEPTH {
                    return err(at, format!("{name} nested too deeply"));
                }
                let (inner, inner_args) = (arg(0)?, arg(2)?);
                return self.call(inner, inner_args, at, depth + 1);
            }
            "torch.Size" | "builtins.tuple" | "__builtin__.tuple" => {
                let items = match args.first() {
                    Some(&a) => self.tuple_items(a, &name, at)?,
                    None => Vec::new(),
                };
                Obj::Tuple(items)
            }
            "builtins.set" | "builtins.frozenset" | "builtins.list" | "__builtin__.set" => {
                let items = match args.first() {
                    Some(&a) => self.tuple_items(a, &name, at)?,
                    None => Vec::new(),
                };
                Obj::List(items)
            }
            "_codecs.encode" => {
                // Protocol 2 writes Python 3 bytes as encode(latin-1 text, "latin1").
                let bytes = match &self.objs[arg(0)?] {
                    Obj::Str(s) => s.chars().map(|c| c as u32 as u8).collect::<Vec<u8>>(),
                    other => return err(at, format!("{name} of {}", other.kind())),
                };
                self.spend(bytes.len(), at)?;
                Obj::Bytes(bytes)
            }
            _ => Obj::Opaque { class: name, at },
        };
        Ok(self.alloc(obj))
    }

    fn uint(&self, id: Id, func: &str, what: &str, at: usize) -> Result<u64, PickleError> {
        match self.objs[id] {
            Obj::Int(v) if v >= 0 => Ok(v as u64),
            ref other => err(
                at,
                format!(
                    "{func}: {what} must be a non-negative int, got {}",
                    match other {
                        Obj::Int(v) => v.to_string(),
                        o => o.kind().to_string(),
                    }
                ),
            ),
        }
    }

    fn uints(
        &mut self,
        id: Id,
        func: &str,
        what: &str,
        at: usize,
    ) -> Result<Vec<u64>, PickleError> {
        self.tuple_items(id, func, at)?
            .into_iter()
            .map(|i| self.uint(i, func, what, at))
            .collect()
    }
}

/// The global `module.name`, named at byte `at`.
fn global(module: &str, name: &str, at: usize) -> Result<Obj, PickleError> {
    if module.len() + name.len() >= MAX_GLOBAL {
        return err(at, format!("a global name longer than {MAX_GLOBAL} bytes"));
    }
    Ok(Obj::Global {
        name: format!("{module}.{name}").into(),
        at,
    })
}

/// The integer of a LONG1/LONG4 payload: little-endian two's complement.
fn long(bytes: &[u8]) -> Obj {
    if bytes.len() > 8 {
        // Sign extension bytes do not change the value.
        let (low, high) = bytes.split_at(8);
        let fill = if low[7] & 0x80 != 0 { 0xff } else { 0 };
        if high.iter().any(|&b| b != fill) {
            return Obj::BigInt;
        }
        return long(low);
    }
    if bytes.is_empty() {
        return Obj::Int(0);
    }
    let fill = if bytes[bytes.len() - 1] & 0x80 != 0 {
        0xff
    } else {
        0
    };
    let mut buf = [fill; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    Obj::Int(i64::from_le_bytes(buf))
}

fn parse_int(s: &str, at: usize) -> Result<Obj, PickleError> {
    match s.trim().parse::<i64>() {
        Ok(v) => Ok(Obj::Int(v)),
        Err(_) if !s.is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
            Ok(Obj::BigInt)
        }
        Err(_) => err(at, format!("INT `{s}` is not a number")),
    }
}

fn parse_memo_key(s: &str, at: usize) -> Result<u64, PickleError> {
    s.trim()
        .parse()
        .or_else(|_| err(at, format!("memo key `{s}` is not a number")))
}

fn pairs(items: &[Id], at: usize) -> Result<Vec<(Id, Id)>, PickleError> {
    if !items.len().is_multiple_of(2) {
        return err(at, "SETITEMS with an odd number of items");
    }
    Ok(items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> Result<Pickle, PickleError> {
        unpickle(bytes, 0)
    }

    #[test]
    fn longs_are_twos_complement() {
        assert_eq!(long(&[]), Obj::Int(0));
        assert_eq!(long(&[0xff]), Obj::Int(-1));
        assert_eq!(long(&[0x00, 0x80]), Obj::Int(-32768));
        assert_eq!(long(&[0xff, 0x00]), Obj::Int(255));
        assert_eq!(long(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Obj::Int(1));
        assert_eq!(long(&[0, 0, 0, 0, 0, 0, 0, 0, 1]), Obj::BigInt);
        // The legacy magic number is a LONG1 of 10 bytes: larger than i64.
        let magic = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
        assert_eq!(long(&magic), Obj::BigInt);
    }

    // pickle.dumps({'a': [1, 2.5, 'x', None, True]}, protocol=2)
    #[test]
    fn protocol_2_dict_of_list() {
        let bytes = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00xq\x03N\x88es.";
        let p = run(bytes).unwrap();
        let Obj::Dict(kv) = p.get(p.root) else {
            panic!("{:?}", p.get(p.root))
        };
        assert_eq!(p.str(kv[0].0), Some("a"));
        let Obj::List(items) = p.get(kv[0].1) else {
            panic!()
        };
        let items: Vec<_> = items.iter().map(|&i| p.get(i).clone()).collect();
        assert_eq!(
            items,
            vec![
                Obj::Int(1),
                Obj::Float(2.5),
                Obj::Str("x".into()),
                Obj::None,
                Obj::Bool(true)
            ]
        );
        assert_eq!(p.end, bytes.len());
    }

    // pickle.dumps(('a', b'bc', 10**30), protocol=4): FRAME, SHORT_BINUNICODE, MEMOIZE,
    // SHORT_BINBYTES, LONG1, TUPLE3.
    #[test]
    fn protocol_4_frame_and_memoize() {
        let bytes = b"\x80\x04\x95\x1b\x00\x00\x00\x00\x00\x00\x00\x8c\x01a\x94C\x02bc\x94\x8a\r\x00\x00\x00@\xea\xedtF\xd0\x9c,\x9f\x0c\x87\x94.";
        let p = run(bytes).unwrap();
        let Obj::Tuple(items) = p.get(p.root) else {
            panic!()
        };
        assert_eq!(p.get(items[0]), &Obj::Str("a".into()));
        assert_eq!(p.get(items[1]), &Obj::Bytes(b"bc".to_vec()));
        assert_eq!(p.get(items[2]), &Obj::BigInt);
    }

    #[test]
    fn memo_shares_objects_instead_of_copying() {
        // l = []; t = (l, l); l.append(1): both tuple items see the append.
        let bytes = b"\x80\x02]q\x00h\x00\x86q\x01h\x00K\x01a0.";
        let p = run(bytes).unwrap();
        let Obj::Tuple(items) = p.get(p.root) else {
            panic!()
        };
        assert_eq!(items[0], items[1]);
        let Obj::List(list) = p.get(items[0]) else {
            panic!()
        };
        assert_eq!(list.len(), 1);
        assert_eq!(p.get(list[0]), &Obj::Int(1));
    }

    #[test]
    fn unknown_globals_become_opaque_objects_that_remember_their_class() {
        // os.system('x'): named, called, never run.
        let bytes = b"cos\nsystem\nX\x01\x00\x00\x00x\x85R.";
        let p = run(bytes).unwrap();
        assert_eq!(
            p.get(p.root),
            &Obj::Opaque {
                class: "os.system".into(),
                at: 18
            }
        );
    }

    #[test]
    fn bad_input_is_an_error_with_a_position() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"", 0, "ends without STOP"),
            (b"\x80\x02X\x05\x00\x00\x00ab", 2, "truncated"),
            (b"\x80\x02\xff", 2, "unknown pickle opcode 0xff"),
            (b"\x80\x02.", 2, "empty stack"),
            (b"\x80\x02h\x07.", 2, "memo entry 7"),
            (b"\x80\x02K\x00K\x01K\x02s.", 8, "SETITEM on an int"),
            (b"\x80\x02t.", 2, "MARK"),
            (b"\x80\x02cos\nsys", 2, "line has no end"),
        ];
        for (bytes, at, msg) in cases {
            let e = run(bytes).unwrap_err();
            assert!(e.msg.contains(msg), "{:?}: {} (wanted {msg})", bytes, e.msg);
            // "truncated" cases report where the missing bytes start.
            if !e.msg.contains("truncated") {
                assert_eq!(e.at, *at, "{bytes:?}: {}", e.msg);
            }
        }
    }

    #[test]
    fn deep_nesting_and_self_reference_are_harmless() {
        // 100k nested 1-tuples, then a list that contains itself.
        let mut bytes = b"\x80\x02N".to_vec();
        bytes.extend(std::iter::repeat_n(0x85, 100_000));
        bytes.extend_from_slice(b"0]q\x00h\x00a.");
        let p = run(&bytes).unwrap();
        let Obj::List(items) = p.get(p.root) else {
            panic!()
        };
        assert_eq!(items, &vec![p.root]);
    }

    #[test]
    fn calls_on_a_shared_tuple_cannot_copy_it_without_end() {
        // t = (None,) * 10000 memoized, then torch.Size((t,)) 2000 times: each call would copy
        // 10000 ids from 6 bytes of input.
        let mut bytes = b"\x80\x02(".to_vec();
        bytes.extend(std::iter::repeat_n(b'N', 10_000));
        bytes.extend_from_slice(b"tq\x00ctorch\nSize\nq\x01");
        for _ in 0..2000 {
            bytes.extend_from_slice(b"h\x01h\x00\x85R0");
        }
        bytes.extend_from_slice(b"N.");
        let e = run(&bytes).unwrap_err();
        assert!(e.msg.contains("copies shared objects"), "{}", e.msg);
    }

    #[test]
    fn global_names_are_capped() {
        let mut bytes = b"\x80\x02c".to_vec();
        bytes.extend(std::iter::repeat_n(b'a', 5000));
        bytes.extend_from_slice(b"\nb\n.");
        let e = run(&bytes).unwrap_err();
        assert_eq!(e.at, 2);
        assert!(e.msg.contains("longer than 1024"), "{}", e.msg);
    }
}
