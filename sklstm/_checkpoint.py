"""Checkpoints written during ``fit`` (``checkpoint_dir``), and resuming from them.

A checkpoint is a file in :func:`sklstm.save`'s format (so :func:`sklstm.load`
reads it as a model) with one more JSON section, ``"resume"``: whether the
training had finished, a fingerprint of the parameters and the data, and the
state of the callbacks (learning-rate schedule, early stopping); the torch
random state and early stopping's best weights are among its tensors.
"""

import json
import os
from typing import NamedTuple

import joblib
import torch
from skorch.callbacks import Callback, EpochScoring, PassthroughScoring

from ._compat import callback_state, restore_callback_state, set_best_score
from ._serialization import damaged, Decoder, encode, Encoder, read, write
from .preprocessing import SequenceScaler, Vocabulary

CHECKPOINT_FILE = "checkpoint.safetensors"

# parameters that may differ between an interrupted fit and the one resuming it
_FREE_PARAMS = ("checkpoint_dir", "verbose", "device", "callbacks", "warm_start")


def _classes_of(estimator):
    """The classes a checkpoint of ``estimator`` holds: its own, and the
    preprocessing objects it may keep (its vocabulary)."""
    return {cls.__name__: cls for cls in (type(estimator), Vocabulary, SequenceScaler)}


def checkpoint_path(estimator):
    """The checkpoint file of ``estimator.checkpoint_dir`` (None when unset)."""
    if estimator.checkpoint_dir is None:
        return None
    return os.path.join(os.fspath(estimator.checkpoint_dir), CHECKPOINT_FILE)


def fingerprint(estimator, *arrays):
    """What a resumed fit must share with the interrupted one: the parameters
    (but those in ``_FREE_PARAMS``) and the training data."""
    params = {
        k: v for k, v in estimator.get_params(deep=False).items() if k not in _FREE_PARAMS
    }
    encoded = Encoder({}, with_optimizer=False).value(params, "parameters")
    data = joblib.hash(
        [a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a for a in arrays]
    )
    return {"params": json.dumps(encoded, sort_keys=True), "data": data}


class Resume(NamedTuple):
    """A checkpoint to resume from: its ``"resume"`` section, a decoder of
    its tensors and the JSON of the estimator it was written for."""

    section: dict
    decoder: Decoder
    estimator: dict

    @property
    def net(self):
        """The JSON of the checkpoint's net."""
        return self.estimator["net"]

    def fitted(self, cls, attr):
        """The interrupted fit's fitted attribute ``attr`` of an estimator
        of class ``cls`` (None when the checkpoint has none): what the data
        taught it before training, such as its inner search's results."""
        value = Decoder.fitted(cls, self.estimator).get(attr)
        return None if value is None else self.decoder.value(value)


def read_checkpoint(path, expected):
    """The checkpoint at ``path`` as a :class:`Resume`, after checking it
    was written for the same parameters and data."""
    doc, tensors = read(path)
    try:
        resume = doc["resume"]
        found = resume["fingerprint"]
    except (KeyError, TypeError) as exc:
        raise damaged(path, "it is a saved model, not a checkpoint") from exc
    if found["params"] != expected["params"]:
        raise ValueError(
            f"The checkpoint {path!r} was written by a fit with other parameters "
            "(all but checkpoint_dir, verbose, device, callbacks and warm_start "
            "must match to resume). Use another checkpoint_dir, or delete the "
            "file to start over."
        )
    if found["data"] != expected["data"]:
        raise ValueError(
            f"The checkpoint {path!r} was written by a fit on other data; pass "
            "the same X and y to resume, use another checkpoint_dir, or delete "
            "the file to start over."
        )
    return Resume(resume, Decoder(tensors, device=None), doc["estimator"])


class Checkpointer(Callback):
    """Write the training state at the end of every epoch; restore the
    callbacks' state when a fit resumes.

    Placed after the learning-rate schedule and early stopping, so that it
    saves their state after their own epoch-end work, and restores it after
    their ``on_train_begin`` has reset it.
    """

    def __init__(self, estimator, path, fingerprint, resume=None):
        self.estimator = estimator
        self.path = path
        self.fingerprint = fingerprint
        # the Resume to restore, or None
        self.resume = resume

    def on_train_begin(self, net, **kwargs):
        # (the fit made the folder before any work: make_folder)
        if self.resume is None:
            return
        resume, self.resume = self.resume, None
        decoder = resume.decoder
        for name, cb in net.callbacks_:
            if isinstance(cb, (PassthroughScoring, EpochScoring)):
                # the best score so far marks the next epochs' "_best" flags
                set_best_score(cb, [row[cb.name] for row in net.history if cb.name in row])
            state = resume.section["callbacks"].get(name)
            if state is None:
                continue
            scheduler = decoder.value(state["scheduler"]) if "scheduler" in state else None
            best = decoder.prefixed(f"callback.{name}.")
            restore_callback_state(cb, state, scheduler, best)
        # a new schedule sets the rate of its first step: put back the
        # optimizer's own (rate, momentum) at the checkpoint
        groups = decoder.value(resume.net["optimizer"]["param_groups"])
        for group, saved in zip(net.optimizer_.param_groups, groups):
            group.update({k: v for k, v in saved.items() if k != "params"})

    def on_epoch_end(self, net, **kwargs):
        self.write(net, finished=False)

    def on_train_end(self, net, **kwargs):
        # after the last epoch or early stopping (whose best weights are now
        # back), but not after Ctrl+C in the middle of an epoch: that epoch's
        # state is incomplete, and the previous checkpoint stays
        if net.history and "dur" in net.history[-1]:
            self.write(net, finished=True)

    def write(self, net, finished):
        # user callbacks are code: not stored (a resumed fit takes its own)
        doc, tensors = encode(
            self.estimator, _classes_of(self.estimator), with_optimizer=True,
            net=net, without=["callbacks"],
        )
        callbacks = {}
        for name, cb in net.callbacks_:
            kept = callback_state(cb)
            if kept is None:
                continue
            state, scheduler, best = kept
            if scheduler is not None:
                state = {"scheduler": Encoder({}, False).value(scheduler, name), **state}
            callbacks[name] = state
            for k, t in (best or {}).items():
                tensors[f"callback.{name}.{k}"] = t.detach().cpu().clone()
        tensors["rng.torch"] = torch.get_rng_state()
        doc["resume"] = {
            "finished": finished,
            "fingerprint": self.fingerprint,
            "callbacks": callbacks,
        }
        write(doc, tensors, self.path)


def restore_training(net, decoder, net_doc):
    """Put a freshly built net in the checkpoint's state; returns the torch
    random state to continue with."""
    decoder.restore_net(net, net_doc)
    return decoder.tensors["rng.torch"]
