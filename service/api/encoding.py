"""Vectors in a response: nested lists of floats, or little-endian bytes in base64."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from service.core.errors import ServiceError

__all__ = ["FLOAT16_MAX", "encode_array"]

FLOAT16_MAX = float(np.finfo(np.float16).max)


def encode_array(array: np.ndarray, encoding_format: str, dtype: str = "float32") -> Any:
    """Nested lists of floats, or ``{"data", "dtype", "shape"}`` with little-endian bytes."""
    if dtype == "float16" and array.size and float(np.abs(array).max()) > FLOAT16_MAX:
        raise ServiceError(
            400,
            f"the vectors reach {float(np.abs(array).max()):.4g}, past float16's range "
            f"({FLOAT16_MAX:g}); ask for dtype float32, or normalize",
            param="dtype",
            code="invalid_value",
        )
    if encoding_format == "float":  # float16: the values rounded to half precision
        return (array.astype(np.float16) if dtype == "float16" else array).tolist()
    little = array.astype("<f2" if dtype == "float16" else "<f4")
    return {
        "data": base64.b64encode(little.tobytes()).decode("ascii"),
        "dtype": dtype,
        "shape": list(array.shape),
    }
