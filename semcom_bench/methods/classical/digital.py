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

At a bandwidth ratio (``ratio=k/n``, exclusive with ``quality`` and ``bit_budget``): an H x W
image may take B = floor(k/n · 3·H·W) channel uses, i.e. M = floor(B / (n / bits_per_symbol))
whole LDPC codewords, so its bit budget is M·k source bits (:meth:`Digital.ratio_budget`),
and the codec takes the highest quality whose stream fits it (bisection, as for
``bit_budget``). The achieved ratio never exceeds the requested one; an image whose
lowest-quality stream does not fit is a one-line UserError (the codec's headers alone can be
larger than the budget: JPEG's smallest 64x128 stream is about 800 bytes, JPEG 2000's about
200, WebP's about 300; a ratio of 1/12 at rate 1/2 and QPSK leaves 256 bytes for 64x128).
The modulation and coding scheme (``rate``, ``bits_per_symbol``) is a fixed parameter, not
adapted to the SNR: the sender never knows the SNR (its random stream and the symbols that
paired methods share depend on the sample and the sender only), so a link adapted to each
SNR is a set of ``digital`` specs, one per MCS, read at the SNRs where each one is the best.

The channel coding is :class:`BitLink` (bytes in, symbols out; received symbols in, bytes
out), shared with the semantic maps' digital transport (``gesco(transport=digital)``).

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

from semcom_bench.bandwidth import RatioOption, channel_use_budget, parse_ratio
from semcom_bench.channels.base import Received
from semcom_bench.components import Annotated, Doc, Literal
from semcom_bench.data.base import Sample
from semcom_bench.errors import UserError
from semcom_bench.methods.base import Delivery, Method, Payload, Sender
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


class BitLink:
    """Bytes over any channel: the coding chain of ``digital`` without the source codec.

    Sender: the bytes are cut into blocks of ``k`` bits (the last one zero-padded), each is
    encoded by the 5G NR LDPC code at ``rate``, scrambled with the 5G Gold sequence and
    mapped onto unit-energy Gray QAM. Receiver: bias removal, exact soft demapping with each
    symbol's own noise variance, descrambling, BP decoding with early termination. No CRC and
    no retransmission: the bytes come back with whatever errors the code could not correct.

    Attributes:
        k: information bits per codeword; n: coded bits per codeword (rounded up to whole
            QAM symbols); bits_per_symbol: QAM order; num_iter: BP iterations;
            decode_batch: codewords per decoder call (speed only).
    """

    def __init__(self, k: int, rate: float, bits_per_symbol: int, num_iter: int, decode_batch: int = 64):
        self.k, self.rate, self.bits_per_symbol = int(k), float(rate), int(bits_per_symbol)
        self.n = int(math.ceil(self.k / self.rate / self.bits_per_symbol)) * self.bits_per_symbol
        self.num_iter, self.decode_batch = int(num_iter), int(decode_batch)
        self._chains: dict[str, _Chain] = {}

    @property
    def code_rate(self) -> float:
        """The actual LDPC rate k/n (n is rounded up to whole QAM symbols)."""
        return self.k / self.n

    def chain(self, device: str) -> _Chain:
        """The Sionna blocks on ``device`` (built on first use)."""
        device = device if device != "cuda" else "cuda:0"
        if device not in self._chains:
            self._chains[device] = _Chain(self.k, self.n, self.bits_per_symbol, self.num_iter, device)
        return self._chains[device]

    def codewords(self, nbytes: int) -> int:
        """LDPC codewords of an ``nbytes``-byte message."""
        return -(-8 * int(nbytes) // self.k)

    def channel_uses(self, nbytes: int) -> int:
        """QAM symbols (complex channel uses) of an ``nbytes``-byte message."""
        return self.codewords(nbytes) * self.n // self.bits_per_symbol

    def send(self, data: bytes, device: str) -> torch.Tensor:
        """Bytes -> LDPC -> scrambling -> QAM: (N,) complex64 symbols on the CPU."""
        chain = self.chain(device)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        num_cw = -(-bits.size // self.k)
        padded = np.zeros(num_cw * self.k, dtype=np.float32)
        padded[: bits.size] = bits
        with torch.no_grad():
            u = torch.from_numpy(padded).reshape(num_cw, self.k).to(chain.device)
            coded = chain.encoder(u).reshape(-1)
            coded = (coded + chain.scrambling(coded.numel())).remainder(2)
            return chain.mapper(coded).reshape(-1).to(torch.complex64).cpu()

    def receive(self, received: list[Received], nbytes: list[int], device: str) -> list[bytes]:
        """Demap and decode each message (all codewords of the batch decoded together).

        Args:
            received: the channel output of each message.
            nbytes: each message's length in bytes (side information).
            device: where the decoder runs.

        Returns:
            each message's bytes as decoded, errors included.
        """
        from semcom_bench.channels.equalizers import unbiased_estimate

        chain = self.chain(device)
        llrs, counts = [], []
        with torch.no_grad():
            for rx, size in zip(received, nbytes):
                x_hat, noise_var = unbiased_estimate(rx)
                no = noise_var.clamp_min(1e-12).to(chain.device)
                llr = chain.demapper(x_hat.to(chain.device), no)
                llr = torch.nan_to_num(llr, nan=0.0).clamp(-LLR_CLIP, LLR_CLIP)
                llr = llr * (1.0 - 2.0 * chain.scrambling(llr.numel()))  # descramble: flip where the sequence is 1
                num_cw = -(-8 * size // self.k)
                if llr.numel() != num_cw * self.n:
                    raise ValueError(f"received {llr.numel()} bit LLRs, expected {num_cw} codewords of {self.n}")
                llrs.append(llr.reshape(num_cw, self.n))
                counts.append(num_cw)
            all_llr = torch.cat(llrs) if llrs else torch.zeros(0, self.n)
            decoded = [chain.decode(all_llr[i : i + self.decode_batch]) for i in range(0, all_llr.shape[0], self.decode_batch)]
            bits = torch.cat(decoded).cpu().numpy() if decoded else np.zeros((0, self.k), dtype=np.float32)
        out, start = [], 0
        for size, num_cw in zip(nbytes, counts):
            stream = (bits[start : start + num_cw].reshape(-1)[: 8 * size] > 0.5).astype(np.uint8)
            start += num_cw
            out.append(np.packbits(stream).tobytes())
        return out


#: the parameters of the coding chain, shared by ``digital`` and the maps' digital transport
Rate = Annotated[float, Doc("LDPC code rate k/n", low=0.1, high=0.9)]
BitsPerSymbol = Annotated[Literal[2, 4, 6], Doc("QAM order: 2 (QPSK), 4 (16-QAM), 6 (64-QAM)")]
InfoBits = Annotated[int, Doc("information bits per 5G LDPC codeword", low=12, high=8448)]
Iterations = Annotated[int, Doc("belief-propagation iterations", low=1, high=200)]


class Digital(Method):
    """Source codec + 5G LDPC + QAM over any channel; soft demapping and BP decoding.

    ``quality``, ``bit_budget`` and ``ratio`` are exclusive; without any the codec's default
    quality is used (JPEG/WebP 50, JPEG 2000 28 dB). ``ratio`` fits each image's stream into
    the channel uses of that bandwidth ratio at the fixed ``rate`` and ``bits_per_symbol``.
    """

    name = "digital"
    version = "1"
    speed_only = ("decode_batch",)
    added_later = ("ratio",)

    def __init__(
        self,
        context=None,
        *,
        codec: Annotated[Literal["jpeg", "webp", "jpeg2000", "jpg", "j2k", "jp2"],
                         Doc("source codec (jpg = jpeg; j2k, jp2 = jpeg2000)")] = "jpeg",
        quality: Annotated[float | None, Doc("the codec's quality knob: JPEG/WebP 1-100, JPEG 2000 target PSNR "
                                             "15-60 dB")] = None,
        bit_budget: Annotated[int | None, Doc("source bits per image: the highest quality that fits, by bisection "
                                              "per image", low=64)] = None,
        rate: Rate = 0.5,
        bits_per_symbol: BitsPerSymbol = 2,
        k: InfoBits = 1024,
        num_iter: Iterations = 20,
        decode_batch: Annotated[int, Doc("codewords per decoder call (speed only)", low=1)] = 64,
        ratio: RatioOption = None,
    ):
        super().__init__(context)
        if not sionna_available():
            raise UserError(f"method digital needs Sionna for LDPC coding and QAM; install it with: {INSTALL_HINT}")
        self.codec = CODEC_ALIASES.get(codec, codec)
        self.source_codec = CODECS[self.codec]
        given = [name for name, value in (("quality", quality), ("bit_budget", bit_budget), ("ratio", ratio))
                 if value is not None]
        if len(given) > 1:
            raise UserError(f"method digital takes one of quality, bit_budget and ratio, not {' and '.join(given)}")
        self.k_n = parse_ratio(ratio, "method 'digital'") if ratio is not None else None
        self.ratio = str(self.k_n) if self.k_n is not None else None
        c = self.source_codec
        if quality is not None:
            if not c.q_min <= quality <= c.q_max or (c.integer and quality != int(quality)):
                raise UserError(f"parameter quality of method 'digital' with codec {self.codec} must be "
                                f"{c.quality_doc}; got {quality!r}")
            self.quality: float | None = int(quality) if c.integer else quality
        else:
            self.quality = None if bit_budget is not None or ratio is not None else c.default_quality
        self.bit_budget = bit_budget
        self.rate = rate
        self.bits_per_symbol = bits_per_symbol
        self.k = k
        self.num_iter = num_iter
        self.decode_batch = decode_batch
        self.link = BitLink(k, rate, bits_per_symbol, num_iter, decode_batch)
        self.n = self.link.n
        self.sender = CodedSender(self)

    # -- configuration -------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "n": self.n,
            "decoder": f"offset-minsum, parity check every {CHECK_EVERY}",
            "pillow": _version("pillow"),
            "sionna": _version("sionna-no-rt"),
        }

    @property
    def code_rate(self) -> float:
        """The actual LDPC rate k/n (n is rounded up to whole QAM symbols)."""
        return self.link.code_rate

    def _chain(self) -> _Chain:
        return self.link.chain(self.device)

    # -- source coding ------------------------------------------------------------------------

    def ratio_budget(self, height: int, width: int) -> int:
        """Source bits an H x W image may take at ``ratio``: whole codewords within floor(k/n · 3HW) channel uses."""
        uses_per_codeword = self.n // self.bits_per_symbol  # n is a whole number of QAM symbols
        codewords = channel_use_budget(self.k_n, height, width) // uses_per_codeword  # type: ignore[arg-type]
        return codewords * self.k

    def choose_quality(self, image: np.ndarray) -> float:
        """The fixed quality, or the highest one whose stream fits ``bit_budget`` (or the ratio's budget)."""
        if self.bit_budget is None and self.k_n is None:
            return self.quality  # type: ignore[return-value]
        c = self.source_codec
        budget = self.bit_budget if self.k_n is None else self.ratio_budget(image.shape[0], image.shape[1])

        def fits(q: float) -> bool:
            return 8 * len(c.encode(image, q)) <= budget  # type: ignore[operator]

        lo, hi = c.q_min, c.q_max
        if fits(hi):
            return hi
        if not fits(lo):
            if self.k_n is not None:
                smallest = len(c.encode(image, lo))
                uses = self.link.channel_uses(smallest)
                raise UserError(f"method digital(ratio={self.ratio}): the smallest {self.codec} stream of a "
                                f"{image.shape[0]}x{image.shape[1]} image is {smallest} bytes, {uses} channel uses at "
                                f"rate {self.rate:g} with {2 ** self.bits_per_symbol}-QAM, above the ratio's "
                                f"{channel_use_budget(self.k_n, image.shape[0], image.shape[1])}; give a larger "
                                "ratio, rate or bits_per_symbol"
                                + ("" if self.codec == "jpeg2000" else ", or codec=jpeg2000"))
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
        return self.source_codec.encode(image, self.choose_quality(image))

    # -- the method contract -------------------------------------------------------------------

    def transmit(self, sample: Sample) -> Payload:
        """One image's payload: codec bytes -> LDPC -> scrambling -> QAM symbols."""
        data = self.source_encode(sample.image)
        symbols = self.link.send(data, self.device)
        side = CodedSide(tuple(int(d) for d in sample.image.shape), len(data))
        return Payload(symbols, source_bits=8 * len(data), side_bits=SIDE_BITS, side=side)

    def receive_batch(self, deliveries: list[Delivery], rngs: list[torch.Generator]) -> list[np.ndarray]:
        return [img for img, _ in self.receive_with_status(deliveries)]

    def receive_with_status(self, deliveries: list[Delivery]) -> list[tuple[np.ndarray, DecodeStatus]]:
        """Demap, decode (all codewords of ``deliveries`` batched) and source-decode each image."""
        streams = self.link.receive([d.received for d in deliveries], [d.side.nbytes for d in deliveries], self.device)
        return [decode_image(data, self.source_codec, d.side.shape) for d, data in zip(deliveries, streams)]


@dataclass(frozen=True)
class CodedSide:
    """Side information of a coded image: its (H, W, 3) shape and the codec's byte count."""

    shape: tuple[int, int, int]
    nbytes: int


class CodedSender(Sender):
    """The transmitter of :class:`Digital` (codec, LDPC, scrambling, QAM); deterministic."""

    name = "coded-image"

    def __init__(self, method: Digital):
        self.method = method

    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in self.method.params().items()}

    def transmit_batch(self, samples: list[Sample], rngs: list[torch.Generator]) -> list[Payload]:
        return [self.method.transmit(s) for s in samples]


methods.register(
    summary="classical baseline: JPEG/WebP/JPEG 2000 bits, 5G LDPC (rate 1/2), QAM (QPSK), soft demapping "
    "+ BP decoding; cliff effect below the code's threshold",
    weights=None,
    payload="bits",
    requires="sionna-no-rt",
)(Digital)
