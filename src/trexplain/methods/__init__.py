"""Attribution methods; importing this package registers the built-in ones."""

from trexplain.methods import attention  # noqa: F401
from trexplain.methods import gradient
from trexplain.methods import integrated  # noqa: F401
from trexplain.methods import lrp  # noqa: F401
from trexplain.methods import perturbation  # noqa: F401
from trexplain.methods.base import Attribution, Method, Targets, available_methods, get_method, register

__all__ = ["Attribution", "Method", "Targets", "available_methods", "get_method", "gradient", "register"]
