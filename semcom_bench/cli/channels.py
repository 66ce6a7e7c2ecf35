"""``semcom-bench channels``: check the channel models against closed-form error rates.

The simulation and the closed forms live in :mod:`semcom_bench.channels.ber`; this module only
parses the options and prints the table. Importing it stays cheap: torch and the channels
package are imported inside the commands.
"""

from __future__ import annotations

import math

import typer
from rich.table import Table

from semcom_bench.cli.common import command, out_console
from semcom_bench.errors import UserError

app = typer.Typer(
    help="Channel tools: simulated uncoded bit error rates next to their closed forms.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

#: other spellings accepted for --modulation
_ALIASES = {"16-qam": "16qam", "qam16": "16qam", "4qam": "qpsk"}


def _fmt(p: float | None) -> str:
    return "—" if p is None else f"{p:.3e}"


@command(app, epilog="""**Examples**

    semcom-bench channels ber --channel awgn --modulation bpsk --snr 0:10:2
    semcom-bench channels ber --channel rayleigh --modulation qpsk --snr 0:20:2
    semcom-bench channels ber --channel "mimo(antennas=2,equalizer=zf)" --snr 0,10,20 --bits 400000
""")
def ber(
    channel: str = typer.Option("awgn", help="Channel, with parameters as name(k=v): awgn, rayleigh, mimo, ..."),
    modulation: str = typer.Option("qpsk", help="bpsk, qpsk or 16qam (Gray, unit energy)."),
    snr: str = typer.Option("0:20:2", help="Es/N0 per complex symbol in dB: '0,5,10' or start:stop:step."),
    bits: int = typer.Option(200_000, help="Bits simulated per SNR value."),
    seed: int = typer.Option(0, help="Seed of the bits and of the channel draws."),
) -> None:
    """Uncoded BER: simulated over the channel vs the closed form.

    SNR is the project's Es/N0 per complex symbol (unit-energy symbols); the Eb/N0 column is
    Es/N0 minus 10·log10(bits per symbol). Closed forms: AWGN BPSK Q(√(2Eb/N0)), QPSK
    Q(√(2Eb/N0)) = Q(√(Es/N0)), 16-QAM exact Gray expression; Rayleigh 0.5(1 − √(γ/(1+γ))),
    γ = Eb/N0 for BPSK/QPSK; MIMO: the same averaged over the Wishart eigenvalue density of
    the SVD streams. "given CSI" averages the exact conditional BER over the drawn
    post-equalisation SNRs (it checks the noise and equaliser for any channel, MIMO included).
    """
    import torch

    from semcom_bench.channels.ber import MODULATIONS, simulate_ber
    from semcom_bench.grids import parse_values

    torch.set_num_threads(1)
    mod = _ALIASES.get(modulation.lower(), modulation.lower())
    if mod not in MODULATIONS:
        raise UserError(f"unknown modulation {modulation!r}: use one of {', '.join(MODULATIONS)}")
    if bits < 100 or bits > 50_000_000:
        raise UserError(f"--bits must be between 100 and 50000000, got {bits}")
    values = parse_values(snr)
    rows = simulate_ber(channel, mod, values, bits, seed)
    table = Table(
        title=f"Uncoded BER, {mod.upper()} over {channel}, {rows[0]['bits']} bits per point, seed {seed}",
        title_justify="left",
        caption="SNR = Es/N0 per complex symbol (dB). z = (simulated − closed form) / binomial std, which "
        "assumes independent bit errors: bits sharing a fading coefficient (one QAM symbol, one block) are "
        "correlated, so |z| up to about 3 is expected on fading channels.",
        caption_justify="left",
    )
    for col in ("Es/N0 (dB)", "Eb/N0 (dB)", "bit errors", "simulated", "closed form", "given CSI", "z"):
        table.add_column(col, justify="right")
    for r in rows:
        ref = r["closed_form"]
        z = "—"
        if ref is not None and 0 < ref < 1:
            z = f"{(r['simulated'] - ref) / math.sqrt(ref * (1 - ref) / r['bits']):+.1f}"
        table.add_row(f"{r['snr_db']:g}", f"{r['ebn0_db']:.2f}", str(r["errors"]), _fmt(r["simulated"]),
                      _fmt(ref), _fmt(r["given_csi"]), z)
    out_console.print(table)
