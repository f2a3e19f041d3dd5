"""Shared defaults are declared once (``sklstm/_defaults.py``): the
estimators agree where they should, differ only where the declaration says
why, and the user guide's table shows exactly those differences."""

import inspect
from pathlib import Path

import pytest

from sklstm import (
    SequenceClassifier,
    SequenceLanguageModel,
    SequenceRegressor,
    SequenceTagger,
)
from sklstm._defaults import DEPARTURES, SHARED

ESTIMATORS = [SequenceClassifier, SequenceRegressor, SequenceTagger, SequenceLanguageModel]
GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user_guide.rst"


def _defaults(cls):
    return {k: p.default for k, p in inspect.signature(cls).parameters.items()}


def _shown(value):
    return f'"{value}"' if isinstance(value, str) else repr(value)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_estimators_share_the_declared_defaults(cls):
    defaults = _defaults(cls)
    departures = DEPARTURES.get(cls.__name__, {})
    for name, value in defaults.items():
        if name not in SHARED:
            continue
        if name in departures:
            assert value != SHARED[name], f"{name} is listed as differing, but is not"
            # the reason starts with the estimator's own default
            assert departures[name].startswith(f"{_shown(value)}:"), name
        else:
            assert value == SHARED[name] and type(value) is type(SHARED[name]), name
    for name, reason in departures.items():
        assert name in defaults or reason.startswith("absent:"), name


def test_parameters_outside_the_shared_ones_belong_to_one_estimator():
    owners = {}
    for cls in ESTIMATORS:
        for name in _defaults(cls):
            if name not in SHARED:
                owners.setdefault(name, []).append(cls.__name__)
    shared_elsewhere = {k: v for k, v in owners.items() if len(v) > 1}
    assert not shared_elsewhere, f"declare these in sklstm._defaults.SHARED: {shared_elsewhere}"


def defaults_table():
    """The user guide's table of the defaults that differ, as reStructuredText."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 20 20 60",
        "",
        "   * - Estimator",
        "     - Parameter",
        "     - Its default, and why",
    ]
    for est, params in DEPARTURES.items():
        for name, reason in params.items():
            lines += [f"   * - ``{est}``", f"     - ``{name}``", f"     - {reason}"]
    return "\n".join(lines) + "\n"


def test_the_user_guide_shows_every_difference():
    # regenerate with: python -c "import test_defaults as t; print(t.defaults_table())"
    assert defaults_table() in GUIDE.read_text()
