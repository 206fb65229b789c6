"""Conv, pooling, normalisation layers (being written)."""
__all__ = []
