"""Making the video: a render job turns script + avatar + voice into an MP4, subtitles and a manifest.

``pipeline`` runs the job chunk by chunk; ``cache`` keys every stage by content; ``queue``/``jobs`` run
renders for the UI; ``video`` encodes, ``subtitles`` writes and burns cues, ``provenance`` marks exports.
"""
