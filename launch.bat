@echo off
rem Avatar Studio - one-click set-up and launch (Windows). launch.sh does the same, step for step,
rem on Linux/macOS; tests/test_launchers.py keeps the two in step.
rem
rem   launch.bat              install if needed, then start the studio on http://127.0.0.1:7860
rem   launch.bat test ARGS    install if needed (with test tools), then run the test suite (pytest ARGS)
rem   launch.bat xtts         make the separate voice-cloning environment (.venv-xtts)
rem   launch.bat ARGS...      install if needed, then run "python app.py ARGS..." (e.g. doctor, render ...)
rem
rem Set-up creates .venv with Python 3.11, installs requirements.txt (requirements-dev.txt for "test"),
rem face-alignment without its dependencies, tries to compile llama-cpp-python for the script assistant
rem (optional: the studio works without it) and, when nvidia-smi works, the NVIDIA GPU set of
rem requirements-gpu.txt (CUDA build of torch, onnxruntime-gpu, TensorRT; the CPU set stays if that fails).
rem It runs again when a requirements file changes or the wanted set (GPU or CPU) does. Every start joins
rem the bundled model parts into the data folder with sha256 checks (fast once done).
rem
rem   set STUDIO_GPU=off   the CPU set, even with an NVIDIA GPU (removes the GPU set if it is installed)
rem   set STUDIO_GPU=on    the GPU set, even where nvidia-smi is missing; retries it after a failed install
rem   set STUDIO_GPU=auto  the default (the same as unset): the GPU set when nvidia-smi works
rem   (setx STUDIO_GPU off keeps a setting for every new window and for double-clicks)
rem   set PYTHON=...       the Python 3.11 that makes .venv (default: py -3.11, else python on PATH)
rem
rem Written without parenthesised blocks (cmd expands the variables of a whole block at once) and
rem with "if errorlevel" lines, not the double-bar and double-ampersand operators, which Wine 8's cmd
rem (used to try this file on Linux) runs wrongly.
setlocal EnableExtensions DisableDelayedExpansion
cd /d "%~dp0"
rem Started by a double-click: keep the window open after an error, so it can be read.
set "DOUBLE_CLICKED=0"
echo %CMDCMDLINE% | find /i "%~nx0" >nul 2>nul
if not errorlevel 1 set "DOUBLE_CLICKED=1"

set "VENV=.venv"
set "VPY=.venv\Scripts\python.exe"
set "TMPFILE=%TEMP%\avatar-studio-%RANDOM%.txt"
set "PY=python"
where py >nul 2>nul
if not errorlevel 1 set "PY=py -3.11"
if defined PYTHON set PY="%PYTHON%"
%PY% -c "import sys; sys.exit(sys.version_info[:2] != (3, 11))" >nul 2>nul
if not errorlevel 1 goto :python_found
if defined PYTHON goto :no_python
rem The py launcher without a 3.11: perhaps the python on PATH is one.
set "PY=python"
%PY% -c "import sys; sys.exit(sys.version_info[:2] != (3, 11))" >nul 2>nul
if errorlevel 1 goto :no_python
:python_found

set "MODE=%~1"
if /i "%MODE%"=="xtts" goto :xtts

rem The package set: GPU when an NVIDIA driver answers, unless STUDIO_GPU says otherwise.
set "PKGSET=cpu"
if "%STUDIO_GPU%"=="off" goto :pkgset_known
if "%STUDIO_GPU%"=="on" set "PKGSET=gpu"
if "%STUDIO_GPU%"=="on" goto :pkgset_known
if not "%STUDIO_GPU%"=="" if not "%STUDIO_GPU%"=="auto" goto :bad_switch
where nvidia-smi >nul 2>nul
if errorlevel 1 goto :pkgset_known
nvidia-smi >nul 2>nul
if not errorlevel 1 set "PKGSET=gpu"
:pkgset_known
set "REQS=requirements.txt"
if /i "%MODE%"=="test" set "REQS=requirements-dev.txt"
set "REQHASH="
%PY% -c "import hashlib, pathlib; print(hashlib.sha256(b''.join(p.read_bytes() for p in sorted(pathlib.Path().glob('requirements*.txt')))).hexdigest()[:16])" > "%TMPFILE%"
set /p REQHASH=<"%TMPFILE%"
del /q "%TMPFILE%" 2>nul
set "STAMP=%VENV%\.installed-%REQHASH%-%REQS:~0,-4%-%PKGSET%"

rem Installed packages of the GPU set (onnxruntime-gpu, TensorRT, a torch from PyTorch's CUDA index).
set "GPU_DISTS_PY=import importlib.metadata as m; print(*sorted({str(d.name) for d in m.distributions() if str(d.name).lower().replace('_', '-').startswith(('onnxruntime-gpu', 'tensorrt')) or (str(d.name).lower() == 'torch' and '+cu' in d.version)}))"

rem A failed GPU install is not retried on every start (the creator may be offline): STUDIO_GPU=on installs
rem the GPU set again whenever onnxruntime-gpu is missing.
if not "%STUDIO_GPU%"=="on" goto :stamp_check
if not exist "%STAMP%" goto :stamp_check
call :gpu_dists
set "PROBE=x%GPU_DISTS%"
if "%PROBE:onnxruntime=%"=="%PROBE%" del /q "%STAMP%"
:stamp_check
if exist "%STAMP%" goto :prepare
call :setup
if errorlevel 1 goto :fail

:prepare
rem Join the bundled model parts (checked against their sha256) once; fast when already done.
"%VPY%" app.py models prepare
if errorlevel 1 goto :fail
if /i "%MODE%"=="test" goto :run_tests
if "%MODE%"=="" goto :run_studio
"%VPY%" app.py %*
set "RC=%errorlevel%"
goto :finish

:run_studio
"%VPY%" app.py
set "RC=%errorlevel%"
goto :finish

:run_tests
set "REST="
shift
:rest_loop
if "%~1"=="" goto :rest_done
set REST=%REST% %1
shift
goto :rest_loop
:rest_done
"%VPY%" -m pytest %REST%
set "RC=%errorlevel%"
goto :finish

:fail
set "RC=2"
:finish
if "%DOUBLE_CLICKED%"=="1" if not "%RC%"=="0" pause
exit /b %RC%

rem ------------------------------------------------------------------ set-up steps (call :name)
:setup
echo Setting up Avatar Studio (first run: a few minutes; the script assistant compiles for several more)...
if not exist "%VPY%" %PY% -m venv %VENV%
if not exist "%VPY%" goto :no_venv
"%VPY%" -m pip --quiet install --upgrade "pip<27"
if "%PKGSET%"=="cpu" call :remove_gpu_set
call :install_requirements
if errorlevel 1 exit /b 2
rem Stronger landmarks (FAN): its package asks for opencv-python, which would clash with the
rem headless OpenCV already installed, so it goes in without its dependencies (they are in requirements.txt).
"%VPY%" -m pip --quiet install --no-deps face-alignment==1.5.0
"%VPY%" -c "import llama_cpp" >nul 2>nul
if errorlevel 1 call :llama
if "%PKGSET%"=="cpu" goto :setup_done
call :install_gpu_set
if errorlevel 1 exit /b 2
:setup_done
del /q "%VENV%\.installed-*" 2>nul
type nul > "%STAMP%"
exit /b 0

:install_requirements
"%VPY%" -m pip --quiet install -r %REQS%
"%VPY%" -c "import torch, onnxruntime, piper, dlib, gradio, av"
if not errorlevel 1 exit /b 0
echo error: installing the requirements failed (see the messages above): check your internet connection and run launch.bat again 1>&2
exit /b 2

:llama
echo Compiling the local script assistant (llama-cpp-python; needs the Visual Studio C++ Build Tools)...
"%VPY%" -m pip --quiet install llama-cpp-python==0.3.36
"%VPY%" -c "import llama_cpp" >nul 2>nul
if errorlevel 1 echo note: llama-cpp-python could not be built here; the script assistant will use a slower engine or templates
exit /b 0

:remove_gpu_set
rem requirements.txt puts the CPU torch and onnxruntime back afterwards.
call :gpu_dists
if "%GPU_DISTS%"=="" exit /b 0
echo Removing the GPU set (%GPU_DISTS%): the studio will render on the CPU...
rem onnxruntime and onnxruntime-gpu share one folder: both go, requirements.txt puts back the CPU one.
"%VPY%" -m pip --quiet uninstall -y onnxruntime %GPU_DISTS%
exit /b 0

:gpu_dists
rem GPU_DISTS = the installed packages of the GPU set, space-separated (empty when none).
set "GPU_DISTS="
"%VPY%" -c "%GPU_DISTS_PY%" > "%TMPFILE%"
set /p GPU_DISTS=<"%TMPFILE%"
del /q "%TMPFILE%" 2>nul
exit /b 0

:install_gpu_set
echo NVIDIA GPU found: installing the GPU set of requirements-gpu.txt (CUDA build of torch, ONNX Runtime GPU, TensorRT; a few GB)...
"%VPY%" -m pip --quiet uninstall -y onnxruntime onnxruntime-gpu
"%VPY%" -m pip --quiet install -r requirements-gpu.txt
if errorlevel 1 goto :gpu_failed
"%VPY%" -c "import torch, onnxruntime, tensorrt"
if errorlevel 1 goto :gpu_failed
del /q "%VENV%\.gpu-failed" 2>nul
exit /b 0
:gpu_failed
echo note: the GPU set could not be installed (see the messages above): the CPU set is put back and the studio renders on the CPU; to try again later: set STUDIO_GPU=on, then run launch.bat
type nul > "%VENV%\.gpu-failed"
call :remove_gpu_set
call :install_requirements
exit /b %errorlevel%

:xtts
rem Optional voice cloning (Coqui XTTS-v2, non-commercial CPML license): its torch/torchaudio
rem stack cannot live beside the default one, so it gets its own environment, run as a worker.
if not exist ".venv-xtts\Scripts\python.exe" %PY% -m venv .venv-xtts
".venv-xtts\Scripts\python.exe" -m pip --quiet install torch==2.11.0 torchaudio==2.11.0 torchcodec==0.11.1 coqui-tts==0.28.0 six
".venv-xtts\Scripts\python.exe" -c "from TTS.tts.models.xtts import Xtts"
if errorlevel 1 goto :xtts_failed
echo XTTS-v2 environment ready. Download the model in the Models ^& Engines tab (license: CPML, non-commercial).
set "RC=0"
goto :finish
:xtts_failed
echo error: the XTTS-v2 environment could not be installed: check the messages above 1>&2
goto :fail

:no_python
echo error: Avatar Studio needs Python 3.11: install it from python.org (the "py" launcher finds it) and run launch.bat again 1>&2
goto :fail

:no_venv
rem (reached from :setup, whose caller then stops)
echo error: could not create .venv with %PY%: check that Python 3.11 is fully installed and run launch.bat again 1>&2
exit /b 2

:bad_switch
echo error: STUDIO_GPU must be on, off or auto (it is '%STUDIO_GPU%') 1>&2
goto :fail
