"""Keras 3's ``keras.layers`` names, so that one fastconv lacks raises ``NotImplementedError`` naming it.

``from fastconv import keras; keras.layers.Conv3D`` then says that fastconv
does not implement ``Conv3D`` (rather than an ``AttributeError`` that reads
like a typo), and a misspelt name still raises ``AttributeError``. The
error is an ``AttributeError`` too (:class:`MissingKerasName`), so that a
program that probes for a layer (``hasattr(keras.layers, "Conv3D")``,
``getattr(keras.layers, name, None)``) sees it absent instead of crashing. The list
is Keras 3.15's ``dir(keras.layers)``; ``tests/test_package.py`` checks it
against the installed Keras so it cannot fall behind.
"""

import dis
import sys

KERAS_LAYER_NAMES = (
    'Activation', 'ActivityRegularization', 'AdaptiveAveragePooling1D', 'AdaptiveAveragePooling2D',
    'AdaptiveAveragePooling3D', 'AdaptiveMaxPooling1D', 'AdaptiveMaxPooling2D', 'AdaptiveMaxPooling3D', 'Add',
    'AdditiveAttention', 'AlphaDropout', 'Attention', 'AugMix', 'AutoContrast', 'Average', 'AveragePooling1D',
    'AveragePooling2D', 'AveragePooling3D', 'AvgPool1D', 'AvgPool2D', 'AvgPool3D', 'BatchNormalization',
    'Bidirectional', 'CategoryEncoding', 'CenterCrop', 'Concatenate',
    'ContrastLimitedAdaptiveHistogramEqualization', 'Conv1D', 'Conv1DTranspose', 'Conv2D', 'Conv2DTranspose',
    'Conv3D', 'Conv3DTranspose', 'ConvLSTM1D', 'ConvLSTM2D', 'ConvLSTM3D', 'Convolution1D',
    'Convolution1DTranspose', 'Convolution2D', 'Convolution2DTranspose', 'Convolution3D', 'Convolution3DTranspose',
    'Cropping1D', 'Cropping2D', 'Cropping3D', 'CutMix', 'Dense', 'DepthwiseConv1D', 'DepthwiseConv2D',
    'Discretization', 'Dot', 'Dropout', 'ELU', 'EinsumDense', 'Embedding', 'Equalization', 'Flatten', 'FlaxLayer',
    'GRU', 'GRUCell', 'GaussianDropout', 'GaussianNoise', 'GlobalAveragePooling1D', 'GlobalAveragePooling2D',
    'GlobalAveragePooling3D', 'GlobalAvgPool1D', 'GlobalAvgPool2D', 'GlobalAvgPool3D', 'GlobalMaxPool1D',
    'GlobalMaxPool2D', 'GlobalMaxPool3D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D', 'GlobalMaxPooling3D',
    'GroupNormalization', 'GroupQueryAttention', 'HashedCrossing', 'Hashing', 'Identity', 'Input', 'InputLayer',
    'IntegerLookup', 'JaxLayer', 'LSTM', 'LSTMCell', 'Lambda', 'Layer', 'LayerNormalization', 'LeakyReLU',
    'Masking', 'MaxNumBoundingBoxes', 'MaxPool1D', 'MaxPool2D', 'MaxPool3D', 'MaxPooling1D', 'MaxPooling2D',
    'MaxPooling3D', 'Maximum', 'MelSpectrogram', 'Minimum', 'MixUp', 'MultiHeadAttention', 'Multiply',
    'Normalization', 'PReLU', 'Permute', 'Pipeline', 'RMSNormalization', 'RNN', 'RandAugment', 'RandomBrightness',
    'RandomColorDegeneration', 'RandomColorJitter', 'RandomContrast', 'RandomCrop', 'RandomElasticTransform',
    'RandomErasing', 'RandomFlip', 'RandomGaussianBlur', 'RandomGrayscale', 'RandomHue', 'RandomInvert',
    'RandomPerspective', 'RandomPosterization', 'RandomRotation', 'RandomSaturation', 'RandomSharpness',
    'RandomShear', 'RandomTranslation', 'RandomZoom', 'ReLU', 'RepeatVector', 'Rescaling', 'Reshape', 'Resizing',
    'ReversibleEmbedding', 'STFTSpectrogram', 'SeparableConv1D', 'SeparableConv2D', 'SeparableConvolution1D',
    'SeparableConvolution2D', 'SimpleRNN', 'SimpleRNNCell', 'Softmax', 'Solarization', 'SpatialDropout1D',
    'SpatialDropout2D', 'SpatialDropout3D', 'SpectralNormalization', 'StackedRNNCells', 'StringLookup', 'Subtract',
    'TFSMLayer', 'TextVectorization', 'TimeDistributed', 'TorchModuleWrapper', 'UnitNormalization', 'UpSampling1D',
    'UpSampling2D', 'UpSampling3D', 'Wrapper', 'ZeroPadding1D', 'ZeroPadding2D', 'ZeroPadding3D', 'add', 'average',
    'concatenate', 'dot', 'maximum', 'minimum', 'multiply', 'subtract',
)
"""Every public name of Keras 3.15's ``keras.layers`` (classes, aliases and the functional merges)."""


class MissingKerasName(NotImplementedError, AttributeError):
    """A Keras name that fastconv does not implement: a ``NotImplementedError`` naming it, and an
    ``AttributeError`` so that ``hasattr`` and ``getattr`` with a default treat the name as absent."""


KERAS_TOP_LEVEL_NAMES = (
    'DTypePolicy', 'FloatDTypePolicy', 'Function', 'Initializer', 'InputSpec', 'KerasTensor', 'Loss', 'Metric',
    'Operation', 'Optimizer', 'Quantizer', 'RematScope', 'StatelessScope', 'SymbolicScope',
    'applications', 'config', 'device', 'distillation', 'dtype_policies', 'export',
    'legacy', 'mixed_precision', 'name_scope', 'ops', 'quantizers', 'random',
    'remat', 'src', 'tree', 'version', 'visualization', 'wrappers',
)
"""Keras 3.15's top-level ``keras`` names that ``fastconv.keras`` lacks (its modules and classes)."""

KERAS_MODULE_NAMES = {
    "keras.backend": (
        'backend', 'clear_session', 'epsilon', 'floatx', 'get_uid', 'image_data_format', 'is_float_dtype',
        'is_int_dtype', 'is_keras_tensor', 'result_type', 'set_epsilon', 'set_floatx', 'set_image_data_format',
        'standardize_dtype'),
    "keras.callbacks": (
        'BackupAndRestore', 'CSVLogger', 'Callback', 'CallbackList', 'EarlyStopping', 'History', 'LambdaCallback',
        'LearningRateScheduler', 'ModelCheckpoint', 'OrbaxCheckpoint', 'ProgbarLogger', 'ReduceLROnPlateau',
        'RemoteMonitor', 'SwapEMAWeights', 'TensorBoard', 'TerminateOnNaN'),
    "keras.constraints": ('Constraint', 'MaxNorm', 'MinMaxNorm', 'NonNeg', 'UnitNorm', 'deserialize', 'get',
                          'max_norm', 'min_max_norm', 'non_neg', 'serialize', 'unit_norm'),
    "keras.datasets": (
        'boston_housing', 'california_housing', 'cifar10', 'cifar100', 'fashion_mnist', 'imdb', 'mnist', 'reuters'),
    "keras.initializers": (
        'Constant', 'GlorotNormal', 'GlorotUniform', 'HeNormal', 'HeUniform', 'Identity', 'IdentityInitializer',
        'Initializer', 'LecunNormal', 'LecunUniform', 'Ones', 'Orthogonal', 'OrthogonalInitializer', 'RandomNormal',
        'RandomUniform', 'STFT', 'STFTInitializer', 'TruncatedNormal', 'VarianceScaling', 'Zeros', 'constant',
        'deserialize', 'get', 'glorot_normal', 'glorot_uniform', 'he_normal', 'he_uniform', 'identity',
        'lecun_normal', 'lecun_uniform', 'ones', 'orthogonal', 'random_normal', 'random_uniform', 'serialize', 'stft',
        'truncated_normal', 'variance_scaling', 'zeros'),
    "keras.losses": (
        'BinaryCrossentropy', 'BinaryFocalCrossentropy', 'CTC', 'CategoricalCrossentropy',
        'CategoricalFocalCrossentropy', 'CategoricalGeneralizedCrossEntropy', 'CategoricalHinge', 'Circle',
        'CosineSimilarity', 'Dice', 'Hinge', 'Huber', 'KLDivergence', 'LogCosh', 'Loss', 'MeanAbsoluteError',
        'MeanAbsolutePercentageError', 'MeanSquaredError', 'MeanSquaredLogarithmicError', 'Poisson',
        'SparseCategoricalCrossentropy', 'SquaredHinge', 'Tversky', 'binary_crossentropy',
        'binary_focal_crossentropy', 'categorical_crossentropy', 'categorical_focal_crossentropy',
        'categorical_generalized_cross_entropy', 'categorical_hinge', 'circle', 'cosine_similarity', 'ctc',
        'deserialize', 'dice', 'get', 'hinge', 'huber', 'kl_divergence', 'log_cosh', 'mean_absolute_error',
        'mean_absolute_percentage_error', 'mean_squared_error', 'mean_squared_logarithmic_error', 'poisson',
        'serialize', 'sparse_categorical_crossentropy', 'squared_hinge', 'tversky'),
    "keras.metrics": (
        'AUC', 'Accuracy', 'BinaryAccuracy', 'BinaryCrossentropy', 'BinaryIoU', 'CategoricalAccuracy',
        'CategoricalCrossentropy', 'CategoricalHinge', 'ConcordanceCorrelation', 'CosineSimilarity', 'F1Score',
        'FBetaScore', 'FalseNegatives', 'FalsePositives', 'Hinge', 'IoU', 'KLDivergence', 'LogCoshError', 'Mean',
        'MeanAbsoluteError', 'MeanAbsolutePercentageError', 'MeanIoU', 'MeanMetricWrapper', 'MeanSquaredError',
        'MeanSquaredLogarithmicError', 'Metric', 'OneHotIoU', 'OneHotMeanIoU', 'PearsonCorrelation', 'Poisson',
        'Precision', 'PrecisionAtRecall', 'R2Score', 'Recall', 'RecallAtPrecision', 'RootMeanSquaredError',
        'SensitivityAtSpecificity', 'SparseCategoricalAccuracy', 'SparseCategoricalCrossentropy',
        'SparseTopKCategoricalAccuracy', 'SpecificityAtSensitivity', 'SquaredHinge', 'Sum', 'TopKCategoricalAccuracy',
        'TrueNegatives', 'TruePositives', 'binary_accuracy', 'binary_crossentropy', 'binary_focal_crossentropy',
        'categorical_accuracy', 'categorical_crossentropy', 'categorical_focal_crossentropy', 'categorical_hinge',
        'concordance_correlation', 'deserialize', 'get', 'hinge', 'huber', 'kl_divergence', 'log_cosh',
        'mean_absolute_error', 'mean_absolute_percentage_error', 'mean_squared_error',
        'mean_squared_logarithmic_error', 'pearson_correlation', 'poisson', 'serialize',
        'sparse_categorical_accuracy', 'sparse_categorical_crossentropy', 'sparse_top_k_categorical_accuracy',
        'squared_hinge', 'top_k_categorical_accuracy'),
    "keras.models": ('Model', 'Sequential', 'clone_model', 'load_model', 'model_from_json', 'save_model'),
    "keras.optimizers": (
        'Adadelta', 'Adafactor', 'Adagrad', 'Adam', 'AdamW', 'Adamax', 'Ftrl', 'Lamb', 'Lion', 'LossScaleOptimizer',
        'MultiOptimizer', 'Muon', 'Nadam', 'Optimizer', 'OptimizerMap', 'RMSprop', 'SGD', 'ScheduleFreeAdamW',
        'deserialize', 'get', 'legacy', 'schedules', 'serialize'),
    "keras.preprocessing": (
        'image', 'image_dataset_from_directory', 'sequence', 'text_dataset_from_directory',
        'timeseries_dataset_from_array'),
    "keras.preprocessing.image": ('array_to_img', 'img_to_array', 'load_img', 'save_img', 'smart_resize'),
    "keras.regularizers": ('L1', 'L1L2', 'L2', 'OrthogonalRegularizer', 'Regularizer', 'deserialize', 'get', 'l1',
                           'l1_l2', 'l2', 'orthogonal_regularizer', 'serialize'),
    "keras.saving": (
        'CustomObjectScope', 'KerasFileEditor', 'custom_object_scope', 'deserialize_keras_object',
        'get_custom_objects', 'get_registered_name', 'get_registered_object', 'load_model', 'load_weights',
        'register_keras_serializable', 'save_model', 'save_weights', 'serialize_keras_object'),
    "keras.utils": (
        'Config', 'CustomObjectScope', 'FeatureSpace', 'Progbar', 'PyDataset', 'Sequence', 'array_to_img',
        'audio_dataset_from_directory', 'bounding_boxes', 'clear_session', 'custom_object_scope',
        'deserialize_keras_object', 'disable_interactive_logging', 'enable_interactive_logging', 'get_custom_objects',
        'get_file', 'get_registered_name', 'get_registered_object', 'get_source_inputs',
        'image_dataset_from_directory', 'img_to_array', 'is_interactive_logging_enabled', 'is_keras_tensor', 'legacy',
        'load_img', 'model_to_dot', 'normalize', 'pack_x_y_sample_weight', 'pad_sequences', 'plot_model',
        'register_keras_serializable', 'save_img', 'serialize_keras_object', 'set_random_seed', 'split_dataset',
        'standardize_dtype', 'text_dataset_from_directory', 'timeseries_dataset_from_array', 'to_categorical',
        'unpack_x_y_sample_weight'),
}
"""Keras 3.15's public names of its submodules (``dir(keras.utils)``, ...), so that one ``fastconv.keras``
lacks raises ``NotImplementedError`` naming it (``tests/test_package.py`` checks them against the installed
Keras)."""


def missing_name(module_name, keras_module, keras_names, name):
    """The error for ``module.name`` missing from one of ``fastconv.keras``'s namespaces (PEP 562's
    ``__getattr__`` raises it): :class:`MissingKerasName` for a name of ``keras_module`` in Keras
    (``keras_names``), a plain ``AttributeError`` (a typo) otherwise.

    >>> type(missing_name("fastconv.keras", "keras", KERAS_TOP_LEVEL_NAMES, "ops")).__name__
    'MissingKerasName'
    >>> type(missing_name("fastconv.keras", "keras", KERAS_TOP_LEVEL_NAMES, "opz")).__name__
    'AttributeError'
    """
    if name in keras_names:
        what = "layer" if keras_module == "keras.layers" else "name"
        error = MissingKerasImport if _importing_from() else MissingKerasName
        return error(f"The Keras {what} `{keras_module}.{name}` is not implemented in fastconv yet. "
                     "What fastconv implements is listed in docs/keras-compatibility.md.")
    return AttributeError(f"module {module_name!r} has no attribute {name!r}")


class MissingKerasImport(NotImplementedError, ImportError):
    """:class:`MissingKerasName` for ``from keras import ops``: an ``ImportError`` rather than an
    ``AttributeError``, which Python's ``from ... import`` would replace by its own "cannot import name"."""


def _importing_from():
    """Whether the program's frame that asked a namespace's ``__getattr__`` for the name (the first above this
    module's functions and the ``__getattr__``) is executing ``from module import name``."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_name in ("missing_name", "missing_layer", "__getattr__"):
        frame = frame.f_back
    try:
        return frame is not None and frame.f_code.co_code[frame.f_lasti] == dis.opmap["IMPORT_FROM"]
    except IndexError:
        return False


def missing_layer(module_name, name):
    """The error for ``module.name`` missing from a layers namespace (PEP 562's ``__getattr__`` raises it).

    >>> type(missing_layer("fastconv.keras.layers", "Conv3D")).__name__
    'MissingKerasName'
    >>> type(missing_layer("fastconv.keras.layers", "Conv2d")).__name__  # not a Keras name: a typo
    'AttributeError'
    """
    return missing_name(module_name, "keras.layers", KERAS_LAYER_NAMES, name)
