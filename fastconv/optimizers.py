"""Optimizers with Keras 3's update rules, defaults, variable order and configs: SGD, Adam, RMSprop, Adagrad.

An optimizer updates ``fastconv.variables.Variable``s in place from numpy
gradients: ``optimizer.apply(grads, variables)`` (or
``apply_gradients(zip(grads, variables))``). On its first call it builds its
slot variables (momentums, velocities, ...), one per model variable, named as
Keras names them (``adam/conv2d_kernel_momentum``).

``optimizer.variables`` lists the optimizer's state in Keras 3's order:
``iteration``, ``learning_rate``, then the slots in the order Keras creates
them. A ``.keras`` file stores them as ``optimizer/vars/0..n`` in that order.
Adam, for instance, interleaves its two slots per model variable::

    [adam/iteration, adam/learning_rate,
     adam/kernel_momentum, adam/kernel_velocity,
     adam/bias_momentum, adam/bias_velocity,
     adam/kernel_velocity_hat, adam/bias_velocity_hat]   # the last two only with amsgrad

The arithmetic follows Keras's backend-agnostic ``update_step`` (the one the
TensorFlow and JAX backends run) operation by operation, in the variable's
dtype (float32), so results agree with Keras to float32 rounding. Adam, the
textbook's optimizer, runs as one fused numba pass
(``fastconv/kernels/optimizers.py``); the others as numpy expressions. Keras's
PyTorch backend runs a fused rewrite of the same equations, which rounds
differently by an ulp or so.

With a learning-rate schedule (``fastconv.schedules``) as ``learning_rate``
there is no ``learning_rate`` variable, as in Keras: ``variables`` is
``iteration`` then the slots, and each step's rate is
``schedule(iterations)`` before the update.

Not here: callables as ``learning_rate``, EMA (``use_ema``) and gradient
accumulation; asking for them raises ``NotImplementedError``.
"""

import warnings

import numpy as np

from fastconv import parallel, schedules
from fastconv.kernels import optimizers as _optimizer_kernels
from fastconv.naming import to_snake_case, unique_name
from fastconv.variables import Variable

def _new_variable(value, name, dtype, path):
    """A non-trainable ``Variable`` of ``value``'s shape (0-d for ``iteration`` and ``learning_rate``, as in
    Keras: their shapes are part of the ``.keras`` file)."""
    return Variable(value, name=name, trainable=False, dtype=dtype, path=path)


class Optimizer:
    """Base class: the iteration counter, the learning rate, slot variables, clipping and weight decay.

    Subclasses implement ``build(variables)`` (call ``super().build`` first,
    then create slots with ``add_optimizer_variables``), ``update_step(gradient,
    variable, learning_rate)`` and ``get_config``, as in Keras.

    One call of ``apply(grads, variables)`` does, in Keras's order:

    1. drop ``None`` gradients (with a warning), divide by ``loss_scale_factor``;
    2. clip: ``clipnorm`` per gradient, ``g * c / max(||g||, c)``; or
       ``global_clipnorm`` over all of them, ``g * c / max(||G||, c)``; or
       ``clipvalue``, ``clip(g, -c, c)``;
    3. weight decay: ``w = w - w * weight_decay * lr``;
    4. ``update_step`` for each variable;
    5. each variable's ``constraint``, if any: ``w = constraint(w)``;
    6. ``iterations += 1``.

    Parameters
    ----------
    learning_rate : float
        Stored in a float32 ``Variable`` (``optimizer.learning_rate``), which
        can be set: ``optimizer.learning_rate = 1e-4``.
    weight_decay, clipnorm, clipvalue, global_clipnorm : float or None
        As in Keras; at most one of the three clipping arguments.
    loss_scale_factor : float or None
        As in Keras: a training step differentiates the loss times this factor
        (``scale_loss``) and ``apply`` divides the gradients by it again, so a
        power of two changes nothing but the range the gradients pass through.
    use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps
        Keras's arguments; only their defaults are supported.
    name : str, optional
        Prefix of the variables' paths; defaults to the class name in snake
        case, numbered from the second one on (``adam``, ``adam_1``, ...).
    """

    kernel_families = ()
    """The ``fastconv.compilation`` kernel families that ``apply`` runs."""

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if use_ema:
            raise NotImplementedError(
                "fastconv optimizers do not support exponential moving averages of the weights yet. "
                f"Received: use_ema={use_ema!r}")
        if gradient_accumulation_steps:
            raise NotImplementedError(
                "fastconv optimizers do not support gradient accumulation yet. "
                f"Received: gradient_accumulation_steps={gradient_accumulation_steps!r}")
        n_clip = sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm))
        if n_clip > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        if isinstance(learning_rate, dict):
            learning_rate = schedules.deserialize(learning_rate)
        if callable(learning_rate) and not isinstance(learning_rate, schedules.LearningRateSchedule):
            raise NotImplementedError(
                "fastconv optimizers take a float or a LearningRateSchedule as `learning_rate`; callables "
                f"are not supported yet. Received: learning_rate={learning_rate!r}")
        if not isinstance(learning_rate, (float, schedules.LearningRateSchedule)):
            raise ValueError(
                "Argument `learning_rate` should be float, or an instance of LearningRateSchedule, or a "
                "callable (that takes in the current iteration value and returns the corresponding "
                f"learning rate value). Received instead: learning_rate={learning_rate}")

        self.name = name if name is not None else unique_name(to_snake_case(type(self).__name__))
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.built = False

        # Keras stores the counter as "int" (int64 under TensorFlow, int32 under
        # torch and JAX); int64 is what TensorFlow-written .keras files hold.
        self._iterations = _new_variable(0, "iteration", "int64", f"{self.name}/iteration")
        if isinstance(learning_rate, schedules.LearningRateSchedule):
            # Keras tracks no learning-rate variable with a schedule, so the saved variables are one fewer.
            self._learning_rate = learning_rate
            self._variables = [self._iterations]
        else:
            self._learning_rate = _new_variable(learning_rate, "learning_rate", "float32",
                                                f"{self.name}/learning_rate")
            self._variables = [self._iterations, self._learning_rate]
        self._trainable_variables = []
        self._index = {}

    # -- state -----------------------------------------------------------------------------------------

    @property
    def iterations(self):
        """The number of steps applied so far (an int64 ``Variable``)."""
        return self._iterations

    @property
    def learning_rate(self):
        """The learning rate, a float32 ``Variable``; assign a float to change it.

        With a schedule, a new ``Variable`` holding ``schedule(iterations)`` (the
        rate of the next step), which cannot be assigned to, as in Keras.
        """
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            return Variable(self._current_learning_rate(), "learning_rate", trainable=False, dtype="float32")
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, schedules.LearningRateSchedule):
            if not isinstance(self._learning_rate, schedules.LearningRateSchedule):
                self._variables.remove(self._learning_rate)
            self._learning_rate = value
            return
        if isinstance(value, dict) or callable(value):
            raise NotImplementedError(
                "fastconv optimizers take a float or a LearningRateSchedule as `learning_rate`; callables "
                f"are not supported yet. Received: learning_rate={value!r}")
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` "
                "constructor argument, hence its learning rate is not settable. If you need the learning rate "
                "to be settable, you should instantiate the optimizer with a float `learning_rate` argument.")
        self._learning_rate.assign(np.asarray(value, dtype="float32"))

    def _current_learning_rate(self):
        """The float32 rate of the next step: the variable's value, or ``schedule(iterations)``."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            return np.float32(self._learning_rate(self._iterations.value))
        return np.float32(self._learning_rate.value)

    @property
    def variables(self):
        """All optimizer variables in Keras's order: iteration, learning_rate, then the slots as built."""
        return self._variables[:]

    def build(self, variables):
        """Record the model variables this optimizer updates; subclasses then create their slots.

        Parameters
        ----------
        variables : list of Variable
            The trainable variables, in the order the gradients will come in.
        """
        for i, variable in enumerate(variables):
            if not isinstance(getattr(variable, "value", None), np.ndarray):
                raise TypeError(
                    "Optimizers update `fastconv.variables.Variable` objects in place. "
                    f"Received: variables[{i}] of type {type(variable).__name__}")
            self._index[id(variable)] = i
        self._trainable_variables = list(variables)
        self.built = True

    def add_variable_from_reference(self, reference_variable, name, initializer=0.0):
        """A slot variable shaped like ``reference_variable``, named ``{reference path with _}_{name}``."""
        slot_name = f"{reference_variable.path.replace('/', '_')}_{name}"
        variable = _new_variable(np.full(reference_variable.shape, initializer), slot_name,
                                 reference_variable.dtype, f"{self.name}/{slot_name}")
        self._variables.append(variable)
        return variable

    def add_optimizer_variables(self, variables, name, initializer=0.0):
        """Slots for every model variable; with a list of names, the names vary fastest (Keras's order).

        Returns one list of slots, or a tuple of lists when ``name`` is a list.
        """
        names = [name] if isinstance(name, str) else list(name)
        slots = tuple([] for _ in names)
        for variable in variables:
            for i, slot in enumerate(names):
                slots[i].append(self.add_variable_from_reference(variable, slot, initializer))
        return slots[0] if isinstance(name, str) else slots

    def _slot(self, slots, variable):
        return slots[self._index[id(variable)]]

    # -- applying gradients -----------------------------------------------------------------------------

    def apply_gradients(self, grads_and_vars):
        """``apply`` for an iterable of ``(gradient, variable)`` pairs; returns ``iterations``."""
        grads, variables = zip(*grads_and_vars)
        self.apply(grads, variables)
        return self._iterations

    def apply(self, grads, trainable_variables=None):
        """Update ``trainable_variables`` in place from ``grads`` (numpy arrays of the same shapes).

        Builds the optimizer on the first call. Without ``trainable_variables``
        the gradients line up with the variables it was built with.
        """
        grads = list(grads)
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already be built on a "
                    "list of variables. Call `optimizer.build(trainable_variables)` first.")
            if len(grads) != len(self._trainable_variables):
                raise ValueError(
                    "When passing `grads` as a list of gradient tensors, the gradients must match "
                    f"`optimizer.variables` one-to-one. Received a list of {len(grads)} gradients, but the "
                    f"optimizer is tracking {len(self._trainable_variables)} trainable variables.")
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if len(grads) != len(trainable_variables):
                raise ValueError(
                    f"Expected one gradient per variable. Received {len(grads)} gradients for "
                    f"{len(trainable_variables)} variables.")
            if not self.built:
                self.build(trainable_variables)
            for variable in trainable_variables:
                if id(variable) not in self._index:
                    raise ValueError(
                        f"Unknown variable: {variable}. This optimizer can only be called for the variables "
                        "it was originally built with. When working with a new set of variables, you "
                        "should recreate a new optimizer instance.")

        pairs = [(g, v) for g, v in zip(grads, trainable_variables) if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        if len(pairs) < len(grads):
            missing = [v.path for g, v in zip(grads, trainable_variables) if g is None]
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the loss. If "
                          "using `model.compile()`, did you forget to provide a `loss` argument?")
        grads = []
        for g, v in pairs:
            g = np.asarray(g, dtype=v.dtype)
            if g.shape != v.shape:
                raise ValueError(f"Invalid gradient for variable `{v.path}`: expected shape {v.shape}. "
                                 f"Received: gradient.shape={g.shape}")
            grads.append(g)
        variables = [v for _, v in pairs]

        if self.loss_scale_factor is not None:
            grads = [g / g.dtype.type(self.loss_scale_factor) for g in grads]
        grads = self._clip_gradients(grads)
        learning_rate = self._current_learning_rate()
        self._apply_weight_decay(variables, learning_rate)
        self._before_steps()
        for g, v in zip(grads, variables):
            self.update_step(g, v, learning_rate)
        for v in variables:  # the weights' constraints (`kernel_constraint=max_norm(1.0)`), after the steps
            if v.constraint is not None:
                v.value[...] = v.constraint(v.value)
        self._iterations.value += 1

    def _before_steps(self):
        """What an optimizer updates once per ``apply``, before the variables' steps (``Nadam``'s product of
        momentum factors); nothing by default."""

    def update_step(self, gradient, variable, learning_rate):
        """Update ``variable`` (and its slots) in place from ``gradient``; each optimizer defines it."""
        raise NotImplementedError(f"{type(self).__name__} must implement `update_step`.")

    def scale_loss(self, loss):
        """``loss * loss_scale_factor`` (the loss unchanged without one), as Keras's ``train_step`` does."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    def _clip_gradients(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            out = []
            for g in grads:
                c = g.dtype.type(self.clipnorm)
                out.append(g * c / np.maximum(np.sqrt(np.sum(np.square(g))), c))
            return out
        if self.global_clipnorm and self.global_clipnorm > 0:
            norm = np.sqrt(sum(np.sum(np.square(g), dtype=np.float32) for g in grads))
            c = np.float32(self.global_clipnorm)
            # c * min(1/norm, 1/c): exactly 1 below the threshold; NaN if the norm is not finite (as Keras).
            scale = c * np.minimum(np.float32(1) / norm, np.float32(1) / c) + (norm - norm)
            return [g * g.dtype.type(scale) for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            return [np.clip(g, -self.clipvalue, self.clipvalue).astype(g.dtype, copy=False) for g in grads]
        return grads

    def _apply_weight_decay(self, variables, learning_rate):
        if self.weight_decay is None:
            return
        for v in variables:
            dt = v.dtype.type
            lr = dt(learning_rate)
            v.value -= v.value * dt(self.weight_decay) * lr

    # -- saving -----------------------------------------------------------------------------------------

    def set_weights(self, weights):
        """Assign ``weights`` (arrays in the order of ``variables``) to the built optimizer's variables."""
        if not self.built:
            raise ValueError(
                "You are calling `set_weights()` on an optimizer that has not yet been built. Please call "
                "`optimizer.build(trainable_variables)` to create the optimizer weights before calling "
                "`set_weights()`.")
        for variable, weight in zip(self._variables, weights):
            variable.assign(weight)

    def save_own_variables(self, store):
        """Write ``variables`` to ``store`` (a dict-like) under ``"0"``, ``"1"``, ... (Keras's ``.keras`` layout)."""
        for i, variable in enumerate(self._variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store):
        """Read what ``save_own_variables`` wrote; warns and loads nothing if the counts differ (as Keras)."""
        if len(store.keys()) != len(self._variables):
            msg = (f"Skipping variable loading for optimizer '{self.name}', because it has "
                   f"{len(self._variables)} variables whereas the saved optimizer has {len(store.keys())} "
                   "variables. ")
            if not self.built:
                msg += "This is likely because the optimizer has not been called/built yet."
            warnings.warn(msg, stacklevel=2)
            return
        for i, variable in enumerate(self._variables):
            variable.assign(np.asarray(store[str(i)]).astype(variable.dtype))

    # -- config -----------------------------------------------------------------------------------------

    def get_config(self):
        """Keras's optimizer config: the base keys, then each optimizer's own."""
        return {
            "name": self.name,
            "learning_rate": (schedules.serialize(self._learning_rate)
                              if isinstance(self._learning_rate, schedules.LearningRateSchedule)
                              else float(self._learning_rate.value)),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new, unbuilt optimizer from ``get_config()``'s dict."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, learning_rate={float(self._current_learning_rate()):g}>"


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum.

    Without momentum::

        w = w - lr * g

    With ``momentum > 0`` (slot ``momentum``, the velocity ``m``, starting at 0)::

        m = momentum * m - lr * g
        w = w + m                              # nesterov=False
        w = w + momentum * m - lr * g          # nesterov=True

    Parameters
    ----------
    learning_rate : float, default 0.01
    momentum : float in [0, 1], default 0.0
    nesterov : bool, default False
    **kwargs
        The base ``Optimizer`` arguments.

    Examples
    --------
    >>> w = Variable(np.array([1.0, 2.0]), name="w")
    >>> SGD(learning_rate=0.1).apply([np.array([1.0, -1.0])], [w])
    >>> w.numpy()
    array([0.9, 2.1], dtype=float32)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        if not isinstance(momentum, float) or momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = momentum
        self.nesterov = nesterov

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = self.add_optimizer_variables(variables, "momentum") if self.momentum != 0 else []

    def update_step(self, gradient, variable, learning_rate):
        dt = variable.dtype.type
        lr = dt(learning_rate)
        w = variable.value
        if self.momentum == 0:
            w -= gradient * lr
            return
        momentum = dt(self.momentum)
        m = self._slot(self.momentums, variable).value
        m[...] = m * momentum - gradient * lr
        if self.nesterov:
            w += m * momentum - gradient * lr
        else:
            w += m

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2014), with Keras's bias correction folded into the step size.

    Slots ``momentum`` (m) and ``velocity`` (v), and with ``amsgrad``
    ``velocity_hat``, all starting at 0. At step ``t = iterations + 1``::

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m = m + (g - m) * (1 - beta_1)
        v = v + (g**2 - v) * (1 - beta_2)
        v_hat = max(v_hat, v); v = v_hat      # amsgrad only
        w = w - m * alpha / (sqrt(v) + epsilon)

    ``epsilon`` is the paper's "epsilon hat": it is added to ``sqrt(v)``
    after the bias correction has been moved into ``alpha``.

    Parameters
    ----------
    learning_rate : float, default 0.001
    beta_1 : float, default 0.9
    beta_2 : float, default 0.999
    epsilon : float, default 1e-7
    amsgrad : bool, default False
    **kwargs
        The base ``Optimizer`` arguments.

    Examples
    --------
    The first step moves every weight by about ``lr`` against its gradient's sign:

    >>> w = Variable(np.array([1.0, 2.0]), name="w")
    >>> Adam().apply([np.array([0.5, -3.0])], [w])
    >>> np.round(w.numpy(), 6)
    array([0.999, 2.001], dtype=float32)
    """

    kernel_families = ("adam",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self._scalars_key = self._scalars = None

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums, self._velocities = self.add_optimizer_variables(variables, ["momentum", "velocity"])
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(variables, "velocity_hat")

    def update_step(self, gradient, variable, learning_rate):
        velocity_hat = self._slot(self._velocity_hats, variable).value if self.amsgrad else variable.value
        parallel.run(_optimizer_kernels._adam_update,
                     variable.value.reshape(-1), gradient.reshape(-1),
                     self._slot(self._momentums, variable).value.reshape(-1),
                     self._slot(self._velocities, variable).value.reshape(-1), velocity_hat.reshape(-1),
                     *self._step_scalars(variable.dtype.type, learning_rate), self.amsgrad,
                     threads=1 if variable.value.size <= _optimizer_kernels.BLOCK else None)

    def _step_scalars(self, dt, learning_rate):
        """``(alpha, 1 - beta_1, 1 - beta_2, epsilon)`` of this step in dtype ``dt``: the same for every
        variable of one ``apply``, so computed once."""
        key = (dt, float(learning_rate), int(self._iterations.value), self.beta_1, self.beta_2, self.epsilon)
        if self._scalars_key != key:
            lr = dt(learning_rate)
            step = dt(self._iterations.value + 1)
            beta_1_power = np.power(dt(self.beta_1), step)
            beta_2_power = np.power(dt(self.beta_2), step)
            alpha = lr * np.sqrt(1 - beta_2_power) / (1 - beta_1_power)
            self._scalars_key = key
            self._scalars = (alpha, dt(1 - self.beta_1), dt(1 - self.beta_2), dt(self.epsilon))
        return self._scalars

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "amsgrad": self.amsgrad})
        return config


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012): divide the gradient by a running root-mean-square, epsilon inside the root.

    Slots ``velocity`` (v), ``momentum`` (only with ``momentum > 0``) and
    ``average_gradient`` (a, only with ``centered``), all starting at 0::

        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g                        # centered
        denominator = v - a**2 + epsilon                    # centered
        denominator = v + epsilon                           # otherwise
        increment = lr * g / sqrt(denominator)
        mom = momentum * mom + increment; w = w - mom       # momentum > 0
        w = w - increment                                   # otherwise

    Parameters
    ----------
    learning_rate : float, default 0.001
    rho : float, default 0.9
    momentum : float, default 0.0
    epsilon : float, default 1e-7
    centered : bool, default False
    **kwargs
        The base ``Optimizer`` arguments.

    Examples
    --------
    Keras's docstring example: minimising ``w**2 / 2`` (gradient ``w``) from 10:

    >>> w = Variable(np.array(10.0), name="w")
    >>> RMSprop(learning_rate=0.1).apply([w.numpy()], [w])
    >>> round(float(w.numpy()), 5)
    9.68377
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._velocities = self.add_optimizer_variables(variables, "velocity")
        self._momentums = self.add_optimizer_variables(variables, "momentum") if self.momentum > 0 else []
        self._average_gradients = (self.add_optimizer_variables(variables, "average_gradient")
                                   if self.centered else [])

    def update_step(self, gradient, variable, learning_rate):
        dt = variable.dtype.type
        lr = dt(learning_rate)
        rho = dt(self.rho)
        v = self._slot(self._velocities, variable).value
        v[...] = rho * v + dt(1 - self.rho) * np.square(gradient)
        if self.centered:
            a = self._slot(self._average_gradients, variable).value
            a[...] = rho * a + dt(1 - self.rho) * gradient
            denominator = v - np.square(a) + dt(self.epsilon)
        else:
            denominator = v + dt(self.epsilon)
        increment = (lr * gradient) / np.sqrt(denominator)
        if self.momentum > 0:
            mom = self._slot(self._momentums, variable).value
            mom[...] = dt(self.momentum) * mom + increment
            variable.value -= mom
        else:
            variable.value -= increment

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                       "centered": self.centered})
        return config


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011): per-weight steps shrinking with the sum of squared gradients.

    Slot ``accumulator`` (s), starting at ``initial_accumulator_value``::

        s = s + g**2
        w = w - lr * g / sqrt(s + epsilon)

    Parameters
    ----------
    learning_rate : float, default 0.001
    initial_accumulator_value : float, default 0.1
    epsilon : float, default 1e-7
    **kwargs
        The base ``Optimizer`` arguments.

    Examples
    --------
    >>> w = Variable(np.array([1.0]), name="w")
    >>> Adagrad(learning_rate=0.1).apply([np.array([0.3])], [w])   # 1 - 0.1 * 0.3 / sqrt(0.1 + 0.09)
    >>> np.round(w.numpy(), 6)
    array([0.931175], dtype=float32)
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._accumulators = self.add_optimizer_variables(variables, "accumulator",
                                                          initializer=self.initial_accumulator_value)

    def update_step(self, gradient, variable, learning_rate):
        dt = variable.dtype.type
        lr = dt(learning_rate)
        s = self._slot(self._accumulators, variable).value
        s += np.square(gradient)
        variable.value -= (lr * gradient) / np.sqrt(s + dt(self.epsilon))

    def get_config(self):
        config = super().get_config()
        config.update({"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon})
        return config


class AdamW(Adam):
    """Adam with decoupled weight decay (``keras.optimizers.AdamW``): ``Adam`` whose ``weight_decay``
    (0.004 by default, required) shrinks each weight by ``learning_rate * weight_decay`` of itself before its
    step, as every Keras optimizer's ``weight_decay`` does.

    >>> AdamW().get_config()["weight_decay"]
    0.004
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


class Nadam(Adam):
    """Adam with Nesterov momentum (Dozat, 2016), as ``keras.optimizers.Nadam`` computes it: the momentum
    factor ``u_t = beta_1 * (1 - 0.5 * 0.96**t)`` changes with the step ``t`` and a variable keeps the product
    of the factors so far (``u_product``, the optimizer's last variable, as in Keras's files)::

        u_product = u_product * u_t                                   # once per step
        m = m + (g - m) * (1 - beta_1);  v = v + (g**2 - v) * (1 - beta_2)
        m_hat = u_{t+1} * m / (1 - u_product * u_{t+1}) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - beta_2**t)
        w = w - lr * m_hat / (sqrt(v_hat) + epsilon)

    >>> w = Variable(np.array([1.0]), name="w")
    >>> Nadam(learning_rate=0.1).apply([np.array([0.5])], [w])
    >>> np.round(w.numpy(), 4)
    array([0.8937], dtype=float32)
    """

    kernel_families = ()

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        dtype = variables[0].dtype if variables else np.dtype("float32")
        name = unique_name("variable")  # Keras's name for a variable without one: variable, variable_1, ...
        self._u_product = _new_variable(1.0, name, dtype, name)
        self._variables.append(self._u_product)

    def _momentum_factor(self, step, dt):
        """``u_t`` of step ``t`` in dtype ``dt``."""
        return dt(self.beta_1) * (dt(1) - dt(0.5) * np.power(dt(0.96), dt(step)))

    def _before_steps(self):
        dt = self._u_product.dtype.type
        self._u_product.value[...] = self._u_product.value * self._momentum_factor(self._iterations.value + 1, dt)

    def update_step(self, gradient, variable, learning_rate):
        dt = variable.dtype.type
        step = dt(self._iterations.value + 1)
        u_t, u_next = self._momentum_factor(step, dt), self._momentum_factor(step + dt(1), dt)
        u_product = self._u_product.value.astype(dt)
        m = self._slot(self._momentums, variable).value
        v = self._slot(self._velocities, variable).value
        m += (gradient - m) * dt(1 - self.beta_1)
        v += (np.square(gradient) - v) * dt(1 - self.beta_2)
        m_hat = u_next * m / (dt(1) - u_product * u_next) + (dt(1) - u_t) * gradient / (dt(1) - u_product)
        v_hat = v / (dt(1) - np.power(dt(self.beta_2), step))
        variable.value -= m_hat * dt(learning_rate) / (np.sqrt(v_hat) + dt(self.epsilon))

    def get_config(self):
        config = super().get_config()
        del config["amsgrad"]
        return config


class Adamax(Optimizer):
    """Adamax (Kingma and Ba, 2014, section 7), Adam with the infinity norm (``keras.optimizers.Adamax``).

    Slots ``momentum`` (m) and ``norm`` (u), starting at 0; at step ``t``::

        m = m + (g - m) * (1 - beta_1)
        u = max(beta_2 * u, |g|)
        w = w - lr * m / ((1 - beta_1**t) * (u + epsilon))

    >>> w = Variable(np.array([1.0]), name="w")
    >>> Adamax(learning_rate=0.1).apply([np.array([0.5])], [w])
    >>> np.round(w.numpy(), 4)
    array([0.9], dtype=float32)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._m, self._u = self.add_optimizer_variables(variables, ["momentum", "norm"])

    def update_step(self, gradient, variable, learning_rate):
        dt = variable.dtype.type
        m = self._slot(self._m, variable).value
        u = self._slot(self._u, variable).value
        m += (gradient - m) * dt(1 - self.beta_1)
        u[...] = np.maximum(dt(self.beta_2) * u, np.abs(gradient))
        beta_1_power = np.power(dt(self.beta_1), dt(self._iterations.value + 1))
        variable.value -= dt(learning_rate) * m / ((dt(1) - beta_1_power) * (u + dt(self.epsilon)))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012): steps scaled by running averages of squared gradients and of squared steps
    (``keras.optimizers.Adadelta``; the optimizer of Keras's classic MNIST convnet example).

    Slots ``accumulated_grad`` (a) and ``accumulated_delta_var`` (d), starting at 0::

        a = rho * a + (1 - rho) * g**2
        step = -sqrt(d + epsilon) * g / sqrt(a + epsilon)
        d = rho * d + (1 - rho) * step**2
        w = w + lr * step

    >>> w = Variable(np.array([1.0]), name="w")
    >>> Adadelta(learning_rate=1.0).apply([np.array([0.5])], [w])   # 1 - sqrt(1e-7) * 0.5 / sqrt(0.0125 + 1e-7)
    >>> np.round(w.numpy(), 6)
    array([0.998586], dtype=float32)
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._grads, self._deltas = self.add_optimizer_variables(variables, ["accumulated_grad",
                                                                             "accumulated_delta_var"])

    def update_step(self, gradient, variable, learning_rate):
        dt = variable.dtype.type
        rho, epsilon = dt(self.rho), dt(self.epsilon)
        accumulated_grad = self._slot(self._grads, variable).value
        accumulated_delta = self._slot(self._deltas, variable).value
        accumulated_grad[...] = rho * accumulated_grad + (dt(1) - rho) * np.square(gradient)
        step = -(np.sqrt(accumulated_delta + epsilon) * gradient) / np.sqrt(accumulated_grad + epsilon)
        accumulated_delta[...] = rho * accumulated_delta + (dt(1) - rho) * np.square(step)
        variable.value += dt(learning_rate) * step

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config


class Lion(Optimizer):
    """Lion (Chen et al., 2023): steps of the sign of an interpolation of momentum and gradient
    (``keras.optimizers.Lion``).

    Slot ``momentum`` (m), starting at 0::

        w = w - lr * sign(beta_1 * m + (1 - beta_1) * g)
        m = beta_2 * m + (1 - beta_2) * g

    >>> w = Variable(np.array([1.0, 1.0]), name="w")
    >>> Lion(learning_rate=0.1).apply([np.array([0.5, -2.0])], [w])
    >>> w.numpy()
    array([0.9, 1.1], dtype=float32)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer degenerates "
                             f"to SignSGD. Received: beta_1={beta_1}.")
        self.beta_1, self.beta_2 = beta_1, beta_2

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._m = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        dt = variable.dtype.type
        beta_1, beta_2 = dt(self.beta_1), dt(self.beta_2)
        m = self._slot(self._m, variable).value
        variable.value -= dt(learning_rate) * np.sign(m * beta_1 + gradient * (dt(1) - beta_1))
        m[...] = m * beta_2 + gradient * (dt(1) - beta_2)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2})
        return config


ALL_OBJECTS = (SGD, Adam, AdamW, RMSprop, Adagrad, Nadam, Adamax, Adadelta, Lion)
ALL_OBJECTS_DICT = {cls.__name__.lower(): cls for cls in ALL_OBJECTS}

# Keras 3 optimizers that fastconv does not implement yet: named, rather than "could not interpret".
_KERAS_ONLY = ("adafactor", "ftrl", "lossscaleoptimizer", "muon", "multioptimizer", "schedulefreeadamw")


def serialize(optimizer):
    """Keras's serialized form: ``{"module": "keras.optimizers", "class_name", "config", "registered_name"}``."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """An optimizer from ``serialize``'s dict; the class name is matched case-insensitively.

    Accepts what any Keras 3 backend writes (TensorFlow writes
    ``module="keras.optimizers"``, PyTorch the backend's module with a
    ``registered_name``); only ``class_name`` and ``config`` are read.
    """
    class_name = config["class_name"]
    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name].from_config(dict(config.get("config", {})))
    cls = ALL_OBJECTS_DICT.get(class_name.lower())
    if cls is None:
        if class_name.lower() in _KERAS_ONLY:
            raise NotImplementedError(
                f"The Keras optimizer `{class_name}` is not implemented in fastconv yet. "
                f"Supported: {', '.join(c.__name__ for c in ALL_OBJECTS)}.")
        raise ValueError(f"Could not interpret optimizer identifier: {class_name}")
    return cls.from_config(dict(config.get("config", {})))


def get(identifier):
    """Resolve ``identifier`` to an optimizer: ``None``, a name (``'adam'``, any case), a dict or an optimizer.

    >>> get("rmsprop").get_config()["rho"]
    0.9
    """
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")
