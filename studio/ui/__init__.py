"""Gradio tabs only: callbacks call into ``studio``; no business logic here."""
