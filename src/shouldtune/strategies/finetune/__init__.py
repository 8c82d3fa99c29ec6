"""Fine-tune track: weights change, from a new head on frozen features to the whole encoder."""
