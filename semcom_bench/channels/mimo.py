"""M×M MIMO Rayleigh channel with SVD precoding and combining (the third paper's eqs. 23-29).

Model, per channel use ``t`` (one vector of M symbols): ``y_t = H_b x_t + n_t`` with
``H_b`` (M×M) having i.i.d. ``CN(0, 1)`` entries, constant over blocks of ``block``
consecutive channel uses (``b = t // block``), and ``n_t ~ CN(0, N0·I_M)``.

Both ends know ``H_b = U Σ Vᴴ`` (``σ_1 >= ... >= σ_M``). The transmitter precodes
``x_t = V s_t``; the receiver combines ``Uᴴ y_t = Σ s_t + Uᴴ n_t``: M parallel streams
``z_i = σ_i s_i + n'_i`` with ``n'_i ~ CN(0, N0)`` (U is unitary). Each stream is equalised
like a scalar channel with gain ``σ_i`` (ZF ``z_i / σ_i`` or MMSE
``σ_i z_i / (σ_i² + N0)``; see :mod:`semcom_bench.channels.equalizers` for the exact
variances reported).

Symbol order: the (N,) input is zero-padded to a multiple of M and cut into vectors of M
consecutive symbols; symbol ``t·M + i`` rides stream ``i`` (singular value ``σ_{i+1}``,
the strongest first) of channel use ``t``. The output is flattened back in the same order
and cut to N.

Power and SNR convention: every stream carries unit-power symbols (Es = 1) and V is
unitary, so the transmit power per channel use is ``M·Es`` (Es per antenna on average), and
each receive antenna adds noise of power N0 per complex sample. ``snr_db = 10 log10(Es/N0)``
per complex symbol per stream — the same number the AWGN channel uses: with ``H`` unitary
(all ``σ_i = 1``) the channel is exactly M parallel AWGN channels at that SNR. With i.i.d.
``CN(0, 1)`` entries, ``E‖H‖_F² = M²``, so the per-stream gains ``σ_i²`` average M (the
receive array gain): the strongest stream is better and the weakest worse than a SISO
Rayleigh channel at the same SNR. ``Payload.symbols.numel()`` counts complex symbols, i.e.
stream uses; the number of MIMO channel uses is ``ceil(N / M)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semcom_bench.channels.base import Channel, ChannelState, Received, complex_normal, snr_db_to_noise_power
from semcom_bench.channels.equalizers import equalize
from semcom_bench.channels.rayleigh import Equalizer
from semcom_bench.components import Annotated, Doc, RunContext
from semcom_bench.registry import channels

MAX_ANTENNAS = 64


@dataclass
class MimoRealisation:
    """One draw of the MIMO channel and its SVD.

    Attributes:
        matrices: (B, M, M) complex64 channel matrices ``H_b``, one per block.
        u: (B, M, M) complex128 left singular vectors (combining uses ``Uᴴ``).
        singular_values: (B, M) float64 ``σ_1 >= ... >= σ_M >= 0``.
        vh: (B, M, M) complex128 ``Vᴴ`` (precoding uses ``V``).

    The SVD and the precoding/combining run in double precision, so that with no noise the
    streams come back to float32 accuracy even for badly conditioned matrices.
        block: channel uses (M-symbol vectors) per matrix.
        num_symbols: N, the number of complex symbols covered.
    """

    matrices: torch.Tensor
    u: torch.Tensor
    singular_values: torch.Tensor
    vh: torch.Tensor
    block: int
    num_symbols: int

    @classmethod
    def from_matrices(cls, matrices: torch.Tensor, block: int, num_symbols: int) -> "MimoRealisation":
        """Build a realisation (with its SVD) from given (B, M, M) channel matrices."""
        matrices = matrices.to(torch.complex64)
        u, s, vh = torch.linalg.svd(matrices.to(torch.complex128))
        return cls(matrices, u, s, vh, int(block), int(num_symbols))

    @property
    def antennas(self) -> int:
        return int(self.matrices.shape[-1])

    def block_index(self) -> torch.Tensor:
        """(T,) int64: the block of each channel use, T = ceil(N / M)."""
        num_uses = -(-self.num_symbols // self.antennas)
        return torch.arange(num_uses) // self.block

    def stream_gains(self) -> torch.Tensor:
        """(N,) float64: the singular value each symbol sees, in symbol order."""
        return self.singular_values[self.block_index()].reshape(-1)[: self.num_symbols]


@channels.register(summary="MxM i.i.d. Rayleigh MIMO, SVD precoding/combining into M streams, per-stream MMSE "
                   "(default) or ZF; SNR = Es/N0 per complex symbol per stream, transmit power M*Es per channel use")
class Mimo(Channel):
    """M×M i.i.d. Rayleigh MIMO, SVD precoding/combining, per-stream ZF/MMSE equalisation.

    Input: (N,) complex64 unit-power symbols; SNR in dB (Es/N0 per complex symbol per
    stream). Output: :class:`Received` with (N,) complex64 equalised symbols in input order;
    ``state.effective_noise_var``, ``info["gain"]`` and ``info["unbiased_noise_var"]`` are
    (N,) float32 and exact for the drawn matrices; ``info["stream"]`` (N,) int64 is the
    stream index (0 = strongest) of each symbol.
    """

    name = "mimo"
    version = "1"

    def __init__(self, context: RunContext | None = None, *,
                 antennas: Annotated[int, Doc("M, transmit = receive antennas", low=1, high=MAX_ANTENNAS)] = 2,
                 block: Annotated[int, Doc("channel uses (M-symbol vectors) per channel matrix", low=1)] = 1,
                 equalizer: Equalizer = "mmse"):
        super().__init__(context)
        self.antennas, self.block, self.equalizer = antennas, block, equalizer

    def realise(self, num_symbols: int, snr_db: float, generator: torch.Generator) -> MimoRealisation:
        """Draw ``ceil(ceil(N / M) / block)`` matrices with i.i.d. CN(0, 1) entries; SVD them."""
        m = self.antennas
        num_uses = -(-num_symbols // m)
        num_blocks = max(1, -(-num_uses // self.block))
        matrices = complex_normal((num_blocks, m, m), 1.0, generator)
        return MimoRealisation.from_matrices(matrices, self.block, num_symbols)

    def apply(
        self,
        symbols: torch.Tensor,
        realisation: MimoRealisation,
        snr_db: float,
        generator: torch.Generator,
        payload_scale: float | None = None,
    ) -> Received:
        """Precode with V, pass H, add CN(0, N0) per receive antenna, combine with Uᴴ, equalise."""
        no = snr_db_to_noise_power(snr_db)
        m, n = realisation.antennas, symbols.numel()
        if realisation.num_symbols != n:
            raise ValueError(f"realisation covers {realisation.num_symbols} symbols, got {n}")
        num_uses = -(-n // m)
        s = torch.zeros(num_uses * m, dtype=torch.complex128)
        s[:n] = symbols.to(torch.complex128)
        s = s.reshape(num_uses, m, 1)
        idx = realisation.block_index()
        h, u, vh = realisation.matrices[idx].to(torch.complex128), realisation.u[idx], realisation.vh[idx]
        x = vh.mH @ s  # precoding: x = V s
        y = h @ x + complex_normal((num_uses, m, 1), no, generator).to(torch.complex128)
        z = (u.mH @ y).reshape(-1)[:n]  # combining: Uᴴ y = Σ s + n'
        sigma = realisation.stream_gains()
        x_hat, noise_var, gain, unbiased = equalize(z, sigma, no, self.equalizer)
        stream = torch.arange(num_uses * m).remainder(m)[:n]
        state = ChannelState(
            snr_db=snr_db,
            noise_power=no,
            effective_noise_var=noise_var,
            realisation=realisation,
            info={
                "equalizer": self.equalizer,
                "antennas": m,
                "block": self.block,
                "gain": gain,
                "unbiased_noise_var": unbiased,
                "stream": stream,
            },
        )
        return Received(x_hat, state)
