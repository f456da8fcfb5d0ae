"""Models written once for both libraries: each function takes a library's ``layers`` and model class
(``fastconv.keras`` or real Keras), so that tests build the same model in each and compare.
"""


def textbook_cnn(lib_layers, sequential):
    """The textbook's Fashion-MNIST CNN, written once for both libraries."""
    model = sequential([
        lib_layers.Conv2D(32, kernel_size=3, activation="relu", padding="same", input_shape=(28, 28, 1)),
        lib_layers.MaxPooling2D(2),
        lib_layers.Conv2D(64, kernel_size=3, activation="relu", padding="same"),
        lib_layers.MaxPooling2D(2),
        lib_layers.Flatten(),
        lib_layers.Dense(100, activation="relu"),
        lib_layers.Dropout(0.4),
        lib_layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def small_functional(lib_layers, model_class):
    inputs = lib_layers.Input(shape=(8, 8, 3))
    h = lib_layers.Conv2D(4, 3)(inputs)
    h = lib_layers.BatchNormalization()(h)
    h = lib_layers.ReLU()(h)
    h = lib_layers.GlobalAveragePooling2D()(h)
    outputs = lib_layers.Dense(3, activation="softmax")(h)
    return model_class(inputs, outputs)


def two_heads(lib_layers, model_class):
    """Two outputs at different depths: Keras numbers the layers by depth, not by call order."""
    inputs = lib_layers.Input(shape=(5,))
    h = lib_layers.Dense(4, activation="relu")(inputs)
    near = lib_layers.Dense(3)(h)
    far = lib_layers.Dense(3)(lib_layers.Dense(3, activation="tanh")(h))
    return model_class(inputs, [near, far])
