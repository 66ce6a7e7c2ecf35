"""Third-party methods for semcom-bench, added through the plugin entry point.

The published methods that the benchmark re-implements from their papers and official code
(the GAN receivers SPADE, OASIS, SMIS and CC-FPSE over the semantic maps; the JSCC family
DeepJSCC and CDDM; the latent-diffusion method DDSC) live here, one module each, and register
themselves exactly as an external package would: through the ``semcom_bench.plugins``
entry point of ``pyproject.toml``, which names :mod:`semcom_bench_baselines.catalog`. So the
plugin path that third parties use is the one these methods take.

The import name ``semcom_bench_baselines`` keeps clear of any other ``baselines`` package in
site-packages; the folder in the repository is ``baselines/``.
"""
