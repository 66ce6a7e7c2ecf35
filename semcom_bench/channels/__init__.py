"""Channels: generate a realisation, then apply it to complex symbols."""

from semcom_bench.channels.base import Channel, ChannelState, Received, snr_db_to_noise_power

__all__ = ["Channel", "ChannelState", "Received", "snr_db_to_noise_power"]
