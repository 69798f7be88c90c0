"""OpenVoice V2 tone-colour converter: our network loads the released checkpoint layout and converts
TTS speech without moving a single sample of its timing (tiny random weights: code paths, not quality)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engines.voice.openvoice.converter import ConverterLoadError, OpenVoiceConverter  # noqa: E402
from engines.voice.openvoice.network import ConverterConfig, ToneColourConverter  # noqa: E402

# The released config.json's layout, with tiny dimensions (the real one: 192 channels, 512 decoder
# channels, upsampling 8*8*2*2 = hop 256 at 22 050 Hz, gin 256, zero_g true).
TINY_CONFIG = {
    "_version_": "v2",
    "data": {"sampling_rate": 22050, "filter_length": 256, "hop_length": 64, "win_length": 256, "n_speakers": 0},
    "model": {
        "zero_g": True,
        "inter_channels": 16,
        "hidden_channels": 16,
        "filter_channels": 32,
        "n_heads": 2,
        "n_layers": 2,
        "kernel_size": 3,
        "p_dropout": 0.1,
        "resblock": "1",
        "resblock_kernel_sizes": [3, 5],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
        "upsample_rates": [4, 4, 4],
        "upsample_initial_channel": 32,
        "upsample_kernel_sizes": [8, 8, 8],
        "gin_channels": 256,
    },
}

# Parameter names of the released checkpoint (``model`` entry), one from each part of the network.
RELEASED_KEYS = (
    "enc_q.pre.weight",
    "enc_q.enc.in_layers.0.weight_g",
    "enc_q.enc.in_layers.15.weight_v",
    "enc_q.enc.res_skip_layers.15.bias",
    "enc_q.enc.cond_layer.weight_g",
    "enc_q.proj.bias",
    "flow.flows.0.pre.weight",
    "flow.flows.6.enc.in_layers.3.weight_v",
    "flow.flows.6.post.bias",
    "dec.conv_pre.weight",
    "dec.ups.0.weight_g",
    "dec.ups.2.weight_v",
    "dec.resblocks.5.convs1.2.weight_v",
    "dec.resblocks.0.convs2.0.bias",
    "dec.conv_post.weight",
    "dec.cond.weight",
    "ref_enc.convs.5.weight_g",
    "ref_enc.gru.weight_ih_l0",
    "ref_enc.gru.bias_hh_l0",
    "ref_enc.proj.weight",
    "ref_enc.layernorm.weight",
)


def write_checkpoint(folder, config=TINY_CONFIG, seed=0, drop=()):
    """A model folder in the release layout (converter/config.json + converter/checkpoint.pth)."""
    torch.manual_seed(seed)
    model = ToneColourConverter(ConverterConfig.from_json(config))
    for p in model.parameters():  # random, not the zero-initialised couplings of a fresh model
        p.data.normal_(0, 0.3)
    state = {k: v for k, v in model.state_dict().items() if k not in drop}
    conv = folder / "converter"
    conv.mkdir(parents=True, exist_ok=True)
    (conv / "config.json").write_text(json.dumps(config), encoding="utf-8")
    torch.save({"model": state, "iteration": 1}, conv / "checkpoint.pth")
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("openvoice"))


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    from voice_fixtures import make_studio

    return make_studio(tmp_path_factory.mktemp("openvoice_home")).tts().synthesize("Good morning, and welcome back.")


def test_network_uses_the_released_checkpoint_parameter_names():
    keys = set(ToneColourConverter(ConverterConfig.from_json({**TINY_CONFIG})).state_dict())
    assert set(RELEASED_KEYS) <= keys
    assert not any(k.startswith("flow.flows.1.") for k in keys)  # the flips hold no parameters


def test_the_real_config_builds_the_full_size_network():
    cfg = ConverterConfig.from_json(
        {"data": {"sampling_rate": 22050, "filter_length": 1024, "hop_length": 256}, "model": {"zero_g": True}}
    )
    model = ToneColourConverter(cfg)
    assert cfg.spec_channels == 513
    assert model.state_dict()["ref_enc.gru.weight_ih_l0"].shape == (384, 128 * 9)
    assert model.state_dict()["dec.ups.0.weight_g"].shape == (512, 1, 1)  # weight norm over the input axis


def test_conversion_keeps_every_sample_of_timing_and_is_repeatable(model_dir, speech):
    conv = OpenVoiceConverter(model_dir)
    source = conv.tone_colour(speech.audio, speech.sample_rate)
    assert source.shape == (256,) and np.isfinite(source).all()
    target = source + np.random.default_rng(1).normal(0, 0.5, 256).astype(np.float32)
    out = conv.convert(speech.audio, speech.sample_rate, source, target)
    assert out.dtype == np.float32 and len(out) == len(speech.audio)
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0 and np.abs(out).max() > 0
    again = conv.convert(speech.audio, speech.sample_rate, source, target)
    assert np.array_equal(out, again)
    other = conv.convert(speech.audio, speech.sample_rate, source, -target)
    assert not np.allclose(out, other)  # the target tone colour reaches the decoder through the flow
    # Another sample rate in and out: the length still matches to the sample.
    import soxr

    at_24k = soxr.resample(speech.audio, speech.sample_rate, 24_000).astype(np.float32)
    assert len(conv.convert(at_24k, 24_000, source, target)) == len(at_24k)


def test_a_checkpoint_of_another_layout_is_refused_with_the_reason(tmp_path):
    write_checkpoint(tmp_path / "broken", drop=("flow.flows.6.post.bias",))
    with pytest.raises(ConverterLoadError, match="does not match the OpenVoice V2 converter layout.*1 missing"):
        OpenVoiceConverter(tmp_path / "broken")
    with pytest.raises(ConverterLoadError, match="no config.json"):
        OpenVoiceConverter(tmp_path / "empty")


def test_a_profile_speaks_through_the_converter_with_the_default_voices_exact_timings(
    model_dir, tmp_path_factory, monkeypatch
):
    from voice_fixtures import SPEAKERS, make_studio, read_aloud, write

    from studio.errors import InputError
    from studio.voice.profiles import VoiceLibrary
    from studio.voice.speakers import speaker_for

    studio = make_studio(tmp_path_factory.mktemp("openvoice_profile_home"))
    lib = VoiceLibrary(studio.paths, studio=studio)
    audio = read_aloud(None, SPEAKERS[4], 17, sample_rate=44_100)
    lib.add("Eve", write(tmp_path_factory.mktemp("rec") / "eve.wav", audio, 44_100))
    monkeypatch.delenv("STUDIO_OPENVOICE_MODEL_DIR", raising=False)
    with pytest.raises(InputError, match="models fetch openvoice-v2-converter"):
        speaker_for(studio, "Eve", engine="openvoice")
    assert speaker_for(studio, "Eve").describe() == "voice match toward Eve"  # no weights: the offline match

    monkeypatch.setenv("STUDIO_OPENVOICE_MODEL_DIR", str(model_dir))
    speaker = speaker_for(studio, "Eve")  # weights present: the preferred cloning path
    assert speaker.describe() == "OpenVoice V2 tone colour of Eve"
    assert (lib.load("Eve").folder / "openvoice_tone.npz").exists()  # measured once, kept with the voice
    text = "Thanks for watching, see you soon."
    for emotion in ("neutral", "sad"):
        plain = speaker_for(studio, None).synthesize(text, emotion=emotion, rate=speaker._rate)
        cloned = speaker.synthesize(text, emotion=emotion)
        assert len(cloned.audio) == len(plain.audio) and not np.allclose(cloned.audio, plain.audio)
        assert [(p.phoneme, p.start, p.end) for p in cloned.phonemes] == [
            (p.phoneme, p.start, p.end) for p in plain.phonemes
        ]
        assert [w.word for w in cloned.words] == text.split()
    assert speaker_for(studio, "Eve", engine="match").describe() == "voice match toward Eve"
    assert speaker.cache_key() != speaker_for(studio, "Eve", engine="match").cache_key()
