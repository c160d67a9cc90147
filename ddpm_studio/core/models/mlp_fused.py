"""The point denoiser's training pass written out by hand: forward and backward of :class:`MLPDenoiser` in ~75 ops.

Why: a 2-D training step is small (a batch of 256 through a 3 x 128 residual MLP). Its arithmetic, eleven
(256 x 128) @ (128 x 128) products and their gradients, takes about 2 ms on one CPU core; autograd, the module
calls and the per-parameter optimiser and EMA loops took as long again (benchmarks/RESULTS.md, "2-D steps").
This module computes exactly the network of :class:`MLPDenoiser` (same parameters, same functions, the same
state_dict) and its gradient, but

- with the chain rule applied by hand, each operation's backward being the aten kernel autograd would call
  (``silu_backward``, ``native_layer_norm_backward``, the two products of a linear layer), so no graph is built;
- with the three blocks' time projections, which all read the same SiLU(emb), done as one (B, H) @ (H, 3H)
  product, and SiLU(emb) computed once (the module computes it per block: the same values);
- with the sinusoid of integer timesteps read from a table (M3 evaluated once per t, not per batch), and the
  time branch (the embedding MLP and the projections, which depend on t alone) run once per distinct timestep of
  the batch;
- with every gradient written straight into its slot of one flat buffer (:class:`FlatParameters`), so clipping,
  AdamW and the EMA each touch one tensor.

The gradients equal autograd's up to float rounding (tests/core/test_mlp_fused.py compares them on random
networks of every supported shape). Supported: the unconditional MLP without dropout (what the points presets
build); :func:`fused_problem` says why another network is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ddpm_studio.core.models.embedding import timestep_embedding
from ddpm_studio.core.models.mlp import MLPDenoiser, fourier_features

_silu = torch.nn.functional.silu
_silu_backward = torch.ops.aten.silu_backward
_layer_norm = torch.native_layer_norm
_layer_norm_backward = torch.ops.aten.native_layer_norm_backward


def fused_problem(net: nn.Module) -> str | None:
    """Why ``net`` cannot train through :class:`FusedMLP`, or None when it can."""
    if not isinstance(net, MLPDenoiser):
        return "not the point MLP"
    if net.class_embedding is not None:
        return "a class-conditional MLP"
    if any(block.dropout.p > 0 for block in net.blocks):
        return "dropout"
    return None


class FlatParameters:
    """Every parameter of a module as a view into one flat tensor, and every gradient as a view into another.

    The module is unchanged to its users (its parameters keep their shapes, names and state_dict); an optimiser,
    a gradient clip or an EMA given :attr:`param` (whose ``.grad`` is the flat gradient) does one operation where
    it did one per parameter. ``first`` lists parameters to place at the start, in that order (so groups that are
    used together, the blocks' time projections, are one contiguous (3H, H) view); the rest follow in
    ``module.parameters()`` order.

    Args:
        module: its parameters are moved into the buffer (values kept).
        first: parameters to lay out first.
        grads: also give every parameter a gradient view (False for an EMA copy, which is never differentiated).
    """

    def __init__(self, module: nn.Module, first: list[nn.Parameter] = (), grads: bool = True) -> None:
        params = list(module.parameters())
        ids = {id(p) for p in first}
        order = list(first) + [p for p in params if id(p) not in ids]
        #: the layout as indices into ``module.parameters()`` (:meth:`like` lays a copy of the module out alike)
        self.order = [next(i for i, q in enumerate(params) if q is p) for p in order]
        total = sum(p.numel() for p in order)
        sample = params[0]
        data = torch.empty(total, dtype=sample.dtype, device=sample.device)
        self.grad = torch.zeros_like(data) if grads else None
        self._offsets: dict[int, int] = {}
        self._grads: dict[int, torch.Tensor] = {}
        offset = 0
        with torch.no_grad():
            for p in order:
                n = p.numel()
                data[offset:offset + n].copy_(p.detach().reshape(-1))
                p.data = data[offset:offset + n].view_as(p)
                p.grad = None if self.grad is None else self.grad[offset:offset + n].view_as(p)
                if p.grad is not None:
                    self._grads[id(p)] = p.grad
                self._offsets[id(p)] = offset
                offset += n
        self.param = nn.Parameter(data, requires_grad=grads)
        if self.grad is not None:
            self.param.grad = self.grad
        #: (offset, numel, shape) of each parameter in ``module.parameters()`` order: the optimiser state's index
        self.layout = [(self._offsets[id(p)], p.numel(), tuple(p.shape)) for p in params]

    def grad_of(self, p: nn.Parameter) -> torch.Tensor:
        """``p``'s slot in the flat gradient (kept here: a ``zero_grad(set_to_none=True)`` may drop ``p.grad``)."""
        return self._grads[id(p)]

    @classmethod
    def like(cls, other: FlatParameters, module: nn.Module, grads: bool = False) -> FlatParameters:
        """The same layout for ``module``, a copy of the module ``other`` was made from (an EMA's shadow): the two
        flat tensors then line up element for element."""
        params = list(module.parameters())
        first = [params[i] for i in other.order]
        return cls(module, first, grads)

    def view(self, first: nn.Parameter, count: int, rows: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(data, grad) views of ``count`` consecutive parameters starting at ``first``, as (rows, -1)."""
        offset = self._offsets[id(first)]
        n = first.numel() * count
        grad = None if self.grad is None else self.grad[offset:offset + n].view(rows, -1)
        return self.param.data[offset:offset + n].view(rows, -1), grad

    # ------------------------------------------------------------------ optimiser state, per parameter
    def split_state(self, state: dict) -> dict:
        """A flat optimiser's state_dict as the per-parameter one ``module.parameters()`` would have had.

        Checkpoints keep the per-parameter form, so a run trained either way resumes the other way.
        """
        flat_state = state["state"].get(0, {})
        per: dict[int, dict] = {}
        for index, (offset, n, shape) in enumerate(self.layout):
            entry = {}
            for key, value in flat_state.items():
                if torch.is_tensor(value) and value.ndim == 1 and value.numel() == self.param.numel():
                    entry[key] = value[offset:offset + n].view(shape).clone()
                else:
                    entry[key] = value.clone() if torch.is_tensor(value) else value
            per[index] = entry
        groups = [dict(group, params=list(range(len(self.layout)))) for group in state["param_groups"]]
        return {"state": per if flat_state else {}, "param_groups": groups}

    def join_state(self, state: dict) -> dict:
        """The inverse of :meth:`split_state`: a per-parameter state_dict for the flat optimiser."""
        per = state["state"]
        groups = [dict(group, params=[0]) for group in state["param_groups"]]
        if not per:
            return {"state": {}, "param_groups": groups}
        if sorted(int(k) for k in per) != list(range(len(self.layout))):
            raise ValueError(f"the optimiser state holds {len(per)} parameters, this network has {len(self.layout)}")
        first = per[min(per, key=int)]
        joined = {}
        for key, value in first.items():
            if torch.is_tensor(value) and value.numel() > 1 or key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                flat = torch.empty_like(self.param.data)
                for index, (offset, n, shape) in enumerate(self.layout):
                    part = per[index][key]
                    if tuple(part.shape) != shape:
                        raise ValueError(f"optimiser state {key} of parameter {index} has shape "
                                         f"{tuple(part.shape)}, the network's is {shape}")
                    flat[offset:offset + n].copy_(part.reshape(-1))
                joined[key] = flat
            else:
                joined[key] = value
        return {"state": {0: joined}, "param_groups": groups}


@dataclass
class _Cache:
    """What the backward pass reads of one forward pass (all (B, ...) tensors of that batch)."""

    sinusoid: torch.Tensor
    e1: torch.Tensor
    a1: torch.Tensor
    emb: torch.Tensor
    s: torch.Tensor
    features: torch.Tensor
    blocks: list[tuple[torch.Tensor, ...]]
    inverse: torch.Tensor | None  # row of each example in the time branch's distinct timesteps (None: one each)
    h: torch.Tensor
    n: torch.Tensor
    mean: torch.Tensor
    rstd: torch.Tensor
    a: torch.Tensor


class FusedMLP:
    """Forward and backward of one :class:`MLPDenoiser` by hand (see the module docstring).

    Args:
        net: the network; its parameters become views into :attr:`flat` (its state_dict is unchanged).
        num_timesteps: T of a DDPM run, whose timesteps are the integers 0..T-1 (their sinusoids are tabled);
            None for a flow, whose times are real.
    """

    def __init__(self, net: MLPDenoiser, num_timesteps: int | None = None) -> None:
        problem = fused_problem(net)
        if problem:
            raise ValueError(f"the fused MLP pass does not cover {problem}")
        self.net = net
        blocks = list(net.blocks)
        self.hidden = net.output_norm.normalized_shape[0]
        k = len(blocks)
        first = ([b.emb_proj.weight for b in blocks] + [b.emb_proj.bias for b in blocks]
                 + [b.linear_in.bias for b in blocks])
        self.flat = FlatParameters(net, first)
        self.proj_w, self.proj_w_grad = self.flat.view(blocks[0].emb_proj.weight, k, k * self.hidden)
        proj_b, self.proj_b_grad = self.flat.view(blocks[0].emb_proj.bias, k, 1)
        in_b, self.in_b_grad = self.flat.view(blocks[0].linear_in.bias, k, 1)
        self.proj_b, self.in_b = proj_b.view(-1), in_b.view(-1)
        self.proj_b_grad, self.in_b_grad = self.proj_b_grad.view(-1), self.in_b_grad.view(-1)
        self.time_dim = net.time_embedding.base_dim
        self.table = None
        if num_timesteps is not None:
            steps = torch.arange(num_timesteps, device=self.proj_w.device)
            self.table = timestep_embedding(steps, self.time_dim).to(self.proj_w.dtype)

        # the tensors each pass reads, looked up once (a module attribute costs a __getattr__ walk each time)
        g = self.flat.grad_of
        te = net.time_embedding
        self._time = (te.linear_in.weight, te.linear_in.bias, te.linear_out.weight, te.linear_out.bias)
        self._time_grads = tuple(g(p) for p in self._time)
        self._blocks = [(b.norm.weight, b.norm.bias, b.norm.eps, b.linear_in.weight, b.linear_out.weight,
                         b.linear_out.bias) for b in blocks]
        self._block_grads = [(g(b.norm.weight), g(b.norm.bias), g(b.linear_in.weight), g(b.linear_out.weight),
                              g(b.linear_out.bias)) for b in blocks]
        self._input = (net.input_layer.weight, net.input_layer.bias)
        self._input_grads = (g(net.input_layer.weight), g(net.input_layer.bias))
        norm, out = net.output_norm, net.output_layer
        self._output = (norm.weight, norm.bias, norm.eps, out.weight, out.bias)
        self._output_grads = (g(norm.weight), g(norm.bias), g(out.weight), g(out.bias))
        self.fourier_bands = net.fourier_bands

    # ------------------------------------------------------------------ forward
    @torch.no_grad()
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, _Cache]:
        """The network's output at x (B, D), t (B,) (integers 0..T-1 with a table, else real) -> (B, out_dim).

        The same functions in the same order as :meth:`MLPDenoiser.forward` (M3's sinusoid and its MLP, M36's
        Fourier features, the residual blocks), without building an autograd graph.
        """
        hidden = self.hidden
        inverse = None
        if self.table is not None and not t.is_floating_point():
            # the time branch depends on t alone: run it once per distinct timestep (a batch of 256 at
            # t = T u^3 holds ~180), then hand each example its row
            distinct, inverse = torch.unique(t, return_inverse=True)
            sinusoid = self.table.index_select(0, distinct)
        else:
            sinusoid = timestep_embedding(t, self.time_dim).to(self.proj_w.dtype)
        w1, b1, w2, b2 = self._time
        e1 = torch.addmm(b1, sinusoid, w1.t())
        a1 = _silu(e1)
        emb = torch.addmm(b2, a1, w2.t())
        s = _silu(emb)  # every block's emb_proj reads SiLU(emb)
        # the blocks' time projections in one product, each block's linear_in bias folded in (added anyway)
        projected = torch.addmm(self.proj_b + self.in_b, s, self.proj_w.t())  # (U, K H)
        if inverse is not None:
            projected = projected.index_select(0, inverse)  # (B, K H)
        features = fourier_features(x, self.fourier_bands)
        h = torch.addmm(self._input[1], features, self._input[0].t())
        saved = []
        for k, (norm_w, norm_b, eps, w_in, w_out, b_out) in enumerate(self._blocks):
            n, mean, rstd = _layer_norm(h, (hidden,), norm_w, norm_b, eps)
            a = _silu(n)
            branch = torch.addmm(projected[:, k * hidden:(k + 1) * hidden], a, w_in.t())
            gate = _silu(branch)
            saved.append((h, n, mean, rstd, a, branch, gate))
            h = torch.addmm(b_out, gate, w_out.t()).add_(h)
        norm_w, norm_b, eps, w_out, b_out = self._output
        n, mean, rstd = _layer_norm(h, (hidden,), norm_w, norm_b, eps)
        a = _silu(n)
        out = torch.addmm(b_out, a, w_out.t())
        return out, _Cache(sinusoid, e1, a1, emb, s, features, saved, inverse, h, n, mean, rstd, a)

    # ------------------------------------------------------------------ backward
    @torch.no_grad()
    def backward(self, cache: _Cache, d_out: torch.Tensor) -> None:
        """Write d loss / d parameter into every parameter's gradient slot (overwritten, not accumulated), given
        d loss / d output (B, out_dim) of the :meth:`forward` that made ``cache``.

        Each step is the chain rule through one operation of :meth:`forward`, in reverse: a linear layer
        y = x W^T + b gives dW = dy^T x, db = sum_b dy, dx = dy W; SiLU and LayerNorm use aten's own backward
        kernels; a residual passes its gradient through and adds the branch's.
        """
        hidden = self.hidden
        mask = [True, True, True]
        norm_w, norm_b, _, w_out, _ = self._output
        g_norm_w, g_norm_b, g_w_out, g_b_out = self._output_grads
        torch.mm(d_out.t(), cache.a, out=g_w_out)
        torch.sum(d_out, 0, out=g_b_out)
        dn = _silu_backward(torch.mm(d_out, w_out), cache.n)
        dh, dw, db = _layer_norm_backward(dn, cache.h, (hidden,), cache.mean, cache.rstd, norm_w, norm_b, mask)
        g_norm_w.copy_(dw)
        g_norm_b.copy_(db)
        d_projected = torch.empty(d_out.shape[0], len(self._blocks) * hidden, dtype=dh.dtype, device=dh.device)
        for k in range(len(self._blocks) - 1, -1, -1):
            norm_w, norm_b, _, w_in, w_out, _ = self._blocks[k]
            g_norm_w, g_norm_b, g_w_in, g_w_out, g_b_out = self._block_grads[k]
            h, n, mean, rstd, a, branch, gate = cache.blocks[k]
            # h_next = h + linear_out(gate): the residual passes dh through unchanged
            torch.mm(dh.t(), gate, out=g_w_out)
            torch.sum(dh, 0, out=g_b_out)
            d_branch = _silu_backward(torch.mm(dh, w_out), branch)
            d_projected[:, k * hidden:(k + 1) * hidden] = d_branch
            torch.mm(d_branch.t(), a, out=g_w_in)
            dn = _silu_backward(torch.mm(d_branch, w_in), n)
            dx, dw, db = _layer_norm_backward(dn, h, (hidden,), mean, rstd, norm_w, norm_b, mask)
            g_norm_w.copy_(dw)
            g_norm_b.copy_(db)
            dh = dh.add_(dx)
        torch.mm(dh.t(), cache.features, out=self._input_grads[0])
        torch.sum(dh, 0, out=self._input_grads[1])
        # the time branch: one product for the K projections, then the embedding MLP
        if cache.inverse is not None:  # examples that share a timestep share its row: their gradients add up
            d_projected = torch.zeros(cache.s.shape[0], d_projected.shape[1], dtype=d_projected.dtype,
                                      device=d_projected.device).index_add_(0, cache.inverse, d_projected)
        torch.mm(d_projected.t(), cache.s, out=self.proj_w_grad)
        torch.sum(d_projected, 0, out=self.proj_b_grad)
        self.in_b_grad.copy_(self.proj_b_grad)  # branch = linear_in(a) + emb_proj(s): both biases see d_branch
        d_emb = _silu_backward(torch.mm(d_projected, self.proj_w), cache.emb)
        w1, _, w2, _ = self._time
        g_w1, g_b1, g_w2, g_b2 = self._time_grads
        torch.mm(d_emb.t(), cache.a1, out=g_w2)
        torch.sum(d_emb, 0, out=g_b2)
        d_e1 = _silu_backward(torch.mm(d_emb, w2), cache.e1)
        torch.mm(d_e1.t(), cache.sinusoid, out=g_w1)
        torch.sum(d_e1, 0, out=g_b1)


def mse_grad(output: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The simple loss (M18) of a batch and its gradient: (per-example mse (B,), per-example loss (B,), d mean
    loss / d output like ``output``), where loss = weights * mse (weights (B,), e.g. min-SNR; None: 1)."""
    diff = output - target
    dims = math.prod(output.shape[1:])
    mse = diff.square().mean(dim=1) if output.ndim == 2 else diff.square().flatten(1).mean(dim=1)
    scale = 2.0 / (output.shape[0] * dims)
    if weights is None:
        return mse, mse, diff.mul_(scale)
    return mse, mse * weights, diff.mul_(weights.view(-1, *([1] * (output.ndim - 1))) * scale)
