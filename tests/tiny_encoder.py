"""A tiny, randomly initialised sentence-transformers encoder, built offline in a folder.

One BERT layer with hidden size 16 on the bundled model's tokenizer: its scores are near
chance, but a fine-tune step takes milliseconds and every load, train, save and export path
runs as it does on a real checkpoint. Runs on it are what the resume, reproducibility and
export tests compare.
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_encoder(folder: Path) -> Path:
    """Write the tiny encoder (weights seeded, so always the same) into `folder`; return it."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from shouldtune.backends.encoder import bundled_model_path

    torch.manual_seed(0)
    body = folder / "body"
    config = BertConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_position_embeddings=128
    )
    BertModel(config).save_pretrained(body)
    AutoTokenizer.from_pretrained(str(bundled_model_path())).save_pretrained(body)
    model = SentenceTransformer(
        modules=[Transformer(str(body), max_seq_length=64), Pooling(16, "mean"), Normalize()], device="cpu"
    )
    model.save(str(folder / "encoder"), create_model_card=False)
    return folder / "encoder"
