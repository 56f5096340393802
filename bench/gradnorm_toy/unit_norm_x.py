"""Unit-norm inputs for the GradNorm toy (x uniform on [-1, 1] scaled to norm 1, as one
reproduction draws it), B and eps as toy.rs, numpy seed 0; written in torch_toy.py's format to
/tmp/toy-unit."""
import numpy as np, os
rng=np.random.default_rng(0)
d='/tmp/toy-unit'; os.makedirs(d,exist_ok=True)
B=rng.normal(0,10,(100,250)); E=[rng.normal(0,3.5,(100,250)) for _ in range(2)]
for part,n in [('train',10000),('test',2000)]:
    x=rng.uniform(-1,1,(n,250)); x/=np.linalg.norm(x,axis=1,keepdims=True)
    x=x.astype(np.float32); x.astype('<f4').tofile(f'{d}/x_{part}.f32')
    for i,(s,e) in enumerate(zip([1,100],E)):
        (s*np.tanh(x.astype(np.float64)@(B+e).T)).astype('<f4').tofile(f'{d}/t{i}_{part}.f32')
