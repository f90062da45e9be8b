"""The causal lip-sync network: dilated 1-D CNN with an explicit streaming state.

forward(features [B,T,80], state [B,S]) -> (weights [B,T,52], state_out [B,S]). Each dilated
convolution reads its cached past inputs from `state` and writes the newest ones back, so
running a stream in pieces gives exactly what one pass over the whole stream gives; training
uses the same graph with a zero state. Output frame j is the face for feature frame
j - LOOKAHEAD (the net has seen LOOKAHEAD frames past the frame it animates).
The exported graph (ExportNet) uses only MatMul, Add, Relu, Sigmoid, Concat, Slice and
Reshape, so TensorRT can build it unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from training.teacher import CH, CHANNELS, arkit_columns

N_MELS = 80
LOOKAHEAD = 6  # feature frames (60 ms)
SHARPEN_PIVOT = 0.15  # between the scorer's closed (0.10) and open (0.25) apertures
SHARPEN_CHANNELS = ("jawOpen", "mouthLowerDown", "mouthUpperUp")
DILATIONS = (1, 2, 4, 8, 16, 1, 2, 4, 8, 16)
KERNEL = 3


class LipSyncNet(nn.Module):
    """Residual stack of causal dilated convolutions; see the module docstring."""

    def __init__(self, width: int = 96, dilations: tuple[int, ...] = DILATIONS) -> None:
        super().__init__()
        self.width = width
        self.dilations = tuple(dilations)
        self.inp = nn.Conv1d(N_MELS, width, 1)
        self.dil = nn.ModuleList(nn.Conv1d(width, width, KERNEL, dilation=d) for d in dilations)
        self.pw = nn.ModuleList(nn.Conv1d(width, width, 1) for _ in dilations)
        self.out = nn.Conv1d(width, len(CHANNELS), 1)
        for pw in self.pw:
            nn.init.zeros_(pw.bias)
            pw.weight.data *= 0.3
        scatter = torch.zeros(len(CHANNELS), 52)
        for i, cols in enumerate(arkit_columns()):
            scatter[i, cols] = 1.0
        self.register_buffer("scatter", scatter)
        self.register_buffer("feat_mean", torch.zeros(N_MELS))
        self.register_buffer("feat_std", torch.ones(N_MELS))

    @property
    def state_size(self) -> int:
        return sum(self.width * (KERNEL - 1) * d for d in self.dilations)

    def zero_state(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.state_size)

    def channels(self, features: torch.Tensor, state: torch.Tensor):
        """Teacher-channel outputs (B,T,C) in [0,1] and the new state."""
        x = (features - self.feat_mean) / self.feat_std
        x = self.inp(x.transpose(1, 2))  # (B, W, T)
        new_state, off = [], 0
        for dil, pw, d in zip(self.dil, self.pw, self.dilations, strict=True):
            n = (KERNEL - 1) * d
            cache = state[:, off : off + self.width * n].reshape(-1, self.width, n)
            off += self.width * n
            full = torch.cat([cache, x], dim=2)
            new_state.append(full[:, :, -n:].reshape(-1, self.width * n))
            x = x + pw(torch.relu(dil(torch.relu(full))))
        y = torch.sigmoid(self.out(torch.relu(x))).transpose(1, 2)
        return y, torch.cat(new_state, dim=1)

    def forward(self, features: torch.Tensor, state: torch.Tensor):
        y, state_out = self.channels(features, state)
        return torch.matmul(y, self.scatter), state_out


def sharpen_aperture(net: LipSyncNet, k: float) -> None:
    """Scale the logits of the mouth-opening channels by k about the logit of SHARPEN_PIVOT.

    A regression net that is unsure stops short of the teacher's extremes: closures end at
    aperture 0.10-0.15 instead of 0 and short open vowels below their peak. Output
    sigmoid(k * (z - c) + c) keeps 0.15 fixed and pushes values below it down and above it
    up. It changes only the output layer's weights, so the ONNX graph stays the same; k is
    chosen on the held-back synthetic voices (training/CARD_NOTES.md).
    """
    c = float(torch.log(torch.tensor(SHARPEN_PIVOT / (1 - SHARPEN_PIVOT))))
    with torch.no_grad():
        for name in SHARPEN_CHANNELS:
            i = CH[name]
            net.out.weight[i] *= k
            net.out.bias[i] = k * (net.out.bias[i] - c) + c


class ExportNet(nn.Module):
    """LipSyncNet rewritten for inference as time-major MatMuls (same weights, same outputs).

    Time stays on axis 1 ([B, T, C]) so there is no Transpose, each 1x1 convolution is a MatMul,
    and each dilated convolution is one MatMul over the three taps x[t-2d], x[t-d], x[t],
    cut from concat(cache, x) by Slices with constant bounds. One GEMM over all B*T rows per
    layer is what makes batching many streams of a few frames cheap. The feature
    normalisation is folded into the first layer. State: per layer the last 2d block inputs,
    [B, 2d, W] flattened, in layer order.
    """

    def __init__(self, net: LipSyncNet) -> None:
        super().__init__()
        self.width = net.width
        self.dilations = net.dilations
        with torch.no_grad():
            w = net.inp.weight[:, :, 0] / net.feat_std[None, :]
            self.w_in = nn.Parameter(w.T.contiguous())
            self.b_in = nn.Parameter(net.inp.bias - w @ net.feat_mean)
            self.w_dil = nn.ParameterList(
                nn.Parameter(torch.cat([c.weight[:, :, k].T for k in range(KERNEL)], 0))
                for c in net.dil
            )
            self.b_dil = nn.ParameterList(nn.Parameter(c.bias.clone()) for c in net.dil)
            self.w_pw = nn.ParameterList(
                nn.Parameter(c.weight[:, :, 0].T.contiguous()) for c in net.pw
            )
            self.b_pw = nn.ParameterList(nn.Parameter(c.bias.clone()) for c in net.pw)
            self.w_out = nn.Parameter(net.out.weight[:, :, 0].T.contiguous())
            self.b_out = nn.Parameter(net.out.bias.clone())
            self.scatter = nn.Parameter(net.scatter.clone())

    def forward(self, features: torch.Tensor, state: torch.Tensor):
        x = torch.matmul(features, self.w_in) + self.b_in  # (B, T, W)
        new_state, off = [], 0
        for i, d in enumerate(self.dilations):
            n = (KERNEL - 1) * d
            cache = state[:, off : off + self.width * n].reshape(-1, n, self.width)
            off += self.width * n
            full = torch.cat([cache, x], dim=1)  # (B, 2d + T, W)
            new_state.append(full[:, -n:].reshape(-1, n * self.width))
            r = torch.relu(full)
            taps = torch.cat([r[:, : -2 * d], r[:, d:-d], r[:, 2 * d :]], dim=2)
            h = torch.relu(torch.matmul(taps, self.w_dil[i]) + self.b_dil[i])
            x = x + torch.matmul(h, self.w_pw[i]) + self.b_pw[i]
        y = torch.sigmoid(torch.matmul(torch.relu(x), self.w_out) + self.b_out)
        return torch.matmul(y, self.scatter), torch.cat(new_state, dim=1)


def export_onnx(net: LipSyncNet, path: str) -> None:
    """Write the streaming ONNX graph (dynamic batch and time)."""
    model = ExportNet(net).eval()
    feats = torch.zeros(2, 8, N_MELS)
    state = net.zero_state(2)
    torch.onnx.export(
        model,
        (feats, state),
        path,
        input_names=["features", "state"],
        output_names=["weights", "state_out"],
        opset_version=17,
        dynamo=False,
        dynamic_axes={
            "features": {0: "B", 1: "T"},
            "state": {0: "B"},
            "weights": {0: "B", 1: "T"},
            "state_out": {0: "B"},
        },
    )
