"""Pure renderers of explanations: terminal (rich), one HTML/JS page (every string escaped), matplotlib figures."""

from trexplain.viz.html import show

__all__ = ["show"]
