"""The ci/ tools as modules for the tests (ci/suite and ci/regress have no .py suffix)."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os

CI = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "ci")


def load(name: str):
    """ci/<name> imported as a module, e.g. load("compare.py"), load("regress")."""
    loader = importlib.machinery.SourceFileLoader("ci_" + name.replace(".", "_"),
                                                  os.path.join(CI, name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod
