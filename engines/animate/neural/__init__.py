"""Neural lip-sync of the MuseTalk 1.5 kind: single-step latent inpainting of the lower face.

Modules (torch, diffusers and transformers are imported inside them, never at studio start-up):

* ``musetalk`` - the network (diffusers UNet + AutoencoderKL), its full and tiny specs, weight loading;
* ``audio`` - Whisper-encoder features at 50 Hz and the per-video-frame audio windows;
* ``export`` - ONNX export with a dynamic batch axis, cached and keyed on the weights;
* ``torch_path`` - the same network on PyTorch CUDA FP16 (CUDA graphs, channels-last) and the GPU paste-back;
* ``blend`` - framing, face crop, soft landmark mask, colour match and paste-back (numpy/OpenCV);
* ``engine`` - the animator registered as ``animate``/``musetalk``: TensorRT -> CUDA -> PyTorch CUDA -> procedural;
* ``status`` - what is downloaded, exported and built, read from disk (CLI and Models & Engines tab).
"""
