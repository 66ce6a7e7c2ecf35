"""DDSC (Guo et al., TWC 2025): diffusion-driven semantic communication with VAE-based compression.

* :mod:`.compression`: F_d / F_u in the official layout and the strict checkpoint loader;
* :mod:`.snr_mapping`: the channel -> diffusion-step mapping (eqs. 14-17, 21-22, 28-29);
* :mod:`.latent_model`: the latent diffusion base (diffusers folder: embedded or Stable Diffusion 2.x);
* :mod:`.receiver`: the method ``ddsc``;
* :mod:`.training`: ``semcom-bench train ddsc``, F_d / F_u with the hybrid loss of eq. 37.

Importing this package imports none of them (the catalog imports the receiver).
"""
