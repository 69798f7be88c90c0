"""Scripts: the markup a creator writes, the assistant that drafts it, dictation, and saved projects.

``markup`` parses sentences and tags; ``prompts`` builds what the model is asked, ``cleaning`` turns its
answer into speakable markup, ``assistant`` runs the chosen model; ``dictation`` and ``projects``.
"""
