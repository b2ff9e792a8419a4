"""Attribution methods; importing this package registers the built-in ones."""

from trexplain.methods import amortized, attention, calig, gradient, integrated, lrp, perturbation  # noqa: F401  (registers them)
from trexplain.methods.base import Attribution, Method, Targets, available_methods, get_method, register

__all__ = ["Attribution", "Method", "Targets", "available_methods", "get_method", "register"]
