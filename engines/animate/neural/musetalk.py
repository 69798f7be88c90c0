"""The MuseTalk 1.5 network, built from diffusers and transformers parts.

What the network does (our reading of the published architecture): a 256x256 face crop whose lower
half is blacked out, and the same crop unmasked as an identity reference, are both encoded by the
Stable Diffusion VAE (``sd-vae-ft-mse``) to 4x32x32 latents each and stacked to 8 channels. A UNet
in the Stable Diffusion 1.x layout with 8 input channels predicts the 4 latent channels of the
talking face in ONE step (timestep 0, no noise schedule), attending through cross-attention to 50
audio tokens of 384 dimensions: the hidden states of every layer of the Whisper-tiny encoder over
ten 20 ms steps around the video frame, plus a sinusoidal position code. The VAE decodes the result.

Released weights (model manager entries ``musetalk-1.5``, ``sd-vae-ft-mse``, ``whisper-tiny``) are
laid out as downloaded from their Hugging Face repositories::

    <models>/musetalk-1.5/musetalkV15/unet.pth        UNet state dict (loaded weights_only)
    <models>/musetalk-1.5/musetalkV15/musetalk.json   UNet2DConditionModel config
    <models>/sd-vae-ft-mse/config.json + diffusion_pytorch_model.safetensors
    <models>/whisper-tiny/config.json + model.safetensors

:func:`tiny_spec` builds the same architecture with small channels, so tests run in seconds on a CPU.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

UNET_DIR = "musetalk-1.5"
VAE_DIR = "sd-vae-ft-mse"
WHISPER_DIR = "whisper-tiny"

# UNet2DConditionModel config of the released MuseTalk 1.5 UNet (SD 1.x layout, 8 in-channels,
# 384-d cross-attention = Whisper-tiny width). The file shipped with the weights wins when present.
FULL_UNET = {
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 384,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 8,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 32,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}

# AutoencoderKL config of stabilityai/sd-vae-ft-mse (8x downsampling, 4 latent channels).
FULL_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 256,
    "scaling_factor": 0.18215,
}

# WhisperConfig of openai/whisper-tiny (only the encoder is used).
FULL_WHISPER = {
    "d_model": 384,
    "encoder_layers": 4,
    "encoder_attention_heads": 6,
    "encoder_ffn_dim": 1536,
    "decoder_layers": 4,
    "decoder_attention_heads": 6,
    "decoder_ffn_dim": 1536,
    "num_mel_bins": 80,
    "max_source_positions": 1500,
    "max_target_positions": 448,
    "vocab_size": 51865,
}


@dataclass
class MuseTalkSpec:
    """Sizes of the three networks (diffusers / transformers config dicts) and the audio window."""

    unet: dict[str, Any]
    vae: dict[str, Any]
    whisper: dict[str, Any]
    audio_frames_before: int = 2  # video frames of audio context before the current frame
    audio_frames_after: int = 2  # ... and after it
    name: str = "musetalk-1.5"

    @property
    def image_size(self) -> int:
        """Side of the face crop the network works on, pixels (256 for the released model)."""
        return int(self.vae.get("sample_size", 256))

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae["block_out_channels"]) - 1)

    @property
    def latent_size(self) -> int:
        """Side of the latent grid (32 for the released model)."""
        return self.image_size // self.vae_factor

    @property
    def latent_channels(self) -> int:
        return int(self.vae.get("latent_channels", 4))

    @property
    def latent_scale(self) -> float:
        return float(self.vae.get("scaling_factor", 0.18215))

    @property
    def audio_dim(self) -> int:
        """Width of an audio token (384 for Whisper-tiny)."""
        return int(self.whisper["d_model"])

    @property
    def audio_layers(self) -> int:
        """Hidden states stacked per 20 ms step: the embedding output plus one per encoder layer."""
        return int(self.whisper["encoder_layers"]) + 1

    @property
    def audio_steps(self) -> int:
        """20 ms feature steps per video frame window (10 for +-2 frames at 25 fps)."""
        return 2 * (self.audio_frames_before + self.audio_frames_after + 1)

    @property
    def audio_tokens(self) -> int:
        """Cross-attention sequence length (50 for the released model)."""
        return self.audio_steps * self.audio_layers

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unet": self.unet,
            "vae": self.vae,
            "whisper": self.whisper,
            "audio_frames_before": self.audio_frames_before,
            "audio_frames_after": self.audio_frames_after,
        }

    def digest(self) -> str:
        """Short hash of every size that shapes the networks (part of cache keys)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]

    def check(self) -> None:
        """Raise ValueError when the three configs do not fit together."""
        if int(self.unet["in_channels"]) != 2 * self.latent_channels:
            raise ValueError("the UNet must take the masked and the reference latents (2 x latent channels)")
        if int(self.unet["out_channels"]) != self.latent_channels:
            raise ValueError("the UNet must predict the VAE's latent channels")
        if int(self.unet["cross_attention_dim"]) != self.audio_dim:
            raise ValueError("the UNet's cross-attention width must equal the Whisper encoder width")


def full_spec() -> MuseTalkSpec:
    """The released MuseTalk 1.5 sizes (UNet ~0.86 G parameters)."""
    return MuseTalkSpec(unet=copy.deepcopy(FULL_UNET), vae=copy.deepcopy(FULL_VAE), whisper=copy.deepcopy(FULL_WHISPER))


def tiny_spec() -> MuseTalkSpec:
    """The same architecture with small channels and a 64-pixel crop: for tests and CPU benches."""
    unet = copy.deepcopy(FULL_UNET)
    unet.update(
        block_out_channels=[32, 64],
        layers_per_block=1,
        norm_num_groups=8,
        cross_attention_dim=64,
        down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
        up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
        sample_size=8,
    )
    vae = copy.deepcopy(FULL_VAE)
    vae.update(block_out_channels=[8, 16, 16, 16], layers_per_block=1, norm_num_groups=4, sample_size=64)
    whisper = copy.deepcopy(FULL_WHISPER)
    whisper.update(
        d_model=64,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_layers=1,
        decoder_attention_heads=4,
        decoder_ffn_dim=128,
        max_target_positions=16,
        vocab_size=128,
    )
    return MuseTalkSpec(unet=unet, vae=vae, whisper=whisper, name="musetalk-tiny")


def _whisper_config(params: dict[str, Any]):
    from transformers import WhisperConfig

    extra = {}
    if int(params.get("vocab_size", 51865)) < 51865:  # tiny test vocabularies: keep special ids in range
        extra = dict(
            pad_token_id=1,
            bos_token_id=2,
            eos_token_id=1,
            decoder_start_token_id=2,
            suppress_tokens=[],
            begin_suppress_tokens=[],
        )
    return WhisperConfig(**{**params, **extra})


@dataclass
class MuseTalkWeights:
    """Where the released weight files are (or should be), under the model manager's cache folder."""

    root: Path

    @property
    def unet_weights(self) -> Path:
        return self.root / UNET_DIR / "musetalkV15" / "unet.pth"

    @property
    def unet_config(self) -> Path:
        return self.root / UNET_DIR / "musetalkV15" / "musetalk.json"

    @property
    def vae_dir(self) -> Path:
        return self.root / VAE_DIR

    @property
    def whisper_dir(self) -> Path:
        return self.root / WHISPER_DIR

    def missing(self) -> list[str]:
        """Model manager names whose files are absent (empty when everything is in place)."""
        out = []
        if not (self.unet_weights.is_file() and self.unet_config.is_file()):
            out.append(UNET_DIR)
        if not ((self.vae_dir / "config.json").is_file() and _weight_file(self.vae_dir, "diffusion_pytorch_model")):
            out.append(VAE_DIR)
        if not (
            (self.whisper_dir / "config.json").is_file() and _weight_file(self.whisper_dir, "model", "pytorch_model")
        ):
            out.append(WHISPER_DIR)
        return out

    def files(self) -> list[Path]:
        """The weight files whose content decides the exported ONNX graphs."""
        return [
            self.unet_weights,
            self.unet_config,
            self.vae_dir / "config.json",
            _weight_file(self.vae_dir, "diffusion_pytorch_model") or self.vae_dir / "missing",
            self.whisper_dir / "config.json",
            _weight_file(self.whisper_dir, "model", "pytorch_model") or self.whisper_dir / "missing",
        ]

    def spec(self) -> MuseTalkSpec:
        """The sizes written in the configs that come with the weights."""
        unet = {
            k: v for k, v in json.loads(self.unet_config.read_text(encoding="utf-8")).items() if not k.startswith("_")
        }
        vae = {
            k: v
            for k, v in json.loads((self.vae_dir / "config.json").read_text(encoding="utf-8")).items()
            if not k.startswith("_")
        }
        whisper_all = json.loads((self.whisper_dir / "config.json").read_text(encoding="utf-8"))
        whisper = {k: whisper_all[k] for k in FULL_WHISPER if k in whisper_all}
        spec = MuseTalkSpec(unet=unet, vae=vae, whisper=whisper)
        spec.check()
        return spec


def _weight_file(folder: Path, *stems: str) -> Path | None:
    for stem in stems:
        for ext in (".safetensors", ".bin"):
            if (folder / f"{stem}{ext}").is_file():
                return folder / f"{stem}{ext}"
    return None


def sinusoid_positions(length: int, dim: int) -> np.ndarray:
    """Transformer sinusoidal position code, (length, dim) float32: sin on even, cos on odd columns."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    rate = np.exp(np.arange(0, dim, 2, dtype=np.float64) * (-math.log(10000.0) / dim))
    table = np.zeros((length, dim), dtype=np.float64)
    table[:, 0::2] = np.sin(pos * rate)
    table[:, 1::2] = np.cos(pos * rate)[:, : dim // 2]
    return table.astype(np.float32)


@dataclass
class MuseTalkNets:
    """The three torch modules (eval mode) and their spec."""

    spec: MuseTalkSpec
    unet: Any
    vae: Any
    whisper: Any  # a transformers WhisperEncoder
    sources: dict[str, str] = field(default_factory=dict)

    def to(self, device: str, dtype: Any = None) -> MuseTalkNets:
        for module in (m for m in (self.unet, self.vae, self.whisper) if m is not None):
            module.to(device=device) if dtype is None else module.to(device=device, dtype=dtype)
        return self

    @property
    def device(self):
        return next(self.vae.parameters()).device

    @property
    def dtype(self):
        return next(self.vae.parameters()).dtype

    def unet_step(self):
        """The UNet as ONNX exports it: (latents B x 8 x h x w, audio B x 50 x 384) -> B x 4 x h x w."""
        return unet_step_module(self.unet, self.spec)

    def vae_decode_step(self):
        """The VAE decoder as ONNX exports it: latents B x 4 x h x w -> RGB B x 3 x H x W in [0, 1]."""
        return vae_decode_module(self.vae, self.spec.latent_scale)

    def reference_latents(self, crop: np.ndarray) -> np.ndarray:
        """Model input of one RGB uint8 face crop (S x S x 3): masked and reference latents, (8, h, w)."""
        import torch

        size = self.spec.image_size
        if crop.shape[:2] != (size, size):
            raise ValueError(f"the face crop must be {size}x{size} pixels")
        x = torch.from_numpy(np.ascontiguousarray(crop)).to(self.device, torch.float32).permute(2, 0, 1)[None] / 255.0
        masked = x.clone()
        masked[:, :, size // 2 :, :] = 0.0  # the mouth half is hidden; the network paints it from the audio
        batch = torch.cat([masked, x]) * 2.0 - 1.0
        with torch.inference_mode():
            z = self.vae.encode(batch.to(self.dtype)).latent_dist.mean * self.spec.latent_scale
        return torch.cat([z[0], z[1]]).float().cpu().numpy()

    def generate(self, latents: np.ndarray, audio: np.ndarray) -> np.ndarray:
        """PyTorch reference path: latents (B, 8, h, w) + audio tokens (B, T, D) -> RGB float (B, 3, S, S) in [0, 1]."""
        import torch

        with torch.inference_mode():
            lat = torch.from_numpy(np.ascontiguousarray(latents)).to(self.device, self.dtype)
            aud = torch.from_numpy(np.ascontiguousarray(audio)).to(self.device, self.dtype)
            out = self.unet_step()(lat, aud)
            img = self.vae_decode_step()(out)
        return img.float().cpu().numpy()


@lru_cache(maxsize=1)
def _torch_module_classes():
    import torch

    class UNetStepModule(torch.nn.Module):
        """One denoising-free UNet pass at timestep 0 with the audio position code built in."""

        def __init__(self, unet, spec: MuseTalkSpec):
            super().__init__()
            self.unet = unet
            pe = torch.from_numpy(sinusoid_positions(spec.audio_tokens, spec.audio_dim))
            self.register_buffer("positions", pe[None].to(next(unet.parameters()).dtype), persistent=False)

        def forward(self, latents, audio):
            timestep = torch.zeros(latents.shape[0], dtype=latents.dtype, device=latents.device)
            tokens = audio + self.positions.to(audio.dtype)
            return self.unet(latents, timestep, encoder_hidden_states=tokens, return_dict=False)[0]

    class VaeDecodeModule(torch.nn.Module):
        """Latents (scaled as the UNet sees them) to RGB in [0, 1]."""

        def __init__(self, vae, scale: float):
            super().__init__()
            self.vae = vae
            self.scale = scale

        def forward(self, latents):
            image = self.vae.decode(latents / self.scale, return_dict=False)[0]
            return (image * 0.5 + 0.5).clamp(0.0, 1.0)

    return UNetStepModule, VaeDecodeModule


def unet_step_module(unet, spec: MuseTalkSpec):
    """``torch.nn.Module``: (latents, audio tokens) -> predicted latents (torch is imported on first use)."""
    return _torch_module_classes()[0](unet, spec)


def vae_decode_module(vae, scale: float):
    """``torch.nn.Module``: scaled latents -> RGB in [0, 1]."""
    return _torch_module_classes()[1](vae, scale)


def build_random(spec: MuseTalkSpec, seed: int = 0, device: str = "cpu") -> MuseTalkNets:
    """The architecture with random weights (tests, benches, ``engines build --tiny-random``).

    ``device="cuda"`` creates the parameters on the GPU directly (seconds instead of a minute for
    the full-size UNet); the same seed then gives other numbers than on the CPU.
    """
    import torch
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    spec.check()
    torch.manual_seed(seed)
    with torch.device(device):
        unet = UNet2DConditionModel.from_config(spec.unet).eval()
        vae = AutoencoderKL.from_config(spec.vae).eval()
        whisper = WhisperEncoder(_whisper_config(spec.whisper)).eval()
    return MuseTalkNets(spec=spec, unet=unet, vae=vae, whisper=whisper, sources={"weights": f"random seed {seed}"})


class WeightsError(RuntimeError):
    """A weight file is missing, damaged, or not a plain tensor checkpoint."""


def load_released(
    weights: MuseTalkWeights, device: str = "cpu", dtype: Any = None, *, with_unet: bool = True
) -> MuseTalkNets:
    """Load the released MuseTalk 1.5 UNet, SD VAE and Whisper-tiny encoder from ``weights``.

    ``with_unet=False`` skips the 3.4 GB UNet (enough for avatar preparation and audio features
    once the ONNX export exists); :func:`load_unet` adds it later. ``unet.pth`` is read with
    ``torch.load(weights_only=True)``: a checkpoint that needs arbitrary code to unpickle is refused.
    Raises :class:`WeightsError` with a plain message on any problem.
    """
    import torch
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from transformers import WhisperModel

    missing = weights.missing()
    if missing:
        raise WeightsError(f"weights not downloaded: {', '.join(missing)}")
    spec = weights.spec()
    try:
        vae = AutoencoderKL.from_pretrained(weights.vae_dir, local_files_only=True, torch_dtype=torch.float32)
        whisper = WhisperModel.from_pretrained(
            weights.whisper_dir, local_files_only=True, dtype=torch.float32
        ).get_encoder()
    except Exception as exc:
        raise WeightsError(f"could not load the VAE or Whisper weights ({_first_line(exc)})") from exc
    nets = MuseTalkNets(
        spec=spec,
        unet=None,
        vae=vae.eval(),
        whisper=whisper.eval(),
        sources={"unet": str(weights.unet_weights), "vae": str(weights.vae_dir), "whisper": str(weights.whisper_dir)},
    )
    if with_unet:
        load_unet(nets, weights)
    return nets.to(device, dtype)


def load_unet(nets: MuseTalkNets, weights: MuseTalkWeights) -> MuseTalkNets:
    """Load the UNet state dict (weights_only) into ``nets``, on the device and dtype of its VAE."""
    import torch
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

    try:
        state = torch.load(weights.unet_weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"{weights.unet_weights.name} is not a plain tensor checkpoint ({type(exc).__name__})"
        ) from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{weights.unet_weights.name} does not hold a UNet state dict")
    state = {k.removeprefix("module.").removeprefix("model."): v for k, v in state.items()}
    unet = UNet2DConditionModel.from_config(nets.spec.unet)
    try:
        unet.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(
            f"{weights.unet_weights.name} does not fit the MuseTalk UNet layout ({str(exc)[:200]})"
        ) from exc
    nets.unet = unet.eval().to(device=nets.device, dtype=nets.dtype)
    return nets


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def write_random_weights(root: str | os.PathLike, spec: MuseTalkSpec, seed: int = 0) -> MuseTalkWeights:
    """Write random weights in the released file layout under ``root`` (tests and smoke builds).

    Returns the :class:`MuseTalkWeights` pointing at them; :func:`load_released` reads them back
    through exactly the code path used for the real downloads.
    """
    import torch
    from transformers import WhisperModel

    weights = MuseTalkWeights(Path(root))
    nets = build_random(spec, seed)
    weights.unet_weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(nets.unet.state_dict(), weights.unet_weights)
    weights.unet_config.write_text(
        json.dumps({"_class_name": "UNet2DConditionModel", **spec.unet}, indent=2), encoding="utf-8"
    )
    nets.vae.save_pretrained(weights.vae_dir, safe_serialization=True)
    torch.manual_seed(seed + 1)
    model = WhisperModel(_whisper_config(spec.whisper))
    model.encoder.load_state_dict(nets.whisper.state_dict())
    model.save_pretrained(weights.whisper_dir, safe_serialization=True)
    return weights
