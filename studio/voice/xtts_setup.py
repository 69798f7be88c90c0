"""Neural cloning with XTTS-v2: optional own environment, model download (CPML licence) and cached latents."""

from __future__ import annotations

import time

from engines.progress import Progress, no_progress
from studio.config import StudioPaths
from studio.errors import InputError, StudioError
from studio.voice.profiles import VoiceLibrary, VoiceProfile


def xtts_status(paths: StudioPaths):
    """The XTTS-v2 runtime status (environment and model files)."""
    from engines.tts.xtts import RuntimeStatus, find_python
    from studio import models

    st = models.status("xtts-v2", paths)
    return RuntimeStatus(python=find_python(), model_dir=st.location if st.state == "ready" else None)


def xtts_ready(paths: StudioPaths) -> bool:
    """True when the XTTS-v2 model is downloaded and its environment is installed."""
    return xtts_status(paths).ready


def _xtts_engine(studio):
    status = xtts_status(studio.paths)
    if not status.ready:
        raise InputError(status.problem())
    return studio.engine("tts", "xtts", model_dir=status.model_dir, python=status.python)


def enable_xtts(studio, name: str, *, accept_license: bool = False, progress: Progress | None = None) -> VoiceProfile:
    """Fetch XTTS-v2 (after the license is accepted) and cache the profile's conditioning latents.

    The latents come from the whole normalised reference, once; synthesis reads only them.
    """
    from engines.tts.xtts import XttsError
    from studio import models

    progress = progress or no_progress
    lib = VoiceLibrary(studio.paths, studio=studio)
    profile = lib.load(name)
    entry = models.entry("xtts-v2")
    if models.status(entry, studio.paths).state != "ready":
        if not accept_license:
            raise InputError(
                f"XTTS-v2 is licensed under {entry.license}: read it, then accept it "
                f"(`python app.py voice clone {profile.key} --accept-license` or the checkbox in the Voice tab)"
            )
        models.fetch("xtts-v2", studio.paths, accept_license=True, progress=lambda f, m: progress(0.7 * f, m))
    engine = _xtts_engine(studio)
    progress(0.75, "computing XTTS-v2 voice latents (loads the model, can take a minute)")
    tmp = profile.folder / ".xtts_latents.part.safetensors"
    try:
        engine.compute_latents(profile.reference_path, tmp)
        tmp.replace(profile.xtts_latents_path)
    except XttsError as exc:
        raise StudioError(f"XTTS-v2 could not read the voice: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    profile.settings["xtts"] = {
        "latents": profile.xtts_latents_path.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    lib.save_settings(profile)
    progress(1.0, "ready")
    return profile
