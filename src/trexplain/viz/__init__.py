"""Pure renderers of explanations: terminal (rich) and HTML fragments (every string escaped)."""
