"""Backends: the models strategies run on. Each is a small class handed to strategies."""
