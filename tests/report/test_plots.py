"""The curve figures: the legend fits the figure."""


def test_legend_columns_fit_the_figure_width():
    from semcom_bench.report.plots import LEGEND_CHAR_IN, LEGEND_ENTRY_IN, legend_columns

    short = ["gesco", "sdm", "full-image"]
    assert legend_columns(short, 4.6) == 3
    long = ["digital(bits_per_symbol=4,codec=jpeg2000,ratio=1/12)", "deepjscc(ratio=1/12,snr_train=10)"]
    assert legend_columns(long, 4.6) == 1
    for width in (4.6, 8.6, 12.6):
        n = legend_columns(long * 3, width)
        assert n * (LEGEND_ENTRY_IN + LEGEND_CHAR_IN * len(long[0])) <= width or n == 1
