"""Composed outputs: JSON records per text and (later) the self-contained HTML report."""
