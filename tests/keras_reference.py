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

__all__ = ["assert_layer_matches_keras", "keras"]


def assert_layer_matches_keras(ours, theirs, x, grad_outputs, tolerance=1e-4):
    """A fastconv layer and a Keras one with the same weights give the same output on ``x`` and the same
    gradients of ``sum(output * grad_outputs)`` with respect to ``x`` and the trainable weights (Keras's
    through torch autograd)."""
    import numpy as np

    xt = torch.tensor(x, requires_grad=True)
    expected = theirs(xt)
    actual, context = ours.forward(x, training=True)
    np.testing.assert_allclose(actual, expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    expected.backward(torch.tensor(grad_outputs))
    grad_x, grads = ours.backward(context, grad_outputs)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=tolerance, atol=tolerance)
    assert len(grads) == len(theirs.trainable_weights)
    for ours_grad, variable in zip(grads, theirs.trainable_weights):
        np.testing.assert_allclose(ours_grad, variable.value.grad.numpy(), rtol=tolerance, atol=tolerance)
