"""The hf backend: a Hugging Face causal language model that scores, generates and is LoRA-tuned.

Loading is conservative by default: a local folder, or a hub id already in the local cache
(`--allow-download` fetches it); safetensors weights only (`--allow-pickle` also accepts
.bin files, which can run code when loaded); no model code from the hub
(`--trust-remote-code`). The device is CUDA, then Apple's MPS, then the CPU.

Inference is deterministic (see `hf_inference`): label scoring is one forward pass per
(prompt, label); generation is greedy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from shouldtune.backends.hf_inference import generate_greedy, score_continuations
from shouldtune.backends.registry import BackendSpec, OpenBackend
from shouldtune.errors import BackendError, TaskFileError

if TYPE_CHECKING:
    from shouldtune.backends.hf_lora import LoRAModel, LoRASettings
    from shouldtune.store import Store

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


@dataclass
class TokenUsage:
    """Running totals of what the model was asked: requests, prompt and answer tokens, and
    the tokens fine-tuning trained on."""

    requests: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    training_tokens: int = 0


def pick_device(requested: str | None) -> str:
    """Return `requested`, or the best device here: cuda, then mps, then cpu."""
    if requested:
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(name: str, device: str) -> Any:
    """Return the torch dtype for `name`; "auto" is bfloat16 on a GPU that has it, else float32."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def resolve_model_folder(model: str, *, allow_download: bool, allow_pickle: bool, trust_remote_code: bool) -> Path:
    """Return the local folder of `model`: the folder itself, or a hub id's snapshot in the cache."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return _checked_folder(folder, model, allow_pickle)
    if not _HUB_ID.match(model):
        raise TaskFileError(
            "model folder not found",
            file=model,
            column="model",
            fix="pass --model an existing folder holding config.json and the weights, or a hub id like Qwen/Qwen2.5-0.5B-Instruct",
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken"]
    patterns += [f"*{suffix}" for suffix in PICKLE_SUFFIXES] if allow_pickle else []
    patterns += ["*.py"] if trust_remote_code else []
    try:
        snapshot = snapshot_download(model, local_files_only=not allow_download, allow_patterns=patterns)
    except LocalEntryNotFoundError:
        raise TaskFileError(
            f"model {model!r} is not a folder here and not in the Hugging Face cache",
            column="model",
            fix="pass a local folder, or add --allow-download to fetch it from the hub",
        ) from None
    except RepositoryNotFoundError:
        raise TaskFileError(
            f"the hub has no model {model!r} (or it is private)", column="model", fix="check the id's spelling"
        ) from None
    except (HfHubHTTPError, OSError, ValueError) as err:
        raise BackendError(f"could not fetch model {model!r}: {type(err).__name__}: {err}"[:400]) from None
    return _checked_folder(Path(snapshot), model, allow_pickle)


def weights_fingerprint(folder: Path) -> str:
    """Return a short hash of a model folder: its config and tokenizer files, and each weight
    file's size and first and last MiB (two checkpoints of one architecture differ there;
    reading every byte of a large model would take longer than a run's first trial)."""
    import hashlib

    digest = hashlib.sha256()
    for file in sorted(folder.iterdir()):
        if not file.is_file():
            continue
        digest.update(file.name.encode())
        if file.suffix in {".json", ".txt", ".model", ".jinja"}:
            digest.update(file.read_bytes())
        elif file.name.endswith((".safetensors", *PICKLE_SUFFIXES)):
            size = file.stat().st_size
            digest.update(str(size).encode())
            with open(file, "rb") as handle:
                digest.update(handle.read(1 << 20))
                handle.seek(max(size - (1 << 20), 0))
                digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def _checked_folder(folder: Path, model: str, allow_pickle: bool) -> Path:
    if not (folder / "config.json").is_file():
        raise TaskFileError(
            "not a Hugging Face model folder (no config.json)",
            file=model,
            column="model",
            fix="pass the folder that save_pretrained() wrote, holding config.json and the weights",
        )
    files = [path.name for path in folder.iterdir()]
    if not any(name.endswith(".safetensors") for name in files):
        pickles = [name for name in files if name.endswith(PICKLE_SUFFIXES)]
        if not pickles:
            raise TaskFileError("no weight files (*.safetensors) in the model folder", file=model, column="model", fix="check the folder is complete")
        if not allow_pickle:
            raise TaskFileError(
                f"the model has only pickle weights ({pickles[0]}), which can run code when loaded",
                file=model,
                column="model",
                fix="convert them to safetensors, or pass --allow-pickle if you trust where they came from",
            )
    return folder


class HFCausalLM:
    """A causal LM and its tokenizer: `score` continuations, `generate` answers, `fine_tune` a LoRA adapter."""

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str = "auto",
        batch_size: int = 8,
        max_new_tokens: int = 64,
        use_chat_template: bool = True,
        trust_remote_code: bool = False,
        allow_pickle: bool = False,
        allow_download: bool = False,
        progress: Any = None,
    ) -> None:
        self.folder = resolve_model_folder(
            model, allow_download=allow_download, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code
        )
        self.name = model if not Path(model).expanduser().is_dir() else self.folder.name
        self._model_id = f"{self.name}@{weights_fingerprint(self.folder)}"
        self.device = pick_device(device)
        self.dtype = dtype
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.use_chat_template = use_chat_template
        self.trust_remote_code = trust_remote_code
        self.allow_pickle = allow_pickle
        self.progress = progress
        self.usage = TokenUsage()
        self._model: Any = None
        self._tokenizer: Any = None
        self._adapter: Path | None = None  # the LoRA adapter loaded on the model now, if any
        self._adapted: Any = None  # the PeftModel wrapping the model while it is loaded

    @property
    def model_id(self) -> str:
        """A stable identity of the weights: the name and a fingerprint of the folder."""
        return self._model_id

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            from shouldtune.backends.quiet import quiet_model_libraries

            try:
                with quiet_model_libraries():
                    self._tokenizer = AutoTokenizer.from_pretrained(
                        self.folder, local_files_only=True, trust_remote_code=self.trust_remote_code
                    )
            except (OSError, ValueError) as err:
                raise BackendError(f"could not load the tokenizer from {self.folder}: {err}"[:400]) from None
            if self._tokenizer.pad_token_id is None:
                self._tokenizer.pad_token = self._tokenizer.eos_token
        return self._tokenizer

    @property
    def model(self) -> Any:
        """The loaded model, in eval mode on its device (loaded on first use)."""
        if self._model is None:
            from transformers import AutoModelForCausalLM

            from shouldtune.backends.quiet import quiet_model_libraries

            try:
                with quiet_model_libraries():
                    self._model = AutoModelForCausalLM.from_pretrained(
                        self.folder,
                        dtype=pick_dtype(self.dtype, self.device),
                        use_safetensors=None if self.allow_pickle else True,
                        trust_remote_code=self.trust_remote_code,
                        local_files_only=True,
                    )
            except (OSError, ValueError, ImportError) as err:
                raise BackendError(f"could not load the model from {self.folder}: {err}"[:400]) from None
            self._model.to(self.device).eval()
        return self._model

    @property
    def loaded_adapter(self) -> Path | None:
        """The folder of the LoRA adapter loaded on the model now; None when it is plain."""
        return self._adapter

    def model_with_adapter(self, folder: Path | None) -> Any:
        """Return the model with the LoRA adapter saved in `folder` loaded (None: the plain model).

        One adapter at a time is loaded into the shared weights; asking for another (or for
        none) removes it first, so the plain model is never answered with an adapter in it.
        """
        if folder == self._adapter:
            return self.model if folder is None else self._adapted
        if self._adapted is not None:
            self._adapted.unload()
            self._adapted, self._adapter = None, None
        if folder is None:
            return self.model
        from peft import PeftModel

        from shouldtune.backends.quiet import quiet_model_libraries

        with quiet_model_libraries():
            self._adapted = PeftModel.from_pretrained(self.model, folder, is_trainable=False).eval()
        self._adapter = folder
        return self._adapted

    @property
    def uses_chat_template(self) -> bool:
        """Whether prompts are wrapped in the tokenizer's chat template."""
        return self.use_chat_template and bool(getattr(self.tokenizer, "chat_template", None))

    @property
    def answer_prefix(self) -> str:
        """What goes between a prompt and its answer: nothing after a chat turn, a space after 'Output:'."""
        return "" if self.uses_chat_template else " "

    def chat_format(self, text: str) -> str:
        """Return `text` as the user's turn of the chat template, ready for the answer; or as it is."""
        if not self.uses_chat_template:
            return text
        # enable_thinking=False: models with a thinking mode (Qwen3) answer directly; others ignore it.
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True, enable_thinking=False
        )

    def encode(self, text: str) -> list[int]:
        """Return the token ids of a formatted prompt (the chat template already holds its special tokens)."""
        return list(self.tokenizer(text, add_special_tokens=not self.uses_chat_template).input_ids)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Return the number of tokens of each formatted prompt."""
        return [len(self.encode(text)) for text in texts]

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """Return log P(continuation | prompt) for each pair, summed over the continuation's tokens."""
        return score_continuations(self.model_with_adapter(None), self, prompts, continuations)

    def generate(self, prompts: Sequence[str], max_new_tokens: int | None = None, stop: Sequence[str] = ()) -> list[str]:
        """Return the greedy continuation of each prompt, cut before the first stop sequence."""
        return generate_greedy(self.model_with_adapter(None), self, prompts, max_new_tokens or self.max_new_tokens, stop)

    def warm_up(self) -> None:
        """Load the model and tokenizer and answer one short prompt (first calls pay one-off costs)."""
        self.generate([self.chat_format("Input: hello\nOutput:")], max_new_tokens=2)

    def fine_tune(
        self,
        prompts: Sequence[str],
        targets: Sequence[str],
        settings: LoRASettings,
        *,
        seed: int = 0,
        on_step: Callable[[float], None] | None = None,
        held_back_prompts: Sequence[str] = (),
        held_back_targets: Sequence[str] = (),
        weights: Sequence[float] | None = None,
        held_back_weights: Sequence[float] | None = None,
    ) -> LoRAModel:
        """Return this model with a LoRA adapter trained on prompt -> target (loss on target tokens only,
        each pair's counted by its weight where `weights` are given).

        With held-back pairs, the adapter of the epoch with the lowest loss on them (see `train_lora`).
        """
        from shouldtune.backends.hf_lora import train_lora

        return train_lora(
            self, prompts, targets, settings, seed=seed, on_step=on_step,
            held_back_prompts=held_back_prompts, held_back_targets=held_back_targets,
            weights=weights, held_back_weights=held_back_weights,
        )

    def close(self) -> None:
        self._model = self._tokenizer = self._adapted = self._adapter = None


class HFSettings(BaseModel):
    """The hf backend: a Hugging Face causal language model, prompted and LoRA-tuned locally."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["hf"] = "hf"
    model: str = Field(
        description="pass --model FOLDER (a local Hugging Face causal LM) or a hub id with --allow-download",
    )
    device: str | None = Field(default=None, description="cpu, cuda, cuda:1 or mps; default: the best available.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="auto: bfloat16 on a GPU that has it, else float32."
    )
    batch_size: int = Field(default=64, ge=1, description="Prompts per forward pass; halved automatically on out-of-memory.")
    max_new_tokens: int = Field(default=64, ge=1, description="Longest generated answer, in tokens.")
    use_chat_template: bool = Field(default=True, description="Wrap prompts in the tokenizer's chat template when it has one.")
    trust_remote_code: bool = Field(default=False, description="Run model code shipped with the weights (only for sources you trust).")
    allow_pickle: bool = Field(default=False, description="Also load .bin/.pt weights, which can run code when loaded.")
    allow_download: bool = Field(default=False, description="Fetch a hub id that is not in the local cache.")


def open_hf(settings: HFSettings, store: Store | None, progress: Any = None) -> OpenBackend:
    """Return the hf backend opened: the language model (loaded on first use) and the bundled
    encoder few-shot-knn finds neighbours with."""
    from shouldtune.backends.cache import CachedEncoder
    from shouldtune.backends.encoder import SentenceEncoder

    llm = HFCausalLM(
        settings.model,
        device=settings.device,
        dtype=settings.dtype,
        batch_size=settings.batch_size,
        max_new_tokens=settings.max_new_tokens,
        use_chat_template=settings.use_chat_template,
        trust_remote_code=settings.trust_remote_code,
        allow_pickle=settings.allow_pickle,
        allow_download=settings.allow_download,
        progress=progress,
    )
    encoder = CachedEncoder(SentenceEncoder(progress=progress), store)
    return OpenBackend(alias="hf", spec=SPEC, model_id=llm.model_id, encoder=encoder, llm=llm, device=llm.device)


SPEC = BackendSpec(
    kind="hf",
    settings=HFSettings,
    capabilities=frozenset({"embed", "score", "generate", "fine-tune"}),
    family="language-model",
    charges="compute",
    open=open_hf,
    summary="a local Hugging Face causal LM: prompted (instructions, demonstrations) and LoRA-tuned",
    not_outputs=frozenset({"allow_download", "trust_remote_code", "allow_pickle"}),
)
