"""The encoder's transformer run by ONNX Runtime: the same vectors as torch, faster on a CPU.

Opt-in (`backend: {name: encoder, runtime: onnx}`; `pip install 'shouldtune[onnx]'`). The
transformer is exported from the loaded weights when first used (seconds; nothing is
downloaded) and run by ONNX Runtime; the modules after it (pooling, dense, normalise) stay
sentence-transformers' own, so pooling is whatever the model folder says.

int8 was measured and is not offered: on all-MiniLM-L6-v2, dynamic int8 quantisation
(ONNX Runtime's per-channel, and torch's) moves some embeddings below cosine 0.99 of fp32
(docs/benchmarks.md, "Embedding speed").
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shouldtune.errors import BackendError

#: The tokenizer outputs a BERT-like transformer takes, in its forward's order.
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def onnx_runtime() -> Any:
    """Return the `onnxruntime` module, or raise BackendError saying how to install it."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import onnxruntime
    except ImportError:
        raise BackendError(
            "the encoder runtime 'onnx' needs onnxruntime and onnx: pip install 'shouldtune[onnx]' "
            "(or use runtime torch, the default)"
        ) from None
    return onnxruntime


class OnnxSentenceModel:
    """A SentenceTransformer whose first module, the transformer, runs in ONNX Runtime.

    It has the part of SentenceTransformer's interface that `encoder.encode` uses: `encode`,
    `get_embedding_dimension` and `_input_length`.
    """

    def __init__(self, model: Any, threads: int) -> None:
        self.model = model
        self.output_name = getattr(model[0], "module_output_name", "token_embeddings")
        self._session, self._input_names = _export_session(model, threads)

    def get_embedding_dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def _input_length(self, text: str) -> int:
        measure = getattr(self.model, "_input_length", None) or getattr(self.model, "_text_length", None) or len
        return int(measure(text))

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        normalize_embeddings: bool = True,
        convert_to_numpy: bool = True,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """Return float32 embeddings of `texts`, batched in the order given (the caller sorts)."""
        import torch

        batches = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                features = _preprocess(self.model, list(texts[start : start + batch_size]))
                feeds = {name: features[name].cpu().numpy().astype(np.int64) for name in self._input_names}
                features[self.output_name] = torch.from_numpy(self._session.run(None, feeds)[0])
                for module in list(self.model)[1:]:
                    features = module(features)
                vectors = features["sentence_embedding"]
                if normalize_embeddings:
                    vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
                batches.append(vectors.float().cpu().numpy())
        return np.vstack(batches)


def _preprocess(model: Any, texts: list[str]) -> dict[str, Any]:
    # `preprocess` is the current name of sentence-transformers' `tokenize`.
    prepare = getattr(model, "preprocess", None) or model.tokenize
    return dict(prepare(texts))


def _export_session(model: Any, threads: int) -> tuple[Any, list[str]]:
    """Return an ONNX Runtime session of `model`'s transformer, and the inputs it takes."""
    import torch

    ort = onnx_runtime()
    transformer = getattr(model[0], "auto_model", None)
    if transformer is None:
        raise BackendError(
            f"the encoder runtime 'onnx' runs a transformer first module; this model starts with "
            f"{type(model[0]).__name__}: use runtime torch"
        )
    sample = _preprocess(model, ["a short text", "a somewhat longer text, for the export"])
    names = [name for name in MODEL_INPUTS if name in sample]

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs)), return_dict=True).last_hidden_state

    axes = {name: {0: "texts", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with tempfile.TemporaryDirectory(prefix="shouldtune-onnx-") as scratch, warnings.catch_warnings():
        # The exporter warns about tracing details that do not apply to a fixed-graph encoder.
        warnings.simplefilter("ignore")
        path = Path(scratch) / "transformer.onnx"
        try:
            with torch.inference_mode(False), torch.no_grad():
                torch.onnx.export(
                    LastHiddenState(transformer).eval(),
                    tuple(sample[name] for name in names),
                    str(path),
                    input_names=names,
                    output_names=["last_hidden_state"],
                    dynamic_axes=axes,
                    opset_version=17,
                    dynamo=False,
                )
        except Exception as err:  # the exporter raises many types; all mean "cannot run this one in ONNX"
            raise BackendError(f"could not export the encoder to ONNX ({err}): use runtime torch") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session, names
