"""``digital``: the classical separated baseline — source codec, 5G LDPC, QAM.

Transmitter: the image is compressed by a standard codec through Pillow (JPEG, WebP or
JPEG 2000, at a fixed quality or at the highest quality that fits ``bit_budget``), the
byte stream is cut into blocks of ``k`` bits (the last one zero-padded), each block is
encoded by the 5G NR LDPC code at ``rate`` (with the standard's rate matching and bit
interleaving), the coded stream is scrambled with the 5G Gold sequence (TS 38.211 5.2.1,
``c_init = 2^15 + 1``; it whitens headers and zero padding so that the QAM points are used
evenly and the symbols have unit average power) and mapped onto Gray-labelled
``2^bits_per_symbol``-QAM with unit average energy. Those QAM symbols are ``Payload.symbols``: they cross any registered channel.

Receiver: the equalised symbols have the equaliser's bias removed
(:func:`semcom_bench.channels.equalizers.unbiased_estimate`), are soft-demapped to exact
("app") bit LLRs with each symbol's own post-equalisation noise variance, descrambled, decoded by belief
propagation (offset min-sum, flooding, all codewords of a batch at once, at most ``num_iter``
iterations with early termination: every ``CHECK_EVERY`` iterations the codewords whose hard
decisions satisfy every parity check stop, the others continue from their saved messages,
which is exactly the same as an uninterrupted run) and the byte stream is handed to the codec. There is no retransmission and no CRC: bit errors
the code cannot correct reach the codec, as in a real broadcast link, so quality is flat
above the code's threshold and collapses below it (the cliff effect).

Damaged streams: the codec decodes whatever it can (Pillow with
``ImageFile.LOAD_TRUNCATED_IMAGES`` during the load, restricted to the expected format). If
the stream cannot be decoded at all, or its header now claims another image size or mode,
the receiver conceals the image with a mid-grey frame (every value 128), the estimate that
uses no information. :meth:`Digital.receive_with_status` also returns what happened.

Bandwidth accounting: ``source_bits`` = 8 x the codec's byte length; ``side_bits`` = the
image shape (3 x 16 bits) and the byte length (32 bits), sent error-free; channel uses =
QAM symbols = ``ceil(source_bits / k) · n / bits_per_symbol``.

The coding chain uses Sionna (``sionna-no-rt``): ``LDPC5GEncoder``/``LDPC5GDecoder``,
``Mapper``/``Demapper`` and the NR Gold sequence, imported on first use. None of these blocks draws random numbers
(the channel's draws come from the per-image generator), so results are reproducible without
touching ``sionna.phy.config.seed`` — setting it would also reseed torch's global generator.
"""

from __future__ import annotations

import io
import importlib.util
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from semcom_bench.channels.base import Received
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
from semcom_bench.methods.base import Method, Payload
from semcom_bench.registry import methods

SIDE_BITS = 3 * 16 + 32
#: LLR magnitude fed to the decoder is clipped here (the decoder clips its messages at 20)
LLR_CLIP = 20.0
#: value of every pixel of a concealed (undecodable) image
CONCEAL_VALUE = 128
INSTALL_HINT = "pip install 'sionna-no-rt>=2.2,<2.3'"
#: early termination: parity is checked every this many BP iterations
CHECK_EVERY = 4
#: scrambling initialiser, 5G PUSCH style n_RNTI·2^15 + n_ID with n_RNTI = n_ID = 1
SCRAMBLING_C_INIT = 2**15 + 1


@dataclass(frozen=True)
class Codec:
    """A Pillow image codec with a one-parameter quality knob.

    Attributes:
        name: parameter value users give (``codec=...``).
        pillow_format: Pillow's format name (also the only format accepted when decoding).
        default_quality: quality used when neither ``quality`` nor ``bit_budget`` is given.
        q_min, q_max: valid quality range; ``integer`` says whether it is an integer knob.
        quality_doc: what the quality number means.
        save_kwargs: quality -> keyword arguments of ``Image.save``.
    """

    name: str
    pillow_format: str
    default_quality: float
    q_min: float
    q_max: float
    integer: bool
    quality_doc: str
    save_kwargs: Callable[[float], dict[str, Any]]

    def encode(self, image: np.ndarray, quality: float) -> bytes:
        """(H, W, 3) uint8 RGB -> the codec's byte stream (deterministic)."""
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(image, "RGB").save(buf, format=self.pillow_format, **self.save_kwargs(quality))
        return buf.getvalue()


CODECS: dict[str, Codec] = {
    "jpeg": Codec("jpeg", "JPEG", 50, 1, 100, True, "JPEG quality 1-100 (Pillow/libjpeg, 4:2:0)",
                  lambda q: {"quality": int(q)}),
    "webp": Codec("webp", "WEBP", 50, 0, 100, True, "lossy WebP quality 0-100",
                  lambda q: {"quality": int(q), "lossless": False, "method": 4}),
    "jpeg2000": Codec("jpeg2000", "JPEG2000", 28.0, 15.0, 60.0, False,
                      "JPEG 2000 target PSNR in dB (OpenJPEG, 9/7 wavelet, raw codestream)",
                      lambda q: {"quality_mode": "dB", "quality_layers": [float(q)], "irreversible": True,
                                 "no_jp2": True}),
}
CODEC_ALIASES = {"jpg": "jpeg", "j2k": "jpeg2000", "jp2": "jpeg2000"}


@dataclass
class DecodeStatus:
    """What the receiver could make of one image's stream.

    Attributes:
        outcome: "decoded" (the codec read the whole stream without complaint), "damaged"
            (the codec decoded a stream it reported as broken or truncated) or "concealed"
            (undecodable: mid-grey image).
        message: the codec's complaint, if any.
    """

    outcome: str
    message: str = ""


def decode_image(data: bytes, codec: Codec, shape: tuple[int, ...]) -> tuple[np.ndarray, DecodeStatus]:
    """Decode ``data`` as ``codec`` into (H, W, 3) uint8 of ``shape``; never raises.

    Uses Pillow's tolerant loading for damaged streams; anything it cannot turn into an RGB
    image of the expected size is concealed with a mid-grey image.
    """
    from PIL import Image, ImageFile

    h, w = int(shape[0]), int(shape[1])
    conceal = np.full((h, w, 3), CONCEAL_VALUE, dtype=np.uint8)
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Image.open(io.BytesIO(data), formats=[codec.pillow_format]) as im:
                if im.size != (w, h):
                    return conceal, DecodeStatus("concealed", f"header claims size {im.size}, expected {(w, h)}")
                try:
                    im.load()
                    outcome, message = "decoded", ""
                except Exception as exc:  # retry tolerantly: keep what the decoder got through
                    ImageFile.LOAD_TRUNCATED_IMAGES = True
                    with Image.open(io.BytesIO(data), formats=[codec.pillow_format]) as again:
                        again.load()
                        im = again.convert("RGB")
                    outcome, message = "damaged", f"{type(exc).__name__}: {exc}"
                rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
        if caught and outcome == "decoded":
            outcome, message = "damaged", str(caught[0].message)
        if rgb.shape != (h, w, 3):
            return conceal, DecodeStatus("concealed", f"decoded shape {rgb.shape}, expected {(h, w, 3)}")
        return np.ascontiguousarray(rgb), DecodeStatus(outcome, message)
    except Exception as exc:  # any failure of a damaged stream: conceal, never crash
        return conceal, DecodeStatus("concealed", f"{type(exc).__name__}: {exc}")
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def sionna_available() -> bool:
    return importlib.util.find_spec("sionna") is not None and importlib.util.find_spec("sionna.phy") is not None


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


class _Chain:
    """The Sionna blocks of one (k, n, bits per symbol, iterations) configuration."""

    def __init__(self, k: int, n: int, bits_per_symbol: int, num_iter: int, device: str):
        from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
        from sionna.phy.mapping import Demapper, Mapper

        self.device = device
        self.encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol, device=device)
        self.num_iter = num_iter
        self._estimate: torch.Tensor | None = None
        self.decoder = LDPC5GDecoder(self.encoder, cn_update="offset-minsum", num_iter=num_iter, hard_out=True,
                                     return_infobits=True, return_state=True, v2c_callbacks=[self._keep_estimate],
                                     device=device)
        coo = self.decoder.pcm.tocoo()  # parity checks of the decoding graph (punctured nodes pruned)
        self._check_rows = torch.as_tensor(coo.row, dtype=torch.long, device=device)
        self._check_cols = torch.as_tensor(coo.col, dtype=torch.long, device=device)
        self._num_checks = int(coo.shape[0])
        self.mapper = Mapper("qam", bits_per_symbol, device=device)
        self.demapper = Demapper("app", "qam", bits_per_symbol, device=device)
        self._sequence = torch.zeros(0)

    def scrambling(self, length: int) -> torch.Tensor:
        """(length,) float32 0/1: the first ``length`` bits of the 5G Gold sequence."""
        if self._sequence.numel() < length:
            from sionna.phy.nr.utils import generate_prng_seq

            grown = max(length, 2 * self._sequence.numel())
            seq = generate_prng_seq(grown, SCRAMBLING_C_INIT)
            self._sequence = torch.as_tensor(np.asarray(seq), dtype=torch.float32, device=self.device)
        return self._sequence[:length]

    def _keep_estimate(self, msg_vn: torch.Tensor, it: int, x_hat: torch.Tensor) -> torch.Tensor:
        """Decoder callback: remember the current variable-node LLRs (for the parity check)."""
        self._estimate = x_hat
        return msg_vn

    def _parity_ok(self) -> torch.Tensor:
        """(B,) bool: the current hard decisions satisfy every parity check."""
        bits = (self._estimate <= 0).to(torch.float32)  # decoder-internal LLRs: negative means 1
        syndrome = torch.zeros(bits.shape[0], self._num_checks, device=bits.device)
        syndrome.index_add_(1, self._check_rows, bits[:, self._check_cols])
        return (syndrome.remainder(2) == 0).all(dim=1)

    def decode(self, llr: torch.Tensor) -> torch.Tensor:
        """(B, n) logits -> (B, k) hard information bits; BP with early termination."""
        out = torch.zeros(llr.shape[0], self.encoder.k, device=llr.device)
        active = torch.arange(llr.shape[0], device=llr.device)
        state, done = None, 0
        while active.numel() and done < self.num_iter:
            step = min(CHECK_EVERY, self.num_iter - done)
            bits, state = self.decoder(llr, num_iter=step, msg_v2c=state)
            done += step
            stop = self._parity_ok() if done < self.num_iter else torch.ones(len(active), dtype=torch.bool, device=llr.device)
            out[active[stop]] = bits[stop]
            active, llr, state = active[~stop], llr[~stop], state[~stop]
        return out


class Digital(Method):
    """Source codec + 5G LDPC + QAM over any channel; soft demapping and BP decoding.

    Parameters:
        codec: "jpeg" (default), "webp" or "jpeg2000".
        quality: the codec's quality knob (JPEG/WebP 1-100, default 50; JPEG 2000 target
            PSNR in dB, default 28). Exclusive with ``bit_budget``.
        bit_budget: source bits per image; the quality is the highest that fits, found by
            bisection per image (the lowest quality is used, over budget, if none fits).
        rate: LDPC code rate k/n (default 1/2; 0.1-0.9).
        bits_per_symbol: 2 (QPSK, default), 4 (16-QAM) or 6 (64-QAM).
        k: information bits per LDPC codeword (default 1024; 12-8448).
        num_iter: belief-propagation iterations (default 20).
        decode_batch: codewords per decoder call (default 64; speed only, not in the key).
    """

    name = "digital"
    version = "1"

    def __init__(
        self,
        codec: str = "jpeg",
        quality: float | None = None,
        bit_budget: int | None = None,
        rate: float = 0.5,
        bits_per_symbol: int = 2,
        k: int = 1024,
        num_iter: int = 20,
        decode_batch: int = 64,
    ):
        if not sionna_available():
            raise UserError(f"method digital needs Sionna for LDPC coding and QAM; install it with: {INSTALL_HINT}")
        codec = CODEC_ALIASES.get(str(codec).lower(), str(codec).lower())
        if codec not in CODECS:
            raise UserError(f"unknown codec {codec!r} for method digital: use one of {', '.join(CODECS)}")
        self.codec = CODECS[codec]
        if quality is not None and bit_budget is not None:
            raise UserError("method digital takes either quality or bit_budget, not both")
        if quality is not None:
            q = float(quality)
            if not self.codec.q_min <= q <= self.codec.q_max or (self.codec.integer and q != int(q)):
                raise UserError(f"quality for codec {codec} must be {self.codec.quality_doc}; got {quality!r}")
            self.quality: float | None = int(q) if self.codec.integer else q
        else:
            self.quality = None if bit_budget is not None else self.codec.default_quality
        if bit_budget is not None and (isinstance(bit_budget, bool) or int(bit_budget) != bit_budget or bit_budget < 64):
            raise UserError(f"bit_budget must be an integer number of bits >= 64, got {bit_budget!r}")
        self.bit_budget = None if bit_budget is None else int(bit_budget)
        if not 0.1 <= float(rate) <= 0.9:
            raise UserError(f"rate must be a code rate in [0.1, 0.9] (e.g. 0.5), got {rate!r}")
        self.rate = float(rate)
        if bits_per_symbol not in (2, 4, 6):
            raise UserError(f"bits_per_symbol must be 2 (QPSK), 4 (16-QAM) or 6 (64-QAM), got {bits_per_symbol!r}")
        self.bits_per_symbol = int(bits_per_symbol)
        if isinstance(k, bool) or int(k) != k or not 12 <= k <= 8448:
            raise UserError(f"k must be an integer in [12, 8448] (5G LDPC information bits), got {k!r}")
        self.k = int(k)
        self.n = int(math.ceil(self.k / self.rate / self.bits_per_symbol)) * self.bits_per_symbol
        if isinstance(num_iter, bool) or int(num_iter) != num_iter or not 1 <= num_iter <= 200:
            raise UserError(f"num_iter must be an integer in [1, 200], got {num_iter!r}")
        self.num_iter = int(num_iter)
        if int(decode_batch) < 1:
            raise UserError(f"decode_batch must be a positive integer, got {decode_batch!r}")
        self.decode_batch = int(decode_batch)
        self._chains: dict[str, _Chain] = {}

    # -- configuration -------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        return {
            "codec": self.codec.name,
            "quality": self.quality,
            "bit_budget": self.bit_budget,
            "k": self.k,
            "n": self.n,
            "bits_per_symbol": self.bits_per_symbol,
            "num_iter": self.num_iter,
            "decoder": f"offset-minsum, parity check every {CHECK_EVERY}",
            "pillow": _version("pillow"),
            "sionna": _version("sionna-no-rt"),
        }

    @property
    def code_rate(self) -> float:
        """The actual LDPC rate k/n (n is rounded up to whole QAM symbols)."""
        return self.k / self.n

    def _chain(self) -> _Chain:
        device = str(getattr(self, "device", "cpu") or "cpu")
        if device.startswith("cuda"):
            device = device if ":" in device else "cuda:0"
            if not torch.cuda.is_available():
                device = "cpu"
        else:
            device = "cpu"
        if device not in self._chains:
            self._chains[device] = _Chain(self.k, self.n, self.bits_per_symbol, self.num_iter, device)
        return self._chains[device]

    # -- source coding ------------------------------------------------------------------------

    def choose_quality(self, image: np.ndarray) -> float:
        """The fixed quality, or the highest one whose stream fits ``bit_budget``."""
        if self.bit_budget is None:
            return self.quality  # type: ignore[return-value]
        c = self.codec

        def fits(q: float) -> bool:
            return 8 * len(c.encode(image, q)) <= self.bit_budget  # type: ignore[operator]

        lo, hi = c.q_min, c.q_max
        if fits(hi):
            return hi
        if not fits(lo):
            return lo
        tol = 1 if c.integer else 0.25
        while hi - lo > tol:  # invariant: fits(lo), not fits(hi)
            mid = (lo + hi) // 2 if c.integer else (lo + hi) / 2
            if fits(mid):
                lo = mid
            else:
                hi = mid
        return lo

    def source_encode(self, image: np.ndarray) -> bytes:
        """The codec's byte stream for ``image`` at the chosen quality."""
        return self.codec.encode(image, self.choose_quality(image))

    # -- the method contract -------------------------------------------------------------------

    def transmit(self, sample: Sample, generator: torch.Generator) -> Payload:
        data = self.source_encode(sample.image)
        chain = self._chain()
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        num_cw = -(-bits.size // self.k)
        padded = np.zeros(num_cw * self.k, dtype=np.float32)
        padded[: bits.size] = bits
        with torch.no_grad():
            u = torch.from_numpy(padded).reshape(num_cw, self.k).to(chain.device)
            coded = chain.encoder(u).reshape(-1)
            coded = (coded + chain.scrambling(coded.numel())).remainder(2)
            symbols = chain.mapper(coded).reshape(-1).to(torch.complex64).cpu()
        return Payload(
            symbols=symbols,
            side={"shape": tuple(int(d) for d in sample.image.shape), "nbytes": len(data)},
            source_bits=8 * len(data),
            side_bits=SIDE_BITS,
        )

    def receive(self, side: dict[str, Any], received: Received, generator: torch.Generator) -> np.ndarray:
        return self.receive_with_status([(side, received)])[0][0]

    def receive_batch(
        self, items: list[tuple[dict[str, Any], Received]], generators: list[torch.Generator]
    ) -> list[np.ndarray]:
        return [img for img, _ in self.receive_with_status(items)]

    def receive_with_status(self, items: list[tuple[dict[str, Any], Received]]) -> list[tuple[np.ndarray, DecodeStatus]]:
        """Demap, decode (all codewords of ``items`` batched) and source-decode each image."""
        from semcom_bench.channels.equalizers import unbiased_estimate

        chain = self._chain()
        llrs, counts = [], []
        with torch.no_grad():
            for side, rx in items:
                x_hat, noise_var = unbiased_estimate(rx)
                no = noise_var.clamp_min(1e-12).to(chain.device)
                llr = chain.demapper(x_hat.to(chain.device), no)
                llr = torch.nan_to_num(llr, nan=0.0).clamp(-LLR_CLIP, LLR_CLIP)
                llr = llr * (1.0 - 2.0 * chain.scrambling(llr.numel()))  # descramble: flip where the sequence is 1
                num_cw = -(-8 * int(side["nbytes"]) // self.k)
                if llr.numel() != num_cw * self.n:
                    raise ValueError(f"received {llr.numel()} bit LLRs, expected {num_cw} codewords of {self.n}")
                llrs.append(llr.reshape(num_cw, self.n))
                counts.append(num_cw)
            all_llr = torch.cat(llrs) if llrs else torch.zeros(0, self.n)
            decoded = [chain.decode(all_llr[i : i + self.decode_batch]) for i in range(0, all_llr.shape[0], self.decode_batch)]
            bits = torch.cat(decoded).cpu().numpy() if decoded else np.zeros((0, self.k), dtype=np.float32)
        out, start = [], 0
        for (side, _), num_cw in zip(items, counts):
            nbytes = int(side["nbytes"])
            stream = (bits[start : start + num_cw].reshape(-1)[: 8 * nbytes] > 0.5).astype(np.uint8)
            start += num_cw
            out.append(decode_image(np.packbits(stream).tobytes(), self.codec, side["shape"]))
        return out


@methods.register(
    "digital",
    version=Digital.version,
    summary="classical baseline: JPEG/WebP/JPEG 2000 bits, 5G LDPC (rate 1/2), QAM (QPSK), soft demapping "
    "+ BP decoding; cliff effect below the code's threshold",
    weights=None,
    payload="bits",
    params="codec=jpeg|webp|jpeg2000, quality | bit_budget, rate=0.5, bits_per_symbol=2|4|6, k=1024, num_iter=20",
    requires="sionna-no-rt",
)
def digital(**params: Any) -> Digital:
    return Digital(**params)
