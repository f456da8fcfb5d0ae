"""``BatchNormalization`` over the last (channel) axis, with Keras's defaults and moving-average rule."""

import numpy as np

from fastconv import initializers, ops
from fastconv.layers.base import Layer, reject_unsupported


class BatchNormalization(Layer):
    """``keras.layers.BatchNormalization`` (``axis=-1``).

    Training: ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the
    batch's mean and (biased) variance over every axis but the last, and
    ``moving = moving * momentum + batch_stat * (1 - momentum)``. Inference uses
    the moving statistics, and so does a layer with ``trainable=False``.
    The passes over the batch are ``fastconv.ops``'s batch normalization
    kernels (``channel_moments``, ``batch_normalization`` and its gradient).
    """
    kernel_families = ("batch_normalization",)
    gradient_kernel_families = ("batch_normalization_grad",)

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

    takes_output_relu = True

    def forward(self, inputs, training, relu=False):
        gamma = self.gamma.value if self.scale else None
        beta = self.beta.value if self.center else None
        if not training or not self.trainable:  # as in Keras: a frozen layer uses its moving statistics
            mean, variance, batch_statistics = self.moving_mean.value, self.moving_variance.value, False
        else:
            mean, variance = ops.channel_moments(inputs)
            momentum = np.float32(self.momentum)
            self.moving_mean.assign(self.moving_mean.value * momentum + mean * (1 - momentum))
            self.moving_variance.assign(self.moving_variance.value * momentum + variance * (1 - momentum))
            batch_statistics = True
        outputs = ops.batch_normalization(inputs, mean, variance, beta, gamma, self.epsilon, relu=relu)
        return outputs, (inputs, mean, variance, gamma, beta, batch_statistics, relu)

    def backward(self, context, grad_outputs, need_grad_inputs=True):
        inputs, mean, variance, gamma, beta, batch_statistics, relu = context
        grad_inputs, grad_gamma, grad_beta = ops.batch_normalization_grad(
            inputs, grad_outputs, mean, variance, gamma, self.epsilon, batch_statistics, beta, relu)
        grads = ([grad_gamma] if self.scale else []) + ([grad_beta] if self.center else [])
        return grad_inputs, grads

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                **{name: initializers.serialize(init) for name, init in self.initializers.items()},
                "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
                "gamma_constraint": None, "synchronized": self.synchronized}
