"""Avatar Studio: the application, independent of Gradio.

Data flows one way: ``studio.ui`` -> ``studio`` -> ``engines``.
"""

__version__ = "0.1.0"
