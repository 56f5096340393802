//! Constant folding of the small integer subgraphs PyTorch exports for TF-"SAME" padding.

use onnx_ir::{ArgType, Argument, Node as IrNode, TensorDataExt};

use super::importer::Importer;

impl Importer<'_> {
    /// Evaluates a small integer subgraph (the pad arithmetic PyTorch exports and `onnx-ir`
    /// leaves unfolded): constants, ConstantOfShape, Concat, Reshape, Slice, Transpose, Cast.
    pub(super) fn fold(&self, a: &Argument, depth: usize) -> Option<(Vec<usize>, Vec<f64>)> {
        if let Some(d) = a.value() {
            return Some((d.shape().to_vec(), d.to_f64_vec().ok()?));
        }
        if depth > 32 || !a.is_dynamic() {
            return None;
        }
        let n = &self.graph.nodes[*self.producer.get(&a.name)?];
        self.fold_node(n, depth)
    }

    fn fold_node(&self, n: &IrNode, depth: usize) -> Option<(Vec<usize>, Vec<f64>)> {
        let arg = |k: usize| n.inputs().get(k).and_then(|x| self.fold(x, depth + 1));
        let as_ints = |v: Vec<f64>| v.into_iter().map(|x| x as i64).collect::<Vec<i64>>();
        let ints = |s: &onnx_ir::node::slice::SliceInput| match s {
            onnx_ir::node::slice::SliceInput::Static(v) => Some(v.clone()),
            onnx_ir::node::slice::SliceInput::Runtime(r) => {
                arg(r.input_index).map(|x| as_ints(x.1))
            }
        };
        // Shape values (and scalars of shapes) are integers; `elem_type` panics on them.
        let out_float = n.outputs().first().is_some_and(|o| match &o.ty {
            ArgType::Tensor(t) => t.dtype.is_float(),
            ArgType::ScalarTensor(d) | ArgType::ScalarNative(d) => d.is_float(),
            ArgType::Shape(_) => false,
        });
        match n {
            IrNode::Identity(_) => arg(0),
            IrNode::Cast(_) => {
                let (shape, v) = arg(0)?;
                let v = if out_float {
                    v
                } else {
                    v.into_iter().map(f64::trunc).collect()
                };
                Some((shape, v))
            }
            IrNode::Shape(sh) => {
                let input = n.inputs().first()?;
                let dims = match &input.ty {
                    // The shape of a shape value (a list of `r` sizes) is `[r]`.
                    ArgType::Shape(r) => vec![*r],
                    _ => self.dims_of(input)?,
                };
                let v: Vec<f64> = dims
                    .get(sh.config.start..sh.config.end.min(dims.len()))?
                    .iter()
                    .map(|&d| d as f64)
                    .collect();
                Some((vec![v.len()], v))
            }
            IrNode::Gather(g) if g.config.axis == 0 => {
                let (shape, v) = arg(0)?;
                let (ishape, idx) = arg(1)?;
                if shape.len() != 1 {
                    return None;
                }
                let d = v.len() as i64;
                let out = idx
                    .iter()
                    .map(|&k| {
                        let k = k as i64;
                        v.get(usize::try_from(if k < 0 { k + d } else { k }).ok()?)
                            .copied()
                    })
                    .collect::<Option<Vec<f64>>>()?;
                Some((ishape, out))
            }
            IrNode::Unsqueeze(_) | IrNode::Squeeze(_) => {
                // Only the layout changes; the 1-D pad arithmetic needs no more than the values.
                let (_, v) = arg(0)?;
                if matches!(n, IrNode::Unsqueeze(_)) {
                    Some((vec![v.len()], v))
                } else {
                    (v.len() == 1).then_some((vec![], v))
                }
            }
            IrNode::Add(_) | IrNode::Sub(_) | IrNode::Mul(_) | IrNode::Div(_) => {
                let (sa, a) = arg(0)?;
                let (sb, b) = arg(1)?;
                let (shape, len) = if a.len() >= b.len() {
                    (sa, a.len())
                } else {
                    (sb, b.len())
                };
                if (a.len() != len && a.len() != 1) || (b.len() != len && b.len() != 1) {
                    return None;
                }
                let at = |v: &Vec<f64>, k: usize| if v.len() == 1 { v[0] } else { v[k] };
                let out = (0..len)
                    .map(|k| {
                        let (x, y) = (at(&a, k), at(&b, k));
                        match n {
                            IrNode::Add(_) => x + y,
                            IrNode::Sub(_) => x - y,
                            IrNode::Mul(_) => x * y,
                            _ if out_float => x / y,
                            _ => (x / y).trunc(),
                        }
                    })
                    .collect();
                Some((shape, out))
            }
            IrNode::ConstantOfShape(c) => {
                use onnx_ir::node::constant_of_shape::ConstantOfShapeShape;
                let shape = match &c.config.shape {
                    ConstantOfShapeShape::Static(s) => s.clone(),
                    ConstantOfShapeShape::Runtime(r) => as_ints(arg(r.input_index)?.1),
                };
                let fill = match &c.config.value {
                    Some(v) => *v.to_f64_vec().ok()?.first()?,
                    None => 0.0,
                };
                let dims = shape
                    .iter()
                    .map(|&d| usize::try_from(d).ok())
                    .collect::<Option<Vec<_>>>()?;
                let len = dims.iter().product();
                Some((dims, vec![fill; len]))
            }
            IrNode::Concat(c) if c.config.axis == 0 => {
                let mut out = Vec::new();
                for x in n.inputs() {
                    let (s, v) = self.fold(x, depth + 1)?;
                    if s.len() > 1 {
                        return None;
                    }
                    out.extend(v);
                }
                Some((vec![out.len()], out))
            }
            IrNode::Reshape(r) => {
                let (from, v) = arg(0)?;
                let target = match &r.config.shape {
                    onnx_ir::node::reshape::ReshapeInput::Static(s) => s.clone(),
                    onnx_ir::node::reshape::ReshapeInput::Runtime(x) => {
                        as_ints(arg(x.input_index)?.1)
                    }
                };
                let mut dims = Vec::new();
                for (k, &t) in target.iter().enumerate() {
                    dims.push(match t {
                        0 => *from.get(k)?,
                        -1 => 0,
                        t => usize::try_from(t).ok()?,
                    });
                }
                if let Some(k) = target.iter().position(|&t| t == -1) {
                    let known: usize = dims.iter().filter(|&&d| d != 0).product();
                    dims[k] = v.len().checked_div(known)?;
                }
                (dims.iter().product::<usize>() == v.len()).then_some((dims, v))
            }
            IrNode::Transpose(t) => {
                let (shape, v) = arg(0)?;
                let perm = t
                    .config
                    .perm
                    .iter()
                    .map(|&p| usize::try_from(p).ok())
                    .collect::<Option<Vec<_>>>()?;
                if perm.len() != shape.len() {
                    return None;
                }
                let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
                let strides = row_strides(&shape);
                let idx: Vec<Vec<usize>> = out_shape.iter().map(|&d| (0..d).collect()).collect();
                let picked = gather(&idx, |pos| {
                    perm.iter().zip(pos).map(|(&p, &i)| i * strides[p]).sum()
                });
                Some((out_shape, picked.into_iter().map(|k| v[k]).collect()))
            }
            IrNode::Slice(sl) => {
                let (shape, v) = arg(0)?;
                let c = &sl.config;
                let (starts, ends) = (ints(&c.starts)?, ints(&c.ends)?);
                let axes = match &c.axes {
                    Some(a) => ints(a)?,
                    None => (0..starts.len() as i64).collect(),
                };
                let steps = match &c.steps {
                    Some(s) => ints(s)?,
                    None => vec![1; starts.len()],
                };
                let mut idx: Vec<Vec<usize>> = shape.iter().map(|&d| (0..d).collect()).collect();
                let n_ax = starts.len();
                if ends.len() != n_ax || axes.len() != n_ax || steps.len() != n_ax {
                    return None;
                }
                let r = shape.len() as i64;
                for (((&start, &end), &axis), &step) in
                    starts.iter().zip(&ends).zip(&axes).zip(&steps)
                {
                    let ax = usize::try_from(if axis < 0 { axis + r } else { axis }).ok()?;
                    let d = *shape.get(ax)? as i64;
                    if step == 0 {
                        return None;
                    }
                    let norm = |x: i64| if x < 0 { x.saturating_add(d) } else { x };
                    let (lo, hi) = if step > 0 { (0, d) } else { (-1, d - 1) };
                    let (mut i, end) = (norm(start).clamp(lo.max(0), hi), norm(end).clamp(lo, hi));
                    let mut picked = Vec::new();
                    while (step > 0 && i < end) || (step < 0 && i > end) {
                        picked.push(i as usize);
                        i += step;
                    }
                    idx[ax] = picked;
                }
                let strides = row_strides(&shape);
                let out_shape: Vec<usize> = idx.iter().map(Vec::len).collect();
                let picked = gather(&idx, |pos| {
                    pos.iter().zip(&strides).map(|(i, s)| i * s).sum()
                });
                Some((out_shape, picked.into_iter().map(|k| v[k]).collect()))
            }
            _ => None,
        }
    }
}

fn row_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * shape[k + 1];
    }
    s
}

/// Flat source offsets of every position of the grid `idx[axis] = chosen indices`, in row-major
/// order; `offset` maps the chosen source indices to a flat offset.
fn gather(idx: &[Vec<usize>], offset: impl Fn(&[usize]) -> usize) -> Vec<usize> {
    if idx.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut pos = vec![0; idx.len()];
    loop {
        let src: Vec<usize> = pos.iter().zip(idx).map(|(&p, ix)| ix[p]).collect();
        out.push(offset(&src));
        let mut k = idx.len();
        loop {
            if k == 0 {
                return out;
            }
            k -= 1;
            pos[k] += 1;
            if pos[k] < idx[k].len() {
                break;
            }
            pos[k] = 0;
        }
    }
}
