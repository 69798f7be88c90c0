"""The MuseTalk-1.5-kind network: sizes, loading weights in the released layout, audio windows."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from engines.animate.neural import musetalk
from engines.animate.neural.audio import FEATURE_RATE, WhisperFeatures, frame_windows
from tests.neural_fixtures import scratch, speech_like, tiny_nets, tiny_weights


def test_full_spec_has_the_released_musetalk_shapes():
    spec = musetalk.full_spec()
    spec.check()
    assert spec.image_size == 256 and spec.latent_size == 32 and spec.latent_channels == 4
    assert spec.unet["in_channels"] == 8  # masked + reference latents
    assert spec.unet["cross_attention_dim"] == spec.audio_dim == 384  # Whisper-tiny width
    assert spec.audio_tokens == 50  # 10 steps of 20 ms x 5 hidden states
    assert spec.unet["block_out_channels"] == [320, 640, 1280, 1280]


def test_spec_check_rejects_mismatched_parts():
    spec = musetalk.tiny_spec()
    spec.unet["cross_attention_dim"] = 99
    with pytest.raises(ValueError, match="cross-attention"):
        spec.check()


def test_tiny_network_maps_latents_and_audio_to_a_face_crop():
    nets = tiny_nets()
    spec = nets.spec
    rng = np.random.default_rng(1)
    lat = rng.standard_normal((2, 8, spec.latent_size, spec.latent_size)).astype(np.float32)
    aud = rng.standard_normal((2, spec.audio_tokens, spec.audio_dim)).astype(np.float32)
    out = nets.generate(lat, aud)
    assert out.shape == (2, 3, spec.image_size, spec.image_size)
    assert out.min() >= 0.0 and out.max() <= 1.0
    # Audio drives the picture: other audio tokens give another image from the same latents.
    other = nets.generate(lat, aud[::-1].copy())
    assert np.abs(out[0] - other[0]).mean() > 1e-4


def test_weights_saved_in_the_released_layout_load_back_exactly():
    weights = tiny_weights()
    assert weights.unet_weights.name == "unet.pth" and weights.unet_weights.parent.name == "musetalkV15"
    assert (weights.vae_dir / "diffusion_pytorch_model.safetensors").is_file()
    assert (weights.whisper_dir / "model.safetensors").is_file()
    assert weights.missing() == []
    loaded = tiny_nets()
    fresh = musetalk.build_random(musetalk.tiny_spec(), seed=0)  # what write_random_weights saved
    for a, b in ((loaded.unet, fresh.unet), (loaded.vae, fresh.vae), (loaded.whisper, fresh.whisper)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(np.array_equal(sa[k].numpy(), sb[k].numpy()) for k in sa)
    tiny = musetalk.tiny_spec()  # the sizes come back from the config files shipped beside the weights
    assert (loaded.spec.image_size, loaded.spec.latent_size, loaded.spec.audio_tokens, loaded.spec.audio_dim) == (
        tiny.image_size,
        tiny.latent_size,
        tiny.audio_tokens,
        tiny.audio_dim,
    )


def test_missing_weights_are_named_by_their_model_manager_entry(tmp_path):
    assert musetalk.MuseTalkWeights(tmp_path).missing() == ["musetalk-1.5", "sd-vae-ft-mse", "whisper-tiny"]
    with pytest.raises(musetalk.WeightsError, match="musetalk-1.5"):
        musetalk.load_released(musetalk.MuseTalkWeights(tmp_path))


def _copy_layout(tmp_path):
    import shutil

    shutil.copytree(tiny_weights().root, tmp_path / "models")
    return musetalk.MuseTalkWeights(tmp_path / "models")


class _Payload:
    def __reduce__(self):
        return (print, ("this would run code on load",))


def test_a_unet_checkpoint_that_needs_code_to_load_is_refused(tmp_path):
    weights = _copy_layout(tmp_path)
    weights.unet_weights.write_bytes(pickle.dumps({"conv_in.weight": _Payload()}))
    with pytest.raises(musetalk.WeightsError, match="not a plain tensor checkpoint"):
        musetalk.load_released(weights)


def test_a_unet_checkpoint_of_another_layout_is_refused(tmp_path):
    import torch

    weights = _copy_layout(tmp_path)
    torch.save({"conv_in.weight": torch.zeros(3, 3)}, weights.unet_weights)
    with pytest.raises(musetalk.WeightsError, match="does not fit the MuseTalk UNet layout"):
        musetalk.load_released(weights)


def test_released_loader_can_skip_the_unet_and_add_it_later():
    nets = musetalk.load_released(tiny_weights(), with_unet=False)
    assert nets.unet is None and nets.vae is not None
    musetalk.load_unet(nets, tiny_weights())
    assert nets.unet is not None


def test_reference_latents_hide_the_mouth_half_and_keep_the_reference():
    nets = tiny_nets()
    size = nets.spec.image_size
    crop = np.full((size, size, 3), 120, np.uint8)
    lat = nets.reference_latents(crop)
    assert lat.shape == (8, nets.spec.latent_size, nets.spec.latent_size)
    masked, reference = lat[:4], lat[4:]
    half = nets.spec.latent_size // 2
    # The top halves saw the same pixels; the bottom half of the masked input saw black.
    assert (
        np.abs(masked[:, : half - 1] - reference[:, : half - 1]).mean()
        < np.abs(masked[:, half + 1 :] - reference[:, half + 1 :]).mean()
    )
    with pytest.raises(ValueError, match="pixels"):
        nets.reference_latents(np.zeros((size + 1, size, 3), np.uint8))


def test_whisper_features_come_at_fifty_steps_per_second_with_every_layer():
    nets = tiny_nets()
    feats = WhisperFeatures(nets.whisper).encode(speech_like(1.3, 22_050), 22_050)
    assert feats.shape == (int(np.ceil(1.3 * FEATURE_RATE)), nets.spec.audio_layers, nets.spec.audio_dim)
    assert np.isfinite(feats).all()


def test_frame_windows_take_ten_steps_around_each_frame_and_pad_with_silence():
    steps = 100
    feats = np.arange(steps, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)
    tokens = frame_windows(feats, [0, 10], fps=25, before=2, after=2)
    assert tokens.shape == (2, 10 * 2, 3)
    first = tokens[0, ::2, 0]  # one value per 20 ms step (layers are interleaved)
    np.testing.assert_array_equal(first, [0, 0, 0, 0, 0, 1, 2, 3, 4, 5])  # four steps before 0 are silence
    np.testing.assert_array_equal(tokens[1, ::2, 0], np.arange(16, 26))  # frame 10 = step 20, from step 16
    later = frame_windows(feats, [10], fps=25, offset_s=0.04)  # mouth 40 ms later = 2 steps earlier audio
    np.testing.assert_array_equal(later[0, ::2, 0], np.arange(14, 24))


def test_scratch_folder_is_shared():
    assert scratch() == scratch()


def test_model_manager_entries_download_exactly_the_files_the_loader_reads(tmp_path):
    from studio import models

    for name in ("musetalk-1.5", "sd-vae-ft-mse", "whisper-tiny"):
        entry = models.entry(name)
        assert entry.license and entry.commercial_use  # shown before download
        (src,) = [s for s in entry.sources if s["kind"] == "hf"]
        for f in src["files"]:  # where models.fetch puts each file
            target = tmp_path / name / f["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"")
    assert models.entry("musetalk-1.5").requires_license_acceptance
    assert all(f.get("sha256") for f in models.entry("sd-vae-ft-mse").sources[0]["files"])
    assert all(f.get("sha256") for f in models.entry("whisper-tiny").sources[0]["files"])
    assert musetalk.MuseTalkWeights(tmp_path).missing() == []


def test_lipsync_download_shows_every_license_first_and_pins_unet_pth_by_its_first_sha256(tmp_path, monkeypatch):
    from studio import models
    from studio.config import StudioPaths
    from studio.errors import InputError

    paths = StudioPaths(tmp_path / "home").ensure()

    def fake_download(url, folder, fname, sha, unpack, progress):  # what pooch would leave behind
        (folder / fname).parent.mkdir(parents=True, exist_ok=True)
        (folder / fname).write_bytes(f"weights of {fname}".encode())

    monkeypatch.setattr(models, "_download", fake_download)
    with pytest.raises(InputError) as refused:
        models.fetch("musetalk-1.5", paths)
    said = str(refused.value)
    assert "OpenRAIL" in said and "sd-vae-ft-mse (MIT" in said and "whisper-tiny (Apache-2.0" in said
    models.fetch("musetalk-1.5", paths, accept_license=True)
    record = json.loads((paths.models / "musetalk-1.5" / ".complete").read_text())
    assert set(record["sha256"]) == {"musetalkV15/unet.pth", "musetalkV15/musetalk.json"}
    rows = {r["name"]: r for r in models.verify(paths)}
    assert rows["musetalk-1.5"]["ok"] is True and "2 file(s) checked" in rows["musetalk-1.5"]["detail"]
    (paths.models / "musetalk-1.5" / "musetalkV15" / "unet.pth").write_bytes(b"swapped weights")
    rows = {r["name"]: r for r in models.verify(paths)}
    assert rows["musetalk-1.5"]["ok"] is False and "unet.pth" in rows["musetalk-1.5"]["detail"]


def test_the_vae_and_whisper_downloads_are_pinned_to_a_revision_and_sha256():
    from studio import models

    for name in ("sd-vae-ft-mse", "whisper-tiny"):
        (src,) = models.entry(name).sources
        assert len(src["revision"]) == 40
        assert all(len(f.get("sha256", "")) == 64 for f in src["files"])
        urls = [url for url, *_ in models._download_list(src)]
        assert all(f"/resolve/{src['revision']}/" in url for url in urls)
