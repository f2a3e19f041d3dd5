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

    Two computations of the same result, chosen by cost: sums over the
    ``(batch, channels, time)`` tensor as it is, weighted by the mask, or
    the real steps gathered into ``(steps, channels)``, normalised and
    scattered back, then copied into the default layout (left transposed,
    the ReLU's backward and the next convolution's ran on strided tensors:
    a training step on 64 series of 60 to 600 steps took 1.15 times as
    long). Where most steps are real (long recordings of similar
    lengths), the sums are faster: no gather and scatter forwards and
    backwards, and no copy (a default fit of 96 series of 1,000 to 2,600
    steps, 2026-12-02: 16 to 19% faster). Where padding dominates
    (lengths varying tenfold), the gathered steps are fewer and the sums
    5 to 10% slower with one thread a network. On the CPU the sums run
    from ``_SUMS_FROM_REAL_SHARE`` of real steps; on other devices always
    (no host sync). With the sums, steps past a sequence's end are
    normalised too, and :class:`ConvBlock` zeroes them.
    """

    def forward(self, X, mask=None):
        if not self.training:
            return super().forward(X)
        # every sequence has a real step, so a batch of two or more has enough
        # values for batch statistics (counted without a device sync)
        if X.shape[0] * X.shape[2] < 2:  # one value: use the running ones
            return F.batch_norm(
                X, self.running_mean, self.running_var, self.weight, self.bias,
                False, 0.0, self.eps,
            )
        if mask is None:
            return super().forward(X)
        if X.device.type == "cpu" and float(mask.float().mean()) < _SUMS_FROM_REAL_SHARE:
            return self._gathered(X, mask)
        return self._summed(X, mask)

    def _gathered(self, X, mask):
        steps = X.transpose(1, 2)  # (batch, time, channels)
        normed = super().forward(steps[mask])  # float32 under autocast
        out = steps.new_zeros(steps.shape, dtype=normed.dtype)
        out[mask] = normed
        return out.transpose(1, 2).contiguous()

    def _summed(self, X, mask):
        if X.dtype in (torch.float16, torch.bfloat16):
            X = X.float()  # statistics in float32, as batch_norm's under autocast
        kept = mask[:, None, :].to(X.dtype)
        count = kept.sum()
        mean = (X * kept).sum((0, 2)) / count
        centred = X - mean[:, None]
        var = (centred.square() * kept).sum((0, 2)) / count
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
        out = centred * scale[:, None]
        return out + self.bias[:, None] if self.affine else out


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
    stride : int
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
            nn.Conv1d(
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
        return torch.cat([out[..., :n_steps] for out in outputs], dim=1)


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
    """

    def __init__(self, n_inputs, channels, kernel_size, stride, dilations=(1,)):
        super().__init__()
        if len(dilations) == 1:
            (d,) = dilations
            self.conv = nn.Conv1d(
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
        """X: ``(batch, channels, time)``; returns the output and its lengths."""
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
    stride : int
        Stride of every block (1 keeps one output per input step).
    dilations : sequence of int, default=(1,)
        Dilations of the first block's convolutions, one parallel branch
        each (see :class:`DilatedConvs`); the later blocks are plain.
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
        # (batch, features, time) in the default layout: with one feature
        # the transposed strides also read as channels-last, the
        # convolutions then keep that layout, and batch normalisation runs
        # 5 to 12 times slower on it (a univariate regression fit: 1.5x the time)
        X = X.transpose(1, 2).clone(memory_format=torch.contiguous_format)
        for block in self.blocks:
            X, lengths = block(X, lengths)
        return X.transpose(1, 2), lengths
