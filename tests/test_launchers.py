"""The one-click launchers: launch.sh runs for real against a fake Python, pip and nvidia-smi; launch.bat
is kept in step with it by reading both files (there is no Windows in CI) and, where Wine and MinGW are
installed (Debian wine64, gcc-mingw-w64-x86-64-win32; not in CI), by running it under Wine's cmd with a
fake python.exe and checking it makes the same calls as launch.sh.

The fake Python stands in for both the system Python 3.11 and the .venv one: it records every call and
keeps a small JSON file of "installed" packages, so a test can check what a creator's environment ends
up holding (GPU set, CPU set) and not only which commands ran.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SH = (ROOT / "launch.sh").read_text(encoding="utf-8")
BAT_BYTES = (ROOT / "launch.bat").read_bytes()
BAT = BAT_BYTES.decode("ascii", errors="replace")

FAKE_PYTHON = r"""
import json, os, re, shutil, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as fh:
    fh.write(json.dumps(args) + "\n")
state_file = Path(os.environ["FAKE_STATE"])
state = json.loads(state_file.read_text()) if state_file.exists() else {}

def canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()

def pins(path):
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            out += pins(Path(path).parent / line[3:].strip())
        elif line and not line.startswith("-"):
            m = re.match(r"([A-Za-z0-9_.-]+)\s*(?:==\s*(\S+))?", line)
            out.append((m.group(1), m.group(2) or "1.0"))
    return out

def install(name, version):
    have = state.get(canon(name))
    if have and have.split("+")[0] == version.split("+")[0] and "+" not in version:
        return  # like pip: torch==2.13.0 is satisfied by 2.13.0+cu130
    state[canon(name)] = version

def gpu_dists():
    gpu = [n for n in state if n.startswith(("onnxruntime-gpu", "tensorrt"))]
    return sorted(gpu + ["torch"] * ("+cu" in state.get("torch", "")))

code = 0
if args[:2] == ["-m", "venv"]:
    folder = Path(args[2]) / "bin"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(sys.argv[0], folder / "python")
    state = {"pip": "24.0"}
elif args[:2] == ["-m", "pip"]:
    words = [w for w in args[2:] if w not in ("--quiet", "-y", "--upgrade", "--no-deps")]
    failing = os.environ.get("FAKE_PIP_FAIL")
    if words[0] == "install":
        if words[1] == "-r":
            wanted = pins(words[2])
        else:
            wanted = [tuple(w.split("==")) if "==" in w else (re.split("[<>]", w)[0], "1.0") for w in words[1:]]
        if failing and failing in " ".join(words):
            wanted, code = wanted[:1], 1  # a download broke off after the first package
        for name, version in wanted:
            install(name, version)
    elif words[0] == "uninstall":
        for name in words[1:]:
            state.pop(canon(name), None)
elif args[:1] == ["-c"]:
    if "importlib.metadata" in args[1]:
        print(*gpu_dists())
    else:
        missing = [m for m in os.environ.get("FAKE_MISSING", "").split() if re.search(rf"\b{m}\b", args[1])]
        code = 1 if missing else 0
state_file.write_text(json.dumps(state))
sys.exit(code)
"""


def _tool(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class Launch:
    """A scratch copy of launch.sh and the requirement files, run with fakes on PATH."""

    def __init__(self, tmp: Path, *, gpu: bool):
        self.dir = tmp / "studio"
        self.dir.mkdir()
        for name in ["launch.sh", *(p.name for p in ROOT.glob("requirements*.txt"))]:
            (self.dir / name).write_bytes((ROOT / name).read_bytes())
        (self.dir / "launch.sh").chmod(0o755)
        self.bin = tmp / "bin"
        self.python = _tool(self.bin, "python3.11", f"#!{sys.executable}\n{FAKE_PYTHON}")
        smi = 'echo "NVIDIA GeForce RTX 4070, 581.57"' if gpu else 'echo "NVIDIA-SMI has failed" >&2; exit 9'
        _tool(self.bin, "nvidia-smi", f"#!/bin/sh\n{smi}\n")
        self.log = tmp / "calls.jsonl"
        self.state = tmp / "installed.json"

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        self.log.write_text("")
        full_env = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "PYTHON": str(self.python),
            "FAKE_LOG": str(self.log),
            "FAKE_STATE": str(self.state),
            **env,
        }
        if "STUDIO_GPU" not in env:
            full_env.pop("STUDIO_GPU", None)  # the creator's own setting must not leak into the test
        return subprocess.run(
            ["bash", "launch.sh", *args], cwd=self.dir, env=full_env, capture_output=True, text=True, timeout=120
        )

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def pip_calls(self) -> list[list[str]]:
        return [c[2:] for c in self.calls() if c[:2] == ["-m", "pip"]]

    def installed(self) -> dict[str, str]:
        return json.loads(self.state.read_text())

    def stamps(self) -> list[str]:
        return sorted(p.name for p in (self.dir / ".venv").glob(".installed-*"))


def _gpu_pins() -> dict[str, str]:
    text = (ROOT / "requirements-gpu.txt").read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", text, re.M))


def _cpu_pins() -> dict[str, str]:
    text = (ROOT / "requirements.txt").read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M))


def test_gpu_machine_gets_the_pinned_gpu_set_in_place_of_onnxruntime(tmp_path):
    launch = Launch(tmp_path, gpu=True)
    proc = launch.run("test", "-q", "-k", "a b", FAKE_MISSING="llama_cpp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NVIDIA GPU found" in proc.stdout

    pip = launch.pip_calls()
    gpu_install = pip.index(["--quiet", "install", "-r", "requirements-gpu.txt"])
    assert ["--quiet", "uninstall", "-y", "onnxruntime", "onnxruntime-gpu"] in pip[:gpu_install]
    assert pip.index(["--quiet", "install", "-r", "requirements-dev.txt"]) < gpu_install
    assert ["--quiet", "install", "--no-deps", "face-alignment==1.5.0"] in pip
    assert ["--quiet", "install", "llama-cpp-python==0.3.36"] in pip
    assert "note: llama-cpp-python could not be built" in proc.stdout

    installed = launch.installed()
    for name, version in _gpu_pins().items():
        assert installed[name] == version
    assert "onnxruntime" not in installed  # exactly one of onnxruntime / onnxruntime-gpu
    assert installed["gradio"] == _cpu_pins()["gradio"]  # the rest of the CPU set stays

    calls = launch.calls()
    assert ["app.py", "models", "prepare"] in calls
    assert calls[-1] == ["-m", "pytest", "-q", "-k", "a b"]  # the arguments after `test`, untouched
    (stamp,) = launch.stamps()
    assert stamp.endswith("-requirements-dev-gpu")


def test_second_start_installs_nothing_until_a_requirements_file_changes(tmp_path):
    launch = Launch(tmp_path, gpu=True)
    assert launch.run("doctor").returncode == 0
    proc = launch.run("doctor", "--quick")
    assert proc.returncode == 0 and "Setting up" not in proc.stdout
    assert launch.pip_calls() == []
    assert launch.calls() == [["app.py", "models", "prepare"], ["app.py", "doctor", "--quick"]]

    launch.run("doctor", STUDIO_GPU="on")  # asking for the GPU set it already has installs nothing
    assert launch.pip_calls() == []

    with open(launch.dir / "requirements-gpu.txt", "a") as fh:
        fh.write("# a pin changed\n")
    launch.run("doctor")
    assert ["--quiet", "install", "-r", "requirements-gpu.txt"] in launch.pip_calls()


def test_failed_gpu_install_puts_back_the_cpu_set_says_so_and_retries_only_when_asked(tmp_path):
    launch = Launch(tmp_path, gpu=True)
    proc = launch.run(FAKE_PIP_FAIL="requirements-gpu.txt")
    assert proc.returncode == 0, proc.stderr
    assert "note: the GPU set could not be installed" in proc.stdout and "STUDIO_GPU=on" in proc.stdout
    installed = launch.installed()
    # The download broke off after the CUDA torch: it is replaced by the CPU one again.
    assert installed["torch"] == _cpu_pins()["torch"] and installed["onnxruntime"] == _cpu_pins()["onnxruntime"]
    assert not [n for n in installed if n.startswith(("onnxruntime-gpu", "tensorrt"))]
    assert (launch.dir / ".venv" / ".gpu-failed").exists()
    assert launch.calls()[-1] == ["app.py"]  # the studio still starts

    launch.run()
    assert launch.pip_calls() == []  # an offline creator is not made to wait on every start

    launch.run(STUDIO_GPU="on")
    assert ["--quiet", "install", "-r", "requirements-gpu.txt"] in launch.pip_calls()
    assert launch.installed()["torch"] == _gpu_pins()["torch"]
    assert not (launch.dir / ".venv" / ".gpu-failed").exists()


def test_machine_whose_nvidia_driver_does_not_answer_gets_the_cpu_set(tmp_path):
    launch = Launch(tmp_path, gpu=False)
    proc = launch.run()
    assert proc.returncode == 0, proc.stderr
    assert not [c for c in launch.pip_calls() if "requirements-gpu.txt" in c]
    installed = launch.installed()
    assert installed["torch"] == _cpu_pins()["torch"] and installed["onnxruntime"] == _cpu_pins()["onnxruntime"]
    assert launch.stamps()[0].endswith("-requirements-cpu")


def test_studio_gpu_off_goes_back_to_the_cpu_set(tmp_path):
    launch = Launch(tmp_path, gpu=True)
    launch.run()
    assert launch.installed()["onnxruntime-gpu"] == _gpu_pins()["onnxruntime-gpu"]
    proc = launch.run(STUDIO_GPU="off")
    assert proc.returncode == 0, proc.stderr
    assert "Removing the GPU set" in proc.stdout
    installed = launch.installed()
    assert installed["torch"] == _cpu_pins()["torch"] and installed["onnxruntime"] == _cpu_pins()["onnxruntime"]
    assert not [n for n in installed if n.startswith(("onnxruntime-gpu", "tensorrt"))]
    assert not [c for c in launch.pip_calls() if "requirements-gpu.txt" in c]


def test_arguments_reach_app_py_untouched_and_a_bad_switch_is_one_error_line(tmp_path):
    launch = Launch(tmp_path, gpu=False)
    assert launch.run("render", "--text", "Hello, world", "--out", "my video.mp4").returncode == 0
    assert launch.calls()[-1] == ["app.py", "render", "--text", "Hello, world", "--out", "my video.mp4"]

    proc = launch.run(STUDIO_GPU="maybe")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: STUDIO_GPU must be on, off or auto (it is 'maybe')"]


def test_gpu_package_query_finds_the_gpu_set_and_nothing_else(tmp_path):
    """The launchers' own query (the same text in both), run by the real Python over fake installed packages."""
    site = tmp_path / "site"
    for name, version in [
        ("torch", "2.13.0+cu130"),
        ("onnxruntime_gpu", "1.31.1"),
        ("tensorrt_cu13_libs", "10.16.1.11"),
        ("onnxruntime", "1.31.1"),
        ("gradio", "6.31.0"),
    ]:
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    code = re.search(r'^GPU_DISTS_PY="(.+)"$', SH, re.M).group(1)
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); exec({code!r})"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["onnxruntime_gpu", "tensorrt_cu13_libs", "torch"]


# ---------------------------------------------------------------- launch.bat kept in step


def test_both_launchers_pin_the_same_versions():
    def pinned(text: str) -> set[str]:
        return set(re.findall(r"[A-Za-z][\w.-]*==[\w.+]+", text))

    assert pinned(SH) == pinned(BAT)
    assert {"face-alignment==1.5.0", "llama-cpp-python==0.3.36", "coqui-tts==0.28.0"} <= pinned(SH)


def test_both_launchers_read_the_same_requirement_files_and_run_the_same_steps():
    files = {"requirements.txt", "requirements-dev.txt", "requirements-gpu.txt"}
    for text in (SH, BAT):
        assert files <= set(re.findall(r"requirements[\w-]*\.txt", text))
    steps = [
        "-m venv",  # the environment
        '"pip<27"',
        "import torch, onnxruntime, piper, dlib, gradio, av",  # the requirements really import
        "install --no-deps",  # FAN without its OpenCV
        "import llama_cpp",  # the script assistant's attempt
        "nvidia-smi",
        "uninstall -y onnxruntime onnxruntime-gpu",  # the GPU set replaces onnxruntime
        "import torch, onnxruntime, tensorrt",  # ... and is checked
        ".gpu-failed",
        ".installed-",  # the stamp
        "app.py models prepare",
        "-m pytest",
    ]
    for step in steps:
        assert step in SH and step in BAT, step
    sh_query = re.search(r'^GPU_DISTS_PY="(.+)"$', SH, re.M).group(1)
    assert sh_query in BAT  # the same packages count as the GPU set


def test_both_launchers_have_the_same_modes_and_switches():
    sh_modes = set(re.findall(r'"\$mode" = "(\w+)"', SH))
    bat_modes = set(re.findall(r'"%MODE%"=="(\w+)"', BAT))
    assert sh_modes == bat_modes == {"test", "xtts"}
    for text in (SH, BAT):
        assert "STUDIO_GPU" in text and "PYTHON" in text
    assert re.search(r'"%STUDIO_GPU%"=="off"', BAT) and re.search(r'"%STUDIO_GPU%"=="on"', BAT)
    assert "py -3.11" in BAT


def test_launch_bat_is_plain_ascii_with_windows_line_endings():
    """cmd.exe reads batch files in the console code page and mis-jumps to labels in LF-only files."""
    assert BAT_BYTES.decode("ascii")
    lines = BAT_BYTES.split(b"\n")[:-1]
    assert lines and all(line.endswith(b"\r") for line in lines)


def test_gpu_set_is_one_cuda_line_matching_the_cpu_set_and_the_device_check():
    from studio.ops import device

    text = (ROOT / "requirements-gpu.txt").read_text()
    pins, cpu = _gpu_pins(), _cpu_pins()
    index_cuda = re.search(r"download\.pytorch\.org/whl/cu(\d+)", text).group(1)
    assert pins["torch"] == f"{cpu['torch']}+cu{index_cuda}"  # the same torch, PyTorch's CUDA build
    assert pins["onnxruntime-gpu"] == cpu["onnxruntime"]  # the same ONNX Runtime release
    trt_cuda = next(n for n in pins if n.startswith("tensorrt")).rsplit("cu", 1)[1]
    assert index_cuda.startswith(trt_cuda) and device.GPU_CUDA.replace(".", "") == index_cuda
    assert "https://pypi.nvidia.com" in text  # where TensorRT's libraries come from


# ---------------------------------------------------------------- launch.bat run for real, under Wine

FAKE_EXE_C = r"""
/* python.exe and nvidia-smi.exe for launch.bat under Wine: records calls, answers the launcher's questions. */
#include <windows.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

static int has_any(const char *text, const char *words) {
    char buf[4096];
    if (!words || !*words) return 0;
    strncpy(buf, words, sizeof buf - 1); buf[sizeof buf - 1] = 0;
    for (char *w = strtok(buf, " "); w; w = strtok(NULL, " ")) if (strstr(text, w)) return 1;
    return 0;
}

int main(int argc, char **argv) {
    char self[MAX_PATH];
    GetModuleFileNameA(NULL, self, MAX_PATH);
    const char *base = strrchr(self, '\\') ? strrchr(self, '\\') + 1 : self;
    if (_strnicmp(base, "nvidia-smi", 10) == 0) return getenv("FAKE_SMI_RC") ? atoi(getenv("FAKE_SMI_RC")) : 0;
    FILE *log = fopen(getenv("FAKE_LOG"), "ab");
    for (int i = 1; i < argc; i++) fprintf(log, "%s%s", i > 1 ? "\x1f" : "", argv[i]);
    fprintf(log, "\n");
    fclose(log);
    if (argc >= 4 && !strcmp(argv[1], "-m") && !strcmp(argv[2], "venv")) {
        char dir[MAX_PATH], exe[MAX_PATH];
        CreateDirectoryA(argv[3], NULL);
        snprintf(dir, sizeof dir, "%s\\Scripts", argv[3]);
        CreateDirectoryA(dir, NULL);
        snprintf(exe, sizeof exe, "%s\\python.exe", dir);
        return CopyFileA(self, exe, FALSE) ? 0 : 1;
    }
    if (argc >= 3 && !strcmp(argv[1], "-m") && !strcmp(argv[2], "pip")) {
        for (int i = 3; i < argc; i++) if (has_any(argv[i], getenv("FAKE_PIP_FAIL"))) return 1;
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "-c")) {
        const char *dists = getenv("FAKE_GPU_DISTS");
        if (strstr(argv[2], "importlib.metadata")) { printf("%s\n", dists ? dists : ""); return 0; }
        if (strstr(argv[2], "hashlib")) { printf("0123456789abcdef\n"); return 0; }
        return has_any(argv[2], getenv("FAKE_MISSING"));
    }
    return 0;
}
"""
WINE = shutil.which("wine64") or next((p for p in ("/usr/lib/wine/wine64",) if os.path.exists(p)), None)
MINGW = shutil.which("x86_64-w64-mingw32-gcc")


@pytest.fixture(scope="module")
def wine_fakes(tmp_path_factory):
    if not (WINE and MINGW):
        pytest.skip("needs Wine (Debian wine64) and MinGW (gcc-mingw-w64-x86-64-win32) to run launch.bat on Linux")
    folder = tmp_path_factory.mktemp("winfakes")
    (folder / "fake.c").write_text(FAKE_EXE_C)
    subprocess.run([MINGW, "-O1", "-o", str(folder / "python.exe"), str(folder / "fake.c")], check=True)
    shutil.copy(folder / "python.exe", folder / "nvidia-smi.exe")
    return folder


def _windows_path(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")


class LaunchBat:
    def __init__(self, tmp: Path, fakes: Path):
        self.dir = tmp / "bat"
        self.dir.mkdir()
        for name in ["launch.bat", *(p.name for p in ROOT.glob("requirements*.txt"))]:
            (self.dir / name).write_bytes((ROOT / name).read_bytes())
        self.fakes, self.prefix, self.log = fakes, fakes / "wineprefix", tmp / "bat-calls.log"

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        self.log.write_bytes(b"")
        full_env = {k: v for k, v in os.environ.items() if k != "STUDIO_GPU"}
        full_env.update(WINEPREFIX=str(self.prefix), WINEDEBUG="-all", FAKE_LOG=_windows_path(self.log))
        full_env.update(PYTHON=_windows_path(self.fakes / "python.exe"), WINEPATH=_windows_path(self.fakes), **env)
        return subprocess.run(
            [WINE, "cmd", "/c", "launch.bat", *args],
            cwd=self.dir,
            env=full_env,
            capture_output=True,
            stdin=subprocess.DEVNULL,  # `cmd /c launch.bat` looks like a double-click: the pause after an error
            timeout=300,
        )

    def calls(self) -> list[list[str]]:
        lines = self.log.read_bytes().decode().splitlines()
        # the version check and the requirements hash are Python calls on Windows only (launch.sh: PYTHON, sha256sum)
        return [
            c for c in (line.split("\x1f") for line in lines) if "version_info" not in c[-1] and "hashlib" not in c[-1]
        ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "args", "sh_env", "bat_env"),
    [
        ("gpu, test mode", ["test", "-q", "-k", "a b"], {"FAKE_MISSING": "llama_cpp"}, {"FAKE_MISSING": "llama_cpp"}),
        ("gpu install fails", [], {"FAKE_PIP_FAIL": "requirements-gpu.txt"},
         {"FAKE_PIP_FAIL": "requirements-gpu.txt", "FAKE_GPU_DISTS": "torch"}),
        ("no driver", ["render", "--text", "Hello, world", "--out", "my video.mp4"], {"NO_GPU": "1"},
         {"FAKE_SMI_RC": "9"}),
        ("gpu switched off", ["doctor"], {"STUDIO_GPU": "off"}, {"STUDIO_GPU": "off"}),
        ("xtts", ["xtts"], {}, {}),
    ],
)  # fmt: skip
def test_launch_bat_under_wine_makes_the_same_calls_as_launch_sh(tmp_path, wine_fakes, scenario, args, sh_env, bat_env):
    sh = Launch(tmp_path, gpu="NO_GPU" not in sh_env)
    sh_proc = sh.run(*args, **{k: v for k, v in sh_env.items() if k != "NO_GPU"})
    bat = LaunchBat(tmp_path, wine_fakes)
    bat_proc = bat.run(*args, **bat_env)
    assert sh_proc.returncode == 0 and bat_proc.returncode == 0, bat_proc.stdout + bat_proc.stderr
    sh_calls = [c for c in sh.calls() if "importlib.metadata" not in c[-1]]
    bat_calls = [c for c in bat.calls() if "importlib.metadata" not in c[-1]]
    assert bat_calls == sh_calls, scenario
    assert sorted(p.name for p in (bat.dir / ".venv").glob(".installed-*"))[:1] == [
        s.replace(s.split("-")[1], "0123456789abcdef") for s in sh.stamps()[:1]
    ]


@pytest.mark.slow
def test_launch_bat_under_wine_retries_the_gpu_set_only_when_asked_and_incomplete(tmp_path, wine_fakes):
    bat = LaunchBat(tmp_path, wine_fakes)
    assert bat.run("doctor").returncode == 0
    complete = {"FAKE_GPU_DISTS": "onnxruntime_gpu tensorrt_cu13 torch"}
    assert bat.run("doctor", STUDIO_GPU="on", **complete).returncode == 0
    assert [c for c in bat.calls() if c[:2] == ["-m", "pip"]] == []
    assert bat.run("doctor", STUDIO_GPU="on", FAKE_GPU_DISTS="").returncode == 0
    assert ["-m", "pip", "--quiet", "install", "-r", "requirements-gpu.txt"] in bat.calls()


@pytest.mark.slow
def test_launch_bat_under_wine_rejects_a_bad_switch_and_skips_set_up_once_stamped(tmp_path, wine_fakes):
    bat = LaunchBat(tmp_path, wine_fakes)
    proc = bat.run(STUDIO_GPU="maybe")
    assert proc.returncode == 2 and b"error: STUDIO_GPU must be on, off or auto (it is 'maybe')" in proc.stderr
    assert bat.run("doctor").returncode == 0
    assert bat.run("doctor", "--quick").returncode == 0
    assert bat.calls() == [["app.py", "models", "prepare"], ["app.py", "doctor", "--quick"]]
