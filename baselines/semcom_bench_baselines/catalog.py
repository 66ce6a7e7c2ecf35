"""The modules of the third-party methods; importing this module registers them.

It is the target of the ``semcom_bench.plugins`` entry point ``baselines``. A new method is
one module in this package, added to :data:`MODULES`.
"""

from __future__ import annotations

import importlib

#: modules that register a method each (``semcom_bench_baselines.<name>``)
MODULES: list[str] = [
    "semcom_bench_baselines.spade.receiver",
    "semcom_bench_baselines.oasis.receiver",
    "semcom_bench_baselines.smis.receiver",
    "semcom_bench_baselines.ccfpse.receiver",
    "semcom_bench_baselines.deepjscc.receiver",
    "semcom_bench_baselines.cddm.receiver",
    "semcom_bench_baselines.ddsc.receiver",
]

for _module in MODULES:
    importlib.import_module(_module)
