"""``BatchNormalization`` over the last (channel) axis, with Keras's defaults and moving-average rule."""

import numpy as np

from fastconv import initializers
from fastconv.layers.base import Layer, reject_unsupported


class BatchNormalization(Layer):
    """``keras.layers.BatchNormalization`` (``axis=-1``).

    Training: ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the
    batch's mean and (biased) variance over every axis but the last, and
    ``moving = moving * momentum + batch_stat * (1 - momentum)``. Inference uses
    the moving statistics, and so does a layer with ``trainable=False``.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, renorm=False, **kwargs):
        super().__init__(**kwargs)
        reject_unsupported(self, beta_regularizer=(beta_regularizer, None),
                           gamma_regularizer=(gamma_regularizer, None), beta_constraint=(beta_constraint, None),
                           gamma_constraint=(gamma_constraint, None), renorm=(renorm, False))
        self.axis = axis
        self.momentum, self.epsilon, self.center, self.scale = momentum, epsilon, center, scale
        self.initializers = {name: initializers.get(init, name) for name, init in (
            ("gamma_initializer", gamma_initializer), ("beta_initializer", beta_initializer),
            ("moving_mean_initializer", moving_mean_initializer),
            ("moving_variance_initializer", moving_variance_initializer))}
        self.synchronized = synchronized

    def build(self, input_shape):
        if self.axis not in (-1, len(input_shape) - 1):
            raise NotImplementedError(f"`BatchNormalization` in fastconv normalises the last axis only. "
                                      f"Received: axis={self.axis!r}")
        channels = (input_shape[-1],)
        self.gamma = self.add_weight(channels, self.initializers["gamma_initializer"], "gamma") if self.scale else None
        self.beta = self.add_weight(channels, self.initializers["beta_initializer"], "beta") if self.center else None
        self.moving_mean = self.add_weight(channels, self.initializers["moving_mean_initializer"], "moving_mean",
                                           trainable=False)
        self.moving_variance = self.add_weight(channels, self.initializers["moving_variance_initializer"],
                                               "moving_variance", trainable=False)

    def forward(self, inputs, training):
        gamma = self.gamma.value if self.scale else np.float32(1)
        beta = self.beta.value if self.center else np.float32(0)
        if not training or not self.trainable:  # as in Keras: a frozen layer uses its moving statistics
            inv_std = 1 / np.sqrt(self.moving_variance.value + np.float32(self.epsilon))
            normalized = (inputs - self.moving_mean.value) * inv_std
            return normalized * gamma + beta, (normalized, inv_std, gamma, False)
        axes = tuple(range(inputs.ndim - 1))
        mean = inputs.mean(axis=axes)
        variance = inputs.var(axis=axes)
        momentum = np.float32(self.momentum)
        self.moving_mean.assign(self.moving_mean.value * momentum + mean * (1 - momentum))
        self.moving_variance.assign(self.moving_variance.value * momentum + variance * (1 - momentum))
        inv_std = 1 / np.sqrt(variance + np.float32(self.epsilon))
        normalized = (inputs - mean) * inv_std
        return normalized * gamma + beta, (normalized, inv_std, gamma, True)

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        normalized, inv_std, gamma, batch_statistics = context
        axes = tuple(range(grad_outputs.ndim - 1))
        count = grad_outputs.size // grad_outputs.shape[-1]
        grad_beta = grad_outputs.sum(axis=axes)
        grad_gamma = (grad_outputs * normalized).sum(axis=axes)
        if batch_statistics:  # the batch's mean and variance depend on the inputs too
            grad_inputs = (gamma * inv_std / count) * (count * grad_outputs - grad_beta - normalized * grad_gamma)
        else:
            grad_inputs = grad_outputs * (gamma * inv_std)
        grads = ([grad_gamma] if self.scale else []) + ([grad_beta] if self.center else [])
        return grad_inputs.astype(np.float32, copy=False), grads

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                **{name: initializers.serialize(init) for name, init in self.initializers.items()},
                "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
                "gamma_constraint": None, "synchronized": self.synchronized}
