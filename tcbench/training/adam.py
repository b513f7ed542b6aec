"""Adam with torch.optim.Adam's defaults and arithmetic, without torch.optim.

Every torch.optim optimizer imports ``torch._dynamo`` on first use (2 s per process on the reference machine,
a quarter of a whole dim-32 run, and every run here is its own process). This is the update of torch 2.13's
``_single_tensor_adam`` (no weight decay, no amsgrad) written with the same in-place operations in the same
order, so the weights are bit-identical to torch.optim.Adam's (tests/test_training.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class Adam:
    """``torch.optim.Adam(params, lr, betas, eps)`` for training loops that only call ``zero_grad`` and ``step``."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        if lr < 0 or eps < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"invalid Adam hyper-parameters lr={lr}, betas={betas}, eps={eps}")
        self.params = [p for p in params if p.requires_grad]
        self.lr, (self.beta1, self.beta2), self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        # torch.optim keeps the step count as a float32 tensor and reads it back with .item().
        self.steps = [torch.tensor(0.0, dtype=torch.float32) for _ in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.beta1, self.beta2
        for param, exp_avg, exp_avg_sq, step_t in zip(self.params, self.exp_avg, self.exp_avg_sq, self.steps):
            grad = param.grad
            if grad is None:
                continue
            step_t += 1
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step = step_t.item()
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = self.lr / bias_correction1
            denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(self.eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)
