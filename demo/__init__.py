"""The Gradio user interface (no model code here)."""
