"""The CLI through Typer's runner: commands, exit codes, one-line errors."""

import pandas as pd
import pytest
from typer.testing import CliRunner

import tests.fake_dataset  # noqa: F401  (registers test-fake)
from semcom_bench.cli.main import app, main

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args))


def test_help_has_examples():
    for cmd in ([], ["run"], ["report"], ["plot"], ["list"]):
        res = _run(*cmd, "--help")
        assert res.exit_code == 0, res.output
        if cmd:
            assert "Examples" in res.output


def test_run_report_end_to_end(tmp_path):
    out = tmp_path / "out"
    res = _run("run", "--dataset", "test-fake", "--methods", "full-image", "--values", "0,10,100", "--metrics", "psnr,ssim,bits",
               "--out", str(out), "--cache-dir", str(tmp_path / "c"))
    assert res.exit_code == 0, res.output
    # 6 samples x 3 SNR values x 1 method, none cached yet
    assert "18 image(s) generated, 0 from cache" in " ".join(res.output.split()), res.output
    frame = pd.read_parquet(out / "results.parquet")
    assert set(frame.metric) == {"psnr", "ssim", "bits"}
    md = _run("report", "--out", str(out), "--format", "markdown")
    assert md.exit_code == 0, md.output
    assert "full-image" in md.output and "|" in md.output
    tex = _run("report", "--out", str(out), "--format", "latex")
    assert tex.exit_code == 0 and "\\toprule" in tex.output
    csv = _run("report", "--out", str(out), "--format", "csv", "--output", str(tmp_path / "t.csv"))
    assert csv.exit_code == 0 and (tmp_path / "t.csv").read_text().strip()


def test_config_file(tmp_path):
    cfg = tmp_path / "paper.toml"
    cfg.write_text(
        'dataset = "test-fake"\nmethods = ["full-image"]\nchannels = ["awgn"]\nvalues = [5, 15]\n'
        f'metrics = ["psnr"]\nlimit = 2\nout = "{tmp_path / "o"}"\ncache_dir = "{tmp_path / "c"}"\n'
    )
    res = _run("run", "--config", str(cfg))
    assert res.exit_code == 0, res.output
    frame = pd.read_parquet(tmp_path / "o" / "results.parquet")
    assert sorted(frame.snr_db.unique()) == [5.0, 15.0] and frame.limited.all() and frame["sample"].nunique() == 2


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "--methods", "ful-image"], "Did you mean 'full-image'"),
        (["run", "--channels", "awgnn"], "unknown channel 'awgnn'"),
        (["run", "--metrics", "psnr,ssmi"], "unknown metric 'ssmi'"),
        (["run", "--values", "1,x"], "bad SNR values"),
        (["run", "--grid", "foo"], "unknown grid"),
        (["run", "--config", "/nonexistent.toml"], "does not exist"),
        (["run", "--dataset", "test-fake", "--limit", "0"], "--limit"),
        (["run", "--device", "tpu"], "--device"),
        (["report", "--out", "/nonexistent-dir"], "no results"),
        (["report", "--format", "html", "--out", "."], "unknown report format"),
        (["list", "widgets"], "cannot list"),
        (["run", "--metrics", "miou(evaluator=drn)"], "parameter evaluator of metric 'miou' must be one of"),
        (["run", "--metrics", "lpips(nett=vgg)"], "metric 'lpips' has no parameter nett; its parameters: net, backbone_path"),
        (["run", "--methods", "gesco(steps=abc)"], "parameter steps of method 'gesco' must be an integer"),
        (["run", "--seed", "abc"], "bad seed 'abc' in --seed"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(args, needle, tmp_path):
    res = runner.invoke(app, args + (["--cache-dir", str(tmp_path)] if args[0] == "run" else []))
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output


def test_metric_specs_on_the_cli_and_in_toml(tmp_path):
    res = _run("run", "--dataset", "synthetic-streets(size=2)", "--methods", "full-image", "--values", "10",
               "--metrics", "miou(evaluator=embedded),psnr", "--out", str(tmp_path / "a"), "--cache-dir", str(tmp_path / "c"))
    assert res.exit_code == 0, res.output
    cli = pd.read_parquet(tmp_path / "a" / "results.parquet")
    assert set(cli.metric) == {"miou(evaluator=embedded)", "psnr"}
    cfg = tmp_path / "m.toml"
    cfg.write_text('dataset = "synthetic-streets(size=2)"\nmethods = ["full-image"]\nvalues = [10]\n'
                   'metrics = ["miou(evaluator=embedded)", {name = "psnr"}]\nseed = 3\n'
                   f'out = "{tmp_path / "b"}"\ncache_dir = "{tmp_path / "c"}"\n')
    res = _run("run", "--config", str(cfg))
    assert res.exit_code == 0, res.output
    toml = pd.read_parquet(tmp_path / "b" / "results.parquet")
    assert set(toml.metric) == set(cli.metric) and set(toml.seed) == {3}  # the file's seed is used
    assert list(toml[toml.output == "miou"].value) != list(cli[cli.output == "miou"].value)  # other seed, other noise


def test_main_returns_2_on_user_error(capsys):
    assert main(["list", "widgets"]) == 2
    assert "cannot list" in capsys.readouterr().err


def test_list_shows_metadata():
    res = _run("list")
    assert res.exit_code == 0
    for needle in ("full-image", "awgn", "psnr", "lower_better=False", "synthetic-streets", "grids"):
        assert needle in res.output


def test_run_profile_prints_the_stages(tmp_path):
    res = _run("run", "--dataset", "test-fake", "--methods", "full-image", "--values", "10", "--metrics", "psnr",
               "--limit", "2", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c"), "--profile")
    assert res.exit_code == 0, res.output
    for needle in ("generate/transmit full-image", "generate/receive full-image", "score/psnr", "total profiled"):
        assert needle in res.output, res.output
