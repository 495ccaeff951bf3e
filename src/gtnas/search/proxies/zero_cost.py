"""Proxies that do not train: the zero-cost ``synflow`` and ``naswot``, and the free floor
``params`` and ``flops`` that every other proxy must beat to be worth its seconds."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from gtnas.learners.layers import BatchStatNorm, MeanOnlyBatchNorm
from gtnas.search.proxies.base import PROXIES, Proxy, ProxyContext
from gtnas.seeding import derive_seed, make_generator
from gtnas.training.measure import count_flops


@PROXIES.register("synflow", help="zero-cost: log sum |theta * dR/dtheta| with positive weights")
class SynflowProxy(Proxy):
    name = "synflow"

    def _score(self, genotype: Any, context: ProxyContext, seed: int) -> tuple[float, dict]:
        network = context.network(genotype, make_generator(seed)).double()
        _remove_norms(network)
        with torch.no_grad():  # linearise: |theta|, remembering nothing (the network is a copy)
            for p in network.parameters():
                p.abs_()
        network.train()
        ones = torch.ones(1, *context.image_shape, dtype=torch.float64, device=context.device)
        network.zero_grad()
        network(ones).sum().backward()
        saliences = [
            (p.detach() * p.grad).abs().sum() for p in network.parameters() if p.grad is not None
        ]
        total = float(sum(saliences))
        return (math.log(total) if total > 0 else -math.inf), {}


@PROXIES.register("naswot", help="zero-cost: log|det| of the ReLU-code kernel of one minibatch")
class NASWOTProxy(Proxy):
    name = "naswot"
    batch_size = 64

    def _score(self, genotype: Any, context: ProxyContext, seed: int) -> tuple[float, dict]:
        network = context.network(genotype, make_generator(seed))
        images, _ = context.train
        index = torch.randperm(images.shape[0], generator=make_generator(derive_seed(seed, "x")))
        x = images[index[: self.batch_size]].to(context.device)
        n = x.shape[0]
        kernel = torch.zeros(n, n, dtype=torch.float64, device=context.device)

        def record(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            # binary code of each image at this ReLU: (n, units); agreement counts of 1s and 0s
            codes = (output.detach().reshape(n, -1) > 0).double()
            kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

        hooks = [m.register_forward_hook(record) for m in network.modules() if _is_relu(m)]
        try:
            network.train()
            with torch.no_grad():
                network(x)
        finally:
            for hook in hooks:
                hook.remove()
        sign, logdet = torch.linalg.slogdet(kernel)
        return (float(logdet) if sign > 0 else -math.inf), {"relus": len(hooks)}


@PROXIES.register("params", help="free floor: parameters of the final-training network")
class ParamsProxy(Proxy):
    name = "params"

    def _score(self, genotype: Any, context: ProxyContext, seed: int) -> tuple[float, dict]:
        network = _final_network(genotype, context)
        return float(sum(p.numel() for p in network.parameters())), {}


@PROXIES.register("flops", help="free floor: FLOPs of one forward pass of that network")
class FlopsProxy(Proxy):
    name = "flops"

    def _score(self, genotype: Any, context: ProxyContext, seed: int) -> tuple[float, dict]:
        return float(count_flops(_final_network(genotype, context), context.image_shape)), {}


def _final_network(genotype: Any, context: ProxyContext) -> nn.Module:
    """The BatchNorm network at the context's blueprint, freshly built (weights unused)."""
    space, blueprint = context.space, context.blueprint
    return space.build(
        genotype, context.image_shape, context.num_classes, norm="bn", blueprint=blueprint
    )


def _is_relu(module: nn.Module) -> bool:
    return isinstance(module, nn.ReLU | nn.LeakyReLU)


def _remove_norms(network: nn.Module) -> None:
    """Replace every norm layer by identity (synflow is defined on the network without them)."""
    for name, child in list(network.named_children()):
        if isinstance(child, nn.BatchNorm2d | nn.BatchNorm1d | MeanOnlyBatchNorm | BatchStatNorm):
            setattr(network, name, nn.Identity())
        else:
            _remove_norms(child)
