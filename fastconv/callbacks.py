"""Training callbacks with Keras's names and behaviour, and the progress bar that ``fit`` shows.

``Callback`` (the hooks), ``History``, ``ProgbarLogger``, ``EarlyStopping``,
``ModelCheckpoint``, ``TerminateOnNaN``, ``LambdaCallback``, ``ReduceLROnPlateau``,
``LearningRateScheduler``, ``CSVLogger``, ``TensorBoard`` (its files written by
``fastconv.summary``), ``BackupAndRestore``, and ``CallbackList`` that ``fit``,
``evaluate`` and ``predict`` use to call them in order.
"""

import csv
import json
import math
import os
import shutil
import sys
import time
import warnings

import numpy as np

from fastconv import distribution, files, summary


class Callback:
    """Base class: override any of the ``on_*`` hooks; ``self.model`` is set by ``fit``, ``evaluate`` and ``predict``.

    The hooks are Keras's: ``fit`` calls ``on_train_begin``, then per epoch
    ``on_epoch_begin``, per batch ``on_train_batch_begin``/``on_train_batch_end``
    (whose defaults call ``on_batch_begin``/``on_batch_end``), the ``on_test_*``
    hooks while it validates, and ``on_epoch_end``; ``evaluate`` calls the
    ``on_test_*`` hooks and ``predict`` the ``on_predict_*`` ones
    (``on_predict_batch_end`` gets ``{"outputs": batch_outputs}``).
    """

    _chief_only = False  # True: it shows or writes output, so under a distribution it runs on process 0 alone

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...
    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...


class CallbackList:
    """The callbacks of one ``fit``, ``evaluate`` or ``predict`` call, with ``History`` and the progress bar
    added as Keras adds them (unless ``callbacks`` holds one already).

    ``callbacks`` is ``None``, one ``Callback`` or a (nested) list of them; ``params`` (``verbose``,
    ``epochs``, ``steps``) go to every callback's ``set_params``.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        self.callbacks = _flatten_callbacks(callbacks)
        if add_history:  # after the program's callbacks, then the progress bar, as Keras orders them: the
            # epoch's line shows what the program's callbacks added to the logs (ReduceLROnPlateau's rate)
            history = next((callback for callback in self.callbacks if isinstance(callback, History)), None)
            if history is None:
                history = History()
                self.callbacks.append(history)
            model.history = history
        if add_progbar and not any(isinstance(callback, ProgbarLogger) for callback in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        if not distribution.current().is_chief:
            self.callbacks = [callback for callback in self.callbacks if not callback._chief_only]
        self.params = params
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_params(params)

    def _call(self, hook, *args):
        *leading, logs = args
        logs = {} if logs is None else logs  # Keras's hooks always get a dict (`logs["key"] = ...` works)
        for callback in self.callbacks:
            getattr(callback, hook)(*leading, logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs)


def _flatten_callbacks(callbacks):
    """``callbacks`` as a flat list, as Keras flattens it: ``None``, one callback, or (nested) lists of them."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if isinstance(callbacks, (list, tuple)):
        flat = []
        for item in callbacks:
            if isinstance(item, (list, tuple)):
                flat.extend(_flatten_callbacks(item))
            elif isinstance(item, Callback):
                flat.append(item)
            else:
                raise TypeError(f"Invalid value for argument `callbacks`. Expected a `keras.callbacks.Callback` "
                                f"(from `fastconv.keras.callbacks`) or a list of them. Received a list holding "
                                f"{item!r}")
        return flat
    raise TypeError(f"Invalid value for argument `callbacks`. Expected a `keras.callbacks.Callback` (from "
                    f"`fastconv.keras.callbacks`) or a list of them. Received: callbacks={callbacks!r}")


class History(Callback):
    """Records each epoch's logs: ``history.history['loss']``, ``['val_accuracy']``, ...; ``history.epoch``."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _interactive():
    """Whether output can be redrawn in place: a terminal, or a Jupyter kernel."""
    return (hasattr(sys.stdout, "isatty") and sys.stdout.isatty()) or "ipykernel" in sys.modules


class ProgbarLogger(Callback):
    """Keras's progress output, for ``fit``, ``evaluate`` and ``predict``.

    ``verbose=1``: a bar redrawn in place with step count, ETA and running
    metrics (in a terminal or Jupyter), or one line per epoch when output goes
    to a file or pipe; ``verbose=2``: one line per epoch; ``verbose=0``: nothing.
    ``verbose``, ``epochs`` and ``steps`` come from ``set_params``, as in Keras.
    The last line of an epoch counts the steps that ran (fewer than ``steps``
    when training stopped early, e.g. on Ctrl-C) and times them alone.
    """

    _BAR_WIDTH = 20
    _REFRESH_SECONDS = 0.05
    _chief_only = True

    def __init__(self):
        super().__init__()
        self.verbose, self.epochs, self.target, self.seen = 1, 1, None, 0
        self._called_in_fit = False
        self._dynamic = _interactive()
        self._start = time.perf_counter()
        self._last_draw = 0.0

    def set_params(self, params):
        super().set_params(params)
        verbose = params["verbose"]
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs, self.target = params["epochs"], params["steps"]

    def on_train_begin(self, logs=None):
        self._called_in_fit = True   # validation inside fit draws nothing of its own

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose and (self.epochs or 0) > 1:  # as Keras: no "Epoch 1/1" for a one-epoch fit
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)
        self._reset()

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_begin(self, logs=None):
        self._reset()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)   # the logs hold the outputs, not numbers to show

    def on_predict_end(self, logs=None):
        self._finalize(None)

    def _reset(self):
        self.seen = 0
        self._start = time.perf_counter()

    def _update(self, batch, logs):
        """Count ``batch`` (0-based) as done; redraw the bar if output is interactive and ``verbose=1``."""
        self.seen = batch + 1
        now = time.perf_counter()
        if self.verbose != 1 or not self._dynamic or now - self._last_draw < self._REFRESH_SECONDS:
            return
        self._last_draw = now
        per_step = (now - self._start) / self.seen
        eta = per_step * ((self.target or self.seen) - self.seen)
        sys.stdout.write(f"\r{self._bar(self.seen)} {_format_seconds(eta)} {_format_per_step(per_step)}"
                         f"{_format_logs(logs or {})}\x1b[K")
        sys.stdout.flush()

    def _finalize(self, logs):
        """Print the last line of an epoch (or an evaluate/predict run): the steps done, their time, ``logs``."""
        if not self.verbose:
            return
        elapsed = time.perf_counter() - self._start
        done = self.seen
        per_step = _format_per_step(elapsed / max(done, 1))
        if self.verbose == 2:
            line = (f"{done}/{self.target if self.target is not None else done} - {_format_seconds(elapsed)} - "
                    f"{per_step}{_format_logs(logs or {})}")
        else:
            line = f"{self._bar(done)} {_format_seconds(elapsed)} {per_step}{_format_logs(logs or {})}"
        prefix = "\r" if self._dynamic and self.verbose == 1 else ""
        sys.stdout.write(f"{prefix}{line}\x1b[K\n" if prefix else f"{line}\n")
        sys.stdout.flush()

    def _bar(self, done):
        total = self.target if self.target is not None else done
        filled = int(self._BAR_WIDTH * done / max(total, 1))
        digits = len(str(total))
        return f"{done:>{digits}}/{total} " + "\u2501" * filled + " " * (self._BAR_WIDTH - filled)


def _format_seconds(seconds):
    return f"{int(round(seconds))}s" if seconds >= 1 or seconds == 0 else f"{int(round(seconds * 1000))}ms"


def _format_per_step(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _format_logs(logs):
    parts = []
    for key in sorted(logs):
        value = float(np.mean(logs[key]))  # an array (the F1 score of each class) as its mean, as Keras shows it
        parts.append(f"{key}: {value:.4f}" if abs(value) > 1e-3 or value == 0 else f"{key}: {value:.4e}")
    return "".join(f" - {p}" for p in parts)


class _MonitorMixin:
    """``monitor``/``mode`` handling shared by EarlyStopping and ModelCheckpoint (Keras's 'auto' rule)."""

    def _set_mode(self, monitor, mode):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"Invalid value for argument `mode`. Expected 'auto', 'min' or 'max'. "
                             f"Received: mode={mode!r}")
        if mode == "auto":
            name = monitor[4:] if monitor.startswith("val_") else monitor
            mode = "max" if name in ("accuracy", "acc") or name.endswith("_accuracy") or name == "auc" else "min"
        self.mode = mode

    def _better(self, current, reference, min_delta=0.0):
        """Whether ``current`` improves on ``reference`` by more than ``min_delta`` (a loss must fall below
        ``reference - min_delta``, an accuracy rise above ``reference + min_delta``), as Keras compares."""
        if reference is None:
            return True
        if self.mode == "min":
            return current + min_delta < reference
        return current - min_delta > reference


class EarlyStopping(Callback, _MonitorMixin):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the model gets the weights of its best
    epoch back at the end of training, whether or not it stopped early (as in Keras 3).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self._set_mode(monitor, mode)
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best = self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best = self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs or {})}", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._better(current, self.best, self.min_delta):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(current, self.baseline, self.min_delta):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback, _MonitorMixin):
    """Save the model (``.keras``, or Keras's legacy ``.h5``) or its weights (``.weights.h5``) at the end of each
    epoch.

    ``filepath`` may hold ``{epoch:02d}`` and log keys (``{val_loss:.2f}``); a
    key the epoch's logs lack raises ``KeyError`` naming it and the filepath.
    ``save_freq`` a number of batches saves after every that many (with
    ``{batch}`` in the filepath, the batch's number in its epoch) instead of
    after each epoch, as Keras's.
    With ``save_best_only`` only an improvement of ``monitor`` is saved; a NaN
    is never an improvement (Keras 3 would save it as the best and then never
    find a better value). Saving is atomic, so an interrupted save never
    destroys the previous file.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        filepath = os.fspath(filepath)
        if save_freq != "epoch" and not (isinstance(save_freq, int) and not isinstance(save_freq, bool)
                                         and save_freq > 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. Expected 'epoch' or a number of batches.")
        self.save_freq = save_freq
        self._epoch, self._batches_since_saving, self._last_batch = 0, 0, None
        suffixes = (".weights.h5",) if save_weights_only else (".keras", ".h5")  # `.h5`: the legacy format, as Keras
        if not filepath.endswith(suffixes):
            expected = "end in `.weights.h5`" if save_weights_only else "end in `.keras` (or the legacy `.h5`)"
            raise ValueError(f"The filepath provided must {expected} when save_weights_only={save_weights_only}. "
                             f"Received: filepath={filepath}")
        self.filepath, self.monitor, self.verbose = filepath, monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self._set_mode(monitor, mode)
        self.best = initial_value_threshold

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        """With ``save_freq`` a number of batches: save after every that many (counted across epochs, as
        Keras counts them), the filepath's ``{batch}`` the batch's number in its epoch (from 1)."""
        if self.save_freq == "epoch":
            return
        new_epoch = self._last_batch is None or batch <= self._last_batch
        self._batches_since_saving += batch + 1 if new_epoch else batch - self._last_batch
        self._last_batch = batch
        if self._batches_since_saving >= self.save_freq:
            self._batches_since_saving = 0
            self._save(self._epoch, logs or {}, batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs or {})

    def _save(self, epoch, logs, batch=None):
        path = self._format_filepath(epoch, logs, batch)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=2)
                return
            if math.isnan(current) or not self._better(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self._best_text()}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self._best_text()} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {path}")

    def _format_filepath(self, epoch, logs, batch=None):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as error:
            key = error.args[0]
            hint = (" Keys starting with `val_` need `validation_data` or `validation_split` in `fit`."
                    if str(key).startswith("val_") else "")
            available = ", ".join(f"`{name}`" for name in logs)
            raise KeyError(f"Failed to format the `ModelCheckpoint` filepath \"{self.filepath}\": epoch "
                           f"{epoch + 1} has no `{key}`; the filepath can use `epoch` and the keys of the logs "
                           f"of that epoch: {available or 'none'}.{hint}") from None

    def _best_text(self):
        """``best`` as Keras 3.15's messages show it: ``None`` before any value."""
        return "None" if self.best is None else f"{self.best:.5f}"


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


def _learning_rate(model):
    """The optimizer's learning rate as a Python float (a float32 ``Variable`` in fastconv, as in Keras)."""
    return float(np.asarray(model.optimizer.learning_rate.value))


class LambdaCallback(Callback):
    """A callback made of functions (Keras's ``LambdaCallback``): each ``on_*`` argument replaces that hook.

    ``on_epoch_begin``/``on_epoch_end`` take ``(epoch, logs)``, the batch hooks
    ``(batch, logs)``, ``on_train_begin``/``on_train_end`` ``(logs)``; any other
    ``on_*`` hook of :class:`Callback` may be passed by name too.

    >>> seen = []
    >>> callback = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    >>> callback.on_epoch_end(3, {})
    >>> seen
    [3]
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, function in hooks.items():
            if not (name.startswith("on_") and callable(getattr(Callback, name, None))):
                raise TypeError(f"Unrecognized keyword argument passed to LambdaCallback: {name}")
            if function is not None:
                setattr(self, name, function)


class ReduceLROnPlateau(Callback, _MonitorMixin):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by more than ``min_delta``
    for ``patience`` epochs, never below ``min_lr``; then wait ``cooldown`` epochs before counting again.

    Adds ``learning_rate`` (the rate the epoch trained with) to each epoch's logs, as Keras 3 does.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.monitor, self.min_delta = monitor, abs(min_delta)
        self._set_mode(monitor, mode)
        self.factor, self.min_lr, self.patience = factor, min_lr, patience
        self.verbose, self.cooldown = verbose, cooldown
        self.best, self.cooldown_counter, self.wait = None, 0, 0

    def on_train_begin(self, logs=None):
        self.best, self.cooldown_counter, self.wait = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _learning_rate(self.model)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current, self.best, self.min_delta):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _learning_rate(self.model)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate before each epoch to ``schedule(epoch, lr)`` (or ``schedule(epoch)``).

    ``schedule`` must return a float; adds ``learning_rate`` to each epoch's logs, as Keras 3 does.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        try:
            learning_rate = self.schedule(epoch, _learning_rate(self.model))
        except TypeError:   # Keras's fallback for the one-argument form
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        self.model.optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _learning_rate(self.model)


class CSVLogger(Callback):
    """Write each epoch's logs as one CSV row: a header ``epoch`` + the sorted log keys (with ``val_`` copies
    when there are none, as Keras does), values written by ``csv`` as ``str(value)``.

    ``append=True`` adds to an existing file (a header only if it is empty). The file is flushed after every
    row, so an interrupted run leaves whole rows only.
    """

    _chief_only = True

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep, self.filename, self.append = separator, os.fspath(filename), append
        self.writer = self.keys = self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        mode = "w"
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend([f"val_{key}" for key in self.keys])
        if self.writer is None:
            dialect = type("_Dialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, dialect=dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value):
    """A log value as Keras writes it: iterables (not strings, not 0-d arrays) as a quoted list."""
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value
    if hasattr(value, "__iter__"):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class TensorBoard(Callback):
    """Log training for TensorBoard (``tensorboard --logdir logs``) as Keras's ``TensorBoard`` callback does,
    into the same files, without TensorFlow (see ``fastconv.summary``).

    In ``log_dir/train``: the model's configuration (``write_graph``: TensorBoard's graph dashboard draws it;
    Keras's graph of TensorFlow operations has no counterpart here), each epoch's training logs as
    ``epoch_<name>`` at step ``epoch`` with ``epoch_learning_rate``, every ``update_freq`` batches (an int,
    or ``'batch'`` for 1) the batch logs as ``batch_<name>`` at the number of batches trained in this ``fit``,
    and every ``histogram_freq`` epochs a histogram of each weight (tag ``<weight path>/histogram``). In
    ``log_dir/validation``: the validation logs as ``epoch_<name>``, and at the end of each evaluation its logs
    as ``evaluation_<name>_vs_iterations`` at the optimizer's step count. Written only by the first process
    of a distributed run.
    """

    _chief_only = True

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        if write_images:
            raise NotImplementedError("TensorBoard(write_images=True) is not implemented in fastconv: weight images "
                                      "are not logged (histograms are, with histogram_freq).")
        if embeddings_freq or embeddings_metadata:
            raise NotImplementedError("TensorBoard(embeddings_freq=...) is not implemented in fastconv: it has no "
                                      "Embedding layer.")
        if profile_batch:
            raise ValueError("Profiling is not available in fastconv (as in Keras's torch backend). "
                             f"Received: profile_batch={profile_batch!r} (must be 0)")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and not (isinstance(update_freq, int) and not isinstance(update_freq, bool)
                                           and update_freq > 0):
            raise ValueError("Invalid value for argument `update_freq`: expected 'epoch', 'batch' or a positive "
                             f"integer. Received: update_freq={update_freq!r}")
        if not (isinstance(histogram_freq, int) and not isinstance(histogram_freq, bool) and histogram_freq >= 0):
            raise ValueError("Invalid value for argument `histogram_freq`: expected a non-negative integer. "
                             f"Received: histogram_freq={histogram_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.write_graph, self.update_freq = histogram_freq, write_graph, update_freq
        self.write_images, self.write_steps_per_second = write_images, write_steps_per_second
        self._writers = {}
        self._global_train_batch = 0

    def _writer(self, name):
        """The event file of ``log_dir/<name>`` ('train' or 'validation'), made on first use, as Keras's."""
        if name not in self._writers:
            self._writers[name] = summary.EventFileWriter(os.path.join(self.log_dir, name))
        return self._writers[name]

    def set_model(self, model):
        super().set_model(model)
        self._writers = {}
        if self.write_graph and not getattr(model, "_subclassed", False):  # Keras: Sequential and functional only
            self._writer("train").model_config(model.to_json())

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = (time.perf_counter(), self._steps())

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._global_train_batch += 1
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        values = []
        if self.write_steps_per_second:
            values.append(("batch_steps_per_second", 1.0 / max(time.perf_counter() - self._batch_start, 1e-9)))
        values += [(f"batch_{name}", value) for name, value in _scalars(logs)]
        self._writer("train").scalars(values, self._global_train_batch)

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and logs:
            step = int(np.asarray(optimizer.iterations.value))
            self._writer("validation").scalars(
                [(f"evaluation_{name}_vs_iterations", value) for name, value in _scalars(logs)], step)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = [(f"epoch_{name}", value) for name, value in _scalars(logs) if not name.startswith("val_")]
        validation = [(f"epoch_{name[4:]}", value) for name, value in _scalars(logs) if name.startswith("val_")]
        if logs and getattr(self.model, "optimizer", None) is not None:
            train.append(("epoch_learning_rate", _learning_rate(self.model)))
        if logs and self.write_steps_per_second:
            start, steps = self._epoch_start
            train.append(("epoch_steps_per_second", (self._steps() - steps) / (time.perf_counter() - start)))
        if train:
            self._writer("train").scalars(train, epoch)
        if validation:
            self._writer("validation").scalars(validation, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._writer("train").histograms(
                [(f"{_keras_weight_path(self.model, weight)}/histogram", np.asarray(weight.value))
                 for layer in self.model.layers for weight in layer.weights], epoch)

    def _steps(self):
        optimizer = getattr(self.model, "optimizer", None)
        return 0 if optimizer is None else int(np.asarray(optimizer.iterations.value))


def _scalars(logs):
    """The ``(name, value)`` of ``logs`` whose values are single numbers: a metric that gives an array (a
    ``TruePositives`` at several thresholds, ``F1Score(average=None)``) has no scalar summary (Keras stops
    training with an error on it)."""
    return [(name, value) for name, value in (logs or {}).items() if np.ndim(value) == 0]


def _keras_weight_path(model, weight):
    """``weight``'s path as Keras names it: a Sequential or subclassed model's layers are built in the model's
    name scope (``sequential/conv2d/kernel``), a functional model's outside (``conv2d/kernel``)."""
    from fastconv import models  # here: fastconv.models imports this module (through fastconv.training)

    if isinstance(model, models.Sequential) or getattr(model, "_subclassed", False):
        return f"{model.name}/{weight.path}"
    return weight.path


class BackupAndRestore(Callback):
    """Back up the training state so that an interrupted ``fit`` goes on where it stopped (Keras's
    ``BackupAndRestore``).

    After every epoch (or every ``save_freq`` batches) it writes the model's weights, with the optimizer's
    state, to ``backup_dir/latest.weights.h5`` and the number of epochs done to
    ``backup_dir/training_metadata.json`` (Keras's files, each replaced atomically). When ``fit`` begins and
    a backup is there, the weights are loaded and training starts at the epoch after the last one done; the
    ``history`` holds the epochs run in this call. ``double_checkpoint=True`` keeps the backup before too
    (``.bkp``), loaded if the latest cannot be read. With ``delete_checkpoint=True`` the folder is removed
    when training ends. Give each training run its own ``backup_dir``, and restore into the same model
    (compiled the same way).
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and not (isinstance(save_freq, int) and not isinstance(save_freq, bool)
                                         and save_freq > 0):
            raise ValueError("Invalid value for argument `save_freq`. "
                             f"Received: save_freq={save_freq!r}. Expected either 'epoch' or a positive integer.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq, self.double_checkpoint, self.delete_checkpoint = save_freq, double_checkpoint, delete_checkpoint
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._epochs_done = self._batch = self._batches_since_saving = 0

    def on_train_begin(self, logs=None):
        self._epochs_done = self._batch = self._batches_since_saving = 0
        try:
            self._restore()
        except (OSError, ValueError):  # a damaged backup: the one before it takes its place, if it was kept
            if not os.path.exists(self._weights_path + ".bkp"):
                raise
            shutil.copyfile(self._weights_path + ".bkp", self._weights_path)
            if os.path.exists(self._metadata_path + ".bkp"):
                shutil.copyfile(self._metadata_path + ".bkp", self._metadata_path)
            elif os.path.exists(self._metadata_path):
                os.remove(self._metadata_path)
            self._restore()

    def _restore(self):
        if os.path.exists(self._weights_path):
            optimizer = getattr(self.model, "optimizer", None)
            if optimizer is not None and not optimizer.built:
                optimizer.build(self.model.trainable_weights)  # its variables, which the file fills
            self.model.load_weights(self._weights_path)
        if os.path.exists(self._metadata_path):
            with open(self._metadata_path) as f:
                self._epochs_done = json.load(f)["epoch"]
            self.model._initial_epoch = self._epochs_done

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_saving += batch + 1 if batch <= self._batch else batch - self._batch
        self._batch = batch
        if self._batches_since_saving >= self.save_freq:
            self._batches_since_saving = 0
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        if getattr(self.model, "interrupted", False):  # Ctrl-C cut this epoch short: it is not done
            return
        self._epochs_done, self._batch = epoch + 1, 0
        if self.save_freq == "epoch":
            self._save()

    def _save(self):
        if not distribution.current().is_chief:  # every process restores; the first one writes
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for path in (self._weights_path, self._metadata_path):
                if os.path.exists(path):
                    shutil.copyfile(path, path + ".bkp")
        self.model.save_weights(self._weights_path)
        with files.atomic_write(self._metadata_path) as f:
            f.write(json.dumps({"epoch": self._epochs_done, "batch": self._batch}).encode())

    def on_train_end(self, logs=None):
        if getattr(self.model, "interrupted", False):  # kept for the run that goes on (Keras: the interrupt
            return                                     # propagates and training never ends)
        if self.delete_checkpoint and distribution.current().is_chief and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)
