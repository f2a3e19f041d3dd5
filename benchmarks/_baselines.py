"""Hand-written PyTorch loops that the benchmarks compare sklstm against.

Their optimizers run torch's fused kernels, as sklstm's named optimizers do
on the CPU, so that a ratio measures the estimator's overhead rather than
which optimizer implementation each side uses."""

import time

import numpy as np
import torch

from sklstm.nn import RecurrentNetwork


def plain_fit(X, y, *, module_params, epochs, batch_size, lr, loss_fn, seed=0,
              device="cpu"):
    """Shuffled mini-batches, Adam with a one-cycle schedule (sklstm's defaults).

    ``module_params`` builds the same :class:`RecurrentNetwork` as the
    estimator compared (``est.net_.get_params_for("module")``), input
    standardisation included. On ``device``, with the data there from the
    start (as sklstm moves each batch, the loop moves nothing but indices);
    it returns once the device has finished."""
    torch.manual_seed(seed)
    module = RecurrentNetwork(**module_params).to(device)
    opt = torch.optim.Adam(module.parameters(), lr=lr, fused=True)
    steps = epochs * -(-len(X) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    Xt = torch.from_numpy(X.astype(np.float32)[:, :, None]).to(device)
    yt = torch.from_numpy(y).to(device)
    module.train()
    for _ in range(epochs):
        perm = torch.randperm(len(Xt)).to(device)
        for start in range(0, len(Xt), batch_size):
            idx = perm[start : start + batch_size]
            opt.zero_grad()
            loss = loss_fn(module(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
    synchronize(device)
    return module


def synchronize(device):
    """Wait for ``device``'s queued work (timings of an accelerator)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_fit_bptt(stream, target, *, n_outputs, epochs, n_columns, bptt, lr,
                   seed=0, num_hidden=24):
    """Truncated BPTT over one stream laid out in columns, state carried."""
    torch.manual_seed(seed)
    module = RecurrentNetwork(
        n_features=1, n_outputs=n_outputs, num_hidden=num_hidden, per_step=True
    )
    opt = torch.optim.Adam(module.parameters(), lr=lr, fused=True)
    length = len(stream) // n_columns
    X = torch.from_numpy(stream[: n_columns * length].astype(np.float32))
    X = X.reshape(n_columns, length, 1)
    Y = torch.from_numpy(target[: n_columns * length]).reshape(n_columns, length)
    steps = epochs * -(-length // bptt)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    loss_fn = torch.nn.CrossEntropyLoss()
    module.train()
    for _ in range(epochs):
        state = None
        for start in range(0, length, bptt):
            opt.zero_grad()
            out, state = module(X[:, start : start + bptt], state=state, return_state=True)
            state = tuple(s.detach() for s in state)
            loss = loss_fn(out.reshape(-1, n_outputs), Y[:, start : start + bptt].reshape(-1))
            loss.backward()
            opt.step()
            sched.step()
    return module


def compare(name, run_sklstm, run_plain, *, repeats, per,
            labels=("sklstm", "plain PyTorch")):
    """Alternate the two callables ``repeats`` times after one warm-up each and
    print the medians and the median of the per-pair ratios (this shared
    machine's speed drifts, so pairs taken close together compare best)."""
    run_sklstm()
    run_plain()
    a, b, ratios = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_sklstm()
        a.append((time.perf_counter() - t0) / per)
        t0 = time.perf_counter()
        run_plain()
        b.append((time.perf_counter() - t0) / per)
        ratios.append(a[-1] / b[-1])
    print(
        f"{name} ({repeats} pairs): {labels[0]} median {np.median(a):.3f} s, "
        f"{labels[1]} median {np.median(b):.3f} s, median ratio {np.median(ratios):.3f}"
    )
    return float(np.median(ratios))
