"""Word-level language modelling with truncated back-propagation through time."""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from skorch.dataset import Dataset, unpack_data
from skorch.helper import predefined_split
from torch.optim.swa_utils import AveragedModel, get_swa_multi_avg_fn

from ._compat import Interval, StrOptions
from ._base import _OPTIMIZERS, _BaseSequenceEstimator, fit_context
from ._net import PRECISIONS as _PRECISIONS
from ._fork import guard_forked_process
from ._docs import fill_doc
from ._data import PAD_LABEL, WindowIterator, batchify, pad_sequences
from .preprocessing._vocabulary import Vocabulary, tokenize

EOS_ID = 1  # Vocabulary puts <eos> at id 1



def _stream(ids):
    """One token stream: ``<eos>`` first (the context of the first sentence),
    then every sentence followed by its ``<eos>``."""
    return torch.from_numpy(np.concatenate([[EOS_ID], *ids]))


@fill_doc
class SequenceLanguageModel(_BaseSequenceEstimator):
    """Recurrent word-level language model (LSTM, GRU or RNN).

    Words are embedded, the training text is joined into one stream laid out
    in ``batch_size`` parallel columns, and the network is unrolled over
    windows of ``bptt`` words; the recurrent state at the end of one window
    (detached from the graph) is the initial state of the next, and is reset
    at each epoch. This is the layout of the TensorFlow PTB tutorial and of
    PyTorch's ``word_language_model`` example. Evaluation carries state the
    same way and streams over the data, so memory does not grow with the
    text.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}, default="lstm"
        Recurrent cell.
    num_hidden : int, default=200
        Units per recurrent layer.
    num_layers : int, default=2
        Number of stacked recurrent layers.
    dropout : float, default=0.2
        Dropout on the embeddings, between layers and before the output layer.
    locked_dropout : bool, default=False
        Make ``dropout`` variational ("locked", Gal & Ghahramani 2016; as in
        AWD-LSTM): one mask per column of the batch and window, shared by all
        its steps, instead of a new mask at every step.
    embedding_dropout : float, default=0.0
        Drop whole words: in each training window, every vocabulary entry is
        dropped (its embedding zeroed at every step where it occurs) with this
        probability (AWD-LSTM uses 0.1).
    weight_dropout : float, default=0.0
        DropConnect on the recurrent hidden-to-hidden weights (AWD-LSTM's
        weight drop, 0.5 there): one mask per training window, applied to the
        weight matrices, so the fused recurrent kernel keeps its speed.
        Evaluation uses the full weights.
    activation_penalty : float, default=0.0
        Activation regularisation (AR; AWD-LSTM uses 2): adds this times the
        mean square of the last recurrent layer's outputs (after dropout) to
        the training loss.
    temporal_penalty : float, default=0.0
        Temporal activation regularisation (TAR; AWD-LSTM uses 1): adds this
        times the mean square of the change of the last layer's outputs from
        one step to the next. The recorded ``train_loss`` leaves both
        penalties out, so it compares with ``valid_loss``.
    embedding_dim : int or None, default=None
        Size of the word embeddings; ``num_hidden`` if None.
    tie_weights : bool, default=False
        Share the embedding matrix with the output layer (Press & Wolf,
        Inan et al.); needs ``embedding_dim`` equal to ``num_hidden``.
    bptt : int, default=35
        Window length of truncated back-propagation through time.
    variable_bptt : bool, default=False
        Draw each training window's length around ``bptt`` (AWD-LSTM's
        variable-length windows: ``bptt`` with probability 0.95, else
        ``bptt / 2``, plus normal noise of standard deviation 5; see
        :class:`~sklstm._data.WindowIterator`) and scale the learning rate of
        each step by ``length / bptt``, so that every word gets the same
        weight. The windows still follow each other, so the carried state
        stays right; validation keeps windows of ``bptt``.
    batch_size : int, default=20
        Number of parallel columns of the training stream.
    max_epochs : int, default=6
        Passes over the training text (fewer with early stopping).
    lr : float, default=0.005
        Learning rate (the initial one, with a schedule).
    optimizer : {"adam", "adamw", "sgd", "rmsprop", "nt-asgd"} or torch \
            optimizer class, default="adam"
        Optimizer. On Penn Treebank, the defaults (Adam at 0.005, cosine
        decay, clipping at 1.0) learn much faster than the reference
        example's SGD at 20 (``optimizer="sgd", lr=20.0,
        clip_grad_norm=0.25``) when ``tie_weights=True`` with PyTorch's
        initialisation; with untied weights SGD at 20 is ahead for the first
        epochs, and after ten epochs both reach the same perplexity. The
        best recipe measured is SGD at 20 with tied weights and
        ``init_range=0.1``. See the benchmarks page.

        ``"nt-asgd"`` is AWD-LSTM's non-monotonically triggered averaged SGD:
        plain SGD until the validation loss (the training loss without
        validation data) of an epoch is worse than the best one of the
        epochs before the last ``averaging_patience``; from then on, the
        weights are also averaged over every later step. Validation uses the
        averaged weights, and at the end of ``fit`` (also an interrupted
        one) the network keeps them, so scoring, prediction, saving and a
        ``warm_start`` continuation all use them. Usually combined with
        ``lr_schedule="constant"``. The history's ``averaging`` column says
        which epochs averaged.
    averaging_patience : int, default=5
        Epochs of ``"nt-asgd"``'s trigger (AWD-LSTM's ``nonmono``).
    lr_schedule : {"cosine", "plateau", "constant", "onecycle"}, \
            default="cosine"
        Learning-rate schedule. ``"cosine"`` decays the rate to zero over
        ``max_epochs``; ``"plateau"`` divides it by 4 after every epoch whose
        validation loss (training loss without validation data) does not
        improve, as the reference PyTorch example does.
    clip_grad_norm : float or None, default=1.0
        Gradient-norm clipping at every step.
    early_stopping : bool, default=False
        Stop when the validation loss has not improved for
        ``n_iter_no_change`` epochs and restore the best weights.
    validation_fraction : float or None, default=0.05
        Fraction of the training sentences (the last ones) held out for
        validation when ``fit`` gets no ``X_val``; None for no validation.
    n_iter_no_change : int, default=3
        Patience of early stopping, in epochs.
    min_frequency : int, default=1
        Words seen fewer times in the training text become ``<unk>``.
    max_tokens : int or None, default=None
        Largest vocabulary size (``<unk>`` and ``<eos>`` included).
    softmax_cutoff : int or None, default=None
        None computes a full softmax over the vocabulary. An int k makes the
        output layer a two-level softmax (an adaptive softmax with one tail
        cluster): its head holds the k most frequent words (``<unk>`` and
        ``<eos>`` first) and one more output for "a rarer word", whose
        probability a second softmax over the rarer words shares out.
        Training then scores the rarer words only for the targets that are
        rare, which cuts the arithmetic of the output layer on large
        vocabularies (on Penn Treebank, k=1000 leaves 21% of the tokens in
        the tail: about 2,900 scores per token instead of 10,000); see the
        benchmarks page. The probabilities stay exact and sum
        to one; ``tie_weights`` still applies. Must be smaller than the
        vocabulary size.
    init_range : float or None, default=None
        When set, the embedding and output weights start uniform in
        ``[-init_range, init_range]`` (the reference examples use 0.1) and
        the output bias at zero; None keeps PyTorch's initialisation
        (N(0, 1) embeddings), which starts slowly under SGD with
        ``tie_weights=True``.
    precision : {"float32", "bfloat16"}, default="float32"
        Arithmetic of training. ``"bfloat16"`` trains in mixed precision
        (:func:`torch.autocast`: matrix products in bfloat16; parameters,
        optimizer and losses in float32). It pays on hardware with bfloat16
        arithmetic (CPUs with AVX-512 BF16 or AMX, recent GPUs): 1.49x the
        training tokens per second for the same perplexity on the
        benchmarks page's CPU; elsewhere it can be slower. On CPUs
        without AVX-512, where torch has no bfloat16 LSTM kernel, the
        recurrent layers compute in float32 and the rest in emulated
        bfloat16 (:func:`sklstm.nn.low_precision_supported`), 3.4 times
        slower than float32 on the Penn Treebank recipe; ``fit`` warns.
        Evaluation,
        prediction and generation always compute in float32.
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks (instances or ``(name, callback)`` tuples).
    warm_start : bool, default=False
        If True, ``fit`` continues training the previous network (and keeps
        its vocabulary) for another ``max_epochs`` epochs.
    %(checkpoint_parameter)s
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation and dropout. With an int, fitting on the
        CPU is reproducible.
    device : str or torch.device, default="cpu"
        Where the network runs.
    %(accelerator_parameter)s
    verbose : int, default=0
        0 is silent; 1 prints one row per epoch (with the validation
        perplexity) and a progress bar on epochs longer than two seconds.

    Attributes
    ----------
    vocabulary_ : Vocabulary
        The vocabulary learned from the training text.
    tokens_ : ndarray of shape (n_tokens,)
        The vocabulary's words; the columns of :meth:`predict_proba`.
    net_ : skorch.NeuralNet
        The trained skorch net.
    n_iter_ : int
        Number of epochs trained.
    history_ : pandas.DataFrame
        Per-epoch log: ``train_loss``, ``valid_loss`` and ``valid_ppl``
        (validation perplexity), duration.

    See Also
    --------
    sklstm.preprocessing.Vocabulary : The word-to-id mapping.
    sklstm.datasets.load_ptb : The Penn Treebank data.

    Notes
    -----
    ``score`` is the mean log-likelihood per token (natural log), ``<eos>``
    included, so ``perplexity(X) == exp(-score(X))`` and scikit-learn's
    model selection, which maximises the score, picks the lowest perplexity.
    Every token of X is scored once: the text is read as one stream that
    starts after an ``<eos>``.

    Examples
    --------
    >>> from sklstm import SequenceLanguageModel
    >>> text = ["the cat sat on the mat", "the dog sat on the rug"] * 50
    >>> lm = SequenceLanguageModel(num_hidden=32, num_layers=1, batch_size=4,
    ...                            bptt=8, lr=0.02, optimizer="adam",
    ...                            max_epochs=10, random_state=0).fit(text)
    >>> lm.predict(["the cat sat", "the dog sat on the"])
    array(['on', 'rug'], dtype=object)
    >>> lm.perplexity(text) < 2
    True
    """

    _parameter_constraints = {
        **{
            k: v
            for k, v in _BaseSequenceEstimator._parameter_constraints.items()
            if k != "bidirectional"
        },
        "tie_weights": ["boolean"],
        "bptt": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "min_frequency": [Interval(Integral, 1, None, closed="left")],
        "max_tokens": [Interval(Integral, 3, None, closed="left"), None],
        "precision": [StrOptions(set(_PRECISIONS))],
        "softmax_cutoff": [Interval(Integral, 1, None, closed="left"), None],
        "init_range": [Interval(Real, 0, None, closed="neither"), None],
        "optimizer": [StrOptions({*_OPTIMIZERS, "nt-asgd"}), type],
        "averaging_patience": [Interval(Integral, 1, None, closed="left")],
        "locked_dropout": ["boolean"],
        "embedding_dropout": [Interval(Real, 0, 1, closed="left")],
        "weight_dropout": [Interval(Real, 0, 1, closed="left")],
        "activation_penalty": [Interval(Real, 0, None, closed="left")],
        "temporal_penalty": [Interval(Real, 0, None, closed="left")],
        "variable_bptt": ["boolean"],
    }
    _per_step = True
    _saved_fields = {"vocabulary_": "vocabulary_", "tokens_": "tokens_"}  # in files
    _plateau_patience = 0

    def __init__(
        self,
        *,
        cell="lstm",
        num_hidden=200,
        num_layers=2,
        dropout=0.2,
        locked_dropout=False,
        embedding_dropout=0.0,
        weight_dropout=0.0,
        activation_penalty=0.0,
        temporal_penalty=0.0,
        embedding_dim=None,
        tie_weights=False,
        bptt=35,
        variable_bptt=False,
        batch_size=20,
        max_epochs=6,
        lr=0.005,
        optimizer="adam",
        averaging_patience=5,
        lr_schedule="cosine",
        clip_grad_norm=1.0,
        early_stopping=False,
        validation_fraction=0.05,
        n_iter_no_change=3,
        min_frequency=1,
        max_tokens=None,
        softmax_cutoff=None,
        init_range=None,
        precision="float32",
        callbacks=None,
        warm_start=False,
        checkpoint_dir=None,
        random_state=None,
        device="cpu",
        accelerator=None,
        verbose=0,
    ):
        self.cell = cell
        self.num_hidden = num_hidden
        self.num_layers = num_layers
        self.dropout = dropout
        self.locked_dropout = locked_dropout
        self.embedding_dropout = embedding_dropout
        self.weight_dropout = weight_dropout
        self.activation_penalty = activation_penalty
        self.temporal_penalty = temporal_penalty
        self.embedding_dim = embedding_dim
        self.tie_weights = tie_weights
        self.bptt = bptt
        self.variable_bptt = variable_bptt
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.optimizer = optimizer
        self.averaging_patience = averaging_patience
        self.lr_schedule = lr_schedule
        self.clip_grad_norm = clip_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.min_frequency = min_frequency
        self.max_tokens = max_tokens
        self.softmax_cutoff = softmax_cutoff
        self.init_range = init_range
        self.precision = precision
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.device = device
        self.accelerator = accelerator
        self.verbose = verbose

    # -- training -------------------------------------------------------------
    def _module_params(self, n_outputs):
        return {
            "n_outputs": n_outputs,
            "vocab_size": n_outputs,
            "embedding_dim": self.embedding_dim,
            "cell": self.cell,
            "num_hidden": self.num_hidden,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "per_step": True,
            "tie_weights": self.tie_weights,
            "batch_invariant_eval": False,
            "softmax_cutoff": self.softmax_cutoff,
            "init_range": self.init_range,
            "locked_dropout": self.locked_dropout,
            "embedding_dropout": self.embedding_dropout,
            "weight_dropout": self.weight_dropout,
            "activation_penalty": self.activation_penalty,
            "temporal_penalty": self.temporal_penalty,
        }

    def _optimizer_class(self):
        if self.optimizer == "nt-asgd":
            # SGD steps; the averaging is the _NTAveraging callback's
            return torch.optim.SGD
        return super()._optimizer_class()

    def _criterion(self, y):
        return torch.nn.CrossEntropyLoss, {}

    def _train_split(self, y):
        if self._valid_cols is None:
            return None
        return predefined_split(Dataset(*self._valid_cols))

    def _net_layout(self, seed):
        """Consecutive windows of ``bptt`` steps, the state carried across."""
        return {
            "iterator_train": WindowIterator,
            "iterator_train__bptt": self.bptt,
            "iterator_train__variable": self.variable_bptt,
            "iterator_train__random_state": np.random.RandomState(seed),
            "iterator_valid": WindowIterator,
            "iterator_valid__bptt": self.bptt,
            "stateful": True,
        }

    def _callbacks(self, n_epochs, n_batches, validation):
        callbacks = super()._callbacks(n_epochs, n_batches, validation)
        if validation:
            callbacks.insert(0, ("valid_ppl", _ValidPerplexity()))
        if self.optimizer == "nt-asgd":
            # before early stopping, which then keeps the averaged weights
            monitor = "valid_loss" if validation else "train_loss"
            averaging = _NTAveraging(self.averaging_patience, monitor)
            callbacks.insert(0, ("averaging", averaging))
        if self.variable_bptt:
            # first: the rate is back to the schedule's before anything else
            callbacks.insert(0, ("window_lr", _WindowLR(self.bptt)))
        return callbacks

    def _check_options(self):
        """Combinations of parameters that cannot train together."""
        if self.variable_bptt and self.lr_schedule == "onecycle":
            raise ValueError(
                "variable_bptt=True makes the number of steps per epoch vary, "
                "which lr_schedule='onecycle' cannot follow; use 'cosine', "
                "'plateau' or 'constant'."
            )
        if self.variable_bptt and self.accelerator is not None:
            raise ValueError(
                "variable_bptt=True is not available with an accelerator yet "
                "(every process must take the same number of steps); set "
                "variable_bptt=False."
            )
        if self.optimizer == "nt-asgd" and self.checkpoint_dir is not None:
            raise ValueError(
                "optimizer='nt-asgd' cannot resume from checkpoints yet (the "
                "running average is not saved in them); set checkpoint_dir=None "
                "or use another optimizer."
            )

    def _columns(self, ids, n_columns):
        """Inputs and next-token targets of a stream, laid out in columns."""
        stream = _stream(ids)
        return batchify(stream[:-1], n_columns), batchify(stream[1:], n_columns)

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, X_val=None):
        """Train the language model on sentences.

        Parameters
        ----------
        X : iterable of str or of lists of str
            Training sentences (strings are split on white space).
        y : None
            Ignored.
        X_val : iterable of str or of lists of str, default=None
            Validation sentences, for the ``"plateau"`` schedule, early
            stopping and the per-epoch validation perplexity. If None, the
            last ``validation_fraction`` of X is held out.

        Returns
        -------
        self : SequenceLanguageModel
            The fitted model.
        """
        self._check_options()
        docs = tokenize(X)
        if X_val is None and self.validation_fraction is not None and len(docs) > 1:
            n_val = max(1, int(math.ceil(self.validation_fraction * len(docs))))
            docs, val_docs = docs[:-n_val], docs[-n_val:]
        else:
            val_docs = None if X_val is None else tokenize(X_val)
        if not (self.warm_start and hasattr(self, "net_")):
            self.vocabulary_ = Vocabulary(
                min_frequency=self.min_frequency, max_tokens=self.max_tokens
            ).fit(docs)
            self.tokens_ = self.vocabulary_.tokens_
        if self.softmax_cutoff is not None and self.softmax_cutoff >= len(self.tokens_):
            raise ValueError(
                f"softmax_cutoff={self.softmax_cutoff} leaves no word for the "
                f"tail: the vocabulary has {len(self.tokens_)} words. Use a "
                "smaller softmax_cutoff, or None for a full softmax."
            )
        X_cols, y_cols = self._columns(self.vocabulary_.transform(docs), self.batch_size)
        self._valid_cols = None
        if val_docs is not None:
            val_ids = self.vocabulary_.transform(val_docs)
            n_val_tokens = sum(len(i) for i in val_ids)
            n_columns = max(1, min(self.batch_size, n_val_tokens // 2))
            self._valid_cols = self._columns(val_ids, n_columns)
        try:
            return self._fit_net(
                X_cols,
                None,
                y_cols,
                len(self.tokens_),
                n_batches=-(-X_cols.shape[1] // self.bptt),
            )
        finally:
            del self._valid_cols

    # -- evaluation -------------------------------------------------------------
    def _module(self):
        check_is_fitted(self)
        guard_forked_process()
        module = self.net_.module_
        module.eval()
        return module

    def _device(self):
        return self.net_.device

    def _sum_log_likelihood(self, X):
        """Total log-likelihood of X's tokens and their count, streamed over
        windows of the column layout with carried state."""
        module = self._module()
        stream = _stream(self.vocabulary_.transform(tokenize(X)))
        n_tokens = len(stream) - 1
        n_columns = max(1, min(self.batch_size, n_tokens // self.bptt))
        total = _stream_log_likelihood(module, stream, n_columns, self.bptt, self._device())
        return total, n_tokens

    def score(self, X, y=None):
        """Mean log-likelihood per token (natural log), ``<eos>`` included.

        Parameters
        ----------
        X : iterable of str or of lists of str
            Sentences.
        y : None
            Ignored.

        Returns
        -------
        score : float
            ``-log(perplexity)``; higher is better.
        """
        total, n_tokens = self._sum_log_likelihood(X)
        return total / n_tokens

    def perplexity(self, X):
        """Perplexity of the model on sentences X, ``<eos>`` tokens included.

        Parameters
        ----------
        X : iterable of str or of lists of str
            Sentences.

        Returns
        -------
        perplexity : float
            ``exp(-score(X))``.
        """
        return math.exp(-self.score(X))

    def _last_step_logits(self, contexts):
        """Logits of the next word after each context (read after an ``<eos>``)."""
        module = self._module()
        ids = [np.concatenate([[EOS_ID], i[:-1]]) for i in self.vocabulary_.transform(contexts)]
        padded, lengths = pad_sequences(ids, np.int64)
        padded, lengths = torch.from_numpy(padded), torch.from_numpy(lengths)
        with torch.inference_mode():
            out = module(padded.to(self._device()))
        return out[torch.arange(len(ids)), lengths - 1]

    def predict_proba(self, contexts):
        """Probability of every word being the next one after each context.

        Parameters
        ----------
        contexts : iterable of str or of lists of str
            Beginnings of sentences (may be empty strings).

        Returns
        -------
        proba : ndarray of shape (n_contexts, n_tokens)
            Columns in the order of ``tokens_``.
        """
        return torch.softmax(self._last_step_logits(contexts), dim=-1).cpu().numpy()

    def predict(self, contexts):
        """Most likely next word after each context.

        Parameters
        ----------
        contexts : iterable of str or of lists of str
            Beginnings of sentences; unknown words are read as ``<unk>``.

        Returns
        -------
        words : ndarray of shape (n_contexts,), dtype object
            The predicted words.
        """
        return self.tokens_[self._last_step_logits(contexts).argmax(dim=-1).cpu().numpy()]

    def generate(self, prompt, n_words, *, temperature=1.0, random_state=None):
        """Continue a prompt by sampling words from the model.

        Parameters
        ----------
        prompt : str or list of str
            Beginning of the text (may be empty).
        n_words : int
            Number of words (tokens, ``<eos>`` included) to generate.
        temperature : float, default=1.0
            Divides the logits before sampling: below 1 more conservative,
            above 1 more varied.
        random_state : int, RandomState instance or None, default=None
            Seeds the sampling.

        Returns
        -------
        text : str
            The prompt followed by the generated words, separated by spaces.
        """
        if not isinstance(n_words, Integral) or isinstance(n_words, bool) or n_words < 0:
            raise ValueError(f"n_words must be a non-negative integer, got {n_words!r}.")
        if not isinstance(temperature, Real) or not temperature > 0:
            raise ValueError(f"temperature must be a positive number, got {temperature!r}.")
        module = self._module()
        words = prompt.split() if isinstance(prompt, str) else tokenize([prompt])[0]
        ids = self.vocabulary_.transform([words])[0][:-1]
        seed = check_random_state(random_state).randint(2**31 - 1)
        generator = torch.Generator().manual_seed(int(seed))
        context = torch.from_numpy(np.concatenate([[EOS_ID], ids]))[None]
        generated = _sample(module, context, n_words, temperature, generator, self._device())
        return " ".join([*words, *self.tokens_[generated]])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = False
        tags.target_tags.required = False
        return tags


def _stream_log_likelihood(module, stream, n_columns, bptt, device):
    """Total log-likelihood of a token stream's next tokens under ``module``:
    the stream laid out in ``n_columns`` columns, read in windows of
    ``bptt`` steps with the state carried from one to the next."""
    n_tokens = len(stream) - 1
    length = -(-n_tokens // n_columns)
    inputs = torch.zeros(n_columns * length, dtype=torch.long)
    targets = torch.full((n_columns * length,), PAD_LABEL, dtype=torch.long)
    inputs[:n_tokens], targets[:n_tokens] = stream[:-1], stream[1:]
    inputs = inputs.reshape(n_columns, length).to(device)
    targets = targets.reshape(n_columns, length).to(device)
    total, state = 0.0, None
    with torch.inference_mode():
        for start in range(0, length, bptt):
            window = slice(start, start + bptt)
            logits, state = module(inputs[:, window], state=state, return_state=True)
            total -= torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                targets[:, window].reshape(-1),
                ignore_index=PAD_LABEL,
                reduction="sum",
            ).item()
    return total


def _sample(module, context, n_words, temperature, generator, device):
    """Ids of ``n_words`` words sampled one after another from ``module``,
    starting after ``context`` (token ids of shape ``(1, n)``)."""
    out, state = [], None
    with torch.inference_mode():
        for _ in range(n_words):
            logits, state = module(context.to(device), state=state, return_state=True)
            proba = torch.softmax(logits[0, -1].double().cpu() / temperature, dim=-1)
            generated = torch.multinomial(proba, 1, generator=generator)
            out.append(int(generated))
            context = generated[None]
    return np.asarray(out, dtype=np.int64)


class _ValidPerplexity(Callback):
    """Record ``valid_ppl = exp(valid_loss)`` in the history every epoch.

    skorch's ``valid_loss`` averages the windows' mean losses, so the last,
    shorter window weighs slightly more than its tokens; :meth:`score` counts
    every token exactly.
    """

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1, "valid_loss"]
        net.history.record("valid_ppl", math.exp(loss) if loss < 700 else math.inf)


class _WindowLR(Callback):
    """Scale the learning rate of each training step by its window's length
    over ``bptt`` (variable-length windows), and put it back after the step.
    """

    def __init__(self, bptt):
        self.bptt = bptt

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        scale = unpack_data(batch)[0].shape[1] / self.bptt
        self.rates_ = [group["lr"] for group in net.optimizer_.param_groups]
        for group in net.optimizer_.param_groups:
            group["lr"] = group["lr"] * scale

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            for group, rate in zip(net.optimizer_.param_groups, self.rates_):
                group["lr"] = rate


class _NTAveraging(Callback):
    """Non-monotonically triggered weight averaging (AWD-LSTM's NT-ASGD).

    After an epoch whose ``monitor`` loss is worse than the best of the
    epochs before the last ``patience`` ones, the weights are averaged over
    every later training step (:class:`torch.optim.swa_utils.AveragedModel`,
    an equal-weight running mean). Validation runs with the averaged weights
    (the training weights are put back when the next epoch starts), and at
    the end of training the network keeps the averaged weights.
    """

    def __init__(self, patience, monitor="valid_loss"):
        self.patience = patience
        self.monitor = monitor

    def initialize(self):
        self.losses_ = []
        self.averaged_ = None
        self.training_weights_ = None
        return self

    def _put(self, net, weights):
        with torch.no_grad():
            for param, value in zip(net.network_.parameters(), weights):
                param.copy_(value)

    def _averaging(self):
        """Whether an average exists (at least one step since the trigger)."""
        return self.averaged_ is not None and bool(self.averaged_.n_averaged > 0)

    def _use_average(self, net):
        """Swap the averaged weights in, keeping the training ones aside."""
        if self._averaging():
            if self.training_weights_ is None:
                self.training_weights_ = [
                    p.detach().clone() for p in net.network_.parameters()
                ]
            self._put(net, self.averaged_.module.parameters())

    def on_epoch_begin(self, net, **kwargs):
        if self.training_weights_ is not None:
            self._put(net, self.training_weights_)
            self.training_weights_ = None

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training and self.training_weights_ is None:
            self._use_average(net)

    def on_batch_end(self, net, training=False, **kwargs):
        if training and self.averaged_ is not None:
            self.averaged_.update_parameters(net.network_)

    def on_epoch_end(self, net, **kwargs):
        net.history.record("averaging", self._averaging())
        loss = net.history[-1, self.monitor]
        previous = self.losses_
        if (
            self.averaged_ is None
            and len(previous) > self.patience
            and loss > min(previous[: -self.patience])
        ):
            # the multi-tensor update: 15x faster than the per-tensor default
            self.averaged_ = AveragedModel(
                net.network_, multi_avg_fn=get_swa_multi_avg_fn()
            )
        self.losses_.append(loss)

    def on_train_end(self, net, **kwargs):
        # the network keeps the averaged weights (also after an interrupt)
        self._use_average(net)
        self.training_weights_ = None
