"""Networks shared by methods (the semantic diffusion U-Net of SDM/GESCO, ...)."""
