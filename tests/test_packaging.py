"""The package as users install it: an sdist and a wheel that build and pass
``twine check``, and a wheel that works in a fresh virtual environment with
the runtime dependencies only (no extras)."""

import importlib.metadata
import os
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _runtime_closure():
    """The installed distributions that ``pip install sklstm`` (no extras)
    brings in: sklstm's requirements without extras, and theirs, recursively."""
    seen, todo = {}, ["sklstm"]
    while todo:
        name = todo.pop()
        dist = importlib.metadata.distribution(name)
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    del seen["sklstm"]
    return list(seen.values())


def _link_distributions(dists, target):
    """Make ``target`` a site directory holding (links to) exactly ``dists``:
    their top-level packages, modules and metadata."""
    target.mkdir()
    for dist in dists:
        site = Path(dist.locate_file(""))
        tops = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            if top.endswith(".pth") or top == "__pycache__":
                continue
            source = site / top
            if source.exists() and not (target / top).exists():
                (target / top).symlink_to(source)


_CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import sklstm
    from sklstm import SequenceClassifier, save, to_onnx

    rng = np.random.RandomState(0)
    X = rng.normal(size=(20, 5, 1)).astype(np.float32)
    y = (X.sum(axis=(1, 2)) > 0).astype(int)
    clf = SequenceClassifier(num_hidden=4, max_epochs=2, n_networks=1,
                             conv_dilations=(1,), random_state=0).fit(X, y)
    class Stand:  # an accelerator stand-in: accelerate is not installed
        num_processes = 1

        def prepare(self, *objects):
            return objects

        def backward(self, loss):
            loss.backward()

    errors = {}
    for name, call in [
        ("save", lambda: save(clf, "model")),
        ("to_onnx", lambda: to_onnx(clf, "model.onnx")),
        ("accelerator", lambda: SequenceClassifier(
            max_epochs=1, accelerator=Stand()).fit(X, y)),
    ]:
        try:
            call()
        except ImportError as exc:
            errors[name] = str(exc)
    print(json.dumps({"file": sklstm.__file__, "version": sklstm.__version__,
                      "predictions": clf.predict(X).tolist(), "errors": errors}))
    """
)


@pytest.mark.timeout(240)
def test_wheel_installs_and_works_without_extras(tmp_path):
    pytest.importorskip("build", reason="building the package needs build (the test extra)")
    dist = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
         "--outdir", str(dist), str(ROOT)],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = dist.glob("sklstm-*.whl")
    (sdist,) = dist.glob("sklstm-*.tar.gz")
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        capture_output=True, text=True, timeout=60,
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr
    # the wheel carries the package only: no tests, benchmarks, docs or data
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"sklstm", wheel.name.split("-py3")[0] + ".dist-info"}
    assert not [n for n in names if "/tests/" in n or n.endswith(("conftest.py", ".csv"))]

    # a fresh environment: the wheel, and the runtime dependencies (linked
    # from this environment, so that no package is downloaded) but no extra
    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    deps = tmp_path / "deps"
    _link_distributions(_runtime_closure(), deps)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    # the environment as a user's: no PYTHONPATH that could show pip (or the
    # child) another copy of sklstm
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install",
         "--no-deps", "--no-index", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=120, env=clean_env,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    Path(site, "runtime-deps.pth").write_text(str(deps) + "\n")
    for extra in ("safetensors", "onnx", "onnxruntime", "accelerate", "dask", "aeon"):
        assert not (deps / extra).exists(), f"{extra} is not a runtime dependency"

    run = subprocess.run(
        [str(python), "-c", _CHILD], capture_output=True, text=True, timeout=120,
        cwd=tmp_path, env=clean_env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = __import__("json").loads(run.stdout.strip().splitlines()[-1])
    assert result["file"].startswith(site)  # the installed wheel, not this tree
    assert len(result["predictions"]) == 20
    errors = result["errors"]
    assert 'pip install "sklstm[safetensors]"' in errors["save"]
    assert 'pip install "sklstm[onnx]"' in errors["to_onnx"]
    assert 'pip install "sklstm[accelerate]"' in errors["accelerator"]
