"""Voices: recordings checked and kept as voice profiles, and the speakers that read a script aloud.

``recording`` reports on a recording, ``profiles`` stores profiles, ``speakers`` turns a profile into a
synthesizer (default, voice match, XTTS), ``calibration`` measures the default voice, ``audio`` reads files.
"""
