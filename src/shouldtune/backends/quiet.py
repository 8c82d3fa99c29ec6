"""Silence the model libraries' own logs and progress bars while shouldtune shows its own."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_model_libraries() -> Iterator[None]:
    """Within the block, transformers, datasets and setfit print no logs or bars; restored after."""
    import transformers.utils.logging as transformers_logging

    restore = [(transformers_logging, transformers_logging.get_verbosity(), transformers_logging.is_progress_bar_enabled())]
    try:
        import datasets.utils.logging as datasets_logging
        import setfit.logging as setfit_logging

        restore += [
            (datasets_logging, datasets_logging.get_verbosity(), datasets_logging.is_progress_bar_enabled()),
            (setfit_logging, setfit_logging.get_verbosity(), setfit_logging.is_progress_bar_enabled()),
        ]
    except ImportError:  # setfit is optional for encoder-only use
        pass
    for module, _, _ in restore:
        module.set_verbosity_error()
        module.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            # torch warns that pin_memory does nothing without a GPU; it is harmless here.
            warnings.filterwarnings("ignore", message=".*pin_memory.*")
            # peft asks transformers a question transformers has renamed; nothing for a user to do.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            # scikit-learn (setfit's head) guesses "a regression?" at one or two examples per class.
            warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%", category=UserWarning)
            yield
    finally:
        for module, verbosity, bars in restore:
            module.set_verbosity(verbosity)
            (module.enable_progress_bar if bars else module.disable_progress_bar)()
