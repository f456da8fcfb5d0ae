"""Training callbacks with Keras's names and behaviour, and the progress bar that ``fit`` shows.

``Callback`` (the hooks), ``History``, ``ProgbarLogger``, ``EarlyStopping``,
``ModelCheckpoint``, ``TerminateOnNaN``, and ``CallbackList`` that ``fit``
uses to call them in order.
"""

import math
import os
import sys
import time
import warnings

import numpy as np


class Callback:
    """Base class: override any of the ``on_*`` hooks; ``self.model`` is set by ``fit``."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...


class CallbackList:
    """The callbacks of one ``fit`` call, with ``History`` and the progress bar added as Keras adds them."""

    def __init__(self, callbacks=None, model=None, add_history=False, add_progbar=False, verbose=1, epochs=1,
                 steps=None):
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"Invalid value for argument `callbacks`. Expected `keras.callbacks.Callback` "
                                f"instances. Received: {callback!r}")
        if add_progbar:
            self.callbacks.insert(0, ProgbarLogger(verbose=verbose, steps=steps, epochs=epochs))
        if add_history:
            model.history = History()
            self.callbacks.append(model.history)
        params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_params(params)

    def _call(self, hook, *args):
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

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
    """Keras's progress output.

    ``verbose=1``: a bar redrawn in place with step count, ETA and running
    metrics (in a terminal or Jupyter), or one line per epoch when output goes
    to a file or pipe; ``verbose=2``: one line per epoch; ``verbose=0``: nothing.
    """

    _BAR_WIDTH = 20
    _REFRESH_SECONDS = 0.05

    def __init__(self, verbose=1, steps=None, epochs=None):
        super().__init__()
        self.verbose, self.steps, self.epochs = verbose, steps, epochs
        self._dynamic = _interactive()
        self._start = time.perf_counter()
        self._last_draw = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.show_step(batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self.finish(logs or {})

    def show_step(self, step, logs):
        """Redraw the bar after ``step`` (0-based) if output is interactive and ``verbose=1``."""
        now = time.perf_counter()
        if self.verbose != 1 or not self._dynamic or now - self._last_draw < self._REFRESH_SECONDS:
            return
        self._last_draw = now
        done = step + 1
        per_step = (now - self._start) / done
        eta = per_step * ((self.steps or done) - done)
        sys.stdout.write(f"\r{self._bar(done)} {_format_seconds(eta)} {_format_per_step(per_step)}"
                         f"{_format_logs(logs)}\x1b[K")
        sys.stdout.flush()

    def finish(self, logs):
        """Print the final line of an epoch (or an evaluate/predict run)."""
        if not self.verbose:
            return
        elapsed = time.perf_counter() - self._start
        steps = self.steps or 1
        per_step = _format_per_step(elapsed / max(steps, 1))
        if self.verbose == 2:
            line = f"{steps}/{steps} - {_format_seconds(elapsed)} - {per_step}{_format_logs(logs)}"
        else:
            line = f"{self._bar(steps)} {_format_seconds(elapsed)} {per_step}{_format_logs(logs)}"
        prefix = "\r" if self._dynamic and self.verbose == 1 else ""
        sys.stdout.write(f"{prefix}{line}\x1b[K\n" if prefix else f"{line}\n")
        sys.stdout.flush()

    def _bar(self, done):
        total = self.steps or done
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
        value = logs[key]
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
        if reference is None:
            return True
        if self.mode == "min":
            return current - min_delta < reference
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
    """Save the model (``.keras``) or its weights (``.weights.h5``) at the end of each epoch.

    ``filepath`` may hold ``{epoch:02d}`` and log keys (``{val_loss:.2f}``).
    With ``save_best_only`` only an improvement of ``monitor`` is saved. Saving
    is atomic, so an interrupted save never destroys the previous file.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        filepath = os.fspath(filepath)
        if save_freq != "epoch":
            raise NotImplementedError(f"fastconv's ModelCheckpoint saves once per epoch. "
                                      f"Received: save_freq={save_freq!r}")
        suffix = ".weights.h5" if save_weights_only else ".keras"
        if not filepath.endswith(suffix):
            expected = "end in `.weights.h5`" if save_weights_only else "end in `.keras`"
            raise ValueError(f"The filepath provided must {expected} when save_weights_only={save_weights_only}. "
                             f"Received: filepath={filepath}")
        self.filepath, self.monitor, self.verbose = filepath, monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self._set_mode(monitor, mode)
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=2)
                return
            if not self._better(current, self.best) or (isinstance(current, float) and math.isnan(current)):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                previous = "inf" if self.best is None else f"{self.best:.5f}"
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {previous} to {current:.5f}, "
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


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
