"""The device a network runs on, checked against what torch can use here."""

import torch


def check_device(device):
    """Return ``torch.device(device)``, or raise if torch cannot use it here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a device torch knows ({exc}); use "
            "'cpu', 'cuda', 'cuda:0', 'mps', ..."
        ) from exc
    backend = getattr(torch, dev.type, None)
    if dev.type != "cpu" and not (
        backend is not None
        and hasattr(backend, "is_available")
        and backend.is_available()
    ):
        raise ValueError(
            f"device={device!r}, but this torch installation cannot use "
            f"{dev.type!r} here (torch.{dev.type}.is_available() is False); use "
            "device='cpu', or install a torch build for that device."
        )
    if dev.type == "cuda" and dev.index is not None:
        if dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}, but only {torch.cuda.device_count()} CUDA "
                "device(s) are visible."
            )
    return dev
