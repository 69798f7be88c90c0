@echo off
rem Avatar Studio — one-click set-up and launch (Windows).
rem   launch.bat         install if needed, then start the studio on http://127.0.0.1:7860
rem   launch.bat test    install if needed (with test tools), then run the test suite
setlocal
cd /d "%~dp0"
set VENV=.venv
set REQS=requirements.txt
if "%1"=="test" set REQS=requirements-dev.txt
where py >nul 2>nul && (set PY=py -3.11) || (set PY=python)
%PY% -c "import sys; sys.exit(sys.version_info[:2] != (3, 11))" || (
  echo error: Avatar Studio needs Python 3.11: install it from python.org and run launch.bat again
  exit /b 2
)
if not exist "%VENV%\.installed-%REQS%" (
  echo Setting up Avatar Studio (first run: a few minutes^)...
  if not exist "%VENV%\Scripts\python.exe" %PY% -m venv %VENV%
  "%VENV%\Scripts\python.exe" -m pip install --quiet -r %REQS% || (
    echo error: installing the requirements failed: check your internet connection and run launch.bat again
    exit /b 2
  )
  "%VENV%\Scripts\python.exe" -m pip install --quiet --no-deps face-alignment==1.5.0
  "%VENV%\Scripts\python.exe" -m pip install --quiet llama-cpp-python==0.3.36 || echo note: llama-cpp-python could not be built; the script assistant will use a slower engine or templates
  del /q "%VENV%\.installed-*" 2>nul
  type nul > "%VENV%\.installed-%REQS%"
)
"%VENV%\Scripts\python.exe" app.py models prepare || exit /b 2
if "%1"=="test" (
  "%VENV%\Scripts\python.exe" -m pytest
) else if "%1"=="" (
  "%VENV%\Scripts\python.exe" app.py
) else (
  "%VENV%\Scripts\python.exe" app.py %*
)
