"""The convolutional front-end: strided, batch-normalised 1-D convolutions
that shorten long sequences, with the lengths of ragged batches kept."""

import torch
from torch import nn
from torch.nn import functional as F

from ._tensors import step_mask


# a masked batch normalisation on the CPU sums over the padded tensor where
# at least this share of its steps is real, and gathers the real steps
# elsewhere (see _MaskedBatchNorm1d)
_SUMS_FROM_REAL_SHARE = 2 / 3


class _MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch normalisation whose training statistics count real steps only.

    Takes ``(batch, channels, time)`` as :class:`torch.nn.BatchNorm1d`, and
    normalises the steps as rows of ``(batch * time, channels)``: with the
    front-end's channels-last memory (see :class:`_Conv1d`)
    that is a view, and the result comes back in the same memory layout
    (a 3-D channels-last batch normalisation runs 5 to 12 times slower).
    Two computations of the training statistics, chosen by cost: sums
    over the padded steps, weighted by the mask, or the real steps
    gathered, normalised and scattered back. Where most steps are real
    (long recordings of similar lengths), the sums are faster: no gather
    and scatter forwards and backwards (a default fit of 96 series of
    1,000 to 2,600 steps, 2026-12-02: 16 to 19% faster). Where padding
    dominates (lengths varying tenfold), the gathered steps are fewer and
    the sums 5 to 10% slower with one thread a network. On the CPU the
    sums run from ``_SUMS_FROM_REAL_SHARE`` of real steps; on other
    devices always (no host sync). With the sums, steps past a sequence's
    end are normalised too, and :class:`ConvBlock` zeroes them.
    """

    def forward(self, X, mask=None):
        steps = X.transpose(1, 2)  # (batch, time, channels): a view, or a copy
        if self.training and steps.shape[0] * steps.shape[1] < 2:
            # one value: use the running statistics; every sequence has a
            # real step, so two or more have batch statistics (counted
            # without a device sync)
            out = F.batch_norm(
                steps.reshape(-1, steps.shape[-1]), self.running_mean,
                self.running_var, self.weight, self.bias, False, 0.0, self.eps,
            )
        elif not self.training or mask is None:
            out = super().forward(steps.reshape(-1, steps.shape[-1]))
        elif X.device.type == "cpu" and float(mask.float().mean()) < _SUMS_FROM_REAL_SHARE:
            out = self._gathered(steps, mask)
        else:
            out = self._summed(steps, mask)
        return out.view(steps.shape).transpose(1, 2)

    def _gathered(self, steps, mask):
        """``(batch, time, channels)`` steps: the real ones normalised, the
        others zero."""
        normed = super().forward(steps[mask])  # float32 under autocast
        out = steps.new_zeros(steps.shape, dtype=normed.dtype)
        out[mask] = normed
        return out

    def _summed(self, steps, mask):
        """``(batch, time, channels)`` steps, all normalised by the real
        ones' statistics."""
        if steps.dtype in (torch.float16, torch.bfloat16):
            steps = steps.float()  # statistics in float32, as batch_norm's under autocast
        kept = mask[..., None].to(steps.dtype)
        count = kept.sum()
        mean = (steps * kept).sum((0, 1)) / count
        centred = steps - mean
        var = (centred.square() * kept).sum((0, 1)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum
                if momentum is None:  # a cumulative average, as BatchNorm1d's
                    momentum = 1.0 / float(self.num_batches_tracked)
                unbiased = var * count / (count - 1).clamp(min=1)
                self.running_mean.lerp_(mean, momentum)
                self.running_var.lerp_(unbiased, momentum)
        scale = torch.rsqrt(var + self.eps)
        if self.affine:
            scale = scale * self.weight
        out = centred * scale
        return out + self.bias if self.affine else out


class _Conv1d(nn.Conv1d):
    """A :class:`torch.nn.Conv1d` (zero padding) computed in channels-last
    memory: a 2-D convolution of height 1 whose input and output are laid
    out ``(batch, time, channels)``, the output a transposed view of it.
    oneDNN's kernels for that layout train OSULeaf's 64-channel blocks in
    about half the time of the default layout (forward and backward of 64
    to 64 channels over 214 steps, batch 50, one thread: 12 ms against 22
    ms), and the front-end reads its input and hands the recurrent layers
    theirs in that layout with no copy."""

    def forward(self, X):
        (s,), (p,), (d,) = self.stride, self.padding, self.dilation
        out = F.conv2d(
            X.unsqueeze(2).contiguous(memory_format=torch.channels_last),
            self.weight.unsqueeze(2), self.bias, stride=(1, s), padding=(0, p),
            dilation=(1, d), groups=self.groups,
        )
        # a one-channel output's strides read both ways: make them channels-last
        return out.contiguous(memory_format=torch.channels_last).squeeze(2)


def _conv_output_lengths(conv, lengths):
    """Output lengths of a 1-D convolution for inputs of ``lengths`` steps."""
    (k,), (s,), (p,), (d,) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    return torch.div(lengths + 2 * p - d * (k - 1) - 1, s, rounding_mode="floor") + 1


class DilatedConvs(nn.Module):
    """Parallel 1-D convolutions of several dilations, their channels concatenated.

    Each branch reads the same input with the same kernel size and stride,
    its kernel spread over ``dilation * (kernel_size - 1) + 1`` steps, so the
    block sees patterns at several time scales at once, as MiniRocket's
    dilated kernels do. The ``channels`` are shared out among the branches as
    evenly as possible. Every branch is padded by ``dilation * (kernel_size
    // 2)`` steps on each side; with an even kernel size their outputs differ
    by a step or so in length, and all are cut to the shortest.

    Parameters
    ----------
    n_inputs : int
        Input channels.
    channels : int
        Output channels of all branches together (at least one per branch).
    kernel_size : int
        Steps each kernel reads (before its dilation spreads them).
    stride : int
        Steps between the outputs of every branch.
    dilations : sequence of int
        One branch per dilation.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import DilatedConvs
    >>> convs = DilatedConvs(1, 10, kernel_size=7, stride=2, dilations=(1, 4, 16))
    >>> [branch.out_channels for branch in convs.branches]
    [4, 3, 3]
    >>> convs(torch.zeros(2, 1, 100)).shape
    torch.Size([2, 10, 50])
    """

    def __init__(self, n_inputs, channels, kernel_size, stride, dilations):
        super().__init__()
        n = len(dilations)
        if not 1 <= n <= channels:
            raise ValueError(
                f"DilatedConvs needs between 1 and channels={channels} dilations, "
                f"got {n}."
            )
        self.branches = nn.ModuleList(
            _Conv1d(
                n_inputs, channels // n + (i < channels % n), kernel_size,
                stride=stride, padding=d * (kernel_size // 2), dilation=d, bias=False,
            )
            for i, d in enumerate(dilations)
        )

    def output_lengths(self, lengths):
        return torch.stack(
            [_conv_output_lengths(branch, lengths) for branch in self.branches]
        ).amin(dim=0)

    def forward(self, X):
        outputs = [branch(X) for branch in self.branches]
        n_steps = min(out.shape[-1] for out in outputs)
        # concatenated in channels-last memory, as each branch's output
        steps = [out.transpose(1, 2)[:, :n_steps] for out in outputs]
        return torch.cat(steps, dim=2).transpose(1, 2)


class ConvBlock(nn.Module):
    """1-D convolution, batch normalisation over real steps, ReLU.

    Steps past a sequence's end are zero on the way in and on the way out,
    so that a sequence's output never depends on the padding of its batch.
    A stride ``s`` shortens a sequence of ``L`` steps to
    ``(L + 2 * (kernel_size // 2) - kernel_size) // s + 1``. With several
    ``dilations`` the convolution is a :class:`DilatedConvs`, one branch per
    dilation; one dilation ``d`` gives one convolution whose kernel is spread
    over ``d * (kernel_size - 1) + 1`` steps (padded by ``d * (kernel_size //
    2)``, so that odd kernel sizes keep the lengths above).

    Parameters
    ----------
    n_inputs : int
        Input channels.
    channels : int
        Output channels.
    kernel_size : int
        Steps each kernel reads (before a dilation spreads them).
    stride : int
        Steps between outputs.
    dilations : sequence of int, default=(1,)
        One dilation, or several for a :class:`DilatedConvs`.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import ConvBlock
    >>> block = ConvBlock(3, 16, kernel_size=7, stride=2)
    >>> out, lengths = block(torch.randn(4, 3, 50), torch.tensor([50, 40, 20, 9]))
    >>> out.shape, lengths.tolist()  # (batch, channels, time)
    (torch.Size([4, 16, 25]), [25, 20, 10, 5])
    """

    def __init__(self, n_inputs, channels, kernel_size, stride, dilations=(1,)):
        super().__init__()
        if len(dilations) == 1:
            (d,) = dilations
            self.conv = _Conv1d(
                n_inputs, channels, kernel_size, stride=stride,
                padding=d * (kernel_size // 2), dilation=d, bias=False,
            )
        else:
            self.conv = DilatedConvs(n_inputs, channels, kernel_size, stride, dilations)
        self.norm = _MaskedBatchNorm1d(channels)

    def output_lengths(self, lengths):
        if isinstance(self.conv, DilatedConvs):
            return self.conv.output_lengths(lengths)
        return _conv_output_lengths(self.conv, lengths)

    def forward(self, X, lengths=None):
        """X: ``(batch, channels, time)``; returns the output and its lengths,
        the output in channels-last memory (a transposed view of ``(batch,
        time, channels)``)."""
        X = self.conv(X)
        lengths = None if lengths is None else self.output_lengths(lengths)
        mask = step_mask(lengths, X.shape[-1])
        X = torch.relu(self.norm(X, mask))
        if mask is not None:
            X = X * mask[:, None, :]
        return X, lengths


class ConvFrontEnd(nn.Module):
    """Strided convolution blocks that shorten sequences before the recurrent layers.

    Parameters
    ----------
    n_inputs : int
        Features per step.
    n_layers : int
        Number of :class:`ConvBlock`.
    channels : int
        Output channels of every block.
    kernel_size : int
        Steps each block's kernels read.
    stride : int
        Stride of every block (1 keeps one output per input step).
    dilations : sequence of int, default=(1,)
        Dilations of the first block's convolutions, one parallel branch
        each (see :class:`DilatedConvs`); the later blocks are plain.

    Examples
    --------
    >>> import torch
    >>> from sklstm.nn import ConvFrontEnd
    >>> front = ConvFrontEnd(3, n_layers=2, channels=16, kernel_size=7, stride=2)
    >>> out, lengths = front(torch.randn(4, 50, 3), torch.tensor([50, 40, 20, 9]))
    >>> out.shape, lengths.tolist()  # (batch, time, channels): a quarter of the steps
    (torch.Size([4, 13, 16]), [13, 10, 5, 3])
    """

    def __init__(self, n_inputs, n_layers, channels, kernel_size, stride, dilations=(1,)):
        super().__init__()
        self.blocks = nn.ModuleList(
            ConvBlock(
                n_inputs if i == 0 else channels, channels, kernel_size, stride,
                dilations if i == 0 else (1,),
            )
            for i in range(n_layers)
        )

    def forward(self, X, lengths=None):
        """X: ``(batch, time, features)``; returns ``(batch, time', channels)``
        and the shortened lengths."""
        mask = step_mask(lengths, X.shape[1])
        if mask is not None:
            X = X * mask[..., None]
        # (batch, features, time) as a view: the blocks compute in
        # channels-last memory, and their output, transposed back, is the
        # (batch, time, channels) the recurrent layers read, with no copy
        X = X.transpose(1, 2)
        for block in self.blocks:
            X, lengths = block(X, lengths)
        return X.transpose(1, 2), lengths
