"""Docstring text shared by the estimators (one source, no copy-paste)."""

import inspect

CHECKPOINT_PARAMETER = """\
checkpoint_dir : str, path-like or None, default=None
    If set, ``fit`` writes a checkpoint (``checkpoint.safetensors`` in this
    directory, created if needed) atomically at the end of every epoch:
    everything needed to go on (weights, optimizer, learning-rate schedule,
    random states, history, early-stopping state). A later ``fit`` with the
    same parameters and data resumes from it instead of starting anew, and
    returns at once when that training had finished; delete the file to
    start over. The checkpoint is also a model file for :func:`sklstm.load`.
"""

ACCELERATOR_PARAMETER = """\
accelerator : accelerate.Accelerator or None, default=None
    Train through `Hugging Face Accelerate
    <https://huggingface.co/docs/accelerate>`_ (skorch's ``AccelerateMixin``):
    launched on several processes (``accelerate launch`` or ``torchrun``),
    each takes ``batch_size`` sequences of every step's global batch (for
    truncated BPTT: its own columns of the stream, so its own contiguous
    part), gradients are averaged, all processes end with the same
    parameters and the same history (skorch's ``DistributedHistory``), and
    each predicts every sample as a single-process estimator does. The
    accelerator places the network (``device`` is ignored).
    Not available with ``warm_start``, ``partial_fit`` or ``checkpoint_dir``.
"""

SHARED_PARAMETERS = """\
cell : {"lstm", "gru", "rnn"}, default="lstm"
    Recurrent cell.
num_hidden : int, default=24
    Units per recurrent layer (per direction).
num_layers : int, default=1
    Number of stacked recurrent layers.
embedding_dim : int or None, default=None
    Size of the word embeddings when X is text; ``num_hidden`` if None.
bidirectional : bool, default=%(default_bidirectional)s
    Whether the recurrent layers also read each sequence backwards.
dropout : float, default=0.0
    Dropout between recurrent layers and before the output layer.
max_epochs : int or "auto", default=%(default_max_epochs)s
    Number of passes over the training data (fewer with early stopping).
    ``"auto"`` (not for the language model): 80, or fewer (at least 10)
    where 80 epochs of one network would exceed the fit budget (see
    ``fit_plan_``).
batch_size : int, default=64
    Sequences per training mini-batch, at most: an epoch makes
    ``ceil(n_samples / batch_size)`` batches whose sizes differ by at most
    one (200 sequences: four batches of 50). Prediction uses batches of at
    least 1024 sequences.
lr : float, default=%(default_lr)s
    Learning rate (the peak rate with ``lr_schedule="onecycle"``).
optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch optimizer class, \
        default="adam"
    Optimizer.
lr_schedule : {"constant", "onecycle", "cosine", "plateau"}, \
        default="onecycle"
    Learning-rate schedule: constant; one cycle of warm-up and annealing
    over ``max_epochs`` (stepped every batch); cosine annealing over
    ``max_epochs``; or divided by 4 when the loss (validation loss with
    ``early_stopping``) stops improving.
clip_grad_norm : float or None, default=None
    If set, the gradient norm is clipped to this value at every step.
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the training data, stop when the
    validation loss has not improved for ``n_iter_no_change`` epochs and
    restore the weights of the best epoch.
validation_fraction : float, default=0.1
    Fraction of the training data held out with ``early_stopping``
    (stratified when every class has at least two sequences and both
    parts can hold every class; a random share otherwise).
n_iter_no_change : int, default=10
    Patience of early stopping, in epochs.
callbacks : list of skorch callbacks or None, default=None
    Extra skorch callbacks (instances or ``(name, callback)`` tuples).
    skorch's ``EpochScoring`` takes scikit-learn's scorer names
    (``"accuracy"``, ``"f1_macro"``, ``"r2"``, ...) and scores the targets
    the network trains on: class codes, or standardised regression targets.
warm_start : bool, default=False
    If True, ``fit`` continues training the network of the previous call
    for another ``max_epochs`` epochs instead of starting anew.
%(checkpoint_parameter)s
random_state : int, RandomState instance or None, default=None
    Seeds weight initialisation, shuffling, dropout and the validation
    split. With an int, fitting on the CPU is reproducible.
device : str or torch.device, default="cpu"
    Where the network runs, e.g. ``"cuda"``.
%(accelerator_parameter)s
verbose : int, default=0
    0 is silent; 1 prints one table row per epoch and a progress bar on
    epochs that run longer than two seconds.
"""


ARCHITECTURE_PARAMETERS = """\
standardize : bool, default=True
    Standardise each input feature inside the network with the mean and
    standard deviation over all real steps of the training sequences (as
    :class:`~sklstm.preprocessing.SequenceScaler` does), so that raw sensor
    values of any scale train well. Ignored for text.
precision : {"float32", "bfloat16"}, default="float32"
    Arithmetic of training. ``"bfloat16"`` trains in mixed precision
    (:func:`torch.autocast`: matrix products and convolutions in bfloat16;
    parameters, optimizer state and losses in float32), which pays on
    hardware with bfloat16 arithmetic (recent GPUs, CPUs with AVX-512 BF16 or
    AMX). It works on every CPU: where torch has no bfloat16 kernel for the
    recurrent cell (LSTMs on CPUs without AVX-512), the recurrent layers
    compute in float32 and the rest in bfloat16, as :func:`torch.autocast`
    does for any operation without a low-precision kernel (see
    :func:`sklstm.nn.low_precision_supported`). There, emulated
    bfloat16 is slower than float32, and ``fit`` warns. Prediction always
    computes in float32.
conv_layers : int or "auto", default="auto"
    Number of convolution blocks (1-D convolution, batch normalisation over
    the real steps, ReLU) before the recurrent layers; 0 for none. With
    ``"auto"``, numeric sequences longer than 64 steps get as many strided
    blocks as it takes to shorten a training sequence of the median length
    to at most 64 steps (for ragged data, the typical sequence rather than the
    longest, whose depth would cut the short ones to a few steps); shorter
    ones and text get none (learned as ``n_conv_layers_``).
    The tagger's blocks never stride (one output per input step), so
    ``"auto"`` gives it none.
conv_channels : int, default=64
    Channels of each convolution block.
conv_kernel_size : int, default=7
    Steps each convolution reads.
conv_dilations : {"auto", "multiscale"} or list, default=%(default_conv_dilations)s
    Dilations of the first convolution block: one convolution per dilation,
    side by side, sharing the block's ``conv_channels``. A dilation ``d``
    spreads a kernel over ``d * (conv_kernel_size - 1) + 1`` steps, so the
    block sees a pattern at several time scales before the sequence is
    shortened. ``"multiscale"`` takes 1, 2, 4, ... as long as the spread
    kernel spans at most a training sequence of the median length (as
    MiniRocket chooses its dilations): 1 to 32 for 251 steps, 1 for 12 or
    fewer. ``[1]`` is one plain convolution. ``"auto"`` (classifier and
    regressor) chooses between the two on the training data: a 3-fold
    cross-validation of single networks with each, ``"multiscale"`` if it
    scores better; one plain convolution where the search does not fit in
    the fit budget beside one network (see ``fit_plan_``). Wide kernels helped in cross-validation on archive sets whose
    series are aligned and hurt where a pattern may lie anywhere (see the
    benchmarks page). Learned as ``conv_dilations_``; only used with a
    front-end (``conv_layers``).
input_differences : int or "auto", default=%(default_input_differences)s
    Give the network each feature's differences over ``difference_lag``
    steps (``x[t] - x[t - difference_lag]``), of orders 1 to
    ``input_differences``, as further features, standardised with the
    others (:class:`~sklstm.nn.Differences`); 0 for none, and none for
    text (token ids, like ``standardize``). The first difference brings
    out the slopes of smooth series, as MultiRocket and derivative DTW use
    it; the second their curvature. ``"auto"`` (classifier and regressor)
    chooses 0, 1 or 2 on the training data, in the same cross-validation of
    single networks as ``conv_dilations="auto"`` (every combination of the
    two, when both are ``"auto"``; the simpler on a tie; 0 where the search
    does not fit in the fit budget). Learned as ``input_differences_``.
difference_lag : int or "auto", default=%(default_difference_lag)s
    Steps between the values that ``input_differences`` subtracts:
    ``x[t] - x[t - difference_lag]`` (from the first step for the first
    ``difference_lag`` steps), and the per-sequence copies' slopes
    (``per_sequence_features``). Over a few steps the differences keep the
    slopes of smooth series and gain less of the noise of noisy ones, whose
    step-to-step differences are mostly noise. ``"auto"``: 4 steps, or a
    25th of a typical training series where that is more (a median length
    above 112 steps), so that the differences of a long series span the
    same share of it as those of a short one; over 4 steps, a smooth series
    of thousands of steps differs by little more than its noise. Learned
    as ``difference_lag_``.
per_sequence_features : bool or "auto", default=%(default_per_sequence_features)s
    Give the network each input feature and its first difference over
    ``difference_lag`` steps standardised by their own sequence (minus the
    sequence's mean over its real steps, divided by its standard deviation
    there; :class:`~sklstm.nn.SequenceStandardize`) as further features,
    beside the features standardised over the training data: spectroscopy's
    standard normal variate of a series and of its derivative. A sequence's
    offset and scale drop out of both copies, and its linear trend out of
    the second, so that series recorded under a multiplicative effect
    (spectra under light scatter, a sensor's gain) show their shape; the
    features themselves keep the level. None for text. ``"auto"``
    (classifier and regressor) lets the inner search choose False or True,
    as for ``input_differences``.
    Learned as ``per_sequence_features_``.
locked_dropout : bool, default=False
    Make ``dropout`` variational ("locked", Gal & Ghahramani 2016): one mask
    per sequence, shared by all its steps, on the recurrent layers' inputs,
    between them and on their outputs.
weight_dropout : float, default=0.0
    DropConnect on the recurrent hidden-to-hidden weights (AWD-LSTM's weight
    drop): in training, one mask per batch on the weight matrices, so the
    fused recurrent kernel keeps its speed. Prediction uses all weights.
"""

MANY_TO_ONE_PARAMETERS = """\
conv_stride : int, default=2
    Stride of each convolution block: each block shortens the sequences
    this many times.
pooling : {"last", "mean", "max", "attention"}, default=%(default_pooling)s
    How the recurrent outputs of all steps become one vector per sequence:
    the output after the last real step, their mean or maximum over the real
    steps, or an attention-weighted mean (weights scored by a linear layer).
    The defaults (bidirectional layers; the classifier takes the maximum,
    the regressor the mean) were chosen by cross-validation on the training
    splits of archive data sets (see the benchmarks page).
conv_pooling : {"mean", "max"} or None, default=%(default_conv_pooling)s
    When set, the outputs of the last convolution block (if there is one)
    are also pooled over the real steps, the mean or the maximum of each
    channel, and the output layer reads them beside the pooled recurrent
    outputs: a shortcut from the convolutions to the output, as LSTM-FCN
    joins its convolutional and recurrent branches. None: the output layer
    reads the recurrent outputs only. Cross-validation on the training
    splits of archive data sets favoured it on some long sets and not on
    others, so it is off by default (see the benchmarks page).
n_networks : int or "auto", default="auto"
    Number of networks trained side by side, each from its own random start
    and on its own loss, whose predictions are averaged (class
    probabilities, or regression values): a deep ensemble
    (:class:`~sklstm.nn.NetworkEnsemble`), more accurate and less
    dependent on ``random_state`` than one network on small data sets, at
    ``n_networks`` times the cost. ``"auto"`` trains up to 5 networks, as
    many as the fit budget leaves room for after the inner search (see
    ``fit_plan_``), and one in ``partial_fit``, whose data comes in chunks;
    learned as ``n_networks_``.
"""

LABEL_SMOOTHING_PARAMETER = """\
label_smoothing : float in [0, 1), default=0.0
    Label smoothing in the cross-entropy loss (as in
    :class:`torch.nn.CrossEntropyLoss`): the target of each training label
    is ``1 - label_smoothing`` on its class and the rest spread evenly over
    all classes, so that the networks stop pushing their training labels'
    probabilities towards 1 once they fit them.
"""

AUTO_SEARCH_ATTRIBUTE = """\
auto_search_ : dict or None
    The inner search that chose the parameters set to ``"auto"`` that have
    a choice here (``conv_dilations``, ``input_differences``,
    ``summary_points``, ``per_sequence_features``), each candidate fitted
    as one network in a 3-fold cross-validation of the training data (the
    scores of scikit-learn's ``GridSearchCV``): ``params`` (the
    candidates, simplest first), ``mean_test_score``, ``std_test_score``,
    ``split_test_scores`` (candidates by folds) and ``best_params`` (the
    chosen one: the best mean, the simplest of equal ones; the
    regressor's, among the simplest candidate and those that beat it
    beyond the folds' noise, by more than two standard errors of their
    fold-by-fold differences, one parameter after the other: the
    candidates tried, in order). None when no search ran (nothing to
    choose, over the fit budget, or ``partial_fit``). ``verbose=1`` prints
    it as it runs.
"""

FIT_PLAN_ATTRIBUTE = """\
fit_plan_ : dict
    How much this fit trained, within the fit budget: ``epochs``,
    ``n_networks``, ``search`` (whether the inner search ran),
    ``search_epochs`` (the epochs of each of its fits), ``work`` (its
    estimated work) and ``budget``. The budget bounds the estimated
    work of a fit whose parameters are ``"auto"`` (the search, every
    network, all epochs): ``45e6`` units, one unit a padded input step
    through the convolutions or a quarter of one through the default
    recurrent layers, under a minute on a 2-core CPU. The classifier's
    ensemble comes first and the search runs where it fits beside it; the
    regressor's search comes first and the ensemble has what is left (at
    least one network); where the search would not fit beside one network
    (long or many series), its fits train fewer epochs (as many as half
    the budget holds, at least 10) in proportionally smaller batches, and
    the network the rest, if that is at least 30 epochs. Parameters set to numbers are trained as set,
    whatever the budget.
"""

_TEXTS = {
    "shared_parameters": SHARED_PARAMETERS.replace(
        "%(checkpoint_parameter)s\n", CHECKPOINT_PARAMETER
    ).replace("%(accelerator_parameter)s\n", ACCELERATOR_PARAMETER),
    "accelerator_parameter": ACCELERATOR_PARAMETER,
    "checkpoint_parameter": CHECKPOINT_PARAMETER,
    "architecture_parameters": ARCHITECTURE_PARAMETERS,
    "many_to_one_parameters": MANY_TO_ONE_PARAMETERS,
    "auto_search_attribute": AUTO_SEARCH_ATTRIBUTE,
    "label_smoothing_parameter": LABEL_SMOOTHING_PARAMETER,
    "fit_plan_attribute": FIT_PLAN_ATTRIBUTE,
}


def fill_doc(obj):
    """Replace ``%(name)s`` in ``obj``'s docstring by the shared text ``name``,
    and ``%(default_param)s`` in it by the default of ``obj``'s parameter."""
    indent = " " * 4
    for name, text in _TEXTS.items():
        text = text.rstrip("\n").replace("\n", "\n" + indent)
        obj.__doc__ = obj.__doc__.replace(f"%({name})s", text)
    for name, param in inspect.signature(obj).parameters.items():
        default = param.default
        text = f'"{default}"' if isinstance(default, str) else str(default)
        obj.__doc__ = obj.__doc__.replace(f"%(default_{name})s", text)
    return obj
