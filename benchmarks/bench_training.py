"""asv benchmarks of the textbook CNN through the Keras API: one training step and inference.

The model is the textbook's Fashion-MNIST CNN (``common.textbook_cnn``, which
``compare_training.py`` trains against PyTorch and Keras): Conv2D(32, 3x3, relu, same),
MaxPooling2D(2), Conv2D(64, 3x3, relu, same), MaxPooling2D(2), Flatten,
Dense(100, relu), Dropout(0.4), Dense(10, softmax); Adam, sparse categorical
cross-entropy, the accuracy metric. Random images stand in for the data set
(the time does not depend on the values).

``train_on_batch`` at batch 32 is one step of ``fit``: forward, backward and
the Adam update. Its GFLOP/s counts the convolutions and Dense layers,
3x their forward FLOPs (``configs.textbook_flops``). ``predict`` runs on 1,024
images, 32 at a time (Keras's default batch size).
"""

import numpy as np

from fastconv import keras

from benchmarks.common import gflops_per_second, textbook_cnn
from benchmarks.configs import textbook_flops

PREDICT_IMAGES = 1024


class TextbookCNN:
    """One ``train_on_batch`` step and ``predict`` of the textbook CNN."""

    params = [[32]]
    param_names = ["batch_size"]
    timeout = 600  # the first process after a kernel change compiles every kernel of the model

    def setup(self, batch_size):
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        self.x = rng.random((batch_size, 28, 28, 1), dtype=np.float32)
        self.y = rng.integers(0, 10, batch_size)
        self.x_predict = rng.random((PREDICT_IMAGES, 28, 28, 1), dtype=np.float32)
        self.batch_size = batch_size
        self.model = textbook_cnn(keras)
        self.model.train_on_batch(self.x, self.y)  # builds the optimizer's slots; compiles every kernel
        self.model.predict(self.x, batch_size=batch_size, verbose=0)

    def time_train_on_batch(self, batch_size):
        self.model.train_on_batch(self.x, self.y)

    def peakmem_train_on_batch(self, batch_size):
        self.model.train_on_batch(self.x, self.y)

    def track_gflops_train_on_batch(self, batch_size):
        return gflops_per_second(textbook_flops(batch_size, "forward+backward"),
                                 lambda: self.model.train_on_batch(self.x, self.y))

    track_gflops_train_on_batch.unit = "GFLOP/s"

    def time_predict(self, batch_size):
        self.model.predict(self.x_predict, batch_size=batch_size, verbose=0)
