"""Strategies on a causal language model: prompts (weights fixed) and LoRA fine-tuning."""
