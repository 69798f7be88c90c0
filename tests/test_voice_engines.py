"""Voice back-ends on their own: WORLD voice match, DeepFilterNet noise removal, resemblyzer embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from engines.voice.match import MatchSettings, VoiceTraits, WorldVoiceMatch, _warp_envelope, traits_of


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    from voice_fixtures import make_studio

    studio = make_studio(tmp_path_factory.mktemp("voice_engines_home"))
    return studio.tts().synthesize("The quick brown fox jumps over the lazy dog near the quiet river bank.")


@pytest.fixture(scope="module")
def world():
    return WorldVoiceMatch()


def shifted(traits: VoiceTraits, semitones: float) -> VoiceTraits:
    return VoiceTraits(
        traits.f0_log_mean + semitones * np.log(2) / 12, traits.f0_log_std, traits.envelope_db, traits.voiced_seconds
    )


def test_render_moves_pitch_by_the_asked_semitones_and_keeps_the_length(world, speech):
    analysis = world.analyse(speech.audio, speech.sample_rate)
    out = world.render(
        analysis, MatchSettings(target=shifted(analysis.traits, 5.0), eq_strength=0.0), length=len(speech.audio)
    )
    assert len(out) == len(speech.audio) and out.dtype == np.float32
    measured = traits_of(out, speech.sample_rate)
    before = traits_of(speech.audio, speech.sample_rate)
    semitones = 12 * (measured.f0_log_mean - before.f0_log_mean) / np.log(2)
    assert 4.0 < semitones < 6.0
    assert np.max(np.abs(out)) <= 0.98 + 1e-6


def test_emotion_pitch_and_energy_apply_on_top_of_the_match(world, speech):
    analysis = world.analyse(speech.audio, speech.sample_rate)
    settings = MatchSettings(target=analysis.traits, eq_strength=0.0)
    plain = world.render(analysis, settings)
    lifted = world.render(analysis, settings, pitch_semitones=3.0, energy=0.5)
    up = (
        12
        * (traits_of(lifted, speech.sample_rate).f0_log_mean - traits_of(plain, speech.sample_rate).f0_log_mean)
        / np.log(2)
    )
    assert 2.0 < up < 4.0
    ratio = np.sqrt(np.mean(lifted**2) / np.mean(plain**2))
    assert 0.4 < ratio < 0.6


def test_formant_warp_moves_spectral_peaks_up():
    bins = np.arange(513)
    sp = np.exp(-(((bins - 100) / 10.0) ** 2))[None, :] + 1e-6  # one formant at bin 100
    warped = _warp_envelope(sp, 1.2)
    assert abs(int(np.argmax(warped[0])) - 120) <= 1
    assert _warp_envelope(sp, 1.0) is sp


def test_traits_survive_a_json_round_trip(world, speech):
    settings = MatchSettings(target=traits_of(speech.audio, speech.sample_rate), warp=1.1, eq_strength=0.5, rate=0.95)
    again = MatchSettings.from_dict(settings.to_dict())
    assert again == settings


def test_denoiser_raises_snr_and_keeps_length(speech):
    from engines.voice.enhance import DeepFilterNet

    rng = np.random.default_rng(0)
    clean = speech.audio
    noisy = clean + rng.normal(0, 0.05, len(clean)).astype(np.float32)
    out = DeepFilterNet().enhance(noisy, speech.sample_rate)
    assert len(out) == len(noisy)

    def snr(x):
        return 10 * np.log10(np.sum(clean**2) / np.sum((x - clean) ** 2))

    assert snr(out) > snr(noisy) + 5


def test_embedding_tells_a_pitch_shifted_voice_apart(world, speech):
    from engines.voice.embedding import ResemblyzerEmbedder, cosine

    emb = ResemblyzerEmbedder()
    a = emb.embed(speech.audio, speech.sample_rate)
    assert a.shape == (256,) and abs(np.linalg.norm(a) - 1) < 1e-4
    analysis = world.analyse(speech.audio, speech.sample_rate)
    other = world.render(analysis, MatchSettings(target=shifted(analysis.traits, 9.0), warp=1.2, eq_strength=0.0))
    same = emb.embed(speech.audio * 0.5, speech.sample_rate)
    assert cosine(a, same) > 0.95  # level changes the silence trim a little
    assert cosine(a, emb.embed(other, speech.sample_rate)) < 0.9


def test_syllable_rate_follows_the_speaking_rate(tmp_path_factory):
    from voice_fixtures import READING, make_studio

    from engines.voice.match import syllable_rate

    tts = make_studio(tmp_path_factory.mktemp("rate_home")).tts()

    def reading(rate):
        gap = np.zeros(tts.sample_rate // 2, np.float32)
        return np.concatenate([np.concatenate([tts.synthesize(t, rate=rate).audio, gap]) for t in READING[:4]])

    slow, fast = syllable_rate(reading(0.75), tts.sample_rate), syllable_rate(reading(1.3), tts.sample_rate)
    assert 2.0 < slow < fast < 9.0
    assert fast > 1.12 * slow
    assert syllable_rate(np.zeros(16000, np.float32), 16000) == 0.0


def test_envelope_mapping_moves_the_long_term_spectrum_toward_an_unseen_speaker(world, speech):
    """Measured on its own framing (numpy FFT, 46 ms frames, third-octave bands, the louder half of the frames,
    averaged in dB as a speaker model hears it), not with the matcher's WORLD analysis."""
    from voice_fixtures import SPEAKERS, espeak_say

    target_audio, target_rate = espeak_say(SPEAKERS[0], "The old lighthouse stood on the cliff for a hundred years.")
    target = traits_of(target_audio, target_rate)
    analysis = world.analyse(speech.audio, speech.sample_rate)
    edges = 250 * 2 ** (np.arange(0, 16) / 3)  # 250 Hz .. 8 kHz, third octaves

    def bands(audio, rate):
        frames = np.lib.stride_tricks.sliding_window_view(audio, 1024)[::256] * np.hanning(1024)
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        power = power[power.sum(axis=1) >= np.median(power.sum(axis=1))]
        f = np.fft.rfftfreq(1024, 1 / rate)
        db = np.array(
            [
                np.mean(10 * np.log10(power[:, (f >= lo) & (f < hi)].mean(axis=1) + 1e-14))
                for lo, hi in zip(edges, edges[1:])
            ]
        )
        return db - db.mean()

    goal = bands(target_audio, target_rate)

    def distance(strength):
        out = world.render(analysis, MatchSettings(target=target, eq_strength=strength), source=analysis.traits)
        return float(np.sqrt(np.mean((bands(out, speech.sample_rate) - goal) ** 2)))

    assert distance(1.0) < 0.6 * distance(0.0)  # much closer to the female eSpeak voice's timbre (dB per band)
    assert target.envelope_std_db is not None and len(target.envelope_std_db) == 64
