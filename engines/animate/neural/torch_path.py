"""The lip-sync network run directly on PyTorch: the GPU path when ONNX Runtime has no GPU provider.

On an NVIDIA machine whose ONNX Runtime lacks the TensorRT/CUDA providers (or whose TensorRT build
failed), the UNet and VAE decoder still run on the GPU through PyTorch, in FP16, with the usual
speed-ups: channels-last memory layout, PyTorch's fused scaled-dot-product attention (diffusers'
default attention processor), one CUDA graph per batch size (the graph replays every kernel launch
of a batch at once, which is most of the cost at batch 1), and optionally ``torch.compile``.

On the CPU the same class runs in float32 without graphs: that is how the tests check it.
``bench/bench_neural.py`` times this class.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class TorchLipSync:
    """``generate(latents, tokens)`` on PyTorch, like the ONNX Runtime sessions (same shapes, same result).

    ``nets`` is a :class:`~engines.animate.neural.musetalk.MuseTalkNets` with its UNet loaded; it is
    moved to ``device`` and ``dtype`` (``float16`` by default on CUDA, ``float32`` on the CPU).
    """

    def __init__(
        self,
        nets: Any,
        *,
        device: str | None = None,
        dtype: str | None = None,
        channels_last: bool = True,
        cuda_graphs: bool = True,
        compile: bool = False,
        fuse_qkv: bool = True,
    ):
        import torch

        if nets.unet is None:
            raise ValueError("the PyTorch path needs the UNet weights loaded")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        on_gpu = self.device.type == "cuda"
        self.dtype = getattr(torch, dtype) if dtype else (torch.float16 if on_gpu else torch.float32)
        self.nets = nets.to(str(self.device), self.dtype)
        self.spec = nets.spec
        self.channels_last = channels_last
        self.cuda_graphs = cuda_graphs and on_gpu
        self.fused_qkv = False
        if fuse_qkv and hasattr(nets.unet, "fuse_qkv_projections"):
            try:  # one matrix product for query, key and value of each self-attention
                nets.unet.fuse_qkv_projections()
                self.fused_qkv = True
            except Exception:  # noqa: BLE001 - an optimisation only; older diffusers lack it for some blocks
                self.fused_qkv = False
        self.unet_step = nets.unet_step().to(self.device).eval()
        self.vae_step = nets.vae_decode_step().to(self.device).eval()
        if channels_last:
            self.unet_step.to(memory_format=torch.channels_last)
            self.vae_step.to(memory_format=torch.channels_last)
        self.compiled = False
        if compile:  # fuses element-wise work into the convolutions' neighbours; one compile per batch size
            self.unet_step = torch.compile(self.unet_step, dynamic=False)
            self.vae_step = torch.compile(self.vae_step, dynamic=False)
            self.compiled = True
        self._graphs: dict[int, tuple[Any, Any, Any, Any]] = {}
        self._compositors: dict[str, GpuCompositor] = {}
        self.provider = f"PyTorch {'CUDA' if on_gpu else 'CPU'} {str(self.dtype).removeprefix('torch.').upper()}"
        self.notices: list[str] = []

    # ------------------------------------------------------------------ torch in, torch out
    def _forward(self, latents, tokens):
        import torch

        if self.channels_last:
            latents = latents.contiguous(memory_format=torch.channels_last)
        predicted = self.unet_step(latents, tokens)
        if self.channels_last:
            predicted = predicted.contiguous(memory_format=torch.channels_last)
        return self.vae_step(predicted)

    def _graph(self, batch: int):
        """The CUDA graph of one batch size, captured on first use (with static input buffers)."""
        import torch

        if batch in self._graphs:
            return self._graphs[batch]
        spec = self.spec
        lat = torch.zeros(
            batch, 2 * spec.latent_channels, spec.latent_size, spec.latent_size, device=self.device, dtype=self.dtype
        )
        tok = torch.zeros(batch, spec.audio_tokens, spec.audio_dim, device=self.device, dtype=self.dtype)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(3):  # warm-up: cuDNN autotuning and lazy initialisation must not be captured
                self._forward(lat, tok)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(graph):
            out = self._forward(lat, tok)
        self._graphs[batch] = (graph, lat, tok, out)
        return self._graphs[batch]

    def images(self, latents, tokens):
        """Torch tensors in, RGB in [0, 1] out: latents (B, 8, h, w), tokens (B, T, D) -> (B, 3, S, S).

        The result of a graph replay lives in the graph's own buffer: copy it before the next call.
        """
        import torch

        latents = latents.to(self.device, self.dtype)
        tokens = tokens.to(self.device, self.dtype)
        if latents.shape[0] != tokens.shape[0]:
            latents = latents.expand(tokens.shape[0], *latents.shape[1:])
        if not self.cuda_graphs:
            with torch.no_grad():
                return self._forward(latents, tokens)
        n = int(tokens.shape[0])
        # A short last batch reuses a larger captured graph (zero-padded) instead of capturing another.
        size = min((b for b in self._graphs if b >= n), default=n)
        graph, lat, tok, out = self._graph(size)
        lat[:n].copy_(latents)
        tok[:n].copy_(tokens)
        if size > n:
            tok[n:].zero_()
        graph.replay()
        return out[:n]

    # ------------------------------------------------------------------ the engine's interface
    def generate(self, latents: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Face crops (B, S, S, 3) float32 on the 0..255 scale; ``latents`` (1 or B, 8, h, w), ``tokens`` (B, T, D)."""
        import torch

        lat = torch.from_numpy(np.ascontiguousarray(latents, np.float32))
        tok = torch.from_numpy(np.ascontiguousarray(tokens, np.float32))
        image = self.images(lat, tok)
        return (image.permute(0, 2, 3, 1).float() * 255.0).cpu().numpy()

    def frames(self, rig: Any, latents: np.ndarray, tokens: np.ndarray, strength: float = 1.0) -> np.ndarray:
        """Whole output frames (B, H, W, 3) uint8: generated, colour-matched and pasted on the GPU."""
        import torch

        comp = self._compositors.get(rig.key)
        if comp is None:
            self._compositors = {rig.key: GpuCompositor(rig, self.device)}  # one avatar at a time
            comp = self._compositors[rig.key]
        lat = torch.from_numpy(np.ascontiguousarray(latents, np.float32))
        tok = torch.from_numpy(np.ascontiguousarray(tokens, np.float32))
        with torch.no_grad():
            return comp.rgb(self.images(lat, tok), strength).cpu().numpy()


class GpuCompositor:
    """The paste-back of :func:`~engines.animate.neural.blend.paste` as tensor operations on one device.

    Built once per avatar rig (background, face box, soft mask and colour match all stay the same
    for every frame), so a batch of generated crops becomes whole frames without leaving the GPU.
    ``yuv420`` then converts frames to the encoder's pixel format (BT.601, limited range, as
    FFmpeg's default RGB -> yuv420p conversion), so only 1.5 bytes per pixel travel to the CPU.
    """

    def __init__(self, rig: Any, device: Any):
        import cv2
        import torch

        self.device = torch.device(device)
        box = rig.face
        h, w = rig.background.shape[:2]
        self.xa, self.ya = max(box.x, 0), max(box.y, 0)
        self.xb, self.yb = min(box.x + box.w, w), min(box.y + box.h, h)
        self.box = box
        mask = cv2.resize(rig.mask.astype(np.float32), (box.w, box.h), interpolation=cv2.INTER_LINEAR)
        mask = mask[self.ya - box.y : self.yb - box.y, self.xa - box.x : self.xb - box.x]
        self.mask = torch.from_numpy(np.ascontiguousarray(mask)).to(self.device)[None, None]
        self.background = torch.from_numpy(np.ascontiguousarray(rig.background)).to(self.device)  # (H, W, 3) uint8
        region = rig.background[self.ya : self.yb, self.xa : self.xb].astype(np.float32)
        self.region = torch.from_numpy(np.ascontiguousarray(region.transpose(2, 0, 1))).to(self.device)[None]
        self.gain = torch.from_numpy(rig.colour.gain.astype(np.float32)).to(self.device).view(1, 3, 1, 1)
        self.offset = torch.from_numpy(rig.colour.offset.astype(np.float32)).to(self.device).view(1, 3, 1, 1)
        self.crop = torch.from_numpy(np.ascontiguousarray(rig.crop.astype(np.float32).transpose(2, 0, 1))).to(
            self.device
        )[None]

    def rgb(self, images: Any, strength: float = 1.0) -> Any:
        """Generated crops (B, 3, S, S) in [0, 1] -> frames (B, H, W, 3) uint8, on the device."""
        import torch
        import torch.nn.functional as F

        if self.xa >= self.xb or self.ya >= self.yb:
            return self.background.expand(images.shape[0], *self.background.shape).clone()
        gen = images.float() * 255.0 * self.gain + self.offset
        if strength < 1.0:
            gen = self.crop + strength * (gen - self.crop)
        gen = F.interpolate(gen, size=(self.box.h, self.box.w), mode="bilinear", align_corners=False)
        gen = gen[:, :, self.ya - self.box.y : self.yb - self.box.y, self.xa - self.box.x : self.xb - self.box.x]
        blended = self.region + (gen - self.region) * self.mask
        region = torch.round(blended).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        out = self.background.expand(images.shape[0], *self.background.shape).clone()
        out[:, self.ya : self.yb, self.xa : self.xb] = region
        return out

    @staticmethod
    def yuv420(frames: Any) -> Any:
        """Frames (B, H, W, 3) uint8 -> (B, H * 3 // 2, W) uint8 planar yuv420p (Y, then U, then V)."""
        import torch
        import torch.nn.functional as F

        rgb = frames.permute(0, 3, 1, 2).float()
        r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
        y = 16.0 + 0.256788 * r + 0.504129 * g + 0.097906 * b
        small = F.avg_pool2d(rgb, 2)
        r2, g2, b2 = small[:, 0], small[:, 1], small[:, 2]
        u = 128.0 - 0.148223 * r2 - 0.290993 * g2 + 0.439216 * b2
        v = 128.0 + 0.439216 * r2 - 0.367788 * g2 - 0.071427 * b2
        n, hh, ww = y.shape
        planes = torch.cat([y.reshape(n, -1), u.reshape(n, -1), v.reshape(n, -1)], dim=1)
        return torch.round(planes).clamp_(0, 255).to(torch.uint8).reshape(n, hh * 3 // 2, ww)
