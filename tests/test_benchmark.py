"""``python -m semcom_bench.benchmark``: the U-Net throughput table, its FLOP count and the matrix arithmetic."""

from __future__ import annotations

import pytest
import torch

from semcom_bench import benchmark


def test_the_official_network_costs_7_tflop_per_pass_and_the_embedded_1_9_gflop():
    from semcom_bench.nets.semantic_unet import SemanticUNet, embedded_config, official_config

    with torch.device("meta"):  # no memory: the count needs only the shapes
        official = SemanticUNet(official_config())
        embedded = SemanticUNet(embedded_config())
    assert benchmark.flops_per_pass(official, (256, 512)) == pytest.approx(6.957e12, rel=1e-3)
    assert benchmark.flops_per_pass(embedded, (32, 64)) == pytest.approx(1.883e9, rel=1e-3)


def test_matrix_hours_are_images_times_passes_times_cost():
    hours = benchmark.matrix_hours(1.0)  # 1 ms per image and pass
    assert hours["paper (1000 guided steps)"] == pytest.approx(21_000 * 2_000 / 3.6e6)
    assert hours["distilled 40 steps"] == pytest.approx(hours["paper (1000 guided steps)"] / 50)


def test_the_table_prints_a_row_per_setting_and_the_bf16_image_difference(capsys):
    rows = benchmark.main(["--batch", "1,2", "--repeats", "1", "--threads", "1", "--device", "cpu",
                           "--images", "1", "--steps", "2"])
    assert [(r["precision"], r["batch"]) for r in rows] == [("fp32", 1), ("fp32", 2), ("bf16", 1), ("bf16", 2)]
    assert all(r["ms_per_image_pass"] > 0 and r["peak_gpu_gib"] is None for r in rows)
    out = capsys.readouterr().out
    assert "2.6M parameters, 32x64, 1.9 GFLOP per image and pass" in out
    assert "distilled 40 steps" in out and "bf16 vs fp32, embedded gesco, 1 test scenes" in out


@pytest.mark.parametrize("argv", [["--batch", "eight"], ["--batch", "0"], ["--precision", "fp16"]])
def test_bad_arguments_are_refused_in_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        benchmark.main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(lines) == 1 and lines[0].startswith("python -m semcom_bench.benchmark: error: --")
