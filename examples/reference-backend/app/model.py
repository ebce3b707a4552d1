"""The "model": a linear model in a small JSON format, no pickle, no numpy.

    {
      "format": "aistack-linear-model/1",
      "name": "churn-demo", "version": "1.0.0",
      "features": ["tenure_months", "monthly_charges", "support_tickets"],
      "weights": [-0.08, 0.03, 0.45],
      "bias": -0.5,
      "link": "logistic"            # or "identity"
    }

score = link(bias + sum(weight * feature)). Loaded models are cached by path,
modification time and size, so replacing the file on the models volume takes
effect on the next request.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path

FORMAT = "aistack-linear-model/1"
LINKS = ("identity", "logistic")


class ModelError(ValueError):
    """The model file is missing or not a valid model."""


@dataclass(frozen=True)
class LinearModel:
    name: str
    version: str
    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    link: str

    @classmethod
    def from_dict(cls, data: object) -> LinearModel:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ModelError(f"not an {FORMAT} document")
        features = data.get("features")
        weights = data.get("weights")
        if (not isinstance(features, list) or not features
                or not all(isinstance(f, str) and f for f in features)):
            raise ModelError("features must be a non-empty list of names")
        if len(set(features)) != len(features):
            raise ModelError("feature names must be unique")
        if (not isinstance(weights, list) or len(weights) != len(features)
                or not all(_is_number(w) for w in weights)):
            raise ModelError("weights must be numbers, one per feature")
        bias = data.get("bias", 0.0)
        if not _is_number(bias):
            raise ModelError("bias must be a number")
        link = data.get("link", "identity")
        if link not in LINKS:
            raise ModelError(f"link must be one of {', '.join(LINKS)}")
        return cls(name=str(data.get("name", "model")), version=str(data.get("version", "0")),
                   features=tuple(features), weights=tuple(float(w) for w in weights),
                   bias=float(bias), link=link)

    def predict(self, values: dict[str, float]) -> float:
        missing = [f for f in self.features if f not in values]
        if missing:
            raise KeyError(", ".join(missing))
        z = self.bias + sum(w * float(values[f]) for f, w in zip(self.features, self.weights))
        if self.link == "logistic":
            return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        return z


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_cache: dict[Path, tuple[tuple[int, int], LinearModel]] = {}
_lock = threading.Lock()


def load_model(path: Path) -> LinearModel:
    """Load (or reuse) the model at path; ModelError when missing or invalid."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelError(f"no model file at {path}") from exc
    key = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _cache.get(path)
        if cached and cached[0] == key:
            return cached[1]
    try:
        model = LinearModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    with _lock:
        _cache[path] = (key, model)
    return model
