"""The OpenVoice V2 converter network, written from the published architecture (VITS-style).

Speech is turned into a linear spectrogram; a posterior encoder maps it to a latent ``z`` given the
source's tone colour; a normalising flow removes that tone colour (forward) and puts the target's in
(reverse); a HiFi-GAN decoder turns the latent back into a waveform, one hop of samples per frame,
so the output keeps the input's timing exactly. The tone colour itself (a 256-d vector) comes from a
reference encoder (2-D convolutions + GRU) over the spectrogram.

Parameter names follow the released checkpoint (``dec.*``, ``enc_q.*``, ``flow.flows.N.*``,
``ref_enc.*``; weight-normalised layers store ``weight_g`` and ``weight_v``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

LRELU_SLOPE = 0.1


@dataclass
class ConverterConfig:
    """The fields of the released ``config.json`` that shape the network (``data`` and ``model``)."""

    sampling_rate: int = 22_050
    filter_length: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    inter_channels: int = 192
    hidden_channels: int = 192
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = field(default_factory=lambda: [[1, 3, 5]] * 3)
    upsample_rates: list[int] = field(default_factory=lambda: [8, 8, 2, 2])
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 4, 4])
    gin_channels: int = 256
    zero_g: bool = False  # V2: the encoder and decoder see a zero tone colour; only the flow converts
    posterior_layers: int = 16  # WaveNet layers in the posterior encoder (fixed in the published model)
    flow_layers: int = 4  # WaveNet layers per coupling layer
    n_flows: int = 4

    @property
    def spec_channels(self) -> int:
        return self.filter_length // 2 + 1

    @classmethod
    def from_json(cls, data: dict) -> ConverterConfig:
        """From the released config.json (``{"data": {...}, "model": {...}}``); unknown keys are ignored."""
        flat = {**data.get("data", {}), **data.get("model", {})}
        known = set(cls.__dataclass_fields__)
        cfg = cls(**{k: v for k, v in flat.items() if k in known})
        if cfg.upsample_rates and int(torch.tensor(cfg.upsample_rates).prod()) != cfg.hop_length:
            raise ValueError("config.json: the decoder's upsample rates must multiply to the hop length")
        return cfg


class WNConv(nn.Module):
    """A weight-normalised 1-D / 2-D / transposed convolution: weight = g * v / |v| (per output channel).

    Stores ``weight_g``, ``weight_v`` and ``bias``, as the released checkpoint does.
    """

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.kind = type(conv)
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        v = conv.weight.detach().clone()
        self.dim = 0  # as torch.nn.utils.weight_norm stores it (for transposed convolutions: the input axis)
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(self._norm(v))
        self.bias = nn.Parameter(conv.bias.detach().clone()) if conv.bias is not None else None

    def _norm(self, v: torch.Tensor) -> torch.Tensor:
        dims = [d for d in range(v.dim()) if d != self.dim]
        return torch.linalg.vector_norm(v, dim=dims, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight_g * self.weight_v / self._norm(self.weight_v)
        if self.kind is nn.ConvTranspose1d:
            return F.conv_transpose1d(x, w, self.bias, self.stride, self.padding, dilation=self.dilation)
        if self.kind is nn.Conv2d:
            return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation)
        return F.conv1d(x, w, self.bias, self.stride, self.padding, self.dilation)


def _same_padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class WaveNet(nn.Module):
    """Non-causal gated WaveNet stack, conditioned on the tone colour ``g`` (names: in_layers, res_skip_layers)."""

    def __init__(self, channels: int, kernel: int, dilation_rate: int, n_layers: int, gin_channels: int = 0):
        super().__init__()
        self.channels, self.n_layers = channels, n_layers
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        if gin_channels:
            self.cond_layer = WNConv(nn.Conv1d(gin_channels, 2 * channels * n_layers, 1))
        for i in range(n_layers):
            d = dilation_rate**i
            self.in_layers.append(
                WNConv(nn.Conv1d(channels, 2 * channels, kernel, dilation=d, padding=_same_padding(kernel, d)))
            )
            out = 2 * channels if i < n_layers - 1 else channels  # the last layer only feeds the skip path
            self.res_skip_layers.append(WNConv(nn.Conv1d(channels, out, 1)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        skip = torch.zeros_like(x)
        cond = self.cond_layer(g) if g is not None and hasattr(self, "cond_layer") else None
        c = self.channels
        for i in range(self.n_layers):
            h = self.in_layers[i](x)
            if cond is not None:
                h = h + cond[:, i * 2 * c : (i + 1) * 2 * c]
            acts = torch.tanh(h[:, :c]) * torch.sigmoid(h[:, c:])
            rs = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                x = (x + rs[:, :c]) * mask
                skip = skip + rs[:, c:]
            else:
                skip = skip + rs
        return skip * mask


class PosteriorEncoder(nn.Module):
    """Spectrogram -> latent mean and log-scale (names: pre, enc, proj)."""

    def __init__(self, cfg: ConverterConfig):
        super().__init__()
        self.out_channels = cfg.inter_channels
        self.pre = nn.Conv1d(cfg.spec_channels, cfg.hidden_channels, 1)
        self.enc = WaveNet(cfg.hidden_channels, 5, 1, cfg.posterior_layers, cfg.gin_channels)
        self.proj = nn.Conv1d(cfg.hidden_channels, 2 * cfg.inter_channels, 1)

    def forward(self, spec, mask, g, tau: float, generator: torch.Generator | None):
        h = self.enc(self.pre(spec) * mask, mask, g)
        mean, log_scale = torch.split(self.proj(h) * mask, self.out_channels, dim=1)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype) if tau > 0 else 0.0
        return (mean + noise * tau * torch.exp(log_scale)) * mask


class CouplingLayer(nn.Module):
    """Mean-only affine coupling: the second half of the channels shifted by a function of the first."""

    def __init__(self, cfg: ConverterConfig):
        super().__init__()
        self.half = cfg.inter_channels // 2
        self.pre = nn.Conv1d(self.half, cfg.hidden_channels, 1)
        self.enc = WaveNet(cfg.hidden_channels, 5, 1, cfg.flow_layers, cfg.gin_channels)
        self.post = nn.Conv1d(cfg.hidden_channels, self.half, 1)

    def forward(self, x, mask, g, reverse: bool):
        x0, x1 = torch.split(x, [self.half, self.half], dim=1)
        shift = self.post(self.enc(self.pre(x0) * mask, mask, g)) * mask
        x1 = (x1 - shift) * mask if reverse else shift + x1 * mask
        return torch.cat([x0, x1], dim=1)


class _Flip(nn.Module):
    """Reverses the channel order between coupling layers (no parameters; keeps the checkpoint's numbering)."""

    def forward(self, x, *_args, **_kwargs):
        return torch.flip(x, [1])


class Flow(nn.Module):
    """Coupling layers interleaved with channel flips (names: flows.0, flows.2, ...)."""

    def __init__(self, cfg: ConverterConfig):
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(cfg.n_flows):
            self.flows.append(CouplingLayer(cfg))
            self.flows.append(_Flip())

    def forward(self, x, mask, g, reverse: bool = False):
        for layer in reversed(self.flows) if reverse else self.flows:
            x = layer(x, mask, g, reverse)
        return x


class ResBlock(nn.Module):
    """HiFi-GAN residual block type 1: dilated convolutions (convs1), each followed by a plain one (convs2)."""

    def __init__(self, channels: int, kernel: int, dilations: list[int]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            WNConv(nn.Conv1d(channels, channels, kernel, 1, dilation=d, padding=_same_padding(kernel, d)))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            WNConv(nn.Conv1d(channels, channels, kernel, 1, padding=_same_padding(kernel))) for _ in dilations
        )

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class Decoder(nn.Module):
    """HiFi-GAN generator: latent frames -> waveform, ``hop_length`` samples per frame."""

    def __init__(self, cfg: ConverterConfig):
        super().__init__()
        ch = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(cfg.inter_channels, ch, 7, 1, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (rate, kernel) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes, strict=True)):
            self.ups.append(
                WNConv(nn.ConvTranspose1d(ch // 2**i, ch // 2 ** (i + 1), kernel, rate, padding=(kernel - rate) // 2))
            )
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, strict=True):
                self.resblocks.append(ResBlock(ch // 2 ** (i + 1), k, d))
        self.conv_post = nn.Conv1d(ch // 2 ** len(cfg.upsample_rates), 1, 7, 1, padding=3, bias=False)
        self.n_kernels = len(cfg.resblock_kernel_sizes)
        if cfg.gin_channels:
            self.cond = nn.Conv1d(cfg.gin_channels, ch, 1)

    def forward(self, z, g=None):
        x = self.conv_pre(z)
        if g is not None:
            x = x + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.n_kernels : (i + 1) * self.n_kernels]
            x = sum(block(x) for block in blocks) / self.n_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


class ReferenceEncoder(nn.Module):
    """Spectrogram frames -> tone-colour vector: six strided 2-D convolutions, a GRU, a projection."""

    FILTERS = (32, 32, 64, 64, 128, 128)

    def __init__(self, cfg: ConverterConfig):
        super().__init__()
        self.spec_channels = cfg.spec_channels
        chans = (1, *self.FILTERS)
        self.convs = nn.ModuleList(
            WNConv(nn.Conv2d(chans[i], chans[i + 1], (3, 3), stride=(2, 2), padding=(1, 1)))
            for i in range(len(self.FILTERS))
        )
        freq = cfg.spec_channels
        for _ in self.FILTERS:
            freq = (freq - 3 + 2) // 2 + 1
        self.gru = nn.GRU(self.FILTERS[-1] * freq, 128, batch_first=True)
        self.proj = nn.Linear(128, cfg.gin_channels)
        self.layernorm = nn.LayerNorm(cfg.spec_channels)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames``: (batch, time, spec_channels) -> (batch, gin_channels)."""
        x = self.layernorm(frames.unsqueeze(1))
        for conv in self.convs:
            x = F.relu(conv(x))
        x = x.transpose(1, 2).flatten(2)  # (batch, time', channels * freq')
        _, last = self.gru(x)
        return self.proj(last.squeeze(0))


class ToneColourConverter(nn.Module):
    """The whole converter; ``state_dict()`` keys match the released checkpoint's ``model`` entry."""

    def __init__(self, cfg: ConverterConfig):
        super().__init__()
        self.cfg = cfg
        self.dec = Decoder(cfg)
        self.enc_q = PosteriorEncoder(cfg)
        self.flow = Flow(cfg)
        self.ref_enc = ReferenceEncoder(cfg)

    def spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        """(batch, samples) at ``cfg.sampling_rate`` -> magnitude spectrogram (batch, spec_channels, frames)."""
        c = self.cfg
        pad = (c.filter_length - c.hop_length) // 2
        y = F.pad(audio.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        window = torch.hann_window(c.win_length, dtype=audio.dtype)
        spec = torch.stft(y, c.filter_length, c.hop_length, c.win_length, window, center=False, return_complex=True)
        return torch.sqrt(spec.real**2 + spec.imag**2 + 1e-6)

    def tone_colour(self, spec: torch.Tensor) -> torch.Tensor:
        """(batch, spec_channels, frames) -> (batch, gin_channels, 1)."""
        return self.ref_enc(spec.transpose(1, 2)).unsqueeze(-1)

    def convert(
        self,
        spec: torch.Tensor,
        source: torch.Tensor,
        target: torch.Tensor,
        tau: float = 0.3,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Spectrogram of source speech -> waveform (batch, 1, frames * hop) in the target's tone colour."""
        mask = torch.ones(spec.shape[0], 1, spec.shape[2], dtype=spec.dtype)
        g_enc = torch.zeros_like(source) if self.cfg.zero_g else source
        z = self.enc_q(spec, mask, g_enc, tau, generator)
        z = self.flow(self.flow(z, mask, source), mask, target, reverse=True)
        return self.dec(z * mask, torch.zeros_like(target) if self.cfg.zero_g else target)
