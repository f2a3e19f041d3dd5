"""Data-parallel training through Hugging Face Accelerate (skorch's AccelerateMixin)."""

import os

import torch
from skorch.hf import AccelerateMixin
from skorch.history import DistributedHistory

from ._compat import prepare_criteria_with_parameters, unwrap_best_weights
from ._net import _SequenceNet


class AcceleratedSequenceNet(AccelerateMixin, _SequenceNet):
    """The sklstm net trained through an ``accelerate.Accelerator``.

    skorch's mixin prepares the module, optimizer and schedule and steps the
    optimizer; the training step is sklstm's own (carried state for
    truncated BPTT, sample weights, the two-level softmax's loss) with
    Accelerate's autocast and backward.
    """

    # Accelerate's backward pass (and its data-parallel wrapper) is one
    # computation of the whole module
    _networks_side_by_side = False

    def _initialize_accelerator(self):
        # DistributedDataParallel refuses modules without parameters, such as
        # the loss functions: only criteria with parameters are prepared
        return prepare_criteria_with_parameters(self, super()._initialize_accelerator)

    def train_step_single(self, batch, **fit_params):
        with self.accelerator.autocast():
            return _SequenceNet.train_step_single(self, batch, **fit_params)

    def _backward(self, loss):
        self.accelerator.backward(loss)

    def on_train_end(self, net, **kwargs):
        # the mixin unwraps the module here, before the callbacks' own
        # on_train_end: early stopping then restores its best weights, which
        # it kept from the wrapped module, into the unwrapped one
        wrapped = self.module_ is not self.network_
        super().on_train_end(net, **kwargs)
        if wrapped:
            for _, cb in self.callbacks_:
                unwrap_best_weights(cb, "module.")
        return self

    def evaluation_step(self, batch, training=False):
        # every process predicts all the data (only training batches are
        # shared out), so there is nothing to gather: skip the mixin's gather
        return _SequenceNet.evaluation_step(self, batch, training=training)


def distributed_history(accelerator):
    """A :class:`skorch.history.DistributedHistory` on a store that the
    processes share: rank 0 opens it on a free port and tells the others."""
    is_main = accelerator.is_main_process
    host = os.environ.get("MASTER_ADDR", "127.0.0.1")
    store = None
    port = [0]
    if is_main:
        store = torch.distributed.TCPStore(
            host, 0, accelerator.num_processes, is_master=True, wait_for_workers=False
        )
        port = [store.port]
    torch.distributed.broadcast_object_list(port, src=0)
    if not is_main:
        store = torch.distributed.TCPStore(
            host, port[0], accelerator.num_processes, is_master=False
        )
    return DistributedHistory(
        store=store, rank=accelerator.process_index, world_size=accelerator.num_processes
    )
