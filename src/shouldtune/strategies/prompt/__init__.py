"""Prompt track: the model's weights never change; only its input and the label texts do."""
