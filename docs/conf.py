"""Sphinx configuration of the sklstm documentation."""

import importlib.util
import os
from pathlib import Path

import sklstm

project = "sklstm"
author = "the sklstm developers"
copyright = "2026, the sklstm developers"
release = version = sklstm.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]
# figures drawn from recorded benchmark figures (docs/*.csv) at build time
plot_working_directory = str(Path(__file__).resolve().parent)
plot_include_source = False
plot_html_show_source_link = False
plot_formats = [("png", 100)]

# the gallery runs its examples in quick mode (fewer epochs, less data) unless
# the caller asks otherwise with SKLSTM_QUICK=0
os.environ.setdefault("SKLSTM_QUICK", "1")
# offline builds on the project's machines read Penn Treebank from ../shared
_shared = Path(__file__).resolve().parents[2] / "shared" / "data"
if "SKLSTM_DATA" not in os.environ and (_shared / "ptb").is_dir():
    os.environ["SKLSTM_DATA"] = str(_shared)

autosummary_generate = True
autodoc_default_options = {"members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# examples on archive data need aeon (the docs extra installs it); without it
# the gallery leaves them out instead of failing the build
_NEEDS_AEON = r"plot_japanese_vowels\.py"
try:
    _HAS_AEON = importlib.util.find_spec("aeon.datasets") is not None
except ModuleNotFoundError:
    _HAS_AEON = False

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py" + ("" if _HAS_AEON else "|" + _NEEDS_AEON),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "reference_url": {"sklstm": None},
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "min_reported_time": 0,
    "write_computation_times": False,
}

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
html_theme = "pydata_sphinx_theme"
html_title = f"sklstm {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []
# no intersphinx: the build must work offline
