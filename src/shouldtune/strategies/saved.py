"""How strategies write what they learned and read it back: YAML for prompts, safetensors for weights.

Each strategy owns its format (its `save` and `load`); these are the pieces they share.
Nothing here pickles: a saved strategy is plain text and tensors a person can inspect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from shouldtune.errors import ExportError

#: The file a prompt-track strategy is saved as: template, label descriptions, demonstrations.
PROMPT_FILE = "prompt.yaml"
#: A classification head's weights, with its classes and labels in the header.
HEAD_FILE = "head.safetensors"
#: The folder a fine-tuned encoder body is saved in (sentence-transformers layout).
ENCODER_FOLDER = "encoder"


def write_yaml(path: Path, document: dict[str, Any]) -> None:
    """Write `document` as block-style YAML, keys in the order given, text as written."""
    path.write_text(
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8"
    )


def read_yaml(path: Path) -> dict[str, Any]:
    """Return the mapping in a YAML file a strategy saved; ExportError if it is missing or broken."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise missing_from_export(path) from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ExportError(
            f"not valid YAML ({type(err).__name__})",
            file=path,
            fix="restore the file from the original export, or export the run again",
        ) from None
    if not isinstance(document, dict):
        raise ExportError("expected a mapping", file=path, fix="export the run again")
    return document


def save_arrays(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> None:
    """Write arrays as safetensors; `metadata` (JSON-safe) goes in the file's header."""
    from safetensors.numpy import save_file

    save_file(
        {name: np.ascontiguousarray(array) for name, array in arrays.items()},
        str(path),
        metadata={key: json.dumps(value) for key, value in metadata.items()},
    )


def load_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Return the arrays and the metadata `save_arrays` wrote."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise missing_from_export(path)
    try:
        with safe_open(str(path), framework="np") as handle:
            metadata = {key: json.loads(value) for key, value in (handle.metadata() or {}).items()}
            arrays = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as err:  # ValueError: a header that is not JSON
        raise _damaged(path, f"not a readable safetensors file ({' '.join(str(err).split())[:120]})") from None
    return arrays, metadata


def save_logistic_head(head: Any, path: Path, **metadata: Any) -> None:
    """Write a fitted scikit-learn LogisticRegression's weights and classes (and `metadata`) as safetensors."""
    classes = [c.item() if hasattr(c, "item") else c for c in head.classes_]
    save_arrays(
        path,
        {"coef": head.coef_, "intercept": head.intercept_},
        {"kind": "sklearn.linear_model.LogisticRegression", "classes": classes, **metadata},
    )


def load_logistic_head(path: Path) -> tuple[Any, dict[str, Any]]:
    """Return a LogisticRegression that predicts exactly as the saved one did, and the file's metadata."""
    from sklearn.linear_model import LogisticRegression

    arrays, metadata = load_arrays(path)
    classes, coef, intercept = metadata.get("classes"), arrays.get("coef"), arrays.get("intercept")
    # A binary head has one row of weights; a head of k > 2 classes has k.
    rows = 1 if isinstance(classes, list) and len(classes) == 2 else len(classes) if isinstance(classes, list) else -1
    if coef is None or intercept is None or coef.ndim != 2 or coef.shape[0] != rows or intercept.shape != (rows,):
        raise _damaged(path, "the head's weights do not match its classes")
    head = LogisticRegression()
    head.classes_ = np.array(classes)
    head.coef_ = coef
    head.intercept_ = intercept
    head.n_features_in_ = int(coef.shape[1])
    return head, metadata


def save_encoder(model: Any, folder: Path) -> None:
    """Write a sentence-transformers model (weights as safetensors, tokenizer, pooling) into `folder`."""
    from shouldtune.backends.quiet import quiet_model_libraries

    with quiet_model_libraries():
        model.save(str(folder), create_model_card=False, safe_serialization=True)


def load_encoder(folder: Path, device: str = "cpu") -> Any:
    """Return the sentence-transformers model `save_encoder` wrote."""
    from shouldtune.backends.encoder import load_sentence_transformer
    from shouldtune.errors import BackendError

    if not (folder / "modules.json").is_file():
        raise missing_from_export(folder / "modules.json")
    try:
        return load_sentence_transformer(folder, device)
    except BackendError as err:  # a file of it gone or damaged: the export is incomplete, not the backend broken
        raise _damaged(folder, f"the encoder cannot be loaded ({' '.join(str(err).split())[:160]})") from None


def check_labels(saved: Sequence[str], manifest: Sequence[str], folder: Path) -> None:
    """Raise ExportError if the labels in the manifest are not the labels the strategy was saved with."""
    if sorted(saved) != sorted(manifest):
        raise ExportError(
            f"the manifest's labels ({', '.join(manifest)[:120]}) are not the labels the strategy was saved with "
            f"({', '.join(saved)[:120]})",
            file=folder / "shouldtune.json",
            fix="restore shouldtune.json from the original export, or export the run again",
        )


def _damaged(path: Path, problem: str) -> ExportError:
    return ExportError(problem, file=path, fix="copy the whole folder `shouldtune export` wrote again, or export the run again")


def missing_from_export(path: Path) -> ExportError:
    """Return the error for a file or folder an export should hold and does not."""
    return ExportError(
        "missing from the exported folder",
        file=path,
        fix="copy the whole folder `shouldtune export` wrote, or export the run again",
    )
