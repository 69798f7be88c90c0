"""OpenVoice V2 tone-colour converter (MIT), our own implementation of the published architecture.

``network`` holds the modules (a VITS-style posterior encoder, normalising flow, HiFi-GAN decoder
and a reference encoder for the tone colour), with parameter names that match the released
``checkpoints_v2/converter/checkpoint.pth``; ``converter`` loads that checkpoint and converts speech.
"""
