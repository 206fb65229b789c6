"""The model zoo: every classic CNN, each declared in its paper's own terms."""
from .registry import create, list_models  # noqa: F401
