"""The textbook's Fashion-MNIST CNN, trained with fastconv (the main job of the README).

This is the Keras program of the textbook's convolution chapter with one
change: ``from fastconv import keras`` instead of ``from tensorflow import keras``.
It trains Conv2D(32) -> MaxPooling2D -> Conv2D(64) -> MaxPooling2D -> Flatten ->
Dense(100) -> Dropout(0.4) -> Dense(10) with Adam on an 80/20 train/validation
split, keeps the best model with ModelCheckpoint and EarlyStopping, and prints
validation and test accuracy and seconds per epoch.

Run: ``python examples/fashion_mnist_cnn.py [--epochs 20] [--seed 42] [--limit N]``.
"""

import argparse
import time

import numpy as np

from fastconv import keras


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch (training and validation)."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only (a quick try)")
    parser.add_argument("--checkpoint", default="best-cnn-model.keras")
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    (train_input, train_target), (test_input, test_target) = keras.datasets.fashion_mnist.load_data()
    if args.limit:
        train_input, train_target = train_input[:args.limit], train_target[:args.limit]
    train_scaled = train_input.reshape(-1, 28, 28, 1) / 255.0
    # An 80/20 split of shuffled images, as the textbook makes with train_test_split(test_size=0.2).
    order = np.random.default_rng(args.seed).permutation(len(train_scaled))
    n_val = len(order) // 5
    val_scaled, val_target = train_scaled[order[:n_val]], train_target[order[:n_val]]
    train_scaled, train_target = train_scaled[order[n_val:]], train_target[order[n_val:]]

    model = keras.Sequential()
    model.add(keras.layers.Conv2D(32, kernel_size=3, activation="relu", padding="same", input_shape=(28, 28, 1)))
    model.add(keras.layers.MaxPooling2D(2))
    model.add(keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu", padding="same"))
    model.add(keras.layers.MaxPooling2D(2))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(100, activation="relu"))
    model.add(keras.layers.Dropout(0.4))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.summary()

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    checkpoint_cb = keras.callbacks.ModelCheckpoint(args.checkpoint, save_best_only=True)
    early_stopping_cb = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    timer = EpochTimer()
    history = model.fit(train_scaled, train_target, epochs=args.epochs, batch_size=32,
                        validation_data=(val_scaled, val_target),
                        callbacks=[checkpoint_cb, early_stopping_cb, timer])

    val_loss, val_accuracy = model.evaluate(val_scaled, val_target, verbose=0)
    test_scaled = test_input.reshape(-1, 28, 28, 1) / 255.0
    best = keras.models.load_model(args.checkpoint)
    test_loss, test_accuracy = best.evaluate(test_scaled, test_target, verbose=0)
    print()
    print(f"epochs run:           {len(history.epoch)} (best: {int(np.argmin(history.history['val_loss'])) + 1})")
    print(f"validation accuracy:  {val_accuracy:.4f}")
    print(f"test accuracy:        {test_accuracy:.4f}  (best model reloaded from {args.checkpoint})")
    print(f"seconds per epoch:    {np.median(timer.seconds):.1f} (median of {len(timer.seconds)})")


if __name__ == "__main__":
    main()
