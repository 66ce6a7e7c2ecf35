"""Diffusion machinery of the semantic diffusion receivers (``gesco``, ``sdm``).

* :mod:`.gaussian`: schedule, learned-variance posterior, hybrid loss, ancestral step.
* :mod:`.sampling`: classifier-free guidance and the samplers (ancestral, DDIM, DPM-Solver++).
* :mod:`.noise`: the noisy-training options (the paper's channel simulation, the official σ table).
* :mod:`.training`: the training recipes behind ``semcom-bench train gesco|sdm``.
"""
