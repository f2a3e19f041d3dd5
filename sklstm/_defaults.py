"""The estimators' defaults, declared once.

``SHARED`` holds the defaults that every estimator having the parameter
shares; ``DEPARTURES`` lists, for each estimator, the parameters whose
default differs, with the reason. ``tests/test_defaults.py`` checks every
estimator's signature against them, and ``docs/user_guide.rst`` shows the
departures as a table (checked by the same test). The signatures keep their
literal defaults, as scikit-learn's do, so that ``help()`` and the API pages
show them.
"""

SHARED = {
    "cell": "lstm",
    "num_hidden": 24,
    "num_layers": 1,
    "embedding_dim": None,
    "bidirectional": True,
    "dropout": 0.0,
    "max_epochs": "auto",
    "batch_size": 64,
    "lr": 0.02,
    "optimizer": "adam",
    "lr_schedule": "onecycle",
    "clip_grad_norm": None,
    "early_stopping": False,
    "validation_fraction": 0.1,
    "n_iter_no_change": 10,
    "callbacks": None,
    "warm_start": False,
    "checkpoint_dir": None,
    "random_state": None,
    "device": "cpu",
    "accelerator": None,
    "verbose": 0,
    "standardize": True,
    "precision": "float32",
    "conv_layers": "auto",
    "conv_channels": 64,
    "conv_kernel_size": 7,
    "conv_dilations": "auto",
    "input_differences": 2,
    "difference_lag": 4,
    "per_sequence_features": False,
    "locked_dropout": False,
    "weight_dropout": 0.0,
    "conv_stride": 2,
    "pooling": "max",
    "conv_pooling": None,
    "n_networks": "auto",
    "class_weight": None,
    "crop_fraction": "auto",
    "label_smoothing": 0.0,
    "summary_points": "auto",
    "bptt": None,
}

_LM = "word-level language modelling (the Penn Treebank recipe's scale)"

# estimator -> parameter -> why its default differs from SHARED
DEPARTURES = {
    "SequenceRegressor": {
        "conv_dilations": "(1,): the inner search was not cross-validated on "
        "regression sets; ``\"auto\"`` is available",
        "input_differences": "0: both regression benchmark sets lost with "
        "differences",
        "difference_lag": "\"auto\": its per-sequence copies' slopes over a "
        "share of a long series (scatter spectra of 600 to 2,000 steps: "
        "RMSE 25 to 70% lower); the classifier's convolutions lost with it "
        "(ArrowHead, OSULeaf)",
        "pooling": "\"mean\": won on both regression sets in cross-validation",
        "per_sequence_features": "\"auto\": searched after ``summary_points``; "
        "wins where a gain, offset or trend of each series hides the target "
        "(scatter-spectra), ties elsewhere",
    },
    "SequenceTagger": {
        "max_epochs": "80: the fit budget's cost model is that of whole "
        "sequences, not of a stream read in windows (``bptt``)",
        "bidirectional": "False: a label per step that depends only on the "
        "steps so far, as streaming tagging needs",
        "conv_dilations": "(1,): one output per step keeps the front-end plain "
        "(no ``\"auto\"``)",
        "input_differences": "0: not searched for per-step labels (no "
        "``\"auto\"``)",
    },
    "SequenceLanguageModel": {
        "num_hidden": f"200: {_LM}",
        "num_layers": f"2: {_LM}",
        "bidirectional": "absent: a language model reads forwards only",
        "dropout": f"0.2: {_LM}",
        "max_epochs": f"6: {_LM}",
        "batch_size": "20: columns of one token stream (truncated BPTT)",
        "lr": "0.005: Adam on windows of a long stream",
        "lr_schedule": "\"cosine\": one stepped per epoch, as the stream's "
        "windows vary",
        "clip_grad_norm": "1.0: truncated BPTT's exploding gradients",
        "validation_fraction": "0.05: a held-out share of the sentences",
        "n_iter_no_change": "3: epochs are long",
        "bptt": "35: the stream is read in windows of 35 words",
    },
}
