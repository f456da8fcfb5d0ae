"""Real Keras 3 as a reference, on its PyTorch CPU backend (no TensorFlow needed).

Import ``keras`` from here, never directly, so the backend is chosen before
Keras is first imported. Without Keras (or torch) importing this module raises
``ImportError`` with what to install, so a test module that compares against
Keras fails to collect: a missing reference is a failure, never a skip.
"""

import os

os.environ["KERAS_BACKEND"] = "torch"

_INSTALL = ("These tests compare fastconv with real Keras 3 on its torch backend, which cannot be imported: "
            "`pip install -e '.[test]'` installs the versions pinned in pyproject.toml.")

try:
    import keras  # noqa: E402
    import torch  # noqa: E402, F401
except ImportError as error:
    raise ImportError(f"{_INSTALL} ({error})") from error

if keras.backend.backend() != "torch":
    raise ImportError(f"{_INSTALL} Keras was imported before this module chose its backend and runs on "
                      f"{keras.backend.backend()!r}: import keras from keras_reference only.")

__all__ = ["keras"]
