"""Model back-ends behind small interfaces, one file per back-end.

Engines never import ``studio`` or ``gradio``.
"""
