"""``Trainer``: Keras's ``compile``/``fit``/``evaluate``/``predict`` for fastconv models.

The model supplies ``forward``/``backward`` over its graph; this module runs
the loops: batching, shuffling (from ``fastconv.utils.rng()``, so
``set_random_seed`` makes runs repeatable), the loss and its gradient, the
optimizer step, metrics, validation and callbacks. It also stops cleanly on
Ctrl-C (after the current step) and on a NaN/inf loss. Under a distribution
(``fastconv.distribution``) the loops ask its strategy to shard each global
batch, average the gradients, sum the states behind the logs and gather
``predict``'s outputs; with none, the same calls do nothing.

While it trains, evaluates or predicts, the arrays of one step are reused by
the next (``fastconv.buffers``): ``fit``, ``evaluate`` and ``predict`` keep a
pool for the length of the call, the one-batch methods (``train_on_batch``...)
a pool that the model keeps. Nothing else about the process is changed: the
layers compute in float32 on fastconv's kernels and never call numpy's BLAS,
so its threads are left alone.
"""

import math
import signal
import threading
import warnings

import numpy as np

from fastconv import activations, callbacks as callbacks_module, losses, metrics as metrics_module, optimizers
from fastconv import buffers, compilation, data, distribution


class Trainer:
    """Mixin of ``Model``: everything between data and the model's forward and backward passes."""

    def __init__(self):
        self.optimizer = None
        self.loss = None
        self._loss_on_logits = None
        self.compiled = False
        self.run_eagerly = False
        self.jit_compile = False
        self.steps_per_execution = 1
        self.stop_training = False
        self.stop_evaluating = False
        self.stop_predicting = False
        self.history = None
        self._metric_identifiers = []
        self._metrics = None
        self._batch_buffers = buffers.Pool()  # reused by train_on_batch, test_on_batch and predict_on_batch

    # -- compile --------------------------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Configure training: ``optimizer`` and ``loss`` by name or object, ``metrics`` a list (e.g. ``['accuracy']``).

        fastconv runs a step one way: Python calls each layer's numba-compiled
        kernels in turn, one batch at a time, as Keras's PyTorch backend runs by
        default. So ``run_eagerly`` may be True or False (nothing is traced
        either way), ``jit_compile`` is False or ``'auto'`` (``True`` warns and
        proceeds with False, as Keras does for a model that cannot be compiled
        whole), ``steps_per_execution`` is 1, and ``auto_scale_loss``, which
        acts only on ``'mixed_float16'`` models, never applies (fastconv
        computes in float32).
        """
        _reject_custom_steps(self, ("train_step", "test_step", "compute_loss", "compute_metrics"))
        if loss_weights is not None or weighted_metrics is not None:
            raise NotImplementedError("fastconv models have one output: `loss_weights` and `weighted_metrics` are "
                                      f"not supported. Received: loss_weights={loss_weights!r}, "
                                      f"weighted_metrics={weighted_metrics!r}")
        if self.outputs and len(self.outputs) > 1:
            raise NotImplementedError(f"fastconv trains models with one output; this one has {len(self.outputs)}. "
                                      "Use it for `predict` (e.g. feature maps), or train a one-output model.")
        if loss is None:
            raise ValueError("Invalid value for argument `loss`. Expected a loss name or object such as "
                             "'sparse_categorical_crossentropy'. Received: loss=None")
        if isinstance(metrics, str):
            metrics = [metrics]  # tf.keras 2 accepted one name, and textbook programs pass metrics='accuracy'
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise ValueError(f"Invalid value for argument `metrics`. Expected a list of metrics. "
                             f"Received: metrics={metrics!r}")
        self.run_eagerly, self.jit_compile, self.steps_per_execution = _check_execution(
            run_eagerly, jit_compile, steps_per_execution)
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        self._loss_on_logits = losses.on_logits(self.loss)
        self._metric_identifiers = list(metrics or [])
        self._metrics = None
        self.compiled = True

    def _assert_compiled(self, method):
        if not self.compiled:
            raise ValueError(f"You must call `compile()` before using the model in `{method}()`.")  # Keras's type

    def _prepare_kernels(self, training, batch_size=None):
        """Compile (or check that this machine has compiled) the kernels a forward pass, or with
        ``training`` a training step, of this model runs (on batches of ``batch_size``, where the batch size
        chooses some: ``Layer.streamed_kernel_families``) (``fastconv.compilation``)."""
        families = [family for layer in self.layers for family in layer.kernel_families]
        families += [family for layer in self.layers
                     for family in getattr(layer, "activation", activations.linear).kernel_families]
        if batch_size:
            families += [family for layer in self.layers
                         for family in layer.streamed_kernel_families(batch_size, training)]
        if training:
            families += [family for layer in self.layers for family in layer.gradient_kernel_families]
            families += [family for layer in self._layers_taking_input_gradients()
                         for family in layer.input_gradient_kernel_families]
            families += list(self.optimizer.kernel_families) if self.optimizer is not None else []
        compilation.prepare(families)

    def _resolve_metrics(self, y, y_pred):
        """The compiled metrics for ``fit``'s first batch: a metric object given to ``compile`` is the same object
        every time, so its state is reset here, as each epoch's is (an ``evaluate`` before ``fit`` counted into
        the first epoch)."""
        if self._metrics is None:
            self._metrics = [metrics_module.resolve_metric(m, y, y_pred, self.loss) for m in self._metric_identifiers]
            for metric in self._metrics:
                metric.reset_state()
        return self._metrics

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in (self._metrics or [])]

    @property
    def metrics(self):
        """The metric objects of the last ``fit`` epoch, evaluation (``fit``'s validation too) or one-batch
        call: the loss's mean, then the compiled metrics one by one (Keras 3 gathers the compiled ones in one
        ``compile_metrics`` object); empty before any."""
        loss_mean, metrics = getattr(self, "_tracked", (None, []))
        return ([loss_mean] if loss_mean is not None else []) + list(metrics)

    def reset_metrics(self):
        """Reset the state of every metric in :attr:`metrics`."""
        for metric in self.metrics:
            metric.reset_state()

    def get_metrics_result(self):
        """``{name: result}`` of :attr:`metrics` (what the last epoch or evaluation logged, unless reset)."""
        return {metric.name: metric.result() for metric in self.metrics}

    # -- one step ---------------------------------------------------------------------------------------

    def _loss_gradient(self, y, y_pred, sample_weight=None):
        """Gradient of the mean loss with respect to the model's output, or to its softmax's logits.

        When the last layer ends in a softmax and the loss is a cross-entropy on
        probabilities, the two are differentiated together (``probs - labels``),
        which is stable and what Keras does; the flag tells ``backward`` to skip
        the softmax's own gradient.
        """
        last_layer = self._nodes[-1].layer if self._nodes else None
        if (getattr(last_layer, "activation", None) is activations.softmax
                and hasattr(self.loss, "gradient_through_softmax") and not getattr(self.loss, "from_logits", False)):
            return self.loss.gradient_through_softmax(y, y_pred, sample_weight), True
        return self.loss.gradient(y, y_pred, sample_weight), False

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the loss and metrics of that batch."""
        self._assert_compiled("train_on_batch")
        x, y = self._check_data(x, y)
        sample_weight = _sample_weights(y, sample_weight, class_weight)
        self._prepare_kernels(training=True, batch_size=len(x))
        with buffers.reuse(self._batch_buffers):
            loss_value, y_pred = self._train_step(x, y, sample_weight=sample_weight)
        return self._batch_logs(loss_value, y, y_pred, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss and metrics of one batch, without training."""
        self._assert_compiled("test_on_batch")
        x, y = self._check_data(x, y)
        sample_weight = _sample_weights(y, sample_weight)
        self._prepare_kernels(training=False, batch_size=len(x))
        with buffers.reuse(self._batch_buffers):
            outputs, tape = self.forward(x, training=self._loop_training(False))
            y_pred = outputs[0]
            return self._batch_logs(self._loss_value(y, y_pred, tape, sample_weight=sample_weight), y, y_pred,
                                    return_dict)

    def predict_on_batch(self, x):
        x = self._check_inputs(x)
        self._prepare_kernels(training=False, batch_size=len(x))
        with buffers.reuse(self._batch_buffers):
            return self._predict_batch(x)

    def _batch_logs(self, loss_value, y, y_pred, return_dict):
        metrics = self._resolve_metrics(y, y_pred)
        loss_mean = metrics_module.Mean(name="loss")
        loss_mean.update_state(loss_value)
        self._tracked = loss_mean, metrics
        for metric in metrics:
            metric.reset_state()
            metric.update_state(y, y_pred)
        return _returned(_logs(loss_value, metrics), return_dict, [metric.name for metric in metrics])

    def _loss_value(self, y, y_pred, tape, trainable_weights=None, sample_weight=None):
        """The batch's loss as Keras computes it under TensorFlow: a cross-entropy on the probabilities of a
        softmax (or sigmoid) output layer is taken from that layer's logits, not from the probabilities, which
        it would clip at ``1e-7`` (TensorFlow's ``_keras_logits``; the gradient is the logits' already). With
        ``sample_weight``, each sample's loss weighted, their sum divided by the batch's size, as Keras's."""
        if self._loss_on_logits is not None and self._nodes and self._nodes[-1].output is self.outputs[0]:
            last_layer = self._nodes[-1].layer
            if (getattr(last_layer, "activation", None) is self._loss_on_logits.output_activation
                    and not last_layer.runs_own_call()):
                logits = last_layer.pre_activation(tape[-1])
                if logits is not None:
                    return self._loss_on_logits(y, logits, sample_weight) + self._penalty(trainable_weights)
        return self.loss(y, y_pred, sample_weight) + self._penalty(trainable_weights)

    def _penalty(self, trainable_weights=None):
        """The sum of the trainable weights' regularization penalties (``trainable_weights``, by default the
        model's), which Keras adds to the loss it reports."""
        weights = self.trainable_weights if trainable_weights is None else trainable_weights
        return sum((regularizer(v.value) for v, regularizer in _regularized(weights)), np.float32(0))

    @property
    def losses(self):
        """The weights' regularization penalties (``model.losses`` in Keras), one for each regularized weight."""
        return [regularizer(v.value) for v, regularizer in _regularized(self.trainable_weights)]

    def _train_step(self, x, y, strategy=distribution.ONE_PROCESS, sample_weight=None):
        """One optimizer step; under a distribution (``fit``'s ``strategy``) ``x`` is this process's shard of the
        global batch, perhaps empty, and the gradients are averaged over all processes. ``sample_weight``
        weights each sample's loss (``fit``'s ``sample_weight`` or ``class_weight``)."""
        trainable_weights = self.trainable_weights
        if len(x):
            outputs, tape = self.forward(x, training=self._loop_training(True))
            y_pred = outputs[0]
            loss_value = self._loss_value(y, y_pred, tape, trainable_weights, sample_weight)
            grad, through_softmax = self._loss_gradient(y, y_pred, sample_weight)
            # Keras differentiates `optimizer.scale_loss(loss)`, the loss times `loss_scale_factor` (which the
            # optimizer divides the gradients by again): its gradient is the loss's times the factor.
            grad = self.optimizer.scale_loss(grad).astype(np.float32, copy=False)
            weight_grads = self.backward(tape, grad, through_softmax)
            for variable, regularizer in _regularized(trainable_weights):
                if id(variable) in weight_grads:
                    weight_grads[id(variable)] = weight_grads[id(variable)] + self.optimizer.scale_loss(
                        regularizer.gradient(variable.value))
        else:
            loss_value, y_pred, weight_grads = 0.0, self._empty_outputs(single=True), {}
        variables, grads = strategy.average_gradients(trainable_weights, weight_grads, len(x))
        self.optimizer.apply(grads, variables)
        return loss_value, y_pred

    def _predict_batch(self, x):
        outputs, _ = self.forward(x, training=self._loop_training(False))
        return outputs[0] if len(outputs) == 1 else outputs  # one output as it is, as Keras unpacks `[output]`

    # -- data checks ------------------------------------------------------------------------------------

    def _check_data(self, x, y):
        x = self._check_inputs(x)
        if y is None:
            raise ValueError("Invalid value for argument `y`: training and evaluation need targets. Received: y=None")
        y = np.asarray(y)
        if len(x) != len(y):
            raise ValueError("Data cardinality is ambiguous. Make sure all arrays contain the same number of "
                             f"samples. 'x' sizes: {len(x)} 'y' sizes: {len(y)}")
        return x, y

    # -- fit --------------------------------------------------------------------------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns a ``History`` whose ``history`` dict holds each epoch's logs.

        ``x`` and ``y`` are arrays, or ``x`` is a ``keras.utils.PyDataset`` or a generator of batches
        (``fastconv.data``), ``steps_per_epoch`` batches an epoch (by default a whole pass), and so may
        ``validation_data`` be (``validation_steps`` batches each time)."""
        self._assert_compiled("fit")
        _check_steps(steps_per_epoch, "steps_per_epoch")
        _check_steps(validation_steps, "validation_steps")
        batch_size = _check_batch_size(batch_size)
        validation_batch_size = _check_batch_size(validation_batch_size, "validation_batch_size", batch_size)
        verbose = _verbosity(verbose)
        _check_validation_freq(validation_freq)
        _check_validation_split(validation_split)
        strategy = distribution.current()
        streamed = data.is_stream(x)  # batches given one at a time, each checked (and its kernels prepared) as read
        if streamed:
            _check_stream(x, "x", y=y, sample_weight=sample_weight, validation_split=validation_split)
            training_data = data.Epochs(x, steps_per_epoch, shuffle)
        else:
            x, y = self._check_data(x, y)
            _check_samples(x, "x", "fit")
            sample_weight = _sample_weights(y, sample_weight, class_weight)
            if validation_data is None and validation_split:
                x, y, x_val, y_val = _split_for_validation(x, y, validation_split)
                weight_val = None
                if sample_weight is not None:  # the weights split with the samples, as Keras splits them
                    sample_weight, weight_val = sample_weight[:len(x)], sample_weight[len(x):]
                validation_data = (x_val, y_val, weight_val)
            training_data = data.Epochs(data.ArrayBatches(x, y, sample_weight, batch_size, shuffle, strategy),
                                        steps_per_epoch)
        validating = self._validation_epochs(validation_data, validation_steps, validation_batch_size, strategy)

        callback_list = self._callback_list(callbacks, verbose, training_data.steps, epochs=epochs, add_history=True)
        self.stop_training = False
        self._metrics = None
        if not streamed:
            largest_batch = min(batch_size, len(x))
            if validating is not None and isinstance(validating.data, data.ArrayBatches):
                largest_batch = max(largest_batch, min(validation_batch_size, len(validating.data.x)))
            self._prepare_kernels(training=True, batch_size=largest_batch)
        strategy.synchronize(self)
        interrupt = _InterruptFlag()
        training_logs = {}
        self._initial_epoch = None  # a callback may set it in on_train_begin (BackupAndRestore), for this fit
        self.interrupted = False  # set by a Ctrl-C: the epoch it cut short ends, with its logs so far
        callback_list.on_train_begin()
        initial_epoch = self._initial_epoch or initial_epoch
        with interrupt, buffers.reuse():
            for epoch in range(initial_epoch, epochs):
                if interrupt.raised:  # during the last epoch's validation: no epoch begins
                    print(f"\nTraining interrupted (Ctrl-C) before epoch {epoch + 1}.")
                    self.stop_training = self.interrupted = True
                    break
                callback_list.on_epoch_begin(epoch)
                loss_mean = metrics_module.Mean(name="loss")
                for metric in self._metrics or []:
                    metric.reset_state()
                logs = {}
                for step, (xb, yb, wb) in enumerate(training_data.epoch()):
                    if streamed:  # a batch given by the user's data: checked as the arrays are
                        xb, yb, wb = self._checked_batch(xb, yb, wb, class_weight, training=True)
                    callback_list.on_train_batch_begin(step)
                    loss_value, y_pred = self._train_step(xb, yb, strategy, wb)
                    loss_mean.update_state(loss_value, sample_weight=len(yb))
                    metrics = self._resolve_metrics(yb, y_pred)
                    self._tracked = loss_mean, metrics
                    for metric in metrics:
                        metric.update_state(yb, y_pred)
                    with strategy.summed(loss_mean, *metrics):
                        logs = _logs(loss_mean.result(), metrics)
                    callback_list.on_train_batch_end(step, logs)
                    if not np.isfinite(logs["loss"]):  # the loss over the epoch: the same on every process
                        warnings.warn(f"Epoch {epoch + 1}, batch {step + 1}: invalid loss ({float(loss_value)}); "
                                      "training stopped. Check the inputs for NaN/inf or lower the learning rate.",
                                      RuntimeWarning, stacklevel=2)
                        self.stop_training = True
                    if interrupt.raised:
                        print(f"\nTraining interrupted (Ctrl-C) in epoch {epoch + 1} after batch {step + 1}; "
                              "the model keeps the weights of the last completed step.")
                        self.stop_training = self.interrupted = True
                    if self.stop_training:
                        break
                training_data.check_not_empty()
                if training_data.ran_out and not logs:  # a generator with nothing left: no epoch to report
                    break
                epoch_logs = dict(logs)
                if validating is not None and not interrupt.raised and _should_validate(epoch, validation_freq):
                    val_logs = self._test_loop(validating, callback_list)
                    epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
                callback_list.on_epoch_end(epoch, epoch_logs)
                training_logs = epoch_logs
                if self.stop_training or training_data.ran_out:
                    break
        callback_list.on_train_end(training_logs)
        strategy.barrier()  # process 0's checkpoints are written before any process returns
        return self.history

    def _validation_epochs(self, validation_data, validation_steps, batch_size, strategy):
        """``fit``'s validation batches (an ``Epochs``, or None without validation data): ``(x, y)``, ``(x, y,
        sample_weight)``, a ``PyDataset`` or a generator."""
        if validation_data is None:
            return None
        if data.is_stream(validation_data):
            _check_stream(validation_data, "validation_data")
            return data.Epochs(validation_data, validation_steps)
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("`validation_data` must be a tuple `(x_val, y_val)` or `(x_val, y_val, "
                             f"val_sample_weight)`, a PyDataset or a generator. Received: "
                             f"{type(validation_data).__name__}")
        x_val, y_val = self._check_data(*validation_data[:2])
        _check_samples(x_val, "validation_data", "fit")
        weight_val = None
        if len(validation_data) == 3 and validation_data[2] is not None:
            weight_val = _sample_weights(y_val, validation_data[2])
        return data.Epochs(data.ArrayBatches(x_val, y_val, weight_val, batch_size, strategy=strategy),
                           validation_steps)

    def _checked_batch(self, x, y, sample_weight, class_weight=None, training=False):
        """A batch from a ``PyDataset`` or generator, checked and converted as ``fit`` checks arrays, its
        kernels compiled for its size where they are not yet."""
        if y is None:
            raise ValueError("Training and evaluation need targets: each batch of a PyDataset or generator must "
                             "be `(x, y)` or `(x, y, sample_weight)`. Received a batch without `y`.")
        x, y = self._check_data(x, y)
        sample_weight = _sample_weights(y, sample_weight, class_weight)
        self._prepare_kernels(training=training, batch_size=len(x))
        return x, y, sample_weight

    def _callback_list(self, callbacks, verbose, steps, epochs=1, add_history=False):
        """The ``CallbackList`` of one ``fit``, ``evaluate`` or ``predict``; one passed in (as ``fit`` passes its
        own to validation, like Keras) is used as it is."""
        if isinstance(callbacks, callbacks_module.CallbackList):
            return callbacks
        return callbacks_module.CallbackList(callbacks, add_history=add_history, add_progbar=verbose != 0,
                                             model=self, verbose=verbose, epochs=epochs, steps=steps)

    # -- evaluate and predict ------------------------------------------------------------------------------

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Mean loss and metrics over ``(x, y)`` (or a ``PyDataset`` or generator ``x``, ``steps`` batches of it
        or all): ``[loss, *metrics]`` (or a dict with ``return_dict=True``)."""
        self._assert_compiled("evaluate")
        _check_steps(steps, "steps")
        batch_size = _check_batch_size(batch_size)
        verbose = _verbosity(verbose)
        if data.is_stream(x):
            _check_stream(x, "x", y=y, sample_weight=sample_weight)
            batches = data.Epochs(x, steps)
        else:
            x, y = self._check_data(x, y)
            _check_samples(x, "x", "evaluate")
            sample_weight = _sample_weights(y, sample_weight)
            batches = data.Epochs(data.ArrayBatches(x, y, sample_weight, batch_size, strategy=distribution.current()),
                                  steps)
            self._prepare_kernels(training=False, batch_size=min(batch_size, len(x)))
        callback_list = self._callback_list(callbacks, verbose, batches.steps)
        distribution.current().synchronize(self)
        with buffers.reuse():
            logs = self._test_loop(batches, callback_list)
        return _returned(logs, return_dict, [metric.name for metric in self._metrics or []])

    def _test_loop(self, batches, callback_list):
        """The batches of ``evaluate`` (and of ``fit``'s validation: one epoch of ``batches``, an ``Epochs``)
        between the ``on_test_*`` hooks; returns the logs of all of them: the mean loss (each sample's weighted
        by its sample weight) and the metrics (unweighted, as Keras's ``compile(metrics=...)``) over every
        sample."""
        self.stop_evaluating = False
        strategy = distribution.current()
        trainable_weights = self.trainable_weights  # their penalties count in the loss, once a batch
        loss_mean = metrics_module.Mean(name="loss")
        metrics = None
        logs = {}
        callback_list.on_test_begin()
        batches.restart()
        for step, (xb, yb, wb) in enumerate(batches.epoch()):
            if not isinstance(batches.data, data.ArrayBatches):
                xb, yb, wb = self._checked_batch(xb, yb, wb)
            callback_list.on_test_batch_begin(step)
            if len(yb):
                outputs, tape = self.forward(xb, training=self._loop_training(False))
                y_pred = outputs[0]
                loss_mean.update_state(self._loss_value(yb, y_pred, tape, trainable_weights, wb), sample_weight=len(yb))
            else:  # this process's shard of a global batch smaller than the number of processes
                y_pred = self._empty_outputs(single=True)
            if metrics is None:
                metrics = [metrics_module.resolve_metric(m, yb, y_pred, self.loss)
                           for m in self._metric_identifiers]
                for metric in metrics:  # a Metric object given to `compile` is the same object every time
                    metric.reset_state()
                self._metrics = self._metrics or metrics
                self._tracked = loss_mean, metrics
            for metric in metrics:
                metric.update_state(yb, y_pred)
            with strategy.summed(loss_mean, *metrics):
                logs = _logs(loss_mean.result(), metrics)
            callback_list.on_test_batch_end(step, logs)
            if self.stop_evaluating:
                break
        batches.check_not_empty()
        logs = dict(logs)
        callback_list.on_test_end(logs)
        return logs

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for ``x``, computed ``batch_size`` samples at a time (or for the batches of a
        ``PyDataset`` or generator ``x``, ``steps`` of them or all; a batch's targets, if any, are left out)."""
        _reject_custom_steps(self, ("predict_step",))
        _check_steps(steps, "steps")
        batch_size = _check_batch_size(batch_size)
        verbose = _verbosity(verbose)
        strategy = distribution.current()
        streamed = data.is_stream(x)
        if streamed:
            _check_stream(x, "x")
            batches = data.Epochs(x, steps)
        else:
            x = self._check_inputs(x)
            batches = data.Epochs(data.ArrayBatches(x, None, None, batch_size, strategy=strategy), steps)
            self._prepare_kernels(training=False, batch_size=min(batch_size, len(x)))
        callback_list = self._callback_list(callbacks, verbose, batches.steps)
        strategy.synchronize(self)
        self.stop_predicting = False
        outputs = []
        callback_list.on_predict_begin()
        with buffers.reuse():
            for step, (xb, _, _) in enumerate(batches.epoch()):
                if streamed:
                    xb = self._check_inputs(xb)
                    self._prepare_kernels(training=False, batch_size=len(xb))
                callback_list.on_predict_batch_begin(step)
                outputs.append(self._predict_batch(xb) if len(xb) else self._empty_outputs(len(self.outputs) == 1))
                callback_list.on_predict_batch_end(step, {"outputs": outputs[-1]})
                if self.stop_predicting:
                    break
        batches.check_not_empty()
        callback_list.on_predict_end()
        if not outputs:
            return self._empty_outputs(len(self.outputs) == 1)
        if streamed:
            return np.concatenate(outputs) if len(self.outputs) == 1 else [np.concatenate(o) for o in zip(*outputs)]
        done = min(len(x), len(outputs) * batch_size)  # all of x, unless a callback stopped predicting
        if len(self.outputs) == 1:
            return strategy.gather(np.concatenate(outputs), done, batch_size)
        return [strategy.gather(np.concatenate(parts), done, batch_size) for parts in zip(*outputs)]

    def _empty_outputs(self, single=False):
        """Outputs of no samples: a list of one array per output, or the one array with ``single``."""
        empty = [np.zeros((0, *t.shape[1:]), np.float32) for t in self.outputs]
        return empty[0] if single else empty


def _logs(loss, metrics):
    """The logs that callbacks, ``History``, the progress bar and ``return_dict`` see: ``{"loss": ...,
    <metric name>: ...}``, Python floats, by name in alphabetical order as Keras 3 orders them (``fit``'s
    history then adds the ``val_`` names, also in that order); an array for a metric whose result is one
    (``F1Score()``'s score of each class)."""
    values = {metric.name: metric.result() for metric in metrics}
    values = {name: float(value) if np.ndim(value) == 0 else np.asarray(value) for name, value in values.items()}
    return dict(sorted({"loss": float(loss), **values}.items()))


def _returned(logs, return_dict, metric_names):
    """What ``evaluate`` and the one-batch methods return: the logs, or, as Keras returns them, their
    values with the loss first and the metrics in ``compile``'s order (the loss alone as a float when there
    are no metrics)."""
    if return_dict:
        return logs
    values = [logs["loss"], *(logs[name] for name in metric_names)]
    return values[0] if len(values) == 1 else values


def _sample_weights(y, sample_weight=None, class_weight=None):
    """Each sample's loss weight, a float32 array ``(n,)``, or None: ``sample_weight`` as given, or
    ``class_weight[label]`` (1 for a class it leaves out) for each sample's label (the largest entry of a one-hot
    row), as Keras turns ``class_weight`` into sample weights."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise ValueError(f"Invalid value for argument `class_weight`. Expected a dict mapping class indices to "
                             f"weights. Received: class_weight={class_weight!r}")
        labels = np.asarray(y)
        if labels.ndim > 1:
            labels = np.argmax(labels, axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
        labels = np.round(labels).astype(np.int64).reshape(len(labels), -1)[:, 0]
        return np.array([class_weight.get(int(label), 1.0) for label in labels], np.float32)
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float32)
    if weights.ndim == 2 and weights.shape[1] == 1:
        weights = weights[:, 0]
    if weights.shape != (len(y),):
        raise ValueError(f"Invalid value for argument `sample_weight`. Expected one weight per sample, shape "
                         f"({len(y)},). Received: sample_weight.shape={weights.shape}")
    return weights


def _reject_custom_steps(model, names):
    """Raise ``NotImplementedError`` where a subclass overrides one of Keras's step methods (``names``), which
    fastconv's own loops would otherwise skip without a word: a custom ``train_step`` computes its gradients
    with TensorFlow's or torch's autograd, which fastconv does not have."""
    overridden = [name for name in names if hasattr(type(model), name)]
    if overridden:
        raise NotImplementedError(
            f"The model '{model.name}' ({type(model).__name__}) overrides `{overridden[0]}`: fastconv runs its own "
            "training, evaluation and prediction steps (its layers' backward passes, no autograd), so a custom "
            "step is not supported. Express the model with layers and the loss and metrics with `compile`, or "
            "use callbacks for what happens around each step.")


def _check_steps(steps, argument):
    if steps is not None and not _is_positive_integer(steps):
        raise ValueError(f"Invalid value for argument `{argument}`. Expected a positive integer or None. "
                         f"Received: {argument}={steps!r}")


def _check_stream(x, argument, y=None, sample_weight=None, validation_split=0.0):
    """Keras's rules for data given a batch at a time (a PyDataset or a generator): the targets and sample
    weights come in its batches, it cannot be split for validation, and fastconv reads it in one process."""
    kind = "PyDataset" if isinstance(x, data.PyDataset) else "generator"
    for name, value, what in (("y", y, "the targets"), ("sample_weight", sample_weight, "the sample weights")):
        if value is not None:
            raise ValueError(f"When providing `{argument}` as a {kind}, `{name}` should not be passed. Instead, "
                             f"{what} should be included as part of the {kind}.")
    if validation_split:
        raise ValueError(f"`validation_split` is only supported for NumPy arrays; `{argument}` is a {kind}. "
                         f"Received: validation_split={validation_split}. Pass `validation_data` instead.")
    if distribution.current() is not distribution.ONE_PROCESS:
        raise NotImplementedError(f"Under MPI, fastconv shards arrays between the processes; a {kind} as "
                                  f"`{argument}` is not supported there. Pass numpy arrays.")


def _is_positive_integer(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def _check_batch_size(batch_size, argument="batch_size", default=32):
    if batch_size is None:
        return default
    if not _is_positive_integer(batch_size):
        raise ValueError(f"Invalid value for argument `{argument}`. Expected a positive integer. "
                         f"Received: {argument}={batch_size!r}")
    return int(batch_size)


def _check_samples(x, argument, method):
    if len(x) == 0:
        raise ValueError(f"Invalid value for argument `{argument}`: `{method}` needs at least one sample. "
                         f"Received: {argument} with 0 samples, of shape {x.shape}")


def _check_validation_split(validation_split):
    is_number = isinstance(validation_split, (int, float, np.integer, np.floating)) and not isinstance(
        validation_split, bool)
    if not (is_number and 0 <= validation_split < 1):
        raise ValueError(f"Invalid value for argument `validation_split`. Expected a float in [0, 1). "
                         f"Received: validation_split={validation_split!r}")


def _split_for_validation(x, y, validation_split):
    """``(x, y, x_val, y_val)``: the last ``validation_split`` of the samples (before shuffling) validate."""
    split_at = int(math.floor(len(x) * (1.0 - validation_split)))
    if split_at == 0 or split_at == len(x):
        raise ValueError(f"Training data contains {len(x)} samples, which is not sufficient to split it into a "
                         f"validation and training set as specified by `validation_split={validation_split}`. "
                         "Either provide more data, or a different value for the `validation_split` argument.")
    return x[:split_at], y[:split_at], x[split_at:], y[split_at:]


def _check_validation_freq(validation_freq):
    """Keras's ``validation_freq``: validate every that many epochs, or after the (1-based) epochs listed."""
    epochs = validation_freq if isinstance(validation_freq, list) else [validation_freq]
    if not all(_is_positive_integer(epoch) for epoch in epochs):
        raise ValueError(f"Invalid value for argument `validation_freq`. Expected a positive integer or a list "
                         f"of epochs (counted from 1). Received: validation_freq={validation_freq!r}")


def _should_validate(epoch, validation_freq):
    if isinstance(validation_freq, list):
        return epoch + 1 in validation_freq
    return (epoch + 1) % validation_freq == 0


def _check_execution(run_eagerly, jit_compile, steps_per_execution):
    """``compile``'s ``(run_eagerly, jit_compile, steps_per_execution)`` as fastconv runs them (see ``compile``).

    ``None``, tf.keras 2's default of all three, means the default.
    """
    if run_eagerly is not None and not isinstance(run_eagerly, (bool, np.bool_)):
        raise ValueError(f"Invalid value for argument `run_eagerly`. Expected True or False. "
                         f"Received: run_eagerly={run_eagerly!r}")
    if not (jit_compile is None or isinstance(jit_compile, (bool, np.bool_)) or
            (isinstance(jit_compile, str) and jit_compile == "auto")):
        raise ValueError(f"Invalid value for argument `jit_compile`. Expected True, False or 'auto'. "
                         f"Received: jit_compile={jit_compile!r}")
    if isinstance(jit_compile, (bool, np.bool_)) and jit_compile:
        warnings.warn("fastconv runs each layer's kernels compiled by numba and cannot compile a whole training "
                      "step (as XLA or torch.compile would). Proceeding with `jit_compile=False`.", stacklevel=3)
    if steps_per_execution is not None and not _is_positive_integer(steps_per_execution):
        raise ValueError(f"Invalid value for argument `steps_per_execution`. Expected a positive integer. "
                         f"Received: steps_per_execution={steps_per_execution!r}")
    if steps_per_execution not in (None, 1):
        raise NotImplementedError(
            "fastconv runs one batch per step and calls the batch hooks of callbacks after each one, as Keras's "
            "PyTorch backend does (which needs `steps_per_execution=1` too). "
            f"Received: steps_per_execution={steps_per_execution!r}")
    return bool(run_eagerly), False, 1


def _verbosity(verbose):
    """``verbose`` checked: ``'auto'`` (which the progress bar reads as 1, and callbacks' ``params`` keep as
    ``'auto'``, as Keras's), 0, 1 or 2."""
    if verbose == "auto":
        return verbose
    if verbose not in (0, 1, 2):
        raise ValueError(f"Invalid value for argument `verbose`. Expected 'auto', 0, 1 or 2. "
                         f"Received: verbose={verbose!r}")
    return verbose


class _InterruptFlag:
    """While active (in the main thread), the first Ctrl-C sets ``raised`` instead of interrupting; a second
    one interrupts as usual."""

    def __init__(self):
        self.raised = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.raised:
            signal.signal(signal.SIGINT, self._previous)
            raise KeyboardInterrupt
        self.raised = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False


def _regularized(weights):
    """``[(variable, regularizer)]`` of ``weights`` that have a regularizer (Keras's ``losses`` count the
    trainable weights' only)."""
    return [(v, v.regularizer) for v in weights if v.regularizer is not None]
